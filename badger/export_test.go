package badger

// CommitCounts reports how many Badger transactions the main database's
// committer made and how many writers' changes they carried.
func (s *Store) CommitCounts() (groups, changes int64) {
	return s.main.groups.Load(), s.main.changes.Load()
}
