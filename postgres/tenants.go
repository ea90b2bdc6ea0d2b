package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
)

// The tenants of the PostgreSQL store: their records and, for dedicated
// tenants, their schemas.

// tenantRow is the stored form of a tenant.
func scanTenant(row pgx.Row) (telamentis.Tenant, error) {
	var doc []byte
	var t telamentis.Tenant
	var created, updated time.Time
	if err := row.Scan(&doc, &created, &updated); err != nil {
		return t, err
	}
	if err := json.Unmarshal(doc, &t); err != nil {
		return t, err
	}
	t.CreatedAt, t.UpdatedAt = created.UTC(), updated.UTC()
	return t, nil
}

// CreateTenant creates a tenant and its state row; for a dedicated tenant,
// its schema first (through the owner connection). CodeConflict if the ID is
// taken.
func (s *Store) CreateTenant(ctx context.Context, t telamentis.Tenant) (telamentis.Tenant, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	nowT := telamentis.NormalizeTime(s.now())
	t.CreatedAt, t.UpdatedAt = nowT, nowT
	doc, _ := json.Marshal(t)
	schema := s.schema
	// insert writes the tenant's row and its state row; it sets the
	// tenant first (the state table is under row-level security).
	insert := func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('telamentis.tenant', $1, true)`, t.ID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, s.sysq(`INSERT INTO {s}.tenants (id, isolation, schema_name, max_nodes, max_edges, doc, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING`),
			t.ID, string(t.Isolation), schema, t.Quotas.MaxNodes, t.Quotas.MaxEdges, doc, t.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return telamentis.Errorf(telamentis.CodeConflict, "tenant %s already exists", t.ID)
		}
		_, err = tx.Exec(ctx, q(schema, `INSERT INTO {s}.tenant_state (tenant_id) VALUES ($1)`), t.ID)
		return err
	}
	var err error
	if t.Isolation == telamentis.IsolationDedicated {
		if s.owner == nil {
			return t, telamentis.Errorf(telamentis.CodeUnavailable, "dedicated tenants need the owner connection (owner DSN)")
		}
		schema = s.dedicatedSchema(t.ID)
		err = s.createSchema(ctx, t.ID, schema, insert)
	} else {
		err = pgx.BeginFunc(ctx, s.pool, insert)
	}
	if err != nil {
		return t, fmt.Errorf("postgres: create tenant: %w", mapErr(err))
	}
	s.clock.Forget(t.ID)
	s.mu.Lock()
	s.tenants[t.ID] = schema
	s.mu.Unlock()
	return t, nil
}

// createSchema creates a dedicated tenant's schema with the graph tables
// and policies, grants the service role the data privileges, and runs
// insert (the tenant's rows), all in one owner transaction under the
// migration lock, so that concurrent creates of one tenant cannot replace
// each other's schema.
func (s *Store) createSchema(ctx context.Context, tenant, schema string, insert func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(746561)`); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, s.sysq(`SELECT EXISTS (SELECT 1 FROM {s}.tenants WHERE id = $1)`), tenant).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return telamentis.Errorf(telamentis.CodeConflict, "tenant %s already exists", tenant)
		}
		// A schema left behind by an interrupted drop is replaced.
		if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+ident(schema)+` CASCADE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.sysq(`DELETE FROM {s}.schema_migrations WHERE schema_name = $1`), schema); err != nil {
			return err
		}
		if err := applyMigrations(ctx, tx, s.schema, schema, "tenant", s.log); err != nil {
			return err
		}
		if err := grant(ctx, tx, schema, s.role); err != nil {
			return err
		}
		return insert(tx)
	})
}

// GetTenant returns a tenant or CodeNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (telamentis.Tenant, error) {
	if !telamentis.ValidTenantID(id) {
		return telamentis.Tenant{}, telamentis.NotFound("tenant")
	}
	t, err := scanTenant(s.pool.QueryRow(ctx, s.sysq(`SELECT doc, created_at, updated_at FROM {s}.tenants WHERE id = $1`), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, telamentis.NotFound("tenant")
	}
	if err != nil {
		return t, fmt.Errorf("postgres: get tenant: %w", mapErr(err))
	}
	return t, nil
}

// ListTenants returns every tenant ordered by ID.
func (s *Store) ListTenants(ctx context.Context) ([]telamentis.Tenant, error) {
	rows, err := s.pool.Query(ctx, s.sysq(`SELECT doc, created_at, updated_at FROM {s}.tenants ORDER BY id`))
	if err != nil {
		return nil, fmt.Errorf("postgres: list tenants: %w", mapErr(err))
	}
	defer rows.Close()
	out := []telamentis.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list tenants: %w", mapErr(err))
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list tenants: %w", mapErr(err))
	}
	return out, nil
}

// UpdateTenant replaces a tenant's mutable settings; isolation cannot
// change (CodeInvalid).
func (s *Store) UpdateTenant(ctx context.Context, t telamentis.Tenant) (telamentis.Tenant, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	cur, err := s.GetTenant(ctx, t.ID)
	if err != nil {
		return t, err
	}
	if t.Isolation != cur.Isolation {
		return t, telamentis.Invalid("isolation", "cannot change")
	}
	t.CreatedAt = cur.CreatedAt
	t.UpdatedAt = telamentis.NormalizeTime(s.now())
	if !t.UpdatedAt.After(cur.UpdatedAt) {
		t.UpdatedAt = cur.UpdatedAt.Add(time.Microsecond)
	}
	doc, _ := json.Marshal(t)
	tag, err := s.pool.Exec(ctx, s.sysq(`UPDATE {s}.tenants SET max_nodes = $2, max_edges = $3, doc = $4, updated_at = $5 WHERE id = $1`),
		t.ID, t.Quotas.MaxNodes, t.Quotas.MaxEdges, doc, t.UpdatedAt)
	if err != nil {
		return t, fmt.Errorf("postgres: update tenant: %w", mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return t, telamentis.NotFound("tenant")
	}
	return t, nil
}

// DropTenant physically removes a tenant and all its data: a shared
// tenant's rows are deleted, a dedicated tenant's schema is dropped, and
// the tenant's API key rows, revoked ones included, are deleted. The
// deleted rows' bytes stay in the table files until VACUUM (Compact, or the
// VACUUM step of docs/deploy/postgres.md) rewrites them.
func (s *Store) DropTenant(ctx context.Context, id string) error {
	schema, err := s.refreshSchema(ctx, id)
	if err != nil {
		return err
	}
	if schema != s.schema {
		if s.owner == nil {
			return telamentis.Errorf(telamentis.CodeUnavailable, "dedicated tenants need the owner connection (owner DSN)")
		}
		err = pgx.BeginFunc(ctx, s.owner, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(746561)`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, s.sysq(`DELETE FROM {s}.tenants WHERE id = $1`), id); err != nil {
				return err
			}
			if err := s.deleteTenantKeys(ctx, tx, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, s.sysq(`DELETE FROM {s}.schema_migrations WHERE schema_name = $1`), schema); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+ident(schema)+` CASCADE`)
			return err
		})
	} else {
		err = s.tenantTx(ctx, id, func(tx pgx.Tx) error {
			// Lock the state row first so that no writer of this tenant
			// commits between the deletes.
			if _, err := tx.Exec(ctx, q(schema, `SELECT 1 FROM {s}.tenant_state WHERE tenant_id = $1 FOR UPDATE`), id); err != nil {
				return err
			}
			for _, sql := range []string{
				`DELETE FROM {s}.node_redirects WHERE tenant_id = $1`,
				`DELETE FROM {s}.edges WHERE tenant_id = $1`,
				`DELETE FROM {s}.nodes WHERE tenant_id = $1`,
				`DELETE FROM {s}.tenant_state WHERE tenant_id = $1`,
			} {
				if _, err := tx.Exec(ctx, q(schema, sql), id); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, s.sysq(`DELETE FROM {s}.tenants WHERE id = $1`), id); err != nil {
				return err
			}
			return s.deleteTenantKeys(ctx, tx, id)
		})
	}
	if err != nil {
		return fmt.Errorf("postgres: drop tenant: %w", mapErr(err))
	}
	s.forget(id)
	s.clock.Forget(id)
	return nil
}
