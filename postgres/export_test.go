package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolForTest exposes the service pool to the external tests, which check
// that no tenant setting survives on a pooled connection.
func (s *Store) PoolForTest() *pgxpool.Pool { return s.pool.Pool }

// SetSQLHook installs a hook that sees every query statement.
func SetSQLHook(f func(sql string, args []any)) { sqlHook = f }

// SetSettleAfter shortens the pause after which imported rows are analysed;
// it returns the function that restores it.
func SetSettleAfter(d time.Duration) func() {
	old := settleAfter
	settleAfter = d
	return func() { settleAfter = old }
}

// DB is the service pool as the store's own code uses it, its settings
// applied.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// DBForTest returns the service pool as the store uses it.
func (s *Store) DBForTest() DB { return s.pool }
