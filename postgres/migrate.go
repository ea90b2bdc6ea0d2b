package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
)

//go:embed migrations
var migrationFS embed.FS

// DefaultSchema is the schema of the system tables and of shared tenants.
const DefaultSchema = "telamentis"

var schemaRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,39}$`)

// MigrateConfig configures Migrate.
type MigrateConfig struct {
	// OwnerDSN connects as the role that owns the schema and its tables.
	// It must not be the role the service connects as.
	OwnerDSN telamentis.Secret
	// ServiceRoles are granted USAGE on the schemas and SELECT, INSERT,
	// UPDATE, DELETE on the tables; nothing else.
	ServiceRoles []string
	// Schema holds the system tables and the shared tenants' tables;
	// default DefaultSchema.
	Schema string
	Logger *slog.Logger
}

// migration is one embedded SQL file.
type migration struct {
	name string // "system/0001_system.sql"
	sql  string
}

func loadMigrations(dir string) ([]migration, error) {
	ents, err := fs.ReadDir(migrationFS, path.Join("migrations", dir))
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{name: dir + "/" + e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	return ms, nil
}

// latestMigration names the last system and the last tenant migration,
// comma-separated; Open requires both to be applied.
func latestMigration() string {
	sys, _ := loadMigrations("system")
	ten, _ := loadMigrations("tenant")
	return sys[len(sys)-1].name + "," + ten[len(ten)-1].name
}

// Migrate applies the embedded schema migrations as the owner role: the
// system tables, the graph tables of the shared schema and of every
// dedicated tenant's schema. It is idempotent and serialised by an advisory
// lock, so replicas may run it concurrently. It refuses to grant to a
// service role that is a superuser or has BYPASSRLS.
func Migrate(ctx context.Context, cfg MigrateConfig) error {
	if cfg.Schema == "" {
		cfg.Schema = DefaultSchema
	}
	if !schemaRe.MatchString(cfg.Schema) {
		return fmt.Errorf("postgres: migrate: %w", telamentis.Invalid("schema", "must match %s", schemaRe))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pcfg, err := parseDSN(cfg.OwnerDSN)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	warnTLS(log, cfg.OwnerDSN, pcfg)
	conn, err := pgx.ConnectConfig(ctx, pcfg.ConnConfig)
	if err != nil {
		return fmt.Errorf("postgres: migrate: connect: %w", sanitize(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, r := range cfg.ServiceRoles {
		var super, bypass bool
		err := conn.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1`, r).Scan(&super, &bypass)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: migrate: service role %q does not exist", r)
		}
		if err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if super || bypass {
			return fmt.Errorf("postgres: migrate: service role %q is a superuser or has BYPASSRLS; row-level security would not apply", r)
		}
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(746561)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+ident(cfg.Schema)); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+ident(cfg.Schema)+`.schema_migrations (
			schema_name text NOT NULL, name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (schema_name, name))`); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if err := applyMigrations(ctx, tx, cfg.Schema, cfg.Schema, "system", log); err != nil {
			return err
		}
		schemas := []string{cfg.Schema}
		rows, err := tx.Query(ctx, `SELECT schema_name FROM `+ident(cfg.Schema)+`.tenants WHERE isolation = 'dedicated' ORDER BY 1`)
		if err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		dedicated, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		schemas = append(schemas, dedicated...)
		for _, s := range schemas {
			if err := applyMigrations(ctx, tx, cfg.Schema, s, "tenant", log); err != nil {
				return err
			}
		}
		var canTemp bool
		if err := tx.QueryRow(ctx, `SELECT has_database_privilege(current_user, current_database(), 'TEMPORARY WITH GRANT OPTION')`).Scan(&canTemp); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		for _, r := range cfg.ServiceRoles {
			// Import copies into a temporary table (COPY cannot write
			// into a table with row-level security).
			if canTemp {
				if _, err := tx.Exec(ctx, `GRANT TEMPORARY ON DATABASE `+ident(dbName(ctx, tx))+` TO `+ident(r)); err != nil {
					return fmt.Errorf("postgres: migrate: %w", err)
				}
			}
			if err := grant(ctx, tx, cfg.Schema, r); err != nil {
				return err
			}
			for _, s := range dedicated {
				if err := grant(ctx, tx, s, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// applyMigrations applies the migrations of dir ("system" or "tenant") to
// schema target, recording them in the ledger of the system schema.
func applyMigrations(ctx context.Context, tx pgx.Tx, system, target, dir string, log *slog.Logger) error {
	ms, err := loadMigrations(dir)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+ident(target)); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, m := range ms {
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+ident(system)+`.schema_migrations WHERE schema_name = $1 AND name = $2)`,
			target, m.name).Scan(&done); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if done {
			continue
		}
		if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{{schema}}", ident(target))); err != nil {
			return fmt.Errorf("postgres: migrate: %s on %s: %w", m.name, target, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+ident(system)+`.schema_migrations (schema_name, name) VALUES ($1, $2)`, target, m.name); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		log.Info("migration applied", "schema", target, "migration", m.name)
	}
	return nil
}

// grant gives role the data privileges on schema's tables, and nothing more:
// no CREATE, no ownership, no TRUNCATE, no REFERENCES, no TRIGGER.
func grant(ctx context.Context, tx pgx.Tx, schema, role string) error {
	for _, s := range []string{
		`GRANT USAGE ON SCHEMA ` + ident(schema) + ` TO ` + ident(role),
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ` + ident(schema) + ` TO ` + ident(role),
		`REVOKE INSERT, UPDATE, DELETE ON ` + ident(schema) + `.schema_migrations FROM ` + ident(role),
	} {
		if strings.Contains(s, "schema_migrations") {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema+".schema_migrations").Scan(&exists); err != nil {
				return fmt.Errorf("postgres: migrate: %w", err)
			}
			if !exists {
				continue
			}
		}
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("postgres: migrate: grant to %s: %w", role, err)
		}
	}
	return nil
}

// ident quotes an SQL identifier.
func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func dbName(ctx context.Context, tx pgx.Tx) string {
	var n string
	tx.QueryRow(ctx, `SELECT current_database()`).Scan(&n)
	return n
}
