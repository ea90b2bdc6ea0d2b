package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
)

// Compact rewrites the graph tables with VACUUM FULL through the owner
// connection, so that erased and dropped rows leave the table files (a
// plain DELETE only marks them dead). It takes an exclusive lock on each
// table while it runs; production deployments schedule it, see
// docs/deploy/postgres.md. CodeUnavailable without the owner connection.
func (s *Store) Compact(ctx context.Context) error {
	if s.owner == nil {
		return telamentis.Errorf(telamentis.CodeUnavailable, "compaction needs the owner connection (owner DSN)")
	}
	if err := s.waitForOlderSnapshots(ctx); err != nil {
		return err
	}
	rows, err := s.owner.Query(ctx, s.sysq(`SELECT DISTINCT schema_name FROM {s}.schema_migrations WHERE name LIKE 'tenant/%' ORDER BY 1`))
	if err != nil {
		return fmt.Errorf("postgres: compact: %w", mapErr(err))
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: compact: %w", mapErr(err))
	}
	for _, sc := range schemas {
		for _, t := range []string{"nodes", "edges", "node_redirects", "tenant_state"} {
			if _, err := s.owner.Exec(ctx, `VACUUM (FULL, ANALYZE) `+ident(sc)+`.`+ident(t)); err != nil {
				return fmt.Errorf("postgres: compact: %w", mapErr(err))
			}
		}
	}
	for _, t := range []string{"tenants", "api_keys"} {
		if _, err := s.owner.Exec(ctx, `VACUUM (FULL, ANALYZE) `+ident(s.schema)+`.`+ident(t)); err != nil {
			return fmt.Errorf("postgres: compact: %w", mapErr(err))
		}
	}
	return nil
}

// compactWait bounds how long Compact waits for older snapshots.
const compactWait = 30 * time.Second

// waitForOlderSnapshots waits until no other session of the database holds
// a snapshot taken before this call, nor a transaction ID assigned before
// it (a read-committed transaction between statements has no snapshot but
// its ID still holds the removal horizon back), and until no transaction
// of any database of the cluster that began before this call is still
// running. VACUUM FULL must keep every row version such a snapshot could
// still see, so while one is open (a long transaction, or an autovacuum
// ANALYZE that happened to start before the erasure) erased rows would be
// copied into the rewritten files. The cluster-wide condition is needed
// because a snapshot's xmin is the oldest transaction still running in any
// database: VACUUM FULL's own snapshot, taken while another database's
// older transaction runs, holds this database's horizon back just as an old
// session here would. It gives up with CodeUnavailable after compactWait
// rather than report a compaction that left erased bytes behind.
func (s *Store) waitForOlderSnapshots(ctx context.Context) error {
	var horizon uint32
	if err := s.owner.QueryRow(ctx, `SELECT xid(pg_current_xact_id())::text::bigint`).Scan(&horizon); err != nil {
		return fmt.Errorf("postgres: compact: %w", mapErr(err))
	}
	deadline := time.Now().Add(compactWait)
	for {
		var older int
		err := s.owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
			  AND ((backend_xmin IS NOT NULL AND age(backend_xmin) > age($1::text::xid))
			    OR (backend_xid IS NOT NULL AND age(backend_xid) > age($1::text::xid))))
			+ CASE WHEN age(xid(pg_snapshot_xmin(pg_current_snapshot()))) > age($1::text::xid) THEN 1 ELSE 0 END`,
			fmt.Sprint(horizon)).Scan(&older)
		if err != nil {
			return fmt.Errorf("postgres: compact: %w", mapErr(err))
		}
		if older == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return telamentis.Errorf(telamentis.CodeUnavailable,
				"compaction waits for %d older transaction(s) that may still see erased rows; retry when they end", older)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres: compact: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Check verifies, tenant by tenant, that versions of one ID do not overlap
// in transaction time, that at most one is open, that every live edge has
// live endpoints, that live aliases are unique, and that the live counters
// match the rows. It returns the first problem found.
func (s *Store) Check(ctx context.Context) error {
	ts, err := s.ListTenants(ctx)
	if err != nil {
		return fmt.Errorf("postgres: check: %w", err)
	}
	checks := []struct{ what, sql string }{
		{"overlapping node versions", `SELECT count(*) FROM (SELECT tx_start, lead(tx_start) OVER w AS nxt, tx_end
			FROM {s}.nodes WHERE tenant_id = $1 WINDOW w AS (PARTITION BY id ORDER BY tx_start)) v WHERE nxt < tx_end`},
		{"overlapping edge versions", `SELECT count(*) FROM (SELECT tx_start, lead(tx_start) OVER w AS nxt, tx_end
			FROM {s}.edges WHERE tenant_id = $1 WINDOW w AS (PARTITION BY id ORDER BY tx_start)) v WHERE nxt < tx_end`},
		{"live edge with a missing endpoint", `SELECT count(*) FROM {s}.edges e WHERE e.tenant_id = $1 AND e.tx_end = ` + openSQL + `
			AND NOT (EXISTS (SELECT 1 FROM {s}.nodes n WHERE n.tenant_id = $1 AND n.id = e.from_id AND n.tx_end = ` + openSQL + `)
			AND EXISTS (SELECT 1 FROM {s}.nodes n WHERE n.tenant_id = $1 AND n.id = e.to_id AND n.tx_end = ` + openSQL + `))`},
		{"live node counter", `SELECT abs((SELECT count(*) FROM {s}.nodes WHERE tenant_id = $1 AND tx_end = ` + openSQL + `) -
			(SELECT nodes_live FROM {s}.tenant_state WHERE tenant_id = $1))`},
		{"live edge counter", `SELECT abs((SELECT count(*) FROM {s}.edges WHERE tenant_id = $1 AND tx_end = ` + openSQL + `) -
			(SELECT edges_live FROM {s}.tenant_state WHERE tenant_id = $1))`},
	}
	for _, t := range ts {
		schema, err := s.schemaOf(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("postgres: check: %w", err)
		}
		err = s.tenantTx(ctx, t.ID, func(tx pgx.Tx) error {
			for _, c := range checks {
				var n *int64
				if err := tx.QueryRow(ctx, q(schema, c.sql), t.ID).Scan(&n); err != nil {
					return err
				}
				if n == nil || *n != 0 {
					return fmt.Errorf("tenant %s: %s", t.ID, c.what)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("postgres: check: %w", err)
		}
	}
	return nil
}
