package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

func (r *runner) testLifecycle(t *testing.T) {
	t.Run("canceled context writes nothing", func(t *testing.T) {
		s := r.s
		tn := newTenant(t, s)
		mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P"})
		before := snapshot(t, s, tn)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: "b", Label: "P"})
		if err == nil {
			t.Errorf("upsert with a canceled context must fail (methods honour ctx)")
		}
		_, err = s.ApplyBatch(ctx, tn, telamentis.Batch{Nodes: []telamentis.NodeInput{{Alias: "c", Label: "P"}}})
		if err == nil {
			t.Errorf("batch with a canceled context must fail (methods honour ctx)")
		}
		unchanged(t, s, tn, before, "write with a canceled context")
	})
	t.Run("closed store is unavailable", func(t *testing.T) {
		s := r.h.New(t)
		tn := newTenant(t, s)
		if err := s.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		call := func(what string, f func() error) {
			t.Helper()
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s after Close panicked: %v", what, p)
				}
			}()
			err := f()
			wantCode(t, err, what+" after Close", telamentis.CodeUnavailable)
		}
		call("get tenant", func() error { _, err := s.GetTenant(t.Context(), tn); return err })
		call("upsert node", func() error {
			_, err := s.UpsertNode(t.Context(), tn, telamentis.NodeInput{Label: "P"})
			return err
		})
		call("query", func() error {
			_, err := s.Query(t.Context(), tn, telamentis.Query{Kind: telamentis.QueryNodes})
			return err
		})
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("a second Close panicked: %v", p)
				}
			}()
			s.Close()
		}()
	})
	if _, ok := r.s.(telamentis.Importer); ok {
		t.Run("import", r.testImport)
		t.Run("import_errors", r.testImportErrors)
	}
}

// testImport checks telamentis.Importer: versions keep their transaction
// times, and later writes still get strictly later ones.
func (r *runner) testImport(t *testing.T) {
	s := r.s
	imp := s.(telamentis.Importer)
	ctx := t.Context()
	tn := newTenant(t, s)
	t1 := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)
	n1, n2, e1 := newUUID(), newUUID(), newUUID()
	nodes := []telamentis.Node{
		{ID: n1, Alias: "alice", Label: "Person", Props: props(`{"v":1}`), TxStart: t1, TxEnd: t2},
		{ID: n1, Alias: "alice", Label: "Person", Props: props(`{"v":2}`), TxStart: t2},
		{ID: n2, Alias: "acme", Label: "Org", Props: props(`{}`), TxStart: t1},
	}
	edges := []telamentis.Edge{
		{ID: e1, From: n1, To: n2, Kind: "WORKS_AT", Props: props(`{"v":1}`), ValidFrom: day(0), TxStart: t1, TxEnd: t3},
		{ID: e1, From: n1, To: n2, Kind: "WORKS_AT", Props: props(`{"v":2}`), ValidFrom: day(0), ValidTo: day(9), TxStart: t3},
	}
	bad := newTenant(t, s)
	before := snapshot(t, s, bad)
	err := imp.Import(ctx, bad, []telamentis.Node{
		{ID: n1, Label: "P", Props: props(`{}`), TxStart: t1, TxEnd: t3},
		{ID: n1, Label: "P", Props: props(`{}`), TxStart: t2},
	}, nil)
	wantCode(t, err, "import of overlapping versions of one node", telamentis.CodeInvalid)
	unchanged(t, s, bad, before, "rejected import")

	if err := imp.Import(ctx, tn, nodes, edges); err != nil {
		t.Fatalf("import: %v", err)
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{{t1, `{"v":1}`}, {t2.Add(-time.Microsecond), `{"v":1}`}, {t2, `{"v":2}`}, {time.Time{}, `{"v":2}`}} {
		g, err := s.GetNode(ctx, tn, byAlias("alice"), c.at)
		if err != nil || canon(g.Props) != c.want || g.ID != n1 {
			t.Errorf("imported node as_at %v: %s, %v; want props %s", c.at, nodeKey(g), err, c.want)
		}
	}
	if h := history(t, s, tn, false, e1).Edges; len(h) != 2 || !h[0].TxEnd.Equal(t3) || !h[1].ValidTo.Equal(day(9)) {
		t.Errorf("imported edge history: %v", edgesKeys(h))
	}
	p := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "alice"}, AsAt: t1, ValidAt: day(20)})
	if len(p.Neighbors) != 1 || p.Neighbors[0].Via.ID != e1 || canon(p.Neighbors[0].Via.Props) != `{"v":1}` {
		t.Errorf("paths over imported versions as_at %v: %+v", t1, p.Neighbors)
	}

	// A later write comes after every imported time, even one ahead of
	// the wall clock.
	future := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
	if err := imp.Import(ctx, tn, []telamentis.Node{{ID: newUUID(), Label: "P", Props: props(`{}`), TxStart: future}}, nil); err != nil {
		t.Fatalf("import at %v: %v", future, err)
	}
	res := mustNode(t, s, tn, telamentis.NodeInput{Alias: "alice", Label: "Person", Props: props(`{"v":3}`)})
	if !res.Node.TxStart.After(future) {
		t.Errorf("a write after importing tx time %v got tx_start %v: transaction times must keep increasing per tenant", future, res.Node.TxStart)
	}
	if r.h.Disk == nil {
		return
	}
	dir := t.TempDir()
	d := r.h.Disk(t, dir, false)
	dtn := newTenant(t, d)
	if err := d.(telamentis.Importer).Import(ctx, dtn, []telamentis.Node{{ID: newUUID(), Alias: "x", Label: "P", Props: props(`{}`), TxStart: future}}, nil); err != nil {
		t.Fatalf("import on disk: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = r.h.Disk(t, dir, false)
	defer d.Close()
	res, err = d.UpsertNode(ctx, dtn, telamentis.NodeInput{Alias: "x", Label: "P", Props: props(`{"after":"reopen"}`)})
	if err != nil {
		t.Fatalf("write after reopening: %v", err)
	}
	if !res.Node.TxStart.After(future) {
		t.Errorf("after reopening, a write got tx_start %v, not after the stored tx time %v: the clock must learn stored times on open", res.Node.TxStart, future)
	}
}
