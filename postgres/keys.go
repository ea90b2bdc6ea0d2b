package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
)

// The API keys live in a system table: keys are looked up by ID before any
// tenant is known, so the table is not tenant-scoped through row-level
// security. It holds only hashes of secrets.

const keyCols = `id, tenant, role, pii, name, hash, created_at, expires_at, revoked_at, last_used_at`

func scanKey(r scanner) (telamentis.APIKey, error) {
	var k telamentis.APIKey
	var role string
	var exp, rev, used *time.Time
	if err := r.Scan(&k.ID, &k.Tenant, &role, &k.PII, &k.Name, &k.Hash, &k.CreatedAt, &exp, &rev, &used); err != nil {
		return k, err
	}
	k.Role = telamentis.Role(role)
	k.CreatedAt = k.CreatedAt.UTC()
	if exp != nil {
		k.ExpiresAt = exp.UTC()
	}
	if rev != nil {
		k.RevokedAt = rev.UTC()
	}
	if used != nil {
		k.LastUsedAt = used.UTC()
	}
	return k, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return telamentis.NormalizeTime(t)
}

// CreateKey stores a new key; CodeConflict if the ID is taken, CodeNotFound
// if the key's tenant does not exist. The tenant's row is locked (FOR KEY
// SHARE) while the key is inserted, so a key cannot slip in beside a
// concurrent DropTenant and outlive its tenant.
func (s *Store) CreateKey(ctx context.Context, k telamentis.APIKey) error {
	if k.ID == "" || len(k.ID) > 128 {
		return telamentis.Invalid("id", "must be 1 to 128 bytes")
	}
	if !k.Role.Valid() {
		return telamentis.Invalid("role", "must be admin, tenant_admin, writer or reader")
	}
	if len(k.Hash) == 0 {
		return telamentis.Invalid("hash", "required")
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	tag, err := s.pool.Exec(ctx, s.sysq(`INSERT INTO {s}.api_keys (`+keyCols+`)
		SELECT $1::text, $2::text, $3::text, $4::boolean, $5::text, $6::bytea, $7::timestamptz, $8::timestamptz, $9::timestamptz, $10::timestamptz
		WHERE $2 = '' OR EXISTS (SELECT 1 FROM {s}.tenants WHERE id = $2 FOR KEY SHARE)
		ON CONFLICT (id) DO NOTHING`),
		k.ID, k.Tenant, string(k.Role), k.PII, k.Name, k.Hash, telamentis.NormalizeTime(created),
		nullTime(k.ExpiresAt), nullTime(k.RevokedAt), nullTime(k.LastUsedAt))
	if err != nil {
		return fmt.Errorf("postgres: create key: %w", mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		if k.Tenant != "" {
			if _, err := s.GetTenant(ctx, k.Tenant); err != nil {
				return fmt.Errorf("postgres: create key: %w", err)
			}
		}
		return telamentis.Errorf(telamentis.CodeConflict, "key %s already exists", k.ID)
	}
	return nil
}

// deleteTenantKeys removes every API key row of tenant, revoked ones
// included, in DropTenant's transaction: a key must outlive its tenant
// neither as a credential nor as a stored name and digest. Run it after
// the tenant's row is deleted: that delete waits for any CreateKey holding
// the row, so this statement sees the key it inserted.
func (s *Store) deleteTenantKeys(ctx context.Context, tx pgx.Tx, tenant string) error {
	_, err := tx.Exec(ctx, s.sysq(`DELETE FROM {s}.api_keys WHERE tenant = $1`), tenant)
	return err
}

// GetKey returns a key by ID, revoked or not, or CodeNotFound.
func (s *Store) GetKey(ctx context.Context, id string) (telamentis.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, s.sysq(`SELECT `+keyCols+` FROM {s}.api_keys WHERE id = $1`), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, telamentis.NotFound("key")
	}
	if err != nil {
		return k, fmt.Errorf("postgres: get key: %w", mapErr(err))
	}
	return k, nil
}

// ListKeys returns the keys of tenant ("" = system keys), by ID.
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]telamentis.APIKey, error) {
	rows, err := s.pool.Query(ctx, s.sysq(`SELECT `+keyCols+` FROM {s}.api_keys WHERE tenant = $1 ORDER BY id`), tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", mapErr(err))
	}
	defer rows.Close()
	out := []telamentis.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list keys: %w", mapErr(err))
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", mapErr(err))
	}
	return out, nil
}

// RevokeKey sets RevokedAt if not yet set; CodeNotFound if missing.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) (telamentis.APIKey, error) {
	if at.IsZero() {
		at = s.now()
	}
	k, err := scanKey(s.pool.QueryRow(ctx, s.sysq(`UPDATE {s}.api_keys SET revoked_at = least(revoked_at, $2::timestamptz)
		WHERE id = $1 RETURNING `+keyCols), id, telamentis.NormalizeTime(at)))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, telamentis.NotFound("key")
	}
	if err != nil {
		return k, fmt.Errorf("postgres: revoke key: %w", mapErr(err))
	}
	return k, nil
}

// TouchKey records a use at at, coarsened to one write per key a minute.
func (s *Store) TouchKey(ctx context.Context, id string, at time.Time) error {
	at = telamentis.NormalizeTime(at)
	_, err := s.pool.Exec(ctx, s.sysq(`UPDATE {s}.api_keys SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')`), id, at)
	if err != nil {
		return fmt.Errorf("postgres: touch key: %w", mapErr(err))
	}
	return nil
}

// CountKeys returns how many keys exist.
func (s *Store) CountKeys(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, s.sysq(`SELECT count(*) FROM {s}.api_keys`)).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count keys: %w", mapErr(err))
	}
	return n, nil
}
