//go:build unix

package badger_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
)

// walkPrivate fails for every file or directory under dir with a group or
// other permission bit, and adds the kinds of file it saw to kinds.
func walkPrivate(t *testing.T, dir, when string, kinds map[string]bool) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %s is %v", when, p, info.Mode().Perm())
		}
		if !d.IsDir() {
			kind := filepath.Ext(p)
			if kind == "" {
				kind = filepath.Base(p)
			}
			kinds[kind] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFilesArePrivate opens an encrypted store under umask 022, writes
// enough to flush SSTables in a shared and a dedicated tenant, erases and
// compacts, and closes: when it has just opened a database, after the
// rewrite and after closing, no file or directory in the store has a
// group or other permission bit. (In between, files Badger creates follow
// the umask; the telamentis binary sets 077, see cmd/telamentis.) A store
// whose files were left 0644 by an older version is tightened when it
// opens.
func TestFilesArePrivate(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	base := t.TempDir()
	dir := filepath.Join(base, "store")
	open := func() *badger.Store {
		t.Helper()
		s, err := badger.Open(badger.Config{Dir: dir, MasterKey: testKey, MemTableSize: 4 << 20, NoSync: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := badger.CreateDevKeyFile(filepath.Join(dir, "dev-master.key")); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	s := open()
	walkPrivate(t, dir, "just opened", kinds)
	ctx := t.Context()
	for _, tn := range []telamentis.Tenant{{ID: "acme"}, {ID: "ded", Isolation: telamentis.IsolationDedicated}} {
		if _, err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		if tn.Isolation == telamentis.IsolationDedicated {
			walkPrivate(t, filepath.Join(dir, "tenants"), "dedicated tenant created", kinds)
		}
		props, _ := json.Marshal(map[string]string{"text": strings.Repeat("x", 16<<10)})
		var last telamentis.NodeResult
		for i := range 400 {
			r, err := s.UpsertNode(ctx, tn.ID, telamentis.NodeInput{Alias: fmt.Sprint("n", i), Label: "Doc", Props: props})
			if err != nil {
				t.Fatal(err)
			}
			last = r
		}
		if _, err := s.EraseNode(ctx, tn.ID, telamentis.Ref{ID: last.Node.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	walkPrivate(t, dir, "compacted", kinds)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	walkPrivate(t, dir, "closed", kinds)
	for _, k := range []string{"MANIFEST", "KEYREGISTRY", "DISCARD", "LOCK", ".vlog", ".sst", ".mem", ".key"} {
		if !kinds[k] {
			t.Errorf("never saw a %s file (saw %v): the walk does not cover it", k, kinds)
		}
	}

	// A store from before: everything readable by group and others.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	})
	s = open()
	defer s.Close()
	walkPrivate(t, dir, "reopened", map[string]bool{})
}
