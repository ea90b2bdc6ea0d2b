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
