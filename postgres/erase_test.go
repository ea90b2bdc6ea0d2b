package postgres_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// TestCompactWaitsForOlderSnapshots checks that Compact does not report a
// compaction while a transaction that may still see erased rows is open
// (VACUUM FULL would copy them into the new files), and that it removes
// them once that transaction ends. Three kinds of holder: a repeatable-read
// snapshot, a read-committed transaction that wrote before the erasure and
// sits between statements (no snapshot, but its transaction ID holds the
// removal horizon back), and such a transaction in another database of the
// cluster (every snapshot's xmin, VACUUM FULL's own included, is the oldest
// transaction running anywhere: erasures left their rows on disk whenever
// another database had a transaction open, issue 17's flaky erasure proof).
func TestCompactWaitsForOlderSnapshots(t *testing.T) {
	for _, tc := range []struct {
		name    string
		iso     pgx.TxIsoLevel
		stmt    string
		otherDB bool
	}{
		{"repeatable read snapshot", pgx.RepeatableRead, `SELECT 1`, false},
		{"read committed transaction id", pgx.ReadCommitted, `SELECT xid(pg_current_xact_id())::text::int8::int`, false},
		{"transaction id in another database", pgx.ReadCommitted, `SELECT xid(pg_current_xact_id())::text::int8::int`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compactWaitsFor(t, tc.iso, tc.stmt, tc.otherDB)
		})
	}
}

func compactWaitsFor(t *testing.T, iso pgx.TxIsoLevel, stmt string, otherDB bool) {
	s := newStore(t)
	ctx := t.Context()
	var super bool
	database(t).admin.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super)
	if !super {
		t.Skip("the file scan needs a superuser TELAMENTIS_TEST_POSTGRES_URL")
	}
	const canary = "canary-5d1e0b-snapshot"
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "snap-t"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.UpsertNode(ctx, "snap-t", telamentis.NodeInput{Alias: canary, Label: "Person", Props: json.RawMessage(`{"secret":"` + canary + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	// An older transaction, begun before the erasure, in another session
	// (of the store's database, or of the server's base database).
	var holder interface {
		BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	} = database(t).admin
	if otherDB {
		c, err := pgx.Connect(ctx, os.Getenv("TELAMENTIS_TEST_POSTGRES_URL"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		holder = c
	}
	tx, err := holder.BeginTx(ctx, pgx.TxOptions{IsoLevel: iso})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	// The simple protocol, as psql uses: once the statement ends, a
	// read-committed session holds its transaction ID but no snapshot.
	var one int
	if err := tx.QueryRow(ctx, stmt, pgx.QueryExecModeSimpleProtocol).Scan(&one); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EraseNode(ctx, "snap-t", telamentis.Ref{ID: n.Node.ID}); err != nil {
		t.Fatal(err)
	}
	// While the older transaction is open, VACUUM FULL must keep the erased
	// rows: Compact may wait or fail, but must not report success with them
	// on disk.
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Compact(short); err == nil {
		if got := residue(t, s, canary); len(got) > 0 {
			t.Fatalf("Compact reported success while an older transaction kept the erased rows in %v", got)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := residue(t, s, canary); len(got) > 0 {
		t.Errorf("after the older transaction ended, compaction left the canary in %v", got)
	}
}
