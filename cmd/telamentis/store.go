package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/postgres"
	"github.com/telamentis/telamentis/secrets"
)

// Store secrets. Each is read from the variable or from the file named by
// the variable plus _FILE. TELAMENTIS_STORE is also a setting (flag
// --store, config key store), but there only without a password.
const (
	// StoreEnv holds the service role's PostgreSQL DSN.
	StoreEnv = "TELAMENTIS_STORE"
	// OwnerDSNEnv holds the schema owner's DSN: for `telamentis migrate`,
	// and optionally for serve (dedicated tenants, compaction, ANALYZE
	// after imports).
	OwnerDSNEnv = "TELAMENTIS_OWNER_DSN"
	// CursorKeyEnv seals page cursors of the postgres store: 32+ random
	// bytes, the same on every replica. Without it the key is derived from
	// the master key.
	CursorKeyEnv = "TELAMENTIS_CURSOR_KEY"
)

// StoreConfig selects the store. Its keys are top-level in the config file.
type StoreConfig struct {
	// Store is "embedded" (the default, also "") or a postgres:// URL of
	// the service role. A URL with a password belongs in TELAMENTIS_STORE
	// or TELAMENTIS_STORE_FILE, never in a flag or the config file.
	Store string `yaml:"store"`
	// PGSchema is the PostgreSQL schema of the system and shared tables
	// (default telamentis).
	PGSchema string `yaml:"pg_schema"`
	// PGMaxConns bounds the service connection pool (0 = pgx's default).
	PGMaxConns int `yaml:"pg_max_conns"`
	// PGStatementTimeout bounds every statement (0 = the store's 30s).
	PGStatementTimeout time.Duration `yaml:"pg_statement_timeout"`
	// PGTransactionPooling says the store URL points at a pooler in
	// transaction mode (PgBouncer pool_mode=transaction).
	PGTransactionPooling bool `yaml:"pg_transaction_pooling"`
	// PGQueryExecMode is pgx's query execution mode (postgres.Config).
	PGQueryExecMode string `yaml:"pg_query_exec_mode"`
	// NameProperty is the node property entity resolution matches by
	// normalised name, besides aliases (default name; both stores).
	NameProperty string `yaml:"name_property"`
}

func storeSettings(c *StoreConfig) []setting {
	return []setting{
		{"store", "store: embedded, or a postgres:// URL of the service role (password only via TELAMENTIS_STORE(_FILE))", &c.Store},
		{"pg-schema", "PostgreSQL schema of the system and shared tables (default telamentis)", &c.PGSchema},
		{"pg-max-conns", "PostgreSQL service pool size (0 = default)", &c.PGMaxConns},
		{"pg-statement-timeout", "PostgreSQL statement timeout (0 = 30s)", &c.PGStatementTimeout},
		{"pg-transaction-pooling", "the PostgreSQL URL points at a transaction-mode pooler such as PgBouncer", &c.PGTransactionPooling},
		{"pg-query-exec-mode", "pgx query mode: cache_statement (default), cache_describe (default with transaction pooling), describe_exec, exec, simple_protocol", &c.PGQueryExecMode},
		{"name-property", "node property that entity resolution matches by normalised name, besides aliases (default name)", &c.NameProperty},
	}
}

// isEmbedded reports whether the store setting selects the embedded store.
func isEmbedded(s string) bool { return s == "" || s == "embedded" || s == "badger" }

// isPostgresURL reports whether s is a postgres:// or postgresql:// URL.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// validateStore checks the store settings; errors never quote the DSN.
func (c *Config) validateStore() error {
	s := c.Store
	switch {
	case isEmbedded(s.Store):
	case !isPostgresURL(s.Store):
		return errors.New("config: store: must be embedded or a postgres:// URL (the value is not shown)")
	case c.InMemory:
		return errors.New("config: in_memory: not with a postgres store")
	}
	if s.PGMaxConns < 0 || s.PGMaxConns > 10000 {
		return errors.New("config: pg_max_conns: must be in [0, 10000]")
	}
	if s.PGStatementTimeout < 0 {
		return errors.New("config: pg_statement_timeout: must not be negative")
	}
	if err := postgres.CheckQueryExecMode(s.PGQueryExecMode); err != nil {
		return fmt.Errorf("config: pg_query_exec_mode: %w", err)
	}
	if len(s.NameProperty) > 256 || !utf8.ValidString(s.NameProperty) {
		return errors.New("config: name_property: at most 256 bytes of UTF-8 (a props key)")
	}
	return nil
}

// dsnPassword returns the password of a postgres URL, if any.
func dsnPassword(dsn string) (string, bool) {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return "", false
	}
	if pw, ok := u.User.Password(); ok {
		return pw, true
	}
	return "", u.Query().Has("password")
}

// redactDSN shows a DSN with its password replaced, for `config check`.
func redactDSN(dsn string) string {
	if !isPostgresURL(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "[redacted]"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "redacted")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// loadDSN reads a DSN secret: from the variable name or name_FILE, or
// else from flagValue (a flag or the config file), which must then carry
// no password. It returns the zero Secret when nothing is set.
func loadDSN(loader secrets.Loader, getenv func(string) string, name, flagValue string) (telamentis.Secret, error) {
	env, file := getenv(name), getenv(name+"_FILE")
	if env == "" && file == "" || flagValue != "" && flagValue != env {
		if flagValue == "" {
			return telamentis.Secret{}, nil
		}
		if file != "" {
			return telamentis.Secret{}, fmt.Errorf("%s_FILE and a flag or config value are both set; use one", name)
		}
		if !isPostgresURL(flagValue) {
			return telamentis.Secret{}, fmt.Errorf("%s: must be a postgres:// URL (the value is not shown)", name)
		}
		if _, ok := dsnPassword(flagValue); ok {
			return telamentis.Secret{}, fmt.Errorf("%s: a DSN with a password must come from %s or %s_FILE, not a flag or the config file", name, name, name)
		}
		return telamentis.NewSecret(flagValue), nil
	}
	s, err := loader.Load(secrets.Spec{Name: name, MinLen: len("postgres://h")})
	if err != nil {
		return telamentis.Secret{}, err
	}
	if !isPostgresURL(s.Reveal()) {
		return telamentis.Secret{}, fmt.Errorf("%s: must be a postgres:// URL (the value is not shown)", name)
	}
	if pw, ok := dsnPassword(s.Reveal()); ok {
		if err := secrets.CheckValue(pw, 1); err != nil {
			return telamentis.Secret{}, fmt.Errorf("%s: password: %w", name, err)
		}
	}
	return s, nil
}

// serverStore is what the server needs of a store.
type serverStore interface {
	telamentis.Store
	telamentis.KeyStore
	Close() error
}

// keyWatcher is a store that reports key changes made by other replicas
// (postgres.Store.WatchKeys).
type keyWatcher interface {
	WatchKeys(ctx context.Context, changed func(id string), resync func()) error
}

// openStore opens the configured store: badger with bcfg, or PostgreSQL
// with the DSN, owner DSN and cursor key from their secrets. It returns
// the store and the backend name for metrics. Opening PostgreSQL logs a
// warning when the connection's certificate is not verified.
func openStore(ctx context.Context, cfg Config, bcfg badger.Config, getenv func(string) string, master []byte, logger *slog.Logger) (serverStore, string, error) {
	loader := secretLoader(cfg, getenv)
	dsn, err := storeDSN(cfg, getenv, loader)
	if err != nil {
		return nil, "", err
	}
	if dsn.IsZero() {
		s, err := badger.Open(bcfg, logger)
		return s, "badger", err
	}
	owner, err := loadDSN(loader, getenv, OwnerDSNEnv, "")
	if err != nil {
		return nil, "", err
	}
	cursor, err := loader.Load(secrets.Spec{Name: CursorKeyEnv, MinLen: 32, Optional: true})
	if err != nil {
		return nil, "", err
	}
	if getenv(MasterKeyEnv) == "" && getenv(MasterKeyEnv+"_FILE") == "" {
		// The development key file is per data directory, so per replica.
		logger.Warn("postgres: no " + MasterKeyEnv + "(_FILE): PII pseudonyms, the audit key and (without " +
			CursorKeyEnv + ") cursors differ between replicas; give every replica the same master key")
	}
	if cursor.IsZero() && len(master) > 0 {
		cursor = telamentis.NewSecret(string(derive(master, "telamentis/pg-cursor/v1")))
	}
	s, err := postgres.Open(ctx, postgres.Config{
		DSN: dsn, OwnerDSN: owner, CursorKey: cursor, Schema: cfg.Store.PGSchema,
		MaxConns: int32(cfg.Store.PGMaxConns), StatementTimeout: cfg.Store.PGStatementTimeout,
		TransactionPooling: cfg.Store.PGTransactionPooling, QueryExecMode: cfg.Store.PGQueryExecMode,
		NameProperty: cfg.Store.NameProperty, Logger: logger,
	})
	return s, "postgres", err
}

// storeDSN resolves the service DSN: zero for the embedded store.
func storeDSN(cfg Config, getenv func(string) string, loader secrets.Loader) (telamentis.Secret, error) {
	if getenv(StoreEnv+"_FILE") == "" && isEmbedded(cfg.Store.Store) {
		return telamentis.Secret{}, nil
	}
	return loadDSN(loader, getenv, StoreEnv, cfg.Store.Store)
}

// checkStore validates the store secrets for `config check`.
func checkStore(cfg Config, getenv func(string) string) error {
	loader := secretLoader(cfg, getenv)
	if _, err := storeDSN(cfg, getenv, loader); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if _, err := loadDSN(loader, getenv, OwnerDSNEnv, ""); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if _, err := loader.Load(secrets.Spec{Name: CursorKeyEnv, MinLen: 32, Optional: true}); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
