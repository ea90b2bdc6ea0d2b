package postgres_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/postgres"
)

// TestImportAnalyzesEveryTenant imports one tenant, then at once a second
// one (while the first import's background ANALYZE may still run), closes
// the store (which waits for that work) and checks that the planner's
// statistics know both tenants. A tenant missing from them is estimated
// at one row, and plans built on that run for seconds (docs/deploy/postgres.md).
func TestImportAnalyzesEveryTenant(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tenant := range []string{"ana-a", "ana-b"} {
		if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: tenant}); err != nil {
			t.Fatal(err)
		}
	}
	load := func(tenant string, call, n int) {
		nodes := make([]telamentis.Node, n)
		for i := range nodes {
			nodes[i] = telamentis.Node{ID: uuid.NewString(), Alias: fmt.Sprintf("n/%d-%d", call, i), Label: "Person",
				Props: json.RawMessage(`{}`), TxStart: t0}
		}
		if err := s.Import(ctx, tenant, nodes, nil); err != nil {
			t.Fatal(err)
		}
	}
	load("ana-a", 0, 20000)
	for call := range 4 {
		load("ana-b", call, 6000)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var mcv string
	err := database(t).admin.QueryRow(ctx, `SELECT coalesce(string_agg(most_common_vals::text, ','), '')
		FROM pg_stats WHERE (schemaname = $1 OR schemaname LIKE $2) AND tablename = 'nodes' AND attname = 'tenant_id'`,
		s.Schema(), s.Schema()+`\_t\_%`).Scan(&mcv)
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"ana-a", "ana-b"} {
		if !strings.Contains(mcv, tenant) {
			t.Errorf("after the imports the statistics of nodes.tenant_id know %q, not %s", mcv, tenant)
		}
	}
}

// importPersons creates tenant and imports n nodes into it in one call.
func importPersons(t *testing.T, s *postgres.Store, tenant string, n int) []telamentis.Node {
	t.Helper()
	ctx := t.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: tenant}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	nodes := make([]telamentis.Node, n)
	for i := range nodes {
		nodes[i] = telamentis.Node{ID: uuid.NewString(), Label: "Person", Props: json.RawMessage(`{}`), TxStart: t0}
	}
	if err := s.Import(ctx, tenant, nodes, nil); err != nil {
		t.Fatal(err)
	}
	return nodes
}

// inStats reports whether the planner's statistics of the store's nodes
// table know tenant (read as the superuser).
func inStats(t *testing.T, s *postgres.Store, tenant string) bool {
	t.Helper()
	var mcv string
	if err := database(t).admin.QueryRow(t.Context(), `SELECT coalesce(string_agg(most_common_vals::text, ','), '')
		FROM pg_stats WHERE schemaname = $1 AND tablename = 'nodes' AND attname = 'tenant_id'`, s.Schema()).Scan(&mcv); err != nil {
		t.Fatal(err)
	}
	return strings.Contains(mcv, tenant)
}

// waitInStats waits until the statistics know tenant (a background
// ANALYZE), for at most a minute.
func waitInStats(t *testing.T, s *postgres.Store, tenant string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !inStats(t, s, tenant); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tenant %s never reached the statistics of nodes.tenant_id", tenant)
		}
	}
}

// TestImportAnalyzesAfterPause imports a large tenant, then a small one
// (far below the growth that triggers an ANALYZE), and checks that the
// small one reaches the statistics once imports pause. Without that, the
// end of a bulk load stays out of them where autovacuum does not run, and
// the tenant is planned as one row.
func TestImportAnalyzesAfterPause(t *testing.T) {
	defer postgres.SetSettleAfter(200 * time.Millisecond)()
	s := newStore(t)
	importPersons(t, s, "pause-a", 20000)
	waitInStats(t, s, "pause-a")
	importPersons(t, s, "pause-b", 1000) // 5 % of the table: below the threshold
	waitInStats(t, s, "pause-b")
}

// TestCloseAnalyzesWhatImportsLeft: a process that loads and closes the
// store at once (a restore tool, a benchmark) must leave complete
// statistics, pause or not.
func TestCloseAnalyzesWhatImportsLeft(t *testing.T) {
	defer postgres.SetSettleAfter(time.Hour)()
	s := newStore(t)
	importPersons(t, s, "close-a", 20000) // never analysed: analysed at once
	importPersons(t, s, "close-b", 2000)  // 10 %: below the threshold, no pause
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"close-a", "close-b"} {
		if !inStats(t, s, tenant) {
			t.Errorf("after Close the statistics of nodes.tenant_id do not know %s", tenant)
		}
	}
}

// TestImportPlansWithoutStatistics imports edges into a tenant the
// statistics do not know yet (imported after the last ANALYZE, below the
// threshold, no pause): its endpoint check must still probe the primary key
// once per endpoint. With custom plans, the planner estimated such a tenant
// at one row and scanned its nodes through nodes_tx_start for every
// endpoint instead (a medium load hit the statement timeout that way).
func TestImportPlansWithoutStatistics(t *testing.T) {
	defer postgres.SetSettleAfter(time.Hour)()
	s := newStore(t)
	ctx := t.Context()
	importPersons(t, s, "plan-a", 20000)
	waitInStats(t, s, "plan-a")
	b := importPersons(t, s, "plan-b", 3000) // below the threshold: not analysed
	scans := func() (pkey, txStart int64) {
		if err := database(t).admin.QueryRow(ctx, `SELECT
			coalesce(sum(idx_scan) FILTER (WHERE indexrelname = 'nodes_pkey'), 0),
			coalesce(sum(idx_scan) FILTER (WHERE indexrelname = 'nodes_tx_start'), 0)
			FROM pg_stat_user_indexes WHERE schemaname = $1`, s.Schema()).Scan(&pkey, &txStart); err != nil {
			t.Fatal(err)
		}
		return
	}
	pk0, ts0 := scans()
	t1 := time.Date(2020, 1, 1, 1, 0, 0, 0, time.UTC)
	edges := make([]telamentis.Edge, len(b))
	for i := range edges {
		edges[i] = telamentis.Edge{ID: uuid.NewString(), From: b[i].ID, To: b[(i+1)%len(b)].ID, Kind: "K",
			Props: json.RawMessage(`{}`), ValidFrom: t1, TxStart: t1}
	}
	if err := s.Import(ctx, "plan-b", nil, edges); err != nil {
		t.Fatal(err)
	}
	// Index statistics reach the shared counters within a second or so.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		pk, ts := scans()
		if ts-ts0 > 100 {
			t.Fatalf("the endpoint check scanned nodes_tx_start %d times (nodes_pkey %d)", ts-ts0, pk-pk0)
		}
		if pk-pk0 >= int64(len(b)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes_pkey was scanned %d times for %d endpoints", pk-pk0, len(b))
		}
	}
}
