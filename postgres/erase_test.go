package postgres_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/telamentis/telamentis"
)

// TestEraseLeavesNoFileResidue shows why Compact exists: after an erasure
// the deleted tuples still hold the canary in the table files until VACUUM
// FULL rewrites them, and afterwards no relation file of the store does.
func TestEraseLeavesNoFileResidue(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	var super bool
	database(t).admin.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super)
	if !super {
		t.Skip("the file scan needs a superuser TELAMENTIS_TEST_POSTGRES_URL")
	}
	const canary = "canary-7f3a9c-erase-me"
	for _, tn := range []telamentis.Tenant{{ID: "shared-t"}, {ID: "dedi-t", Isolation: telamentis.IsolationDedicated}} {
		if _, err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		n, err := s.UpsertNode(ctx, tn.ID, telamentis.NodeInput{Alias: canary, Label: "Person", Props: json.RawMessage(`{"secret":"` + canary + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpsertNode(ctx, tn.ID, telamentis.NodeInput{Alias: "keep", Label: "Person"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpsertEdge(ctx, tn.ID, telamentis.EdgeInput{From: telamentis.Ref{ID: n.Node.ID}, To: telamentis.Ref{Alias: "keep"}, Kind: "KNOWS",
			Props: json.RawMessage(`{"note":"` + canary + `"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EraseNode(ctx, tn.ID, telamentis.Ref{ID: n.Node.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if got := residue(t, s, canary); !slices.ContainsFunc(got, func(x string) bool { return len(x) > 8 && x[:8] == "file of " }) {
		t.Logf("before compaction the dead tuples were already gone from the files (%v); the check after it still holds", got)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := residue(t, s, canary); len(got) > 0 {
		t.Errorf("after erase and compaction the canary is still in %v", got)
	}
}
