package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/postgres"
)

// postgresBackend runs the postgres store as production does: adminURL
// (a superuser on the target server, such as the CI database) is used only
// to create a fresh database with its own owner and service roles; the
// schema is migrated as the owner and the store connects as the service
// role, so row-level security applies to every query. cleanup drops the
// database and the roles.
func postgresBackend(adminURL string, logger *slog.Logger) (*backend, error) {
	ctx := context.Background()
	u, err := url.Parse(adminURL)
	if err != nil {
		return nil, errors.New("postgres: the -store URL cannot be parsed")
	}
	rnd := make([]byte, 6)
	rand.Read(rnd)
	suffix := hex.EncodeToString(rnd)
	dbName, owner, svc := "tmbench_"+suffix, "tmbench_owner_"+suffix, "tmbench_svc_"+suffix
	pw := make([]byte, 16)
	rand.Read(pw)
	pass := hex.EncodeToString(pw)

	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect as admin: %w", err)
	}
	defer conn.Close(ctx)
	cleanup := func() error {
		c, err := pgx.Connect(context.Background(), adminURL)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		var errs []error
		for _, s := range []string{`DROP DATABASE IF EXISTS ` + dbName + ` WITH (FORCE)`, `DROP ROLE IF EXISTS ` + svc, `DROP ROLE IF EXISTS ` + owner} {
			if _, err := c.Exec(context.Background(), s); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, s := range []string{
		`CREATE ROLE ` + owner + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD '` + pass + `'`,
		`CREATE ROLE ` + svc + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD '` + pass + `'`,
		`CREATE DATABASE ` + dbName + ` OWNER ` + owner,
		`REVOKE ALL ON DATABASE ` + dbName + ` FROM PUBLIC`,
		`GRANT CONNECT ON DATABASE ` + dbName + ` TO ` + svc,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			cleanup()
			return nil, fmt.Errorf("postgres: set up the bench database: %w", err)
		}
	}
	as := func(user string) string {
		v := *u
		v.User = url.UserPassword(user, pass)
		v.Path = "/" + dbName
		return v.String()
	}
	ownerURL, svcURL := as(owner), as(svc)
	oc, err := pgx.Connect(ctx, ownerURL)
	if err == nil {
		_, err = oc.Exec(ctx, `REVOKE CREATE ON SCHEMA public FROM PUBLIC`)
		oc.Close(ctx)
	}
	if err == nil {
		err = postgres.Migrate(ctx, postgres.MigrateConfig{OwnerDSN: telamentis.NewSecret(ownerURL),
			ServiceRoles: []string{svc}, Logger: logger})
	}
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("postgres: migrate the bench database: %w", err)
	}
	cursorKey := make([]byte, 32)
	rand.Read(cursorKey)
	cfg := postgres.Config{DSN: telamentis.NewSecret(svcURL), OwnerDSN: telamentis.NewSecret(ownerURL),
		CursorKey: telamentis.NewSecret(string(cursorKey)), Logger: logger}
	// Each Import call is a transaction that copies into a temporary
	// table, checks its edges' endpoints and moves the rows: larger calls
	// spread that over more rows, for more of the loader's memory at its
	// peak (docs/perf-log/postgres-rounds.md, round 5).
	return &backend{
		engine: "telamentis-postgres",
		batch:  50000,
		notes: []string{fmt.Sprintf("TelaMentis postgres store (pgx, row-level security, service role) on %s, fresh database %s; "+
			"server in its default configuration", u.Host, dbName)},
		open: func(ctx context.Context) (telamentis.Store, error) {
			return postgres.Open(ctx, cfg)
		},
		cleanup: cleanup,
	}, nil
}
