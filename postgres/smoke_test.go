package postgres_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// TestSmoke walks the main write and read paths once, so that a broken SQL
// statement shows up with a short trace.
func TestSmoke(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	alice, err := s.UpsertNode(ctx, "acme", telamentis.NodeInput{Alias: "alice", Label: "Person", Props: json.RawMessage(`{"name":"Alice","age":30}`)})
	if err != nil || !alice.Created {
		t.Fatalf("alice: %+v %v", alice, err)
	}
	again, err := s.UpsertNode(ctx, "acme", telamentis.NodeInput{Alias: "alice", Label: "Person", Props: json.RawMessage(`{"age":30, "name":"Alice"}`)})
	if err != nil || again.Created || again.Changed {
		t.Fatalf("no-op: %+v %v", again, err)
	}
	acme, _ := s.UpsertNode(ctx, "acme", telamentis.NodeInput{Alias: "acme", Label: "Org"})
	globex, _ := s.UpsertNode(ctx, "acme", telamentis.NodeInput{Alias: "globex", Label: "Org"})
	y2021 := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	y2024 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	w1, err := s.UpsertEdge(ctx, "acme", telamentis.EdgeInput{Alias: "job1", From: telamentis.Ref{Alias: "alice"}, To: telamentis.Ref{ID: acme.Node.ID}, Kind: "WORKS_AT", ValidFrom: y2021})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.InvalidateEdge(ctx, "acme", telamentis.Ref{ID: w1.Edge.ID}, y2024); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertEdge(ctx, "acme", telamentis.EdgeInput{From: telamentis.Ref{Alias: "alice"}, To: telamentis.Ref{Alias: "globex"}, Kind: "WORKS_AT", ValidFrom: y2024}); err != nil {
		t.Fatal(err)
	}
	for _, vt := range []time.Time{y2021.AddDate(1, 0, 0), y2024.AddDate(1, 0, 0)} {
		p, err := s.Query(ctx, "acme", telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "alice"}, ValidAt: vt})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Neighbors) != 1 {
			t.Fatalf("paths at %v: %+v", vt, p)
		}
		t.Logf("at %v: %s", vt.Year(), p.Neighbors[0].Node.Alias)
	}
	_ = globex
	for _, q := range []telamentis.Query{
		{Kind: telamentis.QueryNodes, Labels: []string{"Org"}, Limit: 1},
		{Kind: telamentis.QueryNodes, Props: map[string]json.RawMessage{"name": json.RawMessage(`"Alice"`)}},
		{Kind: telamentis.QueryEdges, From: &telamentis.Ref{Alias: "alice"}, ValidBetween: &telamentis.Interval{Start: y2021, End: y2024}},
		{Kind: telamentis.QueryEdges, Allen: &telamentis.AllenFilter{Relation: telamentis.Equals, Interval: telamentis.Interval{Start: y2021, End: y2024}}},
		{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "acme"}, Direction: telamentis.DirBoth, Depth: 3},
		{Kind: telamentis.QueryHistory, Edge: &telamentis.Ref{Alias: "job1"}},
		{Kind: telamentis.QueryChanges, Limit: 2},
	} {
		p, err := s.Query(ctx, "acme", q)
		if err != nil {
			t.Fatalf("%s: %v", q.Kind, err)
		}
		b, _ := json.Marshal(p)
		t.Logf("%s: %s", q.Kind, b)
		if p.NextCursor != "" {
			q.Cursor = p.NextCursor
			if _, err := s.Query(ctx, "acme", q); err != nil {
				t.Fatalf("%s page 2: %v", q.Kind, err)
			}
		}
	}
	r, err := s.RetractNode(ctx, "acme", telamentis.Ref{Alias: "alice"})
	if err != nil || r.Nodes != 1 || r.Edges != 2 {
		t.Fatalf("retract: %+v %v", r, err)
	}
	er, err := s.EraseNode(ctx, "acme", telamentis.Ref{ID: alice.Node.ID})
	if err != nil || er.Versions != 4 {
		t.Fatalf("erase: %+v %v", er, err)
	}
	st, err := s.Stats(ctx, "acme")
	t.Logf("stats %+v %v", st, err)
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.DropTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
}
