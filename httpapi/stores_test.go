package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/postgres"
)

// storeKind names a store the black-box suites run on.
type storeKind string

const (
	badgerStore   storeKind = "" // the default: badger, in memory unless envOptions.dir
	postgresStore storeKind = "postgres"
)

// envStore is what the test server needs of a store.
type envStore interface {
	telamentis.Store
	telamentis.KeyStore
	Close() error
}

// eachStore runs one test body once per store: badger always, PostgreSQL
// when TELAMENTIS_TEST_POSTGRES_URL is set (each run in a database of its
// own, as non-superuser service and owner roles, so row-level security
// applies as in production).
func eachStore(t *testing.T, body func(t *testing.T, o envOptions)) {
	t.Helper()
	for _, k := range []storeKind{badgerStore, postgresStore} {
		name := string(k)
		if name == "" {
			name = "badger"
		}
		t.Run(name, func(t *testing.T) {
			if k == postgresStore && os.Getenv("TELAMENTIS_TEST_POSTGRES_URL") == "" {
				t.Skip("TELAMENTIS_TEST_POSTGRES_URL not set")
			}
			body(t, envOptions{store: k})
		})
	}
}

// openEnvStore opens the store of kind k: badger with bcfg, or a migrated
// PostgreSQL database created for this test and dropped after it.
func openEnvStore(t testing.TB, k storeKind, bcfg badger.Config) (envStore, error) {
	if k != postgresStore {
		return badger.Open(bcfg, slog.New(slog.DiscardHandler))
	}
	base := os.Getenv("TELAMENTIS_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TELAMENTIS_TEST_POSTGRES_URL not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	db, owner, svc := "tm_http_"+suffix, "tm_httpowner_"+suffix, "tm_httpsvc_"+suffix
	for _, s := range []string{
		`CREATE ROLE ` + owner + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`,
		`CREATE ROLE ` + svc + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`,
		`CREATE DATABASE ` + db + ` OWNER ` + owner,
		`REVOKE ALL ON DATABASE ` + db + ` FROM PUBLIC`,
		`GRANT CONNECT ON DATABASE ` + db + ` TO ` + svc,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			return nil, err
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
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + db
	u.User = url.User(owner)
	ownerDSN := telamentis.NewSecret(u.String())
	u.User = url.User(svc)
	svcDSN := telamentis.NewSecret(u.String())
	if err := postgres.Migrate(ctx, postgres.MigrateConfig{OwnerDSN: ownerDSN, ServiceRoles: []string{svc}}); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	return postgres.Open(ctx, postgres.Config{DSN: svcDSN, OwnerDSN: ownerDSN, CursorKey: telamentis.NewSecret(string(key)), MaxConns: 8})
}
