// Package audittest helps test code that writes the audit trail: a disk
// that runs out of space on demand, for audit.Config.OpenFile.
package audittest

import (
	"os"
	"sync"
	"syscall"

	"github.com/telamentis/telamentis/audit"
)

// Disk hands out real files (os.OpenFile) whose writes and syncs fail with
// ENOSPC, as on a full file system, while the test says the disk is full.
// A write that does not fit is cut short, as the kernel does. Safe for
// concurrent use.
type Disk struct {
	mu       sync.Mutex
	free     int64 // bytes that may still be written; < 0: unlimited
	syncFail bool  // fsync fails
}

// NewDisk returns a disk with unlimited space.
func NewDisk() *Disk { return &Disk{free: -1} }

// Fill leaves n more bytes of space; Fill(0) is a full disk. With
// failSync every fsync fails too, as when delayed allocation finds no room
// at writeback.
func (d *Disk) Fill(n int64, failSync bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.free, d.syncFail = n, failSync
}

// Free makes space unlimited again.
func (d *Disk) Free() { d.Fill(-1, false) }

// OpenFile is an audit.Config.OpenFile.
func (d *Disk) OpenFile(name string, flag int, perm os.FileMode) (audit.File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &file{File: f, d: d}, nil
}

type file struct {
	*os.File
	d *Disk
}

func (f *file) Write(p []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if f.d.free < 0 || int64(len(p)) <= f.d.free {
		n, err := f.File.Write(p)
		if f.d.free >= 0 {
			f.d.free -= int64(n)
		}
		return n, err
	}
	n, err := f.File.Write(p[:f.d.free])
	f.d.free -= int64(n)
	if err == nil {
		err = &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return n, err
}

func (f *file) Sync() error {
	f.d.mu.Lock()
	fail := f.d.syncFail
	f.d.mu.Unlock()
	if fail {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Sync()
}
