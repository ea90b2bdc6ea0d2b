package badger_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
)

// TestNameProperty checks that resolution matches by the configured name
// property, and finds an imported node once the index is built.
func TestNameProperty(t *testing.T) {
	s, err := badger.Open(badger.Config{InMemory: true, NameProperty: "title"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "names"}); err != nil {
		t.Fatal(err)
	}
	up := func(props string) telamentis.NodeResult {
		t.Helper()
		r, err := s.UpsertNode(ctx, "names", telamentis.NodeInput{Label: "Person", Props: json.RawMessage(props), Resolve: telamentis.ResolveNormalized})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ann := up(`{"name":"Ann Lee","title":"Chief Engineer"}`).Node
	if r := up(`{"title":"chief-engineer"}`); r.Node.ID != ann.ID {
		t.Errorf("matches by the configured property: %+v", r)
	}
	if r := up(`{"name":"ann lee"}`); !r.Created {
		t.Errorf("not by name: %+v", r)
	}
	id := "0190a000-0000-7000-8000-0000000000aa"
	if err := s.Import(ctx, "names", []telamentis.Node{{ID: id, Label: "Person", Props: json.RawMessage(`{"title":"Imported Person"}`),
		TxStart: time.Now().Add(-time.Hour)}}, nil); err != nil {
		t.Fatal(err)
	}
	if r := up(`{"title":"IMPORTED  PERSON"}`); r.Node.ID != id {
		t.Errorf("an imported node is found by name: %+v", r)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("check: %v", err)
	}
}
