package storetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

func memHarness(bugs ...string) Harness {
	return Harness{
		New: func(t testing.TB) telamentis.Store {
			s := newMemStore()
			globalBug = ""
			if len(bugs) > 0 {
				globalBug = bugs[0]
			}
			for _, b := range bugs {
				s.bugs[b] = true
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		Residue: func(t testing.TB, s telamentis.Store, canary string) []string { return s.(*memStore).residue(canary) },
	}
}

// TestMemStore runs the suite against the plain in-memory store: every
// assertion can be met.
func TestMemStore(t *testing.T) {
	Run(t, memHarness())
}

// TestBuggyStore is run by TestSuiteCatchesBugs in a child process, with
// the bug named in STORETEST_BUG switched on.
func TestBuggyStore(t *testing.T) {
	bug := os.Getenv("STORETEST_BUG")
	if bug == "" {
		t.Skip("run by TestSuiteCatchesBugs")
	}
	Run(t, memHarness(bug))
}

// TestSuiteCatchesBugs shows that the suite fails, naming the rule, when a
// store breaks one.
func TestSuiteCatchesBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ bug, run, want string }{
		{"no cascade", "retract", "retract node a with live edges"},
		{"no cascade", "property", "rule broken: "},
		{"noop writes", "nodes", "no-op upsert: nothing may be written"},
		{"erase keeps edges", "erase", "erase result"},
		{"erase keeps edges", "property", "rule broken: "},
		{"batch not atomic", "batch", "batch with a missing endpoint: nothing may be written"},
		{"as_at excludes tx_start", "nodes", "as_at"},
		{"as_at excludes tx_start", "property", "rule broken: "},
		{"cursor not bound to tenant", "isolation", "a cursor issued to tenant A presented by tenant B"},
		{"valid_between includes its end", "queries", "edges query valid_between"},
		{"valid_between includes its end", "property", "rule broken: "},
		{"paths by shortest distance", "queries", "paths both exactly 2"},
		{"paths by shortest distance", "property", "rule broken: paths"},
		{"include_nodes at now", "include_nodes", "an included node is the version visible at the page's as_at"},
		{"ids_only at now", "ids_only", "without ids_only"},
	} {
		t.Run(strings.ReplaceAll(c.bug+" "+c.run, " ", "_"), func(t *testing.T) {
			// More property cases than the default, so that a rare bug is
			// found every time.
			cmd := exec.CommandContext(t.Context(), exe, "-test.run=^TestBuggyStore$/^"+c.run+"$", "-rapid.nofailfile",
				"-rapid.shrinktime=3s", "-rapid.checks=1000")
			cmd.Env = append(os.Environ(), "STORETEST_BUG="+c.bug)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store with bug %q:\n%s", c.bug, out)
			}
			if !bytes.Contains(out, []byte(c.want)) {
				t.Errorf("the suite failed a store with bug %q but without naming the rule %q:\n%s", c.bug, c.want, out)
			}
		})
	}
}

func TestScanFile(t *testing.T) {
	dir := t.TempDir()
	needle := []byte("CANARY-123")
	data := bytes.Repeat([]byte{'x'}, 3<<20)
	offs := []int{0, 1<<20 - 4, 2<<20 + 7, len(data) - len(needle)} // at the start, across reads, at the end
	for _, o := range offs {
		copy(data[o:], needle)
	}
	path := filepath.Join(dir, "sub", "f")
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := scanFile(path, needle)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(offs) {
		t.Fatalf("scanFile found %v, want offsets %v", got, offs)
	}
	for i, o := range offs {
		if got[i] != int64(o) {
			t.Errorf("match %d at %d, want %d", i, got[i], o)
		}
	}
	if found := scanDir(t, dir, needle); len(found) != len(offs) || !strings.HasPrefix(found[0], "sub/f@") {
		t.Errorf("scanDir = %v", found)
	}
}
