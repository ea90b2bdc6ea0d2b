package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// testIDsOnly checks Query.IDsOnly: a paths query with it answers the same
// rows as without it (same nodes, depths and via edges, same order, same
// pages) across directions, depths, min_depth, as_at, valid time, kinds and
// page sizes, but each neighbour carries only Node.ID, Depth, Via.ID,
// Via.From and Via.To; other kinds refuse it; the cursor binds it; the
// answer comes from the tenant's own data.
func (r *runner) testIDsOnly(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	id := map[string]string{}
	for _, a := range []string{"a", "b", "c", "d", "e", "f"} {
		id[a] = mustNode(t, s, tn, telamentis.NodeInput{Alias: a, Label: "Person", Props: props(`{"name":"` + a + `"}`)}).Node.ID
	}
	id["g"] = mustNode(t, s, tn, telamentis.NodeInput{Alias: "g", Label: "Org", Props: props(`{}`)}).Node.ID
	edge := func(alias, from, to, kind string, vf, vt int) telamentis.Edge {
		in := telamentis.EdgeInput{Alias: alias, From: byAlias(from), To: byAlias(to), Kind: kind, Props: props(`{"w":1}`), ValidFrom: day(vf)}
		if vt > 0 {
			in.ValidTo = day(vt)
		}
		return mustEdge(t, s, tn, in).Edge
	}
	// Cycles (a-b-c-a, a-c-d-a), two edges between one pair (a-c), a hub
	// (c), valid-time limits and a second kind.
	edge("ab", "a", "b", "KNOWS", 0, 0)
	edge("ac", "a", "c", "KNOWS", 0, 0)
	edge("ac2", "a", "c", "LIKES", 2, 0)
	edge("bc", "b", "c", "LIKES", 0, 0)
	edge("cd", "c", "d", "KNOWS", 0, 0)
	edge("da", "d", "a", "KNOWS", 0, 0)
	edge("ca", "c", "a", "LIKES", 0, 0)
	edge("be", "b", "e", "KNOWS", 0, 5)
	edge("ef", "e", "f", "KNOWS", 3, 0)
	before := edge("fg", "f", "g", "WORKS_AT", 0, 0).TxStart
	// After before: a retraction (cascading to cd and da), a changed edge,
	// an invalidated fact and a new shortcut.
	if _, err := s.RetractNode(ctx, tn, byAlias("d")); err != nil {
		t.Fatalf("retract d: %v", err)
	}
	mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "ab", From: byAlias("a"), To: byAlias("b"), Kind: "KNOWS", Props: props(`{"w":2}`)})
	if _, err := s.InvalidateEdge(ctx, tn, byAlias("bc"), day(4)); err != nil {
		t.Fatalf("invalidate bc: %v", err)
	}
	edge("af", "a", "f", "KNOWS", 1, 0)

	// same runs q with and without ids_only, page by page, and reports any
	// difference in the identifiers, the pages or the error, and any field
	// of an ids_only neighbour beyond the identifiers.
	same := func(t *testing.T, tenant string, q telamentis.Query) {
		t.Helper()
		q.IDsOnly = false
		full, errFull := collect(t, s, tenant, q)
		q.IDsOnly = true
		ids, errIDs := collect(t, s, tenant, q)
		rule := "ids_only " + qstr(q)
		if telamentis.ErrorCode(errFull) != telamentis.ErrorCode(errIDs) {
			t.Errorf("%s: error %v, without ids_only %v; want the same answer", rule, errIDs, errFull)
			return
		}
		if errFull != nil {
			return
		}
		if len(ids) != len(full) {
			t.Errorf("%s: %d pages, without ids_only %d; want the same pages", rule, len(ids), len(full))
		}
		for i := range min(len(ids), len(full)) {
			got, want := neighborIDs(ids[i].Neighbors), neighborIDs(full[i].Neighbors)
			if !slices.Equal(got, want) {
				t.Errorf("%s: page %d is %v; without ids_only %v (same rows, same order)", rule, i, got, want)
			}
			for _, n := range ids[i].Neighbors {
				if x := beyondIDs(n); x != "" {
					t.Errorf("%s: page %d: neighbour %s carries %s; ids_only returns identifiers only", rule, i, n.Node.ID, x)
				}
			}
		}
	}

	t.Run("same rows", func(t *testing.T) {
		for _, dir := range []telamentis.Direction{telamentis.DirOut, telamentis.DirIn, telamentis.DirBoth} {
			for depth := 1; depth <= telamentis.MaxDepth; depth++ {
				for minDepth := 1; minDepth <= depth; minDepth++ {
					for _, asAt := range []time.Time{{}, before} {
						for _, limit := range []int{telamentis.MaxLimit, 2} {
							q := telamentis.Query{Kind: telamentis.QueryPaths, Start: byIDRef(id["a"]), Direction: dir,
								Depth: depth, MinDepth: minDepth, AsAt: asAt, Limit: limit}
							same(t, tn, q)
							q.ValidAt = day(4)
							same(t, tn, q)
							q.ValidAt, q.Kinds = time.Time{}, []string{"KNOWS"}
							same(t, tn, q)
						}
					}
				}
			}
		}
		for _, q := range []telamentis.Query{
			{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "c"}, Direction: telamentis.DirBoth, Depth: 3,
				ValidBetween: &telamentis.Interval{Start: day(1), End: day(3)}},
			{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "b"}, Depth: 4, AsAt: before,
				Allen: &telamentis.AllenFilter{Relation: telamentis.During, Interval: telamentis.Interval{Start: day(-1), End: day(9)}}},
			{Kind: telamentis.QueryPaths, Start: byIDRef(id["d"]), Depth: 2},               // retracted start
			{Kind: telamentis.QueryPaths, Start: byIDRef(id["d"]), Depth: 2, AsAt: before}, // as it was
			{Kind: telamentis.QueryPaths, Start: byIDRef(id["g"]), Depth: 4},               // no edges out
		} {
			same(t, tn, q)
		}
	})
	t.Run("reaches", func(t *testing.T) {
		// Independently of the full query: two hops out of a, now.
		q := telamentis.Query{Kind: telamentis.QueryPaths, Start: byIDRef(id["a"]), Depth: 2, MinDepth: 2, IDsOnly: true}
		var got []string
		for _, n := range mustQuery(t, s, tn, q).Neighbors {
			got = append(got, n.Node.ID)
		}
		want := sorted([]string{id["c"], id["a"], id["e"], id["g"]}) // a-b-c, a-c-a, a-b-e, a-f-g
		if !slices.Equal(got, want) {
			t.Errorf("ids_only two hops out of a: %v, want %v", got, want)
		}
	})
	t.Run("cursor", func(t *testing.T) {
		q := telamentis.Query{Kind: telamentis.QueryPaths, Start: byIDRef(id["a"]), Depth: 3, Limit: 2, IDsOnly: true}
		p := mustQuery(t, s, tn, q)
		if p.NextCursor == "" {
			t.Fatalf("ids_only paths of depth 3 from a: no second page of 2")
		}
		q.IDsOnly, q.Cursor = false, p.NextCursor
		_, err := s.Query(ctx, tn, q)
		wantField(t, err, "a cursor of an ids_only query presented without ids_only", "cursor")
	})
	t.Run("other kinds", func(t *testing.T) {
		for _, q := range []telamentis.Query{
			{Kind: telamentis.QueryNodes, IDsOnly: true},
			{Kind: telamentis.QueryEdges, From: byIDRef(id["a"]), IDsOnly: true},
			{Kind: telamentis.QueryHistory, Node: byIDRef(id["a"]), IDsOnly: true},
			{Kind: telamentis.QueryChanges, IDsOnly: true},
		} {
			_, err := s.Query(ctx, tn, q)
			wantField(t, err, "ids_only on a "+string(q.Kind)+" query", "ids_only")
		}
	})
	imp, canImport := s.(telamentis.Importer)
	t.Run("endpoint not visible", func(t *testing.T) {
		if !canImport {
			t.Skip("needs telamentis.Importer to store an edge whose endpoint is not visible")
		}
		// Imported data may hold an edge visible at a time when an
		// endpoint is not: ids_only must skip, or report, exactly what
		// the full query does. The endpoint may come in the same call as
		// the edges or in an earlier one (a store may check the two
		// differently), and its versions may span the edges' time with a
		// gap or as a run of several.
		t1 := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
		t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)
		for _, c := range []struct {
			name  string
			split bool // nodes in one Import call, edges in a second
			n2    []telamentis.Node
		}{
			// n2 appears an hour after the edges to it
			{"late", false, []telamentis.Node{{Label: "P", Props: props(`{}`), TxStart: t2}}},
			{"late, imported before", true, []telamentis.Node{{Label: "P", Props: props(`{}`), TxStart: t2}}},
			// n2 is gone for an hour, then back
			{"gap", false, []telamentis.Node{{Label: "P", Props: props(`{}`), TxStart: t1, TxEnd: t2}, {Label: "P", Props: props(`{"v":2}`), TxStart: t3}}},
			{"gap, imported before", true, []telamentis.Node{{Label: "P", Props: props(`{}`), TxStart: t1, TxEnd: t2}, {Label: "P", Props: props(`{"v":2}`), TxStart: t3}}},
			// two versions with no gap: every edge has its endpoints
			{"two versions", true, []telamentis.Node{{Label: "P", Props: props(`{}`), TxStart: t1, TxEnd: t2}, {Label: "P", Props: props(`{"v":2}`), TxStart: t2}}},
		} {
			t.Run(c.name, func(t *testing.T) {
				n1, n2, n3 := newUUID(), newUUID(), newUUID()
				nodes := []telamentis.Node{{ID: n1, Label: "P", Props: props(`{}`), TxStart: t1}, {ID: n3, Label: "P", Props: props(`{}`), TxStart: t1}}
				for _, n := range c.n2 {
					n.ID = n2
					nodes = append(nodes, n)
				}
				edges := []telamentis.Edge{
					{ID: newUUID(), From: n1, To: n2, Kind: "K", Props: props(`{}`), ValidFrom: day(0), TxStart: t1},
					{ID: newUUID(), From: n1, To: n3, Kind: "K", Props: props(`{}`), ValidFrom: day(0), TxStart: t1},
					{ID: newUUID(), From: n2, To: n3, Kind: "K", Props: props(`{}`), ValidFrom: day(0), TxStart: t1},
				}
				it := newTenant(t, s)
				var err error
				if c.split {
					if err = imp.Import(ctx, it, nodes, nil); err == nil {
						err = imp.Import(ctx, it, nil, edges)
					}
				} else {
					err = imp.Import(ctx, it, nodes, edges)
				}
				if err != nil {
					t.Fatalf("import: %v", err)
				}
				for _, at := range []time.Time{t1, t2, t2.Add(30 * time.Minute), t3, {}} {
					for _, dir := range []telamentis.Direction{telamentis.DirOut, telamentis.DirBoth} {
						for _, limit := range []int{telamentis.MaxLimit, 1} {
							same(t, it, telamentis.Query{Kind: telamentis.QueryPaths, Start: byIDRef(n1), Direction: dir, Depth: 2, AsAt: at, Limit: limit})
						}
					}
				}
			})
		}
	})
	t.Run("tenant scoped", func(t *testing.T) {
		if !canImport {
			t.Skip("needs telamentis.Importer to give two tenants the same IDs")
		}
		// The same node IDs in two tenants, connected differently: each
		// walk follows its own tenant's edges only.
		t1 := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
		n1, n2, n3 := newUUID(), newUUID(), newUUID()
		ta, tb := newTenant(t, s), newTenant(t, s)
		eA, eB := newUUID(), newUUID()
		for _, c := range []struct {
			tenant, edge, to string
		}{{ta, eA, n2}, {tb, eB, n3}} {
			err := imp.Import(ctx, c.tenant, []telamentis.Node{
				{ID: n1, Label: "P", Props: props(`{}`), TxStart: t1},
				{ID: n2, Label: "P", Props: props(`{}`), TxStart: t1},
				{ID: n3, Label: "P", Props: props(`{}`), TxStart: t1},
			}, []telamentis.Edge{{ID: c.edge, From: n1, To: c.to, Kind: "K", Props: props(`{}`), ValidFrom: day(0), TxStart: t1}})
			if err != nil {
				t.Fatalf("import into %s: %v", c.tenant, err)
			}
		}
		for _, c := range []struct {
			tenant, name string
			want         []string
		}{
			{ta, "a", []string{fmt.Sprintf("1 %s via %s %s->%s", n2, eA, n1, n2)}},
			{tb, "b", []string{fmt.Sprintf("1 %s via %s %s->%s", n3, eB, n1, n3)}},
		} {
			q := telamentis.Query{Kind: telamentis.QueryPaths, Start: byIDRef(n1), Depth: 3, IDsOnly: true}
			if got := neighborIDs(mustQuery(t, s, c.tenant, q).Neighbors); !slices.Equal(got, c.want) {
				t.Errorf("ids_only in tenant %s: %v, want %v (its own edges only)", c.name, got, c.want)
			}
			same(t, c.tenant, q)
		}
	})
}

// neighborIDs lists what an ids_only neighbour carries, one string each.
func neighborIDs(ns []telamentis.Neighbor) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, fmt.Sprintf("%d %s via %s %s->%s", n.Depth, n.Node.ID, n.Via.ID, n.Via.From, n.Via.To))
	}
	return out
}

// beyondIDs names the fields of n that ids_only leaves zero but are set.
func beyondIDs(n telamentis.Neighbor) string {
	var set []string
	add := func(name string, isSet bool) {
		if isSet {
			set = append(set, name)
		}
	}
	add("node.alias", n.Node.Alias != "")
	add("node.label", n.Node.Label != "")
	add("node.props", len(n.Node.Props) > 0)
	add("node.tx_start", !n.Node.TxStart.IsZero())
	add("node.tx_end", !n.Node.TxEnd.IsZero())
	add("via.alias", n.Via.Alias != "")
	add("via.kind", n.Via.Kind != "")
	add("via.props", len(n.Via.Props) > 0)
	add("via.valid_from", !n.Via.ValidFrom.IsZero())
	add("via.valid_to", !n.Via.ValidTo.IsZero())
	add("via.tx_start", !n.Via.TxStart.IsZero())
	add("via.tx_end", !n.Via.TxEnd.IsZero())
	return strings.Join(set, ", ")
}
