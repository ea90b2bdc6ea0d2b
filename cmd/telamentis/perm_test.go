//go:build unix

package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestServerFilesArePrivate starts the real server process under umask
// 022: it runs with umask 077, so that the files Badger creates while it
// runs are private from birth, and nothing in its data or audit directory
// has a group or other permission bit.
func TestServerFilesArePrivate(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	old := syscall.Umask(0o022)
	addr, logs, cmd := startProcess(t, []string{"--data", data}, nil)
	syscall.Umask(old)
	a := newAPI(t, addr)
	admin := keyRe.FindString(logs.String())
	ta := a.tenantKey(admin, "acme", "tenant_admin", nil)
	for i := range 20 {
		a.must(201, "POST", "/v1/graph/acme/nodes", ta, map[string]any{"alias": fmt.Sprint("n", i), "label": "P"})
	}

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err == nil {
		if !bytes.Contains(status, []byte("\nUmask:\t0077\n")) {
			t.Errorf("the server's umask is not 0077:\n%s", status)
		}
	} else {
		t.Logf("no /proc: umask not checked: %v", err)
	}
	n := 0
	for _, dir := range []string{data, data + "-audit"} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s is %v", p, info.Mode().Perm())
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 8 {
		t.Fatalf("walked only %d entries", n)
	}
}
