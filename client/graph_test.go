package client_test

import (
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// TestQueryIncludeNodes sends Query.IncludeNodes over REST: the page of
// edges comes back with its endpoint nodes, at the query's as_at.
func TestQueryIncludeNodes(t *testing.T) {
	_, c := tenantClient(t, "incl")
	ctx, tn := t.Context(), "incl"
	br, err := c.ApplyBatch(ctx, tn, telamentis.Batch{
		Nodes: []telamentis.NodeInput{{Alias: "alice", Label: "Person"}, {Alias: "acme", Label: "Org"}},
		Edges: []telamentis.EdgeInput{{From: telamentis.Ref{Alias: "alice"}, To: telamentis.Ref{Alias: "acme"}, Kind: "WORKS_AT",
			ValidFrom: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: "acme", Label: "Org", Props: []byte(`{"renamed":true}`)}); err != nil {
		t.Fatal(err)
	}
	q := telamentis.Query{Kind: telamentis.QueryEdges, From: &telamentis.Ref{Alias: "alice"}, AsAt: br.TxTime, IncludeNodes: true}
	p, err := c.Query(ctx, tn, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Edges) != 1 || len(p.Nodes) != 2 {
		t.Fatalf("include_nodes: %d edges, %d nodes; want 1 and 2", len(p.Edges), len(p.Nodes))
	}
	for _, n := range p.Nodes {
		if n.Alias == "acme" && string(n.Props) != `{}` {
			t.Errorf("acme as_at the batch has props %s, want {} (the later version is not visible then)", n.Props)
		}
	}
	q.Kind, q.From = telamentis.QueryNodes, nil
	if _, err := c.Query(ctx, tn, q); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		t.Errorf("include_nodes on a nodes query: %v, want invalid", err)
	}
}

// TestQueryIDsOnly sends Query.IDsOnly over REST: the neighbours come back
// with their identifiers only, the same as without it; other kinds refuse
// it.
func TestQueryIDsOnly(t *testing.T) {
	_, c := tenantClient(t, "idsonly")
	ctx, tn := t.Context(), "idsonly"
	vf := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := c.ApplyBatch(ctx, tn, telamentis.Batch{
		Nodes: []telamentis.NodeInput{{Alias: "alice", Label: "Person", Props: []byte(`{"email":"a@example.com"}`)},
			{Alias: "bob", Label: "Person"}, {Alias: "acme", Label: "Org"}},
		Edges: []telamentis.EdgeInput{
			{From: telamentis.Ref{Alias: "alice"}, To: telamentis.Ref{Alias: "bob"}, Kind: "KNOWS", ValidFrom: vf},
			{From: telamentis.Ref{Alias: "bob"}, To: telamentis.Ref{Alias: "acme"}, Kind: "WORKS_AT", ValidFrom: vf}}})
	if err != nil {
		t.Fatal(err)
	}
	q := telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "alice"}, Depth: 2}
	full, err := c.Query(ctx, tn, q)
	if err != nil {
		t.Fatal(err)
	}
	q.IDsOnly = true
	ids, err := c.Query(ctx, tn, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids.Neighbors) != 2 || len(full.Neighbors) != 2 {
		t.Fatalf("paths from alice: %d neighbours with ids_only, %d without; want 2 both", len(ids.Neighbors), len(full.Neighbors))
	}
	for i, n := range ids.Neighbors {
		f := full.Neighbors[i]
		want := telamentis.Neighbor{Node: telamentis.Node{ID: f.Node.ID}, Depth: f.Depth,
			Via: telamentis.Edge{ID: f.Via.ID, From: f.Via.From, To: f.Via.To}}
		if n.Node.ID != want.Node.ID || n.Depth != want.Depth || n.Via.ID != want.Via.ID || n.Via.From != want.Via.From || n.Via.To != want.Via.To ||
			n.Node.Props != nil || n.Node.Label != "" || !n.Node.TxStart.IsZero() || n.Via.Props != nil || n.Via.Kind != "" || !n.Via.TxStart.IsZero() {
			t.Errorf("ids_only neighbour %d: %+v, want identifiers only: %+v", i, n, want)
		}
	}
	q.Kind, q.Start, q.Depth = telamentis.QueryNodes, nil, 0
	if _, err := c.Query(ctx, tn, q); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		t.Errorf("ids_only on a nodes query: %v, want invalid", err)
	}
}
