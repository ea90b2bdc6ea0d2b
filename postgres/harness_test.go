package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/postgres"
)

// testDB is one database with its own owner and service roles, created once
// per test binary run and dropped at the end.
type testDB struct {
	adminURL string // superuser, to the test database (bypasses RLS: for Residue and setup)
	ownerURL string
	svcURL   string
	svcRole  string
	admin    *pgxpool.Pool
}

var (
	dbOnce   sync.Once
	dbShared *testDB
	dbErr    error
	cleanup  []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(cleanup) - 1; i >= 0; i-- {
		cleanup[i]()
	}
	os.Exit(code)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func withUserDB(base, user, db string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.User = url.User(user)
	u.Path = "/" + db
	return u.String()
}

// database returns the run's test database, creating it on first use; it
// skips the test when TELAMENTIS_TEST_POSTGRES_URL is unset.
func database(t testing.TB) *testDB {
	t.Helper()
	base := os.Getenv("TELAMENTIS_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TELAMENTIS_TEST_POSTGRES_URL not set")
	}
	dbOnce.Do(func() { dbShared, dbErr = createDB(base) })
	if dbErr != nil {
		t.Fatal(dbErr)
	}
	return dbShared
}

func createDB(base string) (*testDB, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	suffix := randHex(6)
	dbName, owner, svc := "tm_test_"+suffix, "tm_owner_"+suffix, "tm_svc_"+suffix
	for _, s := range []string{
		`CREATE ROLE ` + owner + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`,
		`CREATE ROLE ` + svc + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`,
		`CREATE DATABASE ` + dbName + ` OWNER ` + owner,
		`REVOKE ALL ON DATABASE ` + dbName + ` FROM PUBLIC`,
		`GRANT CONNECT ON DATABASE ` + dbName + ` TO ` + svc,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			return nil, fmt.Errorf("setup: %s: %w", s, err)
		}
	}
	cleanup = append(cleanup, func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, `DROP DATABASE IF EXISTS `+dbName+` WITH (FORCE)`)
		c.Exec(ctx, `DROP ROLE IF EXISTS `+svc)
		c.Exec(ctx, `DROP ROLE IF EXISTS `+owner)
	})
	d := &testDB{
		adminURL: withUserDB(base, mustUser(base), dbName),
		ownerURL: withUserDB(base, owner, dbName),
		svcURL:   withUserDB(base, svc, dbName),
		svcRole:  svc,
	}
	// The public schema of a fresh database must not be writable by the
	// service role (PostgreSQL 15 default; older versions grant it).
	oc, err := pgx.Connect(ctx, d.ownerURL)
	if err != nil {
		return nil, err
	}
	defer oc.Close(ctx)
	if _, err := oc.Exec(ctx, `REVOKE CREATE ON SCHEMA public FROM PUBLIC`); err != nil {
		return nil, err
	}
	if d.admin, err = pgxpool.New(ctx, d.adminURL); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, d.admin.Close)
	return d, nil
}

func mustUser(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.User == nil {
		return "postgres"
	}
	return u.User.Username()
}

// newSchema migrates a fresh schema and returns its name.
func (d *testDB) newSchema(t testing.TB) string {
	t.Helper()
	schema := "tm_" + randHex(5)
	err := postgres.Migrate(t.Context(), postgres.MigrateConfig{
		OwnerDSN: telamentis.NewSecret(d.ownerURL), ServiceRoles: []string{d.svcRole}, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		rows, err := d.admin.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname = $1 OR nspname LIKE $2`,
			schema, schema+`\_t\_%`)
		if err != nil {
			return
		}
		names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, n := range names {
			d.admin.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{n}.Sanitize()+` CASCADE`)
		}
	})
	return schema
}

// open opens a store on schema as the service role.
func (d *testDB) open(t testing.TB, schema string, mod func(*postgres.Config)) *postgres.Store {
	t.Helper()
	cfg := postgres.Config{
		DSN:       telamentis.NewSecret(d.svcURL),
		OwnerDSN:  telamentis.NewSecret(d.ownerURL),
		Schema:    schema,
		CursorKey: telamentis.NewSecret(strings.Repeat("k", 32)),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := postgres.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newStore returns a fresh, empty store in its own schema.
func newStore(t testing.TB) *postgres.Store {
	t.Helper()
	d := database(t)
	return d.open(t, d.newSchema(t), nil)
}

// residue reports every table column of the store's schemas (shared and
// dedicated) where canary still occurs, reading as the superuser so that
// row-level security hides nothing.
func residue(t testing.TB, s telamentis.Store, canary string) []string {
	t.Helper()
	d := database(t)
	ctx := context.Background()
	schema := s.(*postgres.Store).Schema()
	rows, err := d.admin.Query(ctx, `SELECT c.table_schema, c.table_name, c.column_name
		FROM information_schema.columns c JOIN information_schema.tables tb
		  ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name AND tb.table_type = 'BASE TABLE'
		WHERE c.table_schema = $1 OR c.table_schema LIKE $2 ORDER BY 1, 2, 3`, schema, schema+`\_t\_%`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ schema, table, column string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (col, error) {
		var c col
		return c, r.Scan(&c.schema, &c.table, &c.column)
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cols {
		var n int
		sql := fmt.Sprintf(`SELECT count(*) FROM %s.%s WHERE strpos(%s::text, $1) > 0`,
			pgx.Identifier{c.schema}.Sanitize(), pgx.Identifier{c.table}.Sanitize(), pgx.Identifier{c.column}.Sanitize())
		if err := d.admin.QueryRow(ctx, sql, canary).Scan(&n); err != nil {
			t.Fatalf("residue %s.%s.%s: %v", c.schema, c.table, c.column, err)
		}
		if n > 0 {
			out = append(out, c.schema+"."+c.table+"."+c.column)
		}
	}
	return append(out, fileResidue(t, schema, canary)...)
}

// fileResidue searches the on-disk files of every relation of the store's
// schemas (tables, indexes, TOAST) for canary, after a CHECKPOINT: dead
// tuples that SQL no longer shows still count. It needs a superuser admin
// connection (pg_read_binary_file) and reports nothing without one.
func fileResidue(t testing.TB, schema, canary string) []string {
	t.Helper()
	d := database(t)
	ctx := context.Background()
	var super bool
	if err := d.admin.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil || !super {
		return nil
	}
	if _, err := d.admin.Exec(ctx, `CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
	rows, err := d.admin.Query(ctx, `WITH rels AS (
			SELECT c.oid, c.relname, c.reltoastrelid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE (n.nspname = $1 OR n.nspname LIKE $2) AND c.relkind IN ('r', 'i', 't'))
		SELECT relname, pg_relation_filepath(oid) FROM rels
		UNION ALL SELECT t.relname, pg_relation_filepath(t.oid) FROM rels r JOIN pg_class t ON t.oid = r.reltoastrelid
		UNION ALL SELECT i.relname, pg_relation_filepath(i.oid) FROM rels r JOIN pg_index x ON x.indrelid = r.reltoastrelid
			JOIN pg_class i ON i.oid = x.indexrelid`, schema, schema+`\_t\_%`)
	if err != nil {
		t.Fatal(err)
	}
	type rel struct{ name, path string }
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		var p *string
		err := r.Scan(&x.name, &p)
		if p != nil {
			x.path = *p
		}
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rels {
		if r.path == "" {
			continue
		}
		var hit bool
		err := d.admin.QueryRow(ctx, `SELECT position($2::bytea IN pg_read_binary_file($1::text)) > 0`,
			r.path, []byte(canary)).Scan(&hit)
		if err != nil {
			t.Fatalf("read %s: %v", r.path, err)
		}
		if hit {
			out = append(out, "file of "+r.name)
		}
	}
	return out
}
