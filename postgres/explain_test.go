package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/postgres"
)

// TestExplain prints EXPLAIN ANALYZE of the benchmark queries as the
// service role; run with TM_EXPLAIN=1 -v.
func TestExplain(t *testing.T) {
	if os.Getenv("TM_EXPLAIN") == "" {
		t.Skip("TM_EXPLAIN not set")
	}
	d := database(t)
	s := d.open(t, d.newSchema(t), nil)
	n := 10_000
	if os.Getenv("TM_EXPLAIN") == "big" {
		n = 25_000 // a medium kgbench tenant: 25K nodes, ~150K edge rows
	}
	ids := benchGraphT(t, s, "bench", n)
	if os.Getenv("TM_VACUUM") != "" {
		if _, err := d.admin.Exec(t.Context(), "VACUUM (ANALYZE) "+pgx.Identifier{s.Schema(), "edges"}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	type cap struct {
		sql  string
		args []any
	}
	var got []cap
	postgres.SetSQLHook(func(sql string, args []any) { got = append(got, cap{sql, args}) })
	defer postgres.SetSQLHook(nil)
	vt := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
	ctx := t.Context()
	qs := []telamentis.Query{
		{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{ID: ids[7]}, ValidAt: vt, Limit: 1000},
		{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{ID: ids[7]}, ValidAt: vt, Depth: 2, MinDepth: 2, Limit: 1000},
		{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{ID: ids[n/2]}, ValidAt: vt, Depth: 2, MinDepth: 2, Limit: 1000},
		{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{ID: ids[7]}, ValidAt: vt, Depth: 2, MinDepth: 2, Limit: 1000, IDsOnly: true},
		{Kind: telamentis.QueryEdges, From: &telamentis.Ref{ID: ids[7]}, ValidAt: vt, Limit: 1000, IncludeNodes: true},
		{Kind: telamentis.QueryEdges, From: &telamentis.Ref{ID: ids[7]}, ValidAt: vt, AsAt: time.Date(2024, 1, 1, 0, 30, 0, 0, time.UTC)},
		{Kind: telamentis.QueryEdges, Kinds: []string{"KNOWS"}, ValidBetween: &telamentis.Interval{Start: vt, End: vt.AddDate(0, 1, 0)}, Limit: 1000},
		{Kind: telamentis.QueryNodes, Alias: "person/7"},
	}
	for _, q := range qs {
		p, err := s.Query(ctx, "bench", q)
		if err != nil {
			t.Fatal(err)
		}
		if p.NextCursor != "" { // and the second page
			q.Cursor = p.NextCursor
			if _, err := s.Query(ctx, "bench", q); err != nil {
				t.Fatal(err)
			}
		}
	}
	conn, err := pgx.Connect(ctx, d.svcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, c := range got {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			tx, _ := conn.Begin(ctx)
			tx.Exec(ctx, `SELECT set_config('telamentis.tenant', 'bench', true)`)
			tx.Exec(ctx, `SELECT set_config('plan_cache_mode', $1, true)`, mode)
			tx.Exec(ctx, `SELECT set_config('jit', 'off', true)`)
			if _, err := tx.Exec(ctx, "PREPARE q AS "+c.sql); err != nil {
				t.Fatalf("prepare: %v", err)
			}
			ps := make([]string, len(c.args))
			for i, a := range c.args {
				ps[i] = fmt.Sprintf("'%v'", a)
				if l, ok := a.([]string); ok {
					ps[i] = "'{" + strings.Join(l, ",") + "}'"
				}
			}
			rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) EXECUTE q("+strings.Join(ps, ", ")+")")
			if err != nil {
				t.Fatal(err)
			}
			lines, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			t.Logf("%s [%s]\n%s", c.sql, mode, strings.Join(lines, "\n"))
			tx.Rollback(ctx)
			conn.Exec(ctx, "DEALLOCATE q")
		}
	}
}
