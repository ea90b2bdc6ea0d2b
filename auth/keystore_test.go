package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/postgres"
)

// newKeyStore opens an in-memory Badger store, the default KeyStore, with
// the tenants the tests use.
func newKeyStore(t testing.TB) telamentis.KeyStore {
	t.Helper()
	s, err := badger.Open(badger.Config{InMemory: true, Now: func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addTenants(t, s)
	return s
}

func addTenants(t testing.TB, s telamentis.Store) {
	t.Helper()
	for _, id := range []string{"acme", "globex"} {
		if _, err := s.CreateTenant(t.Context(), telamentis.Tenant{ID: id}); err != nil {
			t.Fatalf("create tenant %s: %v", id, err)
		}
	}
}

// eachKeyStore runs body on the embedded store, and on PostgreSQL when
// TELAMENTIS_TEST_POSTGRES_URL is set.
func eachKeyStore(t *testing.T, body func(t *testing.T, store telamentis.KeyStore)) {
	t.Run("badger", func(t *testing.T) { body(t, newKeyStore(t)) })
	t.Run("postgres", func(t *testing.T) {
		db := newPGDB(t)
		s := db.open(t)
		addTenants(t, s)
		body(t, s)
	})
}

// pgDB is a migrated PostgreSQL database of its own, with non-superuser
// owner and service roles, dropped after the test.
type pgDB struct {
	svcURL string
	base   string // the superuser URL, to this database
}

// newPGDB creates the database, or skips without
// TELAMENTIS_TEST_POSTGRES_URL.
func newPGDB(t testing.TB) *pgDB {
	t.Helper()
	base := os.Getenv("TELAMENTIS_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TELAMENTIS_TEST_POSTGRES_URL not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	db, owner, svc := "tm_auth_"+suffix, "tm_authowner_"+suffix, "tm_authsvc_"+suffix
	for _, s := range []string{
		`CREATE ROLE ` + owner + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`,
		`CREATE ROLE ` + svc + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`,
		`CREATE DATABASE ` + db + ` OWNER ` + owner,
		`REVOKE ALL ON DATABASE ` + db + ` FROM PUBLIC`,
		`GRANT CONNECT ON DATABASE ` + db + ` TO ` + svc,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`)
		c.Exec(ctx, `DROP ROLE IF EXISTS `+svc)
		c.Exec(ctx, `DROP ROLE IF EXISTS `+owner)
	})
	with := func(user string) string {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + db
		if user != "" {
			u.User = url.User(user)
		}
		return u.String()
	}
	if err := postgres.Migrate(ctx, postgres.MigrateConfig{OwnerDSN: telamentis.NewSecret(with(owner)), ServiceRoles: []string{svc}}); err != nil {
		t.Fatal(err)
	}
	return &pgDB{svcURL: with(svc), base: with("")}
}

// open opens a store on the database as the service role: every call
// opens another replica.
func (d *pgDB) open(t testing.TB) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: telamentis.NewSecret(d.svcURL), CursorKey: telamentis.NewSecret(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
