package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/graph"
)

// testMerge checks Store.MergeNode (graph.MergeNode's rules): the source
// is closed, its edges continue on the target as new edges, its aliases
// redirect to the target from the merge on, both histories stay readable
// and as_at before the merge shows two nodes.
func (r *runner) testMerge(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	a := mustNode(t, s, tn, telamentis.NodeInput{Alias: "alice-1", Label: "Person", Props: props(`{"name":"Alice Smith","age":41}`)}).Node
	b := mustNode(t, s, tn, telamentis.NodeInput{Alias: "alice", Label: "Person", Props: props(`{"name":"alice smith"}`)}).Node
	c := mustNode(t, s, tn, telamentis.NodeInput{Alias: "acme", Label: "Org"}).Node
	d := mustNode(t, s, tn, telamentis.NodeInput{Alias: "dan", Label: "Person"}).Node
	edge := func(alias string, from, to telamentis.Node, kind string) telamentis.Edge {
		return mustEdge(t, s, tn, telamentis.EdgeInput{Alias: alias, From: byID(from.ID), To: byID(to.ID), Kind: kind, ValidFrom: day(0), Props: props(`{"w":1}`)}).Edge
	}
	worksA := edge("", a, c, "WORKS_AT") // identical to worksB: dropped
	worksB := edge("", b, c, "WORKS_AT") // the target's own
	knows := edge("", a, b, "KNOWS")     // between the two: dropped
	friend := edge("f1", d, a, "FRIEND") // moves, keeping its alias
	loop := edge("", a, a, "SELF")       // a loop moves as a loop
	emp := edge("", c, a, "EMPLOYS")     // moves
	retracted := edge("", a, d, "LIKES") // retracted before: not moved
	if _, err := s.RetractEdge(ctx, tn, byID(retracted.ID)); err != nil {
		t.Fatal(err)
	}
	before, err := s.GetNode(ctx, tn, byID(b.ID), time.Time{})
	if err != nil {
		t.Fatal(err)
	}

	res, err := s.MergeNode(ctx, tn, byAlias("alice-1"), byAlias("alice"))
	if err != nil {
		t.Fatalf("merge alice-1 into alice: %v", err)
	}
	at := res.TxTime
	prev := at.Add(-time.Microsecond)
	if res.Merged != a.ID {
		t.Errorf("merge result names %s as merged, want the source %s", res.Merged, a.ID)
	}
	sameNode(t, res.Node, before, "merge returns the target's current version, unchanged")
	wantDropped := sorted([]string{worksA.ID, knows.ID})
	if !slices.Equal(res.Dropped, wantDropped) {
		t.Errorf("merge drops the edges between the two and those identical to one of the target's: dropped %q, want %q", res.Dropped, wantDropped)
	}
	var movedOld []string
	newID := map[string]string{}
	for _, m := range res.Moved {
		movedOld = append(movedOld, m.ID)
		newID[m.ID] = m.NewID
	}
	if want := sorted([]string{friend.ID, loop.ID, emp.ID}); !slices.Equal(movedOld, want) {
		t.Errorf("merge moves the source's other live edges, in ID order: moved %v, want %q", res.Moved, want)
	}
	if !slices.Equal(res.Aliases, []string{"alice-1"}) {
		t.Errorf("merge reports the aliases that now redirect to the target: %q, want [alice-1]", res.Aliases)
	}

	// The source: closed, readable as at before the merge, its history one
	// version closed at the merge.
	_, err = s.GetNode(ctx, tn, byID(a.ID), time.Time{})
	wantCode(t, err, "the merged node is closed", telamentis.CodeNotFound)
	if g, err := s.GetNode(ctx, tn, byID(a.ID), prev); err != nil || g.ID != a.ID {
		t.Errorf("as_at before the merge the source is there: %v", err)
	}
	if h := history(t, s, tn, true, a.ID); len(h.Nodes) != 1 || !h.Nodes[0].TxEnd.Equal(at) {
		t.Errorf("the source's history stays readable, its last version closed at the merge: %v", nodesKeys(h.Nodes))
	}
	if h := history(t, s, tn, true, b.ID); len(h.Nodes) != 1 {
		t.Errorf("the target's history is unchanged: %v", nodesKeys(h.Nodes))
	}
	// Its alias: the target from the merge on, the source before.
	if g, err := s.GetNode(ctx, tn, byAlias("alice-1"), time.Time{}); err != nil || g.ID != b.ID {
		t.Errorf("after the merge the source's alias resolves to the target: %s, %v", g.ID, err)
	}
	if g, err := s.GetNode(ctx, tn, byAlias("alice-1"), at); err != nil || g.ID != b.ID {
		t.Errorf("as_at the merge the source's alias resolves to the target: %s, %v", g.ID, err)
	}
	if g, err := s.GetNode(ctx, tn, byAlias("alice-1"), prev); err != nil || g.ID != a.ID {
		t.Errorf("as_at before the merge the source's alias resolves to the source: %s, %v", g.ID, err)
	}
	// Two nodes before, one after.
	persons := func(asAt time.Time) []string {
		return nodeIDs(all(t, s, tn, telamentis.Query{Kind: telamentis.QueryNodes, Labels: []string{"Person"}, AsAt: asAt, Limit: telamentis.MaxLimit}).Nodes)
	}
	if got, want := persons(prev), sorted([]string{a.ID, b.ID, d.ID}); !slices.Equal(got, want) {
		t.Errorf("as_at before the merge both nodes are there: %q, want %q", got, want)
	}
	if got, want := persons(time.Time{}), sorted([]string{b.ID, d.ID}); !slices.Equal(got, want) {
		t.Errorf("after the merge one node is there: %q, want %q", got, want)
	}
	// Edges: the old ones closed on the source, the new ones on the target
	// with the same alias, kind, props and valid time.
	for old, want := range map[string][2]string{friend.ID: {d.ID, b.ID}, loop.ID: {b.ID, b.ID}, emp.ID: {c.ID, b.ID}} {
		_, err := s.GetEdge(ctx, tn, byID(old), time.Time{})
		wantCode(t, err, "a moved edge is closed", telamentis.CodeNotFound)
		o, err := s.GetEdge(ctx, tn, byID(old), prev)
		if err != nil {
			t.Fatalf("as_at before the merge the moved edge is there: %v", err)
		}
		n, err := s.GetEdge(ctx, tn, byID(newID[old]), time.Time{})
		if err != nil {
			t.Fatalf("the moved edge's successor: %v", err)
		}
		if n.From != want[0] || n.To != want[1] || n.Alias != o.Alias || n.Kind != o.Kind || canon(n.Props) != canon(o.Props) ||
			!n.ValidFrom.Equal(o.ValidFrom) || !n.ValidTo.Equal(o.ValidTo) || !n.TxStart.Equal(at) {
			t.Errorf("a moved edge continues with the target in the source's place:\n old %s\n new %s", edgeKey(o), edgeKey(n))
		}
	}
	for _, e := range []telamentis.Edge{worksA, knows} {
		_, err := s.GetEdge(ctx, tn, byID(e.ID), time.Time{})
		wantCode(t, err, "a dropped edge is closed", telamentis.CodeNotFound)
	}
	if g, err := s.GetEdge(ctx, tn, byAlias("f1"), time.Time{}); err != nil || g.ID != newID[friend.ID] {
		t.Errorf("a moved edge's alias names its successor: %v", err)
	}
	if g, err := s.GetEdge(ctx, tn, byID(worksB.ID), time.Time{}); err != nil || !g.TxStart.Equal(worksB.TxStart) {
		t.Errorf("the target's own edges are untouched: %v", err)
	}
	st, err := s.Stats(ctx, tn)
	if err != nil || st.Nodes != 3 || st.Edges != 4 {
		t.Errorf("live counts after the merge: %+v %v, want 3 nodes and 4 edges", st, err)
	}

	// Queries by the old alias: the target's edges now, the source's as at
	// before the merge.
	from := func(asAt time.Time) []string {
		return edgeIDs(all(t, s, tn, telamentis.Query{Kind: telamentis.QueryEdges, From: &telamentis.Ref{Alias: "alice-1"}, AsAt: asAt, Limit: telamentis.MaxLimit}).Edges)
	}
	if got, want := from(time.Time{}), sorted([]string{worksB.ID, newID[loop.ID]}); !slices.Equal(got, want) {
		t.Errorf("edges from the merged alias are the target's: %q, want %q", got, want)
	}
	if got, want := from(prev), sorted([]string{worksA.ID, knows.ID, loop.ID}); !slices.Equal(got, want) {
		t.Errorf("as_at before the merge, edges from the alias are the source's: %q, want %q", got, want)
	}
	pg := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "alice-1"}, Direction: telamentis.DirOut, Depth: 1, Limit: telamentis.MaxLimit})
	var reached []string
	for _, nb := range pg.Neighbors {
		reached = append(reached, nb.Node.ID)
	}
	if want := sorted([]string{b.ID, c.ID}); !slices.Equal(sorted(reached), want) {
		t.Errorf("paths from the merged alias start at the target: %q, want %q", reached, want)
	}

	// Every reference by the old alias now names the target.
	e := mustEdge(t, s, tn, telamentis.EdgeInput{From: byAlias("alice-1"), To: byAlias("acme"), Kind: "VISITS"}).Edge
	if e.From != b.ID {
		t.Errorf("an edge from the merged alias starts at the target: %s", e.From)
	}
	up := mustNode(t, s, tn, telamentis.NodeInput{Alias: "alice-1", Label: "Person", Props: props(`{"name":"Alice Smith"}`)})
	if up.Created || up.Node.ID != b.ID || up.Node.Alias != "alice" {
		t.Errorf("an upsert by the merged alias updates the target, which keeps its own alias: %+v", up)
	}
	_, err = s.UpsertNode(ctx, tn, telamentis.NodeInput{ID: d.ID, Alias: "alice-1", Label: "Person"})
	if msg := sameError(err, wantErr(telamentis.CodeConflict, "alias belongs to another live node", "alias", "belongs to another live node")); msg != "" {
		t.Errorf("the merged alias belongs to the target:\n%s", msg)
	}

	// A second merge carries the target's aliases, old ones included.
	f := mustNode(t, s, tn, telamentis.NodeInput{Alias: "alice-final", Label: "Person"}).Node
	res2, err := s.MergeNode(ctx, tn, byID(b.ID), byID(f.ID))
	if err != nil {
		t.Fatalf("second merge: %v", err)
	}
	if !slices.Equal(res2.Aliases, []string{"alice", "alice-1"}) {
		t.Errorf("a merge moves the source's alias and its extra aliases: %q", res2.Aliases)
	}
	for _, al := range []string{"alice", "alice-1"} {
		if g, err := s.GetNode(ctx, tn, byAlias(al), time.Time{}); err != nil || g.ID != f.ID {
			t.Errorf("after the second merge %s names the last target: %v", al, err)
		}
		if g, err := s.GetNode(ctx, tn, byAlias(al), res2.TxTime.Add(-time.Microsecond)); err != nil || g.ID != b.ID {
			t.Errorf("between the merges %s names the first target: %v", al, err)
		}
	}
	// Retracting the target frees its aliases.
	if _, err := s.RetractNode(ctx, tn, byAlias("alice-1")); err != nil {
		t.Fatalf("retract by the merged alias: %v", err)
	}
	_, err = s.GetNode(ctx, tn, byAlias("alice"), time.Time{})
	wantCode(t, err, "a redirect to a retracted node names nothing", telamentis.CodeNotFound)
	n := mustNode(t, s, tn, telamentis.NodeInput{Alias: "alice", Label: "Person"})
	if !n.Created {
		t.Errorf("once its node is retracted, a merged alias is free: %+v", n)
	}

	t.Run("errors", r.testMergeErrors)
	t.Run("erase", r.testMergeErase)
}

// testMergeErrors compares the whole errors of bad merges; none writes.
func (r *runner) testMergeErrors(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	a := mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P"}).Node
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "b", Label: "P"})
	missing := newUUID()
	for _, c := range []struct {
		name      string
		ref, into telamentis.Ref
		want      *telamentis.Error
	}{
		{"same ref", byAlias("a"), byAlias("a"), wantErr(telamentis.CodeInvalid, "invalid into", "into", "must name another node")},
		{"same node", byAlias("a"), byID(a.ID), wantErr(telamentis.CodeInvalid, "invalid into", "into", "must name another node")},
		{"missing source", byID(missing), byAlias("b"), wantErr(telamentis.CodeNotFound, "node not found", "ref", "node not found")},
		{"missing target", byAlias("a"), byAlias("nobody"), wantErr(telamentis.CodeNotFound, "node not found", "into", "node not found")},
		{"both missing", byAlias("x"), byAlias("y"), wantErr(telamentis.CodeNotFound, "node not found", "ref", "node not found", "into", "node not found")},
		{"malformed", telamentis.Ref{ID: "nope"}, telamentis.Ref{}, wantErr(telamentis.CodeInvalid, "invalid ref.id", "ref.id", "must be a UUID", "into", "id or alias required")},
		{"missing tenant", byAlias("a"), byAlias("b"), wantErr(telamentis.CodeNotFound, "tenant not found")},
	} {
		tenant := tn
		if c.name == "missing tenant" {
			tenant = "st-no-such-tenant"
		}
		before := snapshot(t, s, tn)
		_, err := s.MergeNode(ctx, tenant, c.ref, c.into)
		if msg := sameError(err, c.want); msg != "" {
			t.Errorf("%s:\n%s", c.name, msg)
		}
		unchanged(t, s, tn, before, c.name)
	}
	if _, err := s.MergeNode(ctx, tn, byAlias("a"), byAlias("b")); err != nil {
		t.Fatal(err)
	}
	_, err := s.MergeNode(ctx, tn, byID(a.ID), byAlias("b"))
	if msg := sameError(err, wantErr(telamentis.CodeNotFound, "node not found", "ref", "node not found")); msg != "" {
		t.Errorf("a merged node cannot be merged again:\n%s", msg)
	}
}

// testMergeErase checks that erasing a merged target removes the
// redirects to it, and its name keys.
func (r *runner) testMergeErase(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	a := mustNode(t, s, tn, telamentis.NodeInput{Alias: "old", Label: "P"}).Node
	b := mustNode(t, s, tn, telamentis.NodeInput{Alias: "new", Label: "P", Props: props(`{"name":"Zed Zulu"}`)}).Node
	if _, err := s.MergeNode(ctx, tn, byID(a.ID), byID(b.ID)); err != nil {
		t.Fatal(err)
	}
	x := mustNode(t, s, tn, telamentis.NodeInput{Alias: "extra", Label: "P", Props: props(`{"name":"ZED ZULU"}`), Resolve: telamentis.ResolveNormalized})
	if x.Node.ID != b.ID {
		t.Fatalf("resolution attaches to the target: %+v", x)
	}
	if _, err := s.EraseNode(ctx, tn, byAlias("extra")); err != nil {
		t.Fatalf("erase the target by its extra alias: %v", err)
	}
	for _, al := range []string{"old", "extra", "new"} {
		_, err := s.GetNode(ctx, tn, byAlias(al), time.Time{})
		wantCode(t, err, "after erasing the target its redirects are gone", telamentis.CodeNotFound)
	}
	if g, err := s.GetNode(ctx, tn, byAlias("old"), a.TxStart); err != nil || g.ID != a.ID {
		t.Errorf("the merged source is a node of its own and stays: %v", err)
	}
	// Its name is no longer indexed: a lookup by it creates.
	n := mustNode(t, s, tn, telamentis.NodeInput{Label: "P", Props: props(`{"name":"zed zulu"}`), Resolve: telamentis.ResolveNormalized})
	if !n.Created || len(n.Candidates) > 0 {
		t.Errorf("the erased target's name keys are gone: %+v", n)
	}
	if n := mustNode(t, s, tn, telamentis.NodeInput{Alias: "extra", Label: "P"}); !n.Created {
		t.Errorf("the erased target's extra alias is free again: %+v", n)
	}
}

// testResolve checks upserts with resolve normalized
// (telamentis.ResolveNormalized).
func (r *runner) testResolve(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	norm := func(in telamentis.NodeInput) telamentis.NodeResult {
		t.Helper()
		in.Resolve = telamentis.ResolveNormalized
		return mustNode(t, s, tn, in)
	}
	ann := mustNode(t, s, tn, telamentis.NodeInput{Alias: "ann", Label: "Person", Props: props(`{"name":"Ann Lee","city":"Oslo"}`)}).Node
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "ann-org", Label: "Org", Props: props(`{"name":"Ann Lee"}`)})

	res := norm(telamentis.NodeInput{Alias: "ann-lee-2", Label: "Person", Props: props(`{"name":"ÁNN  LEE","age":3}`)})
	if res.Created || !res.Changed || res.Resolved != telamentis.ResolveNormalized || res.Node.ID != ann.ID {
		t.Fatalf("resolve normalized attaches to the one node of the label with the normalised name: %+v", res)
	}
	if got := canon(res.Node.Props); got != `{"age":3,"city":"Oslo","name":"ÁNN  LEE"}` || res.Node.Alias != "ann" {
		t.Errorf("the node takes the upsert's top-level props over its own and keeps its alias: %s", nodeKey(res.Node))
	}
	if g, err := s.GetNode(ctx, tn, byAlias("ann-lee-2"), time.Time{}); err != nil || g.ID != ann.ID {
		t.Errorf("the upsert's alias becomes an extra alias of the node: %v", err)
	}
	if again := norm(telamentis.NodeInput{Alias: "ann-lee-2", Label: "Person", Props: props(`{"age":4}`)}); again.Node.ID != ann.ID || again.Resolved != "" {
		t.Errorf("the extra alias then finds the node by alias: %+v", again)
	}
	if plain := mustNode(t, s, tn, telamentis.NodeInput{Alias: "ann-3", Label: "Person", Props: props(`{"name":"Ann Lee"}`)}); !plain.Created {
		t.Errorf("without resolve, an upsert finds nodes by alias only: %+v", plain)
	}

	// Two matches: none is attached, a new node is created, both listed.
	c1 := mustNode(t, s, tn, telamentis.NodeInput{Label: "Person", Props: props(`{"name":"Bo Chen"}`)}).Node
	c2 := mustNode(t, s, tn, telamentis.NodeInput{Alias: "bo-chen", Label: "Person"}).Node
	amb := norm(telamentis.NodeInput{Label: "Person", Props: props(`{"name":"BO CHEN"}`)})
	if !amb.Created || !slices.Equal(amb.Candidates, sorted([]string{c1.ID, c2.ID})) || amb.Resolved != "" {
		t.Errorf("two matches are reported as candidates and attached to none: %+v, want candidates %s %s", amb, c1.ID, c2.ID)
	}
	for _, id := range []string{c1.ID, c2.ID} {
		if h := history(t, s, tn, true, id); len(h.Nodes) != 1 {
			t.Errorf("a candidate is not changed: %v", nodesKeys(h.Nodes))
		}
	}

	// A node without an alias takes the upsert's as its own; a name change
	// re-indexes it.
	ivy := mustNode(t, s, tn, telamentis.NodeInput{Label: "Person", Props: props(`{"name":"Ivy"}`)}).Node
	if got := norm(telamentis.NodeInput{Alias: "ivy-1", Label: "Person", Props: props(`{"name":"IVY"}`)}); got.Node.ID != ivy.ID || got.Node.Alias != "ivy-1" {
		t.Errorf("a node without an alias found by name gets the upsert's alias: %+v", got)
	}
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "ivy-1", Label: "Person", Props: props(`{"name":"Ivy Long"}`)})
	if got := norm(telamentis.NodeInput{Label: "Person", Props: props(`{"name":"ivy"}`)}); !got.Created {
		t.Errorf("after a name change the old name no longer matches: %+v", got)
	}
	if got := norm(telamentis.NodeInput{Label: "Person", Props: props(`{"name":"IVY-LONG"}`)}); got.Node.ID != ivy.ID {
		t.Errorf("after a name change the new name matches: %+v", got)
	}
	// An alias matches a name, and a retracted node matches nothing.
	acme := mustNode(t, s, tn, telamentis.NodeInput{Alias: "acme-inc", Label: "Org"}).Node
	if got := norm(telamentis.NodeInput{Label: "Org", Props: props(`{"name":"ACME, Inc."}`)}); got.Node.ID != acme.ID {
		t.Errorf("a normalised alias matches a normalised name: %+v", got)
	}
	if _, err := s.RetractNode(ctx, tn, byID(acme.ID)); err != nil {
		t.Fatal(err)
	}
	if got := norm(telamentis.NodeInput{Label: "Org", Props: props(`{"name":"Acme Inc"}`)}); !got.Created {
		t.Errorf("a retracted node is not matched: %+v", got)
	}

	// In a batch, an item finds what the items before it wrote: by name,
	// and by the extra alias an earlier item gave.
	br, err := s.ApplyBatch(ctx, tn, telamentis.Batch{
		Nodes: []telamentis.NodeInput{
			{Alias: "zoe", Label: "Person", Props: props(`{"name":"Zoë Adams"}`), Resolve: telamentis.ResolveNormalized},
			{Alias: "zoe-2", Label: "Person", Props: props(`{"name":"zoe adams","x":1}`), Resolve: telamentis.ResolveNormalized},
		},
		Edges: []telamentis.EdgeInput{{From: byAlias("zoe-2"), To: byAlias("zoe"), Kind: "SAME"}},
	})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	z := br.Nodes[0].Node
	if !br.Nodes[0].Created || br.Nodes[1].Node.ID != z.ID || br.Nodes[1].Resolved != telamentis.ResolveNormalized {
		t.Errorf("a batch item attaches to a node an earlier item created: %+v", br.Nodes)
	}
	if e := br.Edges[0].Edge; e.From != z.ID || e.To != z.ID {
		t.Errorf("an edge of the batch finds the node by the extra alias an earlier item gave it: %s", edgeKey(e))
	}
	if g, err := s.GetNode(ctx, tn, byAlias("zoe-2"), time.Time{}); err != nil || g.ID != z.ID || canon(g.Props) != `{"name":"zoe adams","x":1}` {
		t.Errorf("after the batch: %s, %v", nodeKey(g), err)
	}

	_, err = s.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: "q", Label: "P", Resolve: "fuzzy"})
	if msg := sameError(err, wantErr(telamentis.CodeInvalid, "invalid resolve", "resolve", "must be exact or normalized")); msg != "" {
		t.Errorf("an unknown resolve mode:\n%s", msg)
	}
}

// eraseMergedProof extends the erasure proof to merges and resolution:
// after erasing a merged target, neither its name (as written or
// normalised), nor the extra alias resolution gave it, nor anything of
// the merged source once that is erased too, is anywhere in storage.
func (r *runner) eraseMergedProof(t *testing.T) {
	tg := r.openTarget(t)
	ctx := t.Context()
	target, source := canaryString("TARGET"), canaryString("SOURCE")
	tn := newTenant(t, tg.store)
	s := tg.store
	b := mustNode(t, s, tn, telamentis.NodeInput{Alias: target + "-alias", Label: "Person", Props: props(`{"name":"` + target + `-name"}`)}).Node
	a := mustNode(t, s, tn, telamentis.NodeInput{Alias: source + "-alias", Label: "Person", Props: props(`{"name":"` + source + `-name"}`)}).Node
	k := mustNode(t, s, tn, telamentis.NodeInput{Alias: "kept", Label: "Person"}).Node
	mustEdge(t, s, tn, telamentis.EdgeInput{From: byID(a.ID), To: byID(k.ID), Kind: "KNOWS", Props: props(`{"why":"` + source + `-edge"}`)})
	if _, err := s.MergeNode(ctx, tn, byID(a.ID), byID(b.ID)); err != nil {
		t.Fatalf("merge: %v", err)
	}
	extra := mustNode(t, s, tn, telamentis.NodeInput{Alias: target + "-extra", Label: "Person",
		Props: props(`{"name":"` + strings.ToLower(target) + `-NAME"}`), Resolve: telamentis.ResolveNormalized})
	if extra.Node.ID != b.ID {
		t.Fatalf("resolution attaches to the target: %+v", extra)
	}
	// The normalised name is in storage only where a store keeps name
	// keys on disk (PostgreSQL); the embedded store derives them in memory.
	keys := []string{target, graph.NormalizeName(target)}
	if found := tg.residue(t, target); len(found) == 0 {
		t.Fatalf("control: before the erasure %q must be found in storage", target)
	}
	s = tg.store
	res, err := s.EraseNode(ctx, tn, byID(b.ID))
	if err != nil {
		t.Fatalf("erase the merged target: %v", err)
	}
	if res.Nodes != 1 || res.Edges != 1 {
		t.Errorf("erase result %+v: the target and the edge moved to it from the source", res)
	}
	for _, c := range keys {
		if found := tg.residue(t, c); len(found) > 0 {
			t.Errorf("erasure of a merged target: %q still occurs in storage: %v", c, found)
		}
	}
	s = tg.store
	_, err = s.GetNode(ctx, tn, byAlias(source+"-alias"), time.Time{})
	wantCode(t, err, "the merge's redirect to the erased target is gone", telamentis.CodeNotFound)
	if _, err := s.EraseNode(ctx, tn, byID(a.ID)); err != nil {
		t.Fatalf("erase the merged source: %v", err)
	}
	for _, c := range []string{source, graph.NormalizeName(source)} {
		if found := tg.residue(t, c); len(found) > 0 {
			t.Errorf("erasure of a merged source: %q still occurs in storage: %v", c, found)
		}
	}
	if g, err := tg.store.GetNode(ctx, tn, byID(k.ID), time.Time{}); err != nil || g.ID != k.ID {
		t.Errorf("the other node survives: %v", err)
	}
}
