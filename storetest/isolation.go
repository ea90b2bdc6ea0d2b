package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// fixture is the same small graph written into a tenant: colliding aliases,
// labels and props across tenants.
type fixture struct {
	tenant string
	nodes  map[string]telamentis.Node
	edges  map[string]telamentis.Edge
	cursor string // a cursor of nodeQuery issued to this tenant
}

var nodeQuery = telamentis.Query{Kind: telamentis.QueryNodes, Labels: []string{"Person", "Org"}, Limit: 1}

func writeFixture(t *testing.T, s telamentis.Store, tenant string) *fixture {
	t.Helper()
	f := &fixture{tenant: tenant, nodes: map[string]telamentis.Node{}, edges: map[string]telamentis.Edge{}}
	for _, n := range []telamentis.NodeInput{
		{Alias: "alice", Label: "Person", Props: props(`{"name":"Alice","email":"alice@example.com"}`)},
		{Alias: "bob", Label: "Person", Props: props(`{"name":"Bob"}`)},
		{Alias: "acme", Label: "Org", Props: props(`{"name":"Acme"}`)},
	} {
		f.nodes[n.Alias] = mustNode(t, s, tenant, n).Node
	}
	f.nodes["alice"] = mustNode(t, s, tenant, telamentis.NodeInput{Alias: "alice", Label: "Person", Props: props(`{"name":"Alice","email":"a@example.com"}`)}).Node
	f.edges["works"] = mustEdge(t, s, tenant, telamentis.EdgeInput{Alias: "works", From: byAlias("alice"), To: byAlias("acme"), Kind: "WORKS_AT", ValidFrom: day(0), Props: props(`{"role":"dev"}`)}).Edge
	f.edges["knows"] = mustEdge(t, s, tenant, telamentis.EdgeInput{Alias: "knows", From: byAlias("alice"), To: byAlias("bob"), Kind: "KNOWS", ValidFrom: day(1)}).Edge
	p := mustQuery(t, s, tenant, nodeQuery)
	if p.NextCursor == "" {
		t.Fatalf("a page of 1 of 3 nodes must return a cursor")
	}
	f.cursor = p.NextCursor
	return f
}

// view is everything a tenant can read, for before/after comparisons.
func view(t *testing.T, s telamentis.Store, tenant string) string {
	t.Helper()
	st := snapshot(t, s, tenant)
	nodes := all(t, s, tenant, telamentis.Query{Kind: telamentis.QueryNodes})
	edges := all(t, s, tenant, telamentis.Query{Kind: telamentis.QueryEdges})
	b, _ := json.Marshal([]any{st, nodesKeys(nodes.Nodes), edgesKeys(edges.Edges)})
	return string(b)
}

func (r *runner) testIsolation(t *testing.T) {
	shared := func(*telamentis.Tenant) {}
	for _, pair := range []struct {
		name string
		a, b func(*telamentis.Tenant)
	}{{"shared", shared, shared}, {"dedicated", shared, dedicated}, {"both dedicated", dedicated, dedicated}} {
		t.Run(pair.name, func(t *testing.T) { r.isolation(t, pair.a, pair.b) })
	}
}

func (r *runner) isolation(t *testing.T, aIso, bIso func(*telamentis.Tenant)) {
	s := r.s
	ctx := t.Context()
	a := writeFixture(t, s, newTenant(t, s, aIso))
	b := writeFixture(t, s, newTenant(t, s, bIso))
	viewA, viewB := view(t, s, a.tenant), view(t, s, b.tenant)
	// A missing id answers exactly like an id of the other tenant.
	missing := newUUID()
	_, missErr := s.GetNode(ctx, b.tenant, byID(missing), time.Time{})
	if telamentis.ErrorCode(missErr) != telamentis.CodeNotFound {
		t.Fatalf("get of a missing node: %v, want not_found", missErr)
	}
	likeMissing := func(err error, what string) {
		t.Helper()
		if telamentis.ErrorCode(err) != telamentis.CodeNotFound {
			t.Errorf("%s with an id of the other tenant: %v, want not_found", what, err)
			return
		}
		if strings.HasPrefix(what, "get node") && telamentis.ErrorMessage(err) != telamentis.ErrorMessage(missErr) {
			t.Errorf("%s: an id of the other tenant must answer exactly like a missing id: %q vs %q", what, telamentis.ErrorMessage(err), telamentis.ErrorMessage(missErr))
		}
	}

	t.Run("reads", func(t *testing.T) {
		for alias, n := range a.nodes {
			got, err := s.GetNode(ctx, b.tenant, byAlias(alias), time.Time{})
			if err != nil || got.ID != b.nodes[alias].ID {
				t.Errorf("alias %s in B resolves to B's node %s: got %s, %v", alias, b.nodes[alias].ID, got.ID, err)
			}
			_, err = s.GetNode(ctx, b.tenant, byID(n.ID), time.Time{})
			likeMissing(err, "get node")
			_, err = s.GetNode(ctx, b.tenant, byID(n.ID), n.TxStart)
			likeMissing(err, "get node as_at")
		}
		for _, e := range a.edges {
			_, err := s.GetEdge(ctx, b.tenant, byID(e.ID), time.Time{})
			likeMissing(err, "get edge")
		}
		// Queries naming A's records in B find nothing (empty or not_found).
		al := a.nodes["alice"]
		for name, q := range map[string]telamentis.Query{
			"edges from":   {Kind: telamentis.QueryEdges, From: &telamentis.Ref{ID: al.ID}},
			"edges to":     {Kind: telamentis.QueryEdges, To: &telamentis.Ref{ID: a.nodes["acme"].ID}},
			"paths":        {Kind: telamentis.QueryPaths, Start: &telamentis.Ref{ID: al.ID}, Direction: telamentis.DirBoth, Depth: 4},
			"node history": {Kind: telamentis.QueryHistory, Node: &telamentis.Ref{ID: al.ID}},
			"edge history": {Kind: telamentis.QueryHistory, Edge: &telamentis.Ref{ID: a.edges["works"].ID}},
		} {
			p, err := s.Query(ctx, b.tenant, q)
			if err != nil && telamentis.ErrorCode(err) != telamentis.CodeNotFound {
				t.Errorf("%s with A's id in B: %v, want empty or not_found", name, err)
			}
			if n := len(p.Nodes) + len(p.Edges) + len(p.Neighbors) + len(p.Changes); n > 0 {
				t.Errorf("%s with A's id in B returned %d results", name, n)
			}
		}
		// B's queries see only B's records, though aliases, labels and props collide.
		for name, q := range map[string]telamentis.Query{
			"nodes":   {Kind: telamentis.QueryNodes, Props: map[string]json.RawMessage{"name": json.RawMessage(`"Alice"`)}},
			"edges":   {Kind: telamentis.QueryEdges, Kinds: []string{"WORKS_AT", "KNOWS"}},
			"paths":   {Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "alice"}, Direction: telamentis.DirBoth, Depth: 4},
			"changes": {Kind: telamentis.QueryChanges},
			"history": {Kind: telamentis.QueryHistory, Node: &telamentis.Ref{Alias: "alice"}},
		} {
			p := all(t, s, b.tenant, q)
			for _, n := range p.Nodes {
				if !owns(b, n.ID) {
					t.Errorf("%s query in B returned node %s of another tenant", name, n.ID)
				}
			}
			for _, e := range p.Edges {
				if !owns(b, e.ID) || !owns(b, e.From) || !owns(b, e.To) {
					t.Errorf("%s query in B returned edge %s of another tenant", name, e.ID)
				}
			}
			for _, nb := range p.Neighbors {
				if !owns(b, nb.Node.ID) || !owns(b, nb.Via.ID) {
					t.Errorf("%s query in B reached %s via %s of another tenant", name, nb.Node.ID, nb.Via.ID)
				}
			}
			for _, c := range p.Changes {
				if c.Node != nil && !owns(b, c.Node.ID) || c.Edge != nil && !owns(b, c.Edge.ID) {
					t.Errorf("changes in B show a record of another tenant: %s", changeKey(c))
				}
			}
			if len(p.Nodes)+len(p.Edges)+len(p.Neighbors)+len(p.Changes) == 0 {
				t.Errorf("%s query in B returned nothing; the fixture has matches", name)
			}
		}
	})
	t.Run("cursor", func(t *testing.T) {
		q := nodeQuery
		q.Cursor = a.cursor
		_, err := s.Query(ctx, b.tenant, q)
		wantField(t, err, "a cursor issued to tenant A presented by tenant B", "cursor")
		q.Cursor = b.cursor
		if _, err := s.Query(ctx, b.tenant, q); err != nil {
			t.Errorf("B's own cursor: %v", err)
		}
	})
	t.Run("writes", func(t *testing.T) {
		al, ac := a.nodes["alice"], a.nodes["acme"]
		_, err := s.UpsertNode(ctx, b.tenant, telamentis.NodeInput{ID: al.ID, Label: "Person"})
		likeMissing(err, "upsert node")
		_, err = s.UpsertEdge(ctx, b.tenant, telamentis.EdgeInput{From: byAlias("alice"), To: byID(ac.ID), Kind: "WORKS_AT"})
		likeMissing(err, "edge from B's node to A's node")
		_, err = s.UpsertEdge(ctx, b.tenant, telamentis.EdgeInput{From: byID(al.ID), To: byAlias("acme"), Kind: "WORKS_AT"})
		likeMissing(err, "edge from A's node to B's node")
		_, err = s.UpsertEdge(ctx, b.tenant, telamentis.EdgeInput{ID: a.edges["works"].ID, From: byAlias("alice"), To: byAlias("acme"), Kind: "WORKS_AT"})
		likeMissing(err, "upsert edge")
		_, err = s.ApplyBatch(ctx, b.tenant, telamentis.Batch{Nodes: []telamentis.NodeInput{{Alias: "carol", Label: "Person"}},
			Edges: []telamentis.EdgeInput{{From: byAlias("carol"), To: byID(ac.ID), Kind: "WORKS_AT"}}})
		likeMissing(err, "batch with an edge to A's node")
		_, err = s.InvalidateEdge(ctx, b.tenant, byID(a.edges["works"].ID), day(5))
		likeMissing(err, "invalidate edge")
		_, err = s.RetractEdge(ctx, b.tenant, byID(a.edges["knows"].ID))
		likeMissing(err, "retract edge")
		_, err = s.RetractNode(ctx, b.tenant, byID(al.ID))
		likeMissing(err, "retract node")
		_, err = s.EraseNode(ctx, b.tenant, byID(al.ID))
		likeMissing(err, "erase node")
		if v := view(t, s, a.tenant); v != viewA {
			t.Errorf("writes in B with A's ids changed tenant A")
		}
		if v := view(t, s, b.tenant); v != viewB {
			t.Errorf("refused writes changed tenant B")
		}
	})
	t.Run("writes in A leave B alone", func(t *testing.T) {
		mustNode(t, s, a.tenant, telamentis.NodeInput{Alias: "bob", Label: "Person", Props: props(`{"name":"Robert"}`)})
		if _, err := s.InvalidateEdge(ctx, a.tenant, byAlias("works"), day(9)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RetractEdge(ctx, a.tenant, byAlias("knows")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EraseNode(ctx, a.tenant, byAlias("alice")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RetractNode(ctx, a.tenant, byAlias("acme")); err != nil {
			t.Fatal(err)
		}
		if v := view(t, s, b.tenant); v != viewB {
			t.Errorf("writes, erase and retract of colliding aliases in A changed tenant B:\n before %s\n after  %s", viewB, v)
		}
		if _, err := s.GetNode(ctx, b.tenant, byAlias("alice"), time.Time{}); err != nil {
			t.Errorf("B's alice after A erased its alice: %v", err)
		}
	})
	t.Run("drop", func(t *testing.T) {
		if err := s.DropTenant(ctx, a.tenant); err != nil {
			t.Fatal(err)
		}
		if v := view(t, s, b.tenant); v != viewB {
			t.Errorf("dropping A changed tenant B")
		}
		q := nodeQuery
		q.Cursor = b.cursor
		if _, err := s.Query(ctx, b.tenant, q); err != nil {
			t.Errorf("B's cursor after A was dropped: %v", err)
		}
		ids := []string{}
		ts, err := s.ListTenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range ts {
			ids = append(ids, tn.ID)
		}
		if slices.Contains(ids, a.tenant) || !slices.Contains(ids, b.tenant) {
			t.Errorf("tenants after dropping %s: %v", a.tenant, ids)
		}
	})
}

func owns(f *fixture, id string) bool {
	for _, n := range f.nodes {
		if n.ID == id {
			return true
		}
	}
	for _, e := range f.edges {
		if e.ID == id {
			return true
		}
	}
	return false
}
