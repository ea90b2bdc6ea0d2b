package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// testIncludeNodes checks Query.IncludeNodes: an edges page also carries
// every distinct endpoint of its own edges, in the version visible at the
// page's transaction time, ordered by ID; nothing without it; other kinds
// refuse it; the nodes come from the tenant's own data.
func (r *runner) testIncludeNodes(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	mk := func(alias, p string) telamentis.Node {
		return mustNode(t, s, tn, telamentis.NodeInput{Alias: alias, Label: "Person", Props: props(p)}).Node
	}
	hub := mk("hub", `{"v":1}`)
	var leaves []telamentis.Node
	for i := range 5 {
		leaves = append(leaves, mk(fmt.Sprintf("leaf%d", i), `{"v":1}`))
	}
	for i, l := range leaves {
		mustEdge(t, s, tn, telamentis.EdgeInput{Alias: fmt.Sprintf("out%d", i), From: byID(hub.ID), To: byID(l.ID), Kind: "KNOWS", ValidFrom: day(0)})
	}
	back := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "back", From: byID(leaves[0].ID), To: byID(hub.ID), Kind: "KNOWS", ValidFrom: day(0)}).Edge
	before := back.TxStart // every node and edge above, before the changes below
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "leaf1", Label: "Person", Props: props(`{"v":2}`)})
	if _, err := s.RetractNode(ctx, tn, byID(leaves[2].ID)); err != nil {
		t.Fatalf("retract leaf2: %v", err)
	}

	// endpoints returns the sorted distinct endpoint IDs of edges.
	endpoints := func(es []telamentis.Edge) []string {
		var ids []string
		for _, e := range es {
			ids = append(ids, e.From, e.To)
		}
		slices.Sort(ids)
		return slices.Compact(ids)
	}
	// check compares the page's nodes with the endpoints of its edges,
	// each read by GetNode at at.
	check := func(t *testing.T, rule string, p telamentis.Page, at time.Time) {
		t.Helper()
		want := endpoints(p.Edges)
		if got := nodeIDs(p.Nodes); !slices.Equal(got, want) {
			t.Errorf("%s: nodes %v, want the distinct endpoints of the page's edges ordered by id %v", rule, got, want)
		}
		for _, n := range p.Nodes {
			g, err := s.GetNode(ctx, tn, byID(n.ID), at)
			if err != nil {
				t.Errorf("%s: get node %s at %v: %v", rule, n.ID, at, err)
				continue
			}
			sameNode(t, n, g, rule+": an included node is the version visible at the page's as_at")
		}
	}
	fromHub := telamentis.Query{Kind: telamentis.QueryEdges, From: byIDRef(hub.ID), IncludeNodes: true, Limit: telamentis.MaxLimit}

	t.Run("current", func(t *testing.T) {
		p := mustQuery(t, s, tn, fromHub)
		if len(p.Edges) != 4 {
			t.Fatalf("edges from hub now: %d, want 4 (leaf2 retracted)", len(p.Edges))
		}
		check(t, "include_nodes now", p, time.Time{})
		for _, n := range p.Nodes {
			if n.ID == leaves[1].ID && canon(n.Props) != `{"v":2}` {
				t.Errorf("include_nodes now: leaf1 has props %s, want the current {\"v\":2}", n.Props)
			}
		}
	})
	t.Run("as_at", func(t *testing.T) {
		q := fromHub
		q.AsAt = before
		p := mustQuery(t, s, tn, q)
		if len(p.Edges) != 5 || len(p.Nodes) != 6 {
			t.Errorf("edges from hub as_at %v: %d edges, %d nodes; want 5 and 6", before, len(p.Edges), len(p.Nodes))
		}
		check(t, "include_nodes as_at", p, before)
		for _, n := range p.Nodes {
			if n.ID == leaves[1].ID && canon(n.Props) != `{"v":1}` {
				t.Errorf("include_nodes as_at: leaf1 has props %s, want {\"v\":1} as it was then", n.Props)
			}
		}
	})
	t.Run("whole tenant", func(t *testing.T) {
		q := telamentis.Query{Kind: telamentis.QueryEdges, AsAt: before, IncludeNodes: true, Limit: telamentis.MaxLimit}
		p := mustQuery(t, s, tn, q)
		if len(p.Edges) != 6 || len(p.Nodes) != 6 {
			t.Errorf("every edge as_at %v: %d edges, %d nodes; want 6 and 6 (hub once)", before, len(p.Edges), len(p.Nodes))
		}
		check(t, "include_nodes over the whole tenant", p, before)
	})
	t.Run("off", func(t *testing.T) {
		q := fromHub
		q.IncludeNodes = false
		if p := mustQuery(t, s, tn, q); len(p.Nodes) != 0 || len(p.Edges) != 4 {
			t.Errorf("edges query without include_nodes: %d nodes, %d edges; want none and 4", len(p.Nodes), len(p.Edges))
		}
	})
	t.Run("paging", func(t *testing.T) {
		// From the hub (a fixed endpoint), and over the whole tenant (free
		// endpoints, the hub an endpoint of every edge): the row beyond a
		// page's limit must not add its endpoints to the page's nodes.
		for _, c := range []struct {
			name         string
			q            telamentis.Query
			edges, pages int
		}{
			{"from hub", fromHub, 5, 3},
			{"whole tenant", telamentis.Query{Kind: telamentis.QueryEdges, IncludeNodes: true}, 6, 3},
		} {
			q := c.q
			q.AsAt, q.Limit = before, 2
			pages, err := collect(t, s, tn, q)
			if err != nil {
				t.Fatalf("query %s: %v", qstr(q), err)
			}
			var edges []telamentis.Edge
			for i, p := range pages {
				if len(p.Edges) > 2 {
					t.Errorf("%s, page %d: %d edges, more than the limit 2", c.name, i, len(p.Edges))
				}
				check(t, fmt.Sprintf("include_nodes %s, page %d", c.name, i), p, before)
				edges = append(edges, p.Edges...)
			}
			if len(edges) != c.edges || len(pages) != c.pages {
				t.Errorf("include_nodes %s pages: %d edges in %d pages, want %d in %d", c.name, len(edges), len(pages), c.edges, c.pages)
			}
			if len(pages) > 1 {
				q2 := q
				q2.IncludeNodes, q2.Cursor = false, pages[0].NextCursor
				_, err := s.Query(ctx, tn, q2)
				wantField(t, err, "a cursor of an include_nodes query presented without include_nodes", "cursor")
			}
		}
	})
	t.Run("other kinds", func(t *testing.T) {
		for _, q := range []telamentis.Query{
			{Kind: telamentis.QueryNodes, IncludeNodes: true},
			{Kind: telamentis.QueryPaths, Start: byIDRef(hub.ID), IncludeNodes: true},
			{Kind: telamentis.QueryHistory, Node: byIDRef(hub.ID), IncludeNodes: true},
			{Kind: telamentis.QueryChanges, IncludeNodes: true},
		} {
			_, err := s.Query(ctx, tn, q)
			wantField(t, err, "include_nodes on a "+string(q.Kind)+" query", "include_nodes")
		}
	})
	t.Run("tenant scoped", func(t *testing.T) {
		imp, ok := s.(telamentis.Importer)
		if !ok {
			t.Skip("needs telamentis.Importer to give two tenants the same IDs")
		}
		// The same node and edge IDs in two tenants, with different props:
		// a page must carry its own tenant's versions only.
		t1 := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
		n1, n2, e1 := newUUID(), newUUID(), newUUID()
		ta, tb := newTenant(t, s), newTenant(t, s)
		for _, c := range []struct{ tenant, name string }{{ta, "a"}, {tb, "b"}} {
			p := props(`{"tenant":"` + c.name + `"}`)
			err := imp.Import(ctx, c.tenant, []telamentis.Node{
				{ID: n1, Label: "P", Props: p, TxStart: t1},
				{ID: n2, Label: "P", Props: p, TxStart: t1},
			}, []telamentis.Edge{{ID: e1, From: n1, To: n2, Kind: "K", Props: p, ValidFrom: day(0), TxStart: t1}})
			if err != nil {
				t.Fatalf("import into %s: %v", c.tenant, err)
			}
		}
		for _, c := range []struct{ tenant, name string }{{ta, "a"}, {tb, "b"}} {
			p := mustQuery(t, s, c.tenant, telamentis.Query{Kind: telamentis.QueryEdges, From: byIDRef(n1), IncludeNodes: true})
			if len(p.Edges) != 1 || len(p.Nodes) != 2 {
				t.Errorf("include_nodes in tenant %s: %d edges, %d nodes; want 1 and 2 (its own)", c.name, len(p.Edges), len(p.Nodes))
			}
			for _, n := range p.Nodes {
				if want := `{"tenant":"` + c.name + `"}`; canon(n.Props) != want {
					t.Errorf("include_nodes in tenant %s: node %s has props %s, want %s (another tenant's version)", c.name, n.ID, n.Props, want)
				}
			}
		}
	})
}

func byIDRef(id string) *telamentis.Ref { return &telamentis.Ref{ID: id} }
