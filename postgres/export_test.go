package postgres

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolForTest exposes the service pool to the external tests, which check
// that no tenant setting survives on a pooled connection.
func (s *Store) PoolForTest() *pgxpool.Pool { return s.pool }

// SetSQLHook installs a hook that sees every query statement.
func SetSQLHook(f func(sql string, args []any)) { sqlHook = f }

// SetSettleAfter shortens the pause after which imported rows are analysed;
// it returns the function that restores it.
func SetSettleAfter(d time.Duration) func() {
	old := settleAfter
	settleAfter = d
	return func() { settleAfter = old }
}
