// Package postgres is the PostgreSQL implementation of telamentis.Store,
// telamentis.KeyStore, telamentis.Importer, telamentis.Compactor and
// telamentis.Checker, on github.com/jackc/pgx/v5.
//
// The graph lives natively in SQL: one row per node or edge version, with
// transaction time [tx_start, tx_end) and valid time [valid_from, valid_to)
// as microseconds since the Unix epoch. Tenant isolation is enforced twice:
// every statement filters by tenant_id, and every tenant table has row-level
// security enabled and forced with a policy on the per-transaction setting
// telamentis.tenant, which the store sets with set_config(..., true) inside
// every transaction. The service connects as a role that owns no table and
// has neither superuser nor BYPASSRLS, so a forgotten filter returns nothing
// instead of another tenant's rows.
//
// Schema changes are embedded SQL applied by Migrate with a separate owner
// role. Dedicated tenants get their own schema with the same tables and
// policies, created through the optional owner connection.
// docs/deploy/postgres.md describes roles, migrations, TLS and Citus.
package postgres
