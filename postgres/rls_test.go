package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/postgres"
)

// seedTenants creates tenants a (shared), b (shared) and c (dedicated) with
// the same aliases, labels and props, and returns each tenant's node and
// edge IDs.
func seedTenants(t *testing.T, s *postgres.Store) map[string][]string {
	t.Helper()
	ctx := t.Context()
	ids := map[string][]string{}
	for _, tn := range []telamentis.Tenant{{ID: "ta"}, {ID: "tb"}, {ID: "tc", Isolation: telamentis.IsolationDedicated}} {
		if _, err := s.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		var prev string
		for i := range 5 {
			r, err := s.UpsertNode(ctx, tn.ID, telamentis.NodeInput{Alias: fmt.Sprintf("n%d", i), Label: "Person",
				Props: json.RawMessage(fmt.Sprintf(`{"owner":%q}`, tn.ID))})
			if err != nil {
				t.Fatal(err)
			}
			ids[tn.ID] = append(ids[tn.ID], r.Node.ID)
			if prev != "" {
				e, err := s.UpsertEdge(ctx, tn.ID, telamentis.EdgeInput{From: telamentis.Ref{ID: prev}, To: telamentis.Ref{ID: r.Node.ID}, Kind: "KNOWS"})
				if err != nil {
					t.Fatal(err)
				}
				ids[tn.ID] = append(ids[tn.ID], e.Edge.ID)
			}
			prev = r.Node.ID
		}
	}
	return ids
}

// tenantTables lists every table of the store's schemas with a tenant_id
// column, schema-qualified and quoted.
func tenantTables(t *testing.T, schema string) []string {
	t.Helper()
	d := database(t)
	rows, err := d.admin.Query(t.Context(), `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
		FROM information_schema.columns WHERE column_name = 'tenant_id' AND (table_schema = $1 OR table_schema LIKE $2) ORDER BY 1`,
		schema, schema+`\_t\_%`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) < 6 {
		t.Fatalf("expected the graph tables of the shared and one dedicated schema, found %v", tables)
	}
	return tables
}

// TestRLSDefenceInDepth checks row-level security at the SQL level, as the
// service role, bypassing the store's own tenant filters.
func TestRLSDefenceInDepth(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	s := d.open(t, schema, nil)
	ids := seedTenants(t, s)
	tables := tenantTables(t, schema)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, d.svcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	t.Run("no tenant set sees nothing", func(t *testing.T) {
		for _, tb := range tables {
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+tb).Scan(&n); err != nil {
				t.Fatalf("%s: %v", tb, err)
			}
			if n != 0 {
				t.Errorf("%s: %d rows visible without telamentis.tenant", tb, n)
			}
		}
		// An empty setting (what a connection shows after a local setting
		// ended) hides everything too.
		tx, _ := conn.Begin(ctx)
		defer tx.Rollback(ctx)
		tx.Exec(ctx, `SELECT set_config('telamentis.tenant', '', true)`)
		var n int
		tx.QueryRow(ctx, `SELECT count(*) FROM `+ident(schema)+`.nodes`).Scan(&n)
		if n != 0 {
			t.Errorf("empty tenant setting sees %d nodes", n)
		}
	})

	inTenant := func(t *testing.T, tenant string, fn func(pgx.Tx)) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT set_config('telamentis.tenant', $1, true)`, tenant); err != nil {
			t.Fatal(err)
		}
		fn(tx)
	}

	t.Run("tenant a cannot read b", func(t *testing.T) {
		inTenant(t, "ta", func(tx pgx.Tx) {
			for _, tb := range tables {
				var other int
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+tb+` WHERE tenant_id <> 'ta'`).Scan(&other); err != nil {
					t.Fatalf("%s: %v", tb, err)
				}
				if other != 0 {
					t.Errorf("%s: tenant ta sees %d rows of other tenants", tb, other)
				}
				if strings.HasSuffix(tb, ".nodes") || strings.HasSuffix(tb, ".edges") {
					var n int
					if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+tb+` WHERE id = ANY($1::uuid[])`,
						append(ids["tb"], ids["tc"]...)).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if n != 0 {
						t.Errorf("%s: tenant ta selects %d rows by b's and c's ids", tb, n)
					}
				}
			}
			var own int
			tx.QueryRow(ctx, `SELECT count(*) FROM `+ident(schema)+`.nodes`).Scan(&own)
			if own != 5 {
				t.Errorf("tenant ta sees %d of its 5 nodes", own)
			}
		})
	})

	rlsViolation := func(t *testing.T, what string, err error) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s: want an RLS policy violation (42501), got %v", what, err)
		}
	}
	t.Run("tenant a cannot write b", func(t *testing.T) {
		inTenant(t, "ta", func(tx pgx.Tx) {
			_, err := tx.Exec(ctx, `INSERT INTO `+ident(schema)+`.nodes (tenant_id, id, tx_start, tx_end, label, props_c)
				VALUES ('tb', gen_random_uuid(), 1, 2, 'X', '{}')`)
			rlsViolation(t, "insert into b", err)
		})
		inTenant(t, "ta", func(tx pgx.Tx) {
			_, err := tx.Exec(ctx, `INSERT INTO `+ident(schema)+`.tenant_state (tenant_id) VALUES ('tz')`)
			rlsViolation(t, "insert another tenant's state", err)
		})
		inTenant(t, "ta", func(tx pgx.Tx) {
			tag, err := tx.Exec(ctx, `UPDATE `+ident(schema)+`.nodes SET label = 'Pwned' WHERE tenant_id = 'tb'`)
			if err != nil || tag.RowsAffected() != 0 {
				t.Errorf("update of b's rows: %v rows, err %v", tag.RowsAffected(), err)
			}
			tag, err = tx.Exec(ctx, `DELETE FROM `+ident(schema)+`.edges WHERE id = ANY($1::uuid[])`, ids["tb"])
			if err != nil || tag.RowsAffected() != 0 {
				t.Errorf("delete of b's rows: %v rows, err %v", tag.RowsAffected(), err)
			}
		})
		inTenant(t, "ta", func(tx pgx.Tx) {
			_, err := tx.Exec(ctx, `UPDATE `+ident(schema)+`.nodes SET tenant_id = 'tb'`)
			rlsViolation(t, "move a's rows to b", err)
		})
	})

	t.Run("catalog", func(t *testing.T) {
		var super, bypass bool
		if err := d.admin.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1`, d.svcRole).Scan(&super, &bypass); err != nil {
			t.Fatal(err)
		}
		if super || bypass {
			t.Errorf("service role: superuser %v, bypassrls %v", super, bypass)
		}
		for _, tb := range tables {
			var rls, force bool
			var owner string
			if err := d.admin.QueryRow(ctx, `SELECT relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner)
				FROM pg_class WHERE oid = $1::regclass`, tb).Scan(&rls, &force, &owner); err != nil {
				t.Fatal(err)
			}
			if !rls || !force {
				t.Errorf("%s: row security enabled %v, forced %v", tb, rls, force)
			}
			if owner == d.svcRole {
				t.Errorf("%s is owned by the service role", tb)
			}
			var pols []string
			rows, _ := d.admin.Query(ctx, `SELECT coalesce(pg_get_expr(polqual, polrelid), '') || ' | ' || coalesce(pg_get_expr(polwithcheck, polrelid), '')
				FROM pg_policy WHERE polrelid = $1::regclass`, tb)
			pols, _ = pgx.CollectRows(rows, pgx.RowTo[string])
			if len(pols) != 1 || strings.Count(pols[0], "current_setting('telamentis.tenant'::text, true)") != 2 {
				t.Errorf("%s: want one USING + WITH CHECK policy on telamentis.tenant, have %q", tb, pols)
			}
			// Every index (primary key and unique ones included) leads
			// with tenant_id.
			rows, _ = d.admin.Query(ctx, `SELECT i.indexrelid::regclass::text FROM pg_index i
				JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
				WHERE i.indrelid = $1::regclass AND a.attname <> 'tenant_id'`, tb)
			bad, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			if len(bad) > 0 {
				t.Errorf("%s: indexes not led by tenant_id: %v", tb, bad)
			}
		}
		var definers, views int
		d.admin.QueryRow(ctx, `SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
			WHERE p.prosecdef AND (n.nspname = $1 OR n.nspname LIKE $2)`, schema, schema+`\_t\_%`).Scan(&definers)
		d.admin.QueryRow(ctx, `SELECT count(*) FROM pg_views WHERE schemaname = $1 OR schemaname LIKE $2`, schema, schema+`\_t\_%`).Scan(&views)
		if definers != 0 || views != 0 {
			t.Errorf("%d SECURITY DEFINER functions and %d views in the store's schemas", definers, views)
		}
	})

	t.Run("privileged role refused", func(t *testing.T) {
		_, err := postgres.Open(ctx, postgres.Config{DSN: telamentis.NewSecret(d.adminURL), Schema: schema})
		if err == nil || !strings.Contains(err.Error(), "BYPASSRLS") {
			t.Errorf("Open as a superuser: want refusal, got %v", err)
		}
	})
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// TestPoolBleed runs 50 goroutines alternating tenants on a pool of two
// connections: no request may ever see another tenant's rows, which would
// happen if a tenant setting outlived its transaction.
func TestPoolBleed(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	s := d.open(t, schema, func(c *postgres.Config) { c.MaxConns = 2 })
	ids := seedTenants(t, s)
	owner := map[string]string{}
	for tn, l := range ids {
		for _, id := range l {
			owner[id] = tn
		}
	}
	var mu sync.Mutex
	var requests, bad atomic.Int64
	report := func(format string, args ...any) {
		bad.Add(1)
		mu.Lock()
		defer mu.Unlock()
		t.Errorf(format, args...)
	}
	tenants := []string{"ta", "tb", "tc"}
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			ctx := t.Context()
			for i := range 60 {
				tn := tenants[(g+i)%len(tenants)]
				requests.Add(1)
				switch i % 4 {
				case 0:
					p, err := s.Query(ctx, tn, telamentis.Query{Kind: telamentis.QueryNodes, Labels: []string{"Person"}})
					if err != nil {
						report("%s nodes: %v", tn, err)
						return
					}
					for _, n := range p.Nodes {
						if o := owner[n.ID]; o != tn {
							report("tenant %s saw node %s of %q", tn, n.ID, o)
						}
					}
				case 1:
					n, err := s.GetNode(ctx, tn, telamentis.Ref{Alias: "n3"}, telamentis.Query{}.AsAt)
					if err != nil {
						report("%s get: %v", tn, err)
						return
					}
					if owner[n.ID] != tn || !strings.Contains(string(n.Props), tn) {
						report("tenant %s got node %s %s", tn, n.ID, n.Props)
					}
				case 2:
					p, err := s.Query(ctx, tn, telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "n0"}, Depth: 4})
					if err != nil {
						report("%s paths: %v", tn, err)
						return
					}
					if len(p.Neighbors) != 4 {
						report("tenant %s paths: %d neighbours, want 4", tn, len(p.Neighbors))
					}
					for _, nb := range p.Neighbors {
						if owner[nb.Node.ID] != tn || owner[nb.Via.ID] != tn {
							report("tenant %s reached %s via %s", tn, nb.Node.ID, nb.Via.ID)
						}
					}
				case 3:
					// A write: a no-op upsert of an alias every tenant has.
					r, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: "n1", Label: "Person",
						Props: json.RawMessage(fmt.Sprintf(`{"owner":%q}`, tn))})
					if err != nil {
						report("%s upsert: %v", tn, err)
						return
					}
					if r.Changed || owner[r.Node.ID] != tn {
						report("tenant %s upsert touched %s (changed %v)", tn, r.Node.ID, r.Changed)
					}
				}
			}
		})
	}
	// Interleaved with the requests, pooled connections are checked
	// directly: outside a transaction no tenant setting may be left over.
	wg.Go(func() {
		ctx := t.Context()
		for range 200 {
			var v *string
			if err := s.PoolForTest().QueryRow(ctx, `SELECT current_setting('telamentis.tenant', true)`).Scan(&v); err != nil {
				report("check pooled setting: %v", err)
				return
			}
			if v != nil && *v != "" {
				report("a pooled connection still carries telamentis.tenant = %q", *v)
			}
		}
	})
	wg.Wait()
	t.Logf("%d requests, %d cross-tenant or failed", requests.Load(), bad.Load())
}
