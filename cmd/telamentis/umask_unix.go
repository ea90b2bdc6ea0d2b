//go:build unix

package main

import "syscall"

// privateUmask makes everything the process creates private to its user,
// whatever umask it was started with: Badger creates its files 0666 less
// the umask and has no option for it, and every file this binary writes
// holds tenant data or keys. PostgreSQL's postmaster does the same.
func privateUmask() { syscall.Umask(0o077) }
