package storetest

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

func (r *runner) testErasure(t *testing.T) {
	if r.h.Disk == nil && r.h.Residue == nil {
		t.Skip("the harness has neither Disk nor Residue: no storage to search for erased bytes")
	}
	t.Run("erase node", r.eraseProof)
	t.Run("drop tenant", r.dropProof)
	t.Run("erase merged", r.eraseMergedProof) // merge.go
	if r.h.Disk != nil {
		t.Run("encryption at rest", r.encryptedProof)
	}
}

// target is where the proof looks for residue of the canary: the files
// under a directory (reopened between steps) or the backend's Residue.
type target struct {
	r     *runner
	dir   string
	store telamentis.Store
}

func (r *runner) openTarget(t *testing.T) *target {
	tg := &target{r: r}
	if r.h.Disk != nil {
		tg.dir = t.TempDir()
		tg.store = r.h.Disk(t, tg.dir, false)
		t.Cleanup(func() {
			if tg.store != nil {
				tg.store.Close()
			}
		})
	} else {
		tg.store = r.h.New(t)
	}
	return tg
}

// residue compacts the store if it can, then reports where canary still
// occurs: for Disk it closes the store, scans every file and reopens it.
func (tg *target) residue(t *testing.T, canary string) []string {
	t.Helper()
	if c, ok := tg.store.(telamentis.Compactor); ok {
		if err := c.Compact(t.Context()); err != nil {
			t.Fatalf("compact: %v", err)
		}
	}
	if tg.dir == "" {
		return tg.r.h.Residue(t, tg.store, canary)
	}
	if err := tg.store.Close(); err != nil {
		t.Fatalf("close the disk store: %v", err)
	}
	tg.store = nil
	found := scanDir(t, tg.dir, []byte(canary))
	tg.store = tg.r.h.Disk(t, tg.dir, false)
	return found
}

// scanDir returns "path@offset" for every occurrence of needle in every
// file under dir.
func scanDir(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var found []string
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		offs, err := scanFile(path, needle)
		for _, o := range offs {
			rel, _ := filepath.Rel(dir, path)
			found = append(found, fmt.Sprintf("%s@%d", rel, o))
		}
		return err
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	if files == 0 {
		t.Fatalf("scan %s: the store wrote no files", dir)
	}
	return found
}

func scanFile(path string, needle []byte) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var offs []int64
	buf := make([]byte, 1<<20)
	keep := len(needle) - 1
	var base int64 // file offset of buf[0]
	n := 0
	for {
		m, err := io.ReadFull(f, buf[n:])
		n += m
		for i := 0; ; {
			j := bytes.Index(buf[i:n], needle)
			if j < 0 {
				break
			}
			offs = append(offs, base+int64(i+j))
			i += j + 1
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return offs, nil
		}
		if err != nil {
			return offs, err
		}
		// Keep the last len(needle)-1 bytes: a match may straddle reads.
		copy(buf, buf[n-keep:n])
		base += int64(n - keep)
		n = keep
	}
}

func canaryString(what string) string {
	return "CANARY-" + what + "-" + strings.ToUpper(randHex(8))
}

func (r *runner) eraseProof(t *testing.T) {
	tg := r.openTarget(t)
	ctx := t.Context()
	canary := canaryString("ERASE")
	keep := canaryString("KEEP")
	victim := newTenant(t, tg.store)
	other := newTenant(t, tg.store, dedicated)
	s := tg.store

	// The erased node, with the canary in its alias, in two versions of
	// props, and in the props of edges touching it (one large enough to
	// leave a small-value path, one retracted).
	x := mustNode(t, s, victim, telamentis.NodeInput{Alias: canary + "-alias", Label: "Person", Props: props(`{"secret":"` + canary + `-v1"}`)}).Node
	mustNode(t, s, victim, telamentis.NodeInput{Alias: canary + "-alias", Label: "Person", Props: props(`{"secret":"` + canary + `-v2"}`)})
	k := mustNode(t, s, victim, telamentis.NodeInput{Alias: "kept", Label: "Person", Props: props(`{"note":"` + keep + `"}`)}).Node
	mustEdge(t, s, victim, telamentis.EdgeInput{From: byID(x.ID), To: byID(k.ID), Kind: "KNOWS", ValidFrom: day(0),
		Props: props(`{"blob":"` + canary + strings.Repeat("-pad", 10_000) + `"}`)})
	mustEdge(t, s, victim, telamentis.EdgeInput{Alias: "gone", From: byID(k.ID), To: byID(x.ID), Kind: "KNOWS", ValidFrom: day(0),
		Props: props(`{"why":"` + canary + `-edge"}`)})
	if _, err := s.RetractEdge(ctx, victim, byAlias("gone")); err != nil {
		t.Fatal(err)
	}
	kk := mustEdge(t, s, victim, telamentis.EdgeInput{From: byID(k.ID), To: byID(k.ID), Kind: "SELF", ValidFrom: day(0), Props: props(`{"k":"` + keep + `"}`)}).Edge
	o := mustNode(t, s, other, telamentis.NodeInput{Alias: canary[:7] + "-other", Label: "Person", Props: props(`{"note":"` + keep + `"}`)}).Node

	if found := tg.residue(t, canary); len(found) == 0 {
		t.Fatalf("control: before the erasure the canary must be found in storage, or the proof proves nothing " +
			"(with encryption off, values must be stored as plaintext: no compression in this mode)")
	}
	s = tg.store
	res, err := s.EraseNode(ctx, victim, byAlias(canary+"-alias"))
	if err != nil {
		t.Fatalf("erase: %v", err)
	}
	if res.Nodes != 1 || res.Edges != 2 {
		t.Errorf("erase result %+v, want 1 node and 2 edges", res)
	}
	if found := tg.residue(t, canary); len(found) > 0 {
		t.Errorf("erasure: the erased canary %s still occurs in storage after erase and compaction: %v", canary, found)
	}
	s = tg.store
	if g, err := s.GetNode(ctx, victim, byID(k.ID), time.Time{}); err != nil || canon(g.Props) != `{"note":"`+keep+`"}` {
		t.Errorf("the victim tenant's other node must survive the erasure (and a reopen): %s, %v", nodeKey(g), err)
	}
	if g, err := s.GetEdge(ctx, victim, byID(kk.ID), time.Time{}); err != nil || g.ID != kk.ID {
		t.Errorf("an edge not touching the erased node must survive: %v", err)
	}
	if g, err := s.GetNode(ctx, other, byID(o.ID), time.Time{}); err != nil || canon(g.Props) != `{"note":"`+keep+`"}` {
		t.Errorf("the other tenant's node must survive the erasure (and a reopen): %s, %v", nodeKey(g), err)
	}
	_, err = s.GetNode(ctx, victim, byID(x.ID), x.TxStart)
	wantCode(t, err, "get the erased node after reopening", telamentis.CodeNotFound)
	if c, ok := s.(telamentis.Checker); ok {
		if err := c.Check(ctx); err != nil {
			t.Errorf("integrity check after erasure: %v", err)
		}
	}
}

func (r *runner) dropProof(t *testing.T) {
	tg := r.openTarget(t)
	ctx := t.Context()
	canary := canaryString("DROP")
	keep := canaryString("KEEP")
	s := tg.store
	shared := newTenant(t, s)
	ded := newTenant(t, s, dedicated)
	other := newTenant(t, s)
	for _, tn := range []string{shared, ded} {
		mustNode(t, s, tn, telamentis.NodeInput{Alias: canary + "-a", Label: "P", Props: props(`{"secret":"` + canary + `"}`)})
		mustNode(t, s, tn, telamentis.NodeInput{Alias: "b", Label: "P"})
		mustEdge(t, s, tn, telamentis.EdgeInput{From: byAlias(canary + "-a"), To: byAlias("b"), Kind: "K", ValidFrom: day(0),
			Props: props(`{"blob":"` + canary + strings.Repeat("-pad", 10_000) + `"}`)})
	}
	o := mustNode(t, s, other, telamentis.NodeInput{Alias: "a", Label: "P", Props: props(`{"note":"` + keep + `"}`)}).Node
	if found := tg.residue(t, canary); len(found) == 0 {
		t.Fatalf("control: before the drop the canary must be found in storage, or the proof proves nothing")
	}
	s = tg.store
	for _, tn := range []string{shared, ded} {
		if err := s.DropTenant(ctx, tn); err != nil {
			t.Fatalf("drop %s: %v", tn, err)
		}
	}
	if found := tg.residue(t, canary); len(found) > 0 {
		t.Errorf("drop tenant: the dropped tenants' canary %s still occurs in storage: %v", canary, found)
	}
	s = tg.store
	if g, err := s.GetNode(ctx, other, byID(o.ID), time.Time{}); err != nil || canon(g.Props) != `{"note":"`+keep+`"}` {
		t.Errorf("the other tenant's node must survive the drops (and a reopen): %s, %v", nodeKey(g), err)
	}
	for _, tn := range []string{shared, ded} {
		if _, err := s.GetTenant(ctx, tn); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
			t.Errorf("dropped tenant %s after reopening: %v, want not_found", tn, err)
		}
	}
}

func (r *runner) encryptedProof(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	canary := canaryString("PLAIN")
	s := r.h.Disk(t, dir, true)
	shared := newTenant(t, s)
	ded := newTenant(t, s, dedicated)
	ids := map[string]string{}
	for _, tn := range []string{shared, ded} {
		ids[tn] = mustNode(t, s, tn, telamentis.NodeInput{Alias: "alice", Label: "Person", Props: props(`{"secret":"` + canary + `"}`)}).Node.ID
		mustNode(t, s, tn, telamentis.NodeInput{Alias: "bob", Label: "Person"})
		mustEdge(t, s, tn, telamentis.EdgeInput{From: byAlias("alice"), To: byAlias("bob"), Kind: "K",
			Props: props(`{"blob":"` + canary + strings.Repeat("-pad", 10_000) + `"}`)})
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if found := scanDir(t, dir, []byte(canary)); len(found) > 0 {
		t.Errorf("encryption at rest: the plaintext prop value %s of a live node occurs in files: %v", canary, found)
	}
	s = r.h.Disk(t, dir, true)
	defer s.Close()
	for _, tn := range []string{shared, ded} {
		g, err := s.GetNode(ctx, tn, byID(ids[tn]), time.Time{})
		if err != nil || canon(g.Props) != `{"secret":"`+canary+`"}` {
			t.Errorf("the encrypted node must read back after reopening: %s, %v", nodeKey(g), err)
		}
	}
}
