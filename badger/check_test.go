package badger

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// TestCheckNamesIDsNotAliases corrupts the in-memory alias index and
// checks that Check reports it without quoting the alias: aliases are user
// data (often people's names), and Check's message goes to operators' logs.
func TestCheckNamesIDsNotAliases(t *testing.T) {
	s, err := Open(Config{InMemory: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "t1"}); err != nil {
		t.Fatal(err)
	}
	const secret = "person/jane-doe-secret"
	_, err = s.UpsertNode(ctx, "t1", telamentis.NodeInput{Alias: secret, Label: "Person"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.UpsertNode(ctx, "t1", telamentis.NodeInput{Alias: "person/other", Label: "Person"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("clean store: %v", err)
	}
	ts, err := s.tenant("t1")
	if err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	id, err := parseID(other.Node.ID)
	if err != nil {
		t.Fatal(err)
	}
	ts.liveNodeAlias[secret] = ts.nodes[id]
	ts.mu.Unlock()
	err = s.Check(ctx)
	if err == nil {
		t.Fatal("Check missed a corrupted alias index")
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "jane") {
		t.Fatalf("Check quoted the alias: %v", err)
	}
	if !strings.Contains(err.Error(), other.Node.ID) {
		t.Fatalf("Check does not name the node: %v", err)
	}
}
