package badger

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// privateFiles takes the group and other permission bits off every file
// and directory under dir, symlinks aside. Badger creates its files
// (value logs, SSTables, memtable logs, DISCARD, LOCK) with mode 0666 less
// the umask, so 0644 under the usual umask, and has no option to change
// that; the store runs this when it opens and closes a database and after
// a rewrite, which also tightens stores made by older versions. Files
// Badger creates while the database is open are private from birth only
// under umask 077, which the telamentis binary sets.
func privateFiles(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile (a rotated file)
			}
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("private files: %w", err)
	}
	return nil
}
