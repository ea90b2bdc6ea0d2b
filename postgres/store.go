package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/telamentis/telamentis"
)

// Config configures Open.
type Config struct {
	// DSN connects as the service role: no superuser, no BYPASSRLS, owning
	// no table. A URL or keyword/value string as libpq accepts, e.g.
	// postgres://telamentis@db:5432/telamentis?sslmode=verify-full&sslrootcert=/etc/telamentis/pg-ca.pem
	DSN telamentis.Secret
	// OwnerDSN, if set, connects as the schema owner. The store uses it only
	// for DDL: creating and dropping dedicated tenants' schemas, and
	// Compact (VACUUM FULL). Without it, creating a dedicated tenant
	// returns CodeUnavailable.
	OwnerDSN telamentis.Secret
	// Schema holds the system tables and the shared tenants' tables;
	// default DefaultSchema.
	Schema string
	// MaxConns bounds the service pool; 0 keeps pgx's default.
	MaxConns int32
	// CursorKey seals page cursors: at least 32 random bytes, the same on
	// every replica. If empty, a random key is generated and cursors do not
	// survive a restart or cross replicas.
	CursorKey telamentis.Secret
	// StatementTimeout bounds every statement of the service connections
	// (a runaway depth-4 walk over hubs, a lock wait); default 30s. A
	// cancelled statement answers CodeUnavailable. It and the store's other
	// settings (idle_in_transaction_session_timeout, jit = off unless the
	// DSN sets jit) are never startup parameters: every transaction sets
	// them locally, and statements outside one get them from the session
	// or, with TransactionPooling, with the statement.
	StatementTimeout time.Duration
	// TransactionPooling says the DSN points at a pooler in transaction
	// mode (PgBouncer pool_mode=transaction), where no session state
	// survives a transaction: statements outside a transaction then carry
	// the settings too (one more short statement in the same round trip),
	// and QueryExecMode defaults to cache_describe.
	TransactionPooling bool
	// QueryExecMode is pgx's query execution mode: cache_statement (named
	// prepared statements, the fastest; the default), cache_describe,
	// describe_exec, exec or simple_protocol. "" keeps the DSN's
	// default_query_exec_mode, or the default; with TransactionPooling,
	// cache_describe unless the DSN names a mode. PgBouncer before 1.21
	// (or without max_prepared_statements) needs one other than
	// cache_statement.
	QueryExecMode string
	// AllowPrivilegedRole lets the service connect as a superuser or a
	// BYPASSRLS role, for development only; row-level security then does
	// not apply, and Open logs an error.
	AllowPrivilegedRole bool
	// Now reads the wall clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// NameProperty is the node property whose string value entity
	// resolution indexes besides aliases (default
	// graph.DefaultNameProperty, "name"). Changing it makes each tenant's
	// next name lookup recompute its keys.
	NameProperty string
}

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool   *servicePool
	owner  *pgxpool.Pool // nil without Config.OwnerDSN
	schema string        // system and shared schema
	role   string        // the service role's name
	codec  *telamentis.CursorCodec
	clock  *telamentis.TxClock
	now    func() time.Time
	log    *slog.Logger
	// nameProp is Config.NameProperty (names.go).
	nameProp string

	mu        sync.RWMutex
	tenants   map[string]string // tenant → schema, a cache of the tenants table
	loose     map[string]bool   // tenants last seen with loose endpoints
	imported  map[string]int64  // table → rows imported since its last ANALYZE
	analyzing map[string]bool   // table → an ANALYZE is running
	settle    *time.Timer       // analyses what imports left once they pause
	closing   bool              // Close has begun: no timer; pending rows are analysed now
	waiting   bool              // Close waits for background work: none may start
	bg        sync.WaitGroup    // background ANALYZEs
}

// Interface guards.
var (
	_ telamentis.Store     = (*Store)(nil)
	_ telamentis.KeyStore  = (*Store)(nil)
	_ telamentis.Importer  = (*Store)(nil)
	_ telamentis.Compactor = (*Store)(nil)
	_ telamentis.Checker   = (*Store)(nil)
)

// Open connects to PostgreSQL as the service role and checks that the
// schema is migrated and that the role cannot bypass row-level security.
// It logs a warning when the connection's server certificate is not
// verified (anything but sslmode=verify-full). The DSN password is never
// logged or returned in an error.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Schema == "" {
		cfg.Schema = DefaultSchema
	}
	if !schemaRe.MatchString(cfg.Schema) {
		return nil, fmt.Errorf("postgres: open: %w", telamentis.Invalid("schema", "must match %s", schemaRe))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	key := []byte(cfg.CursorKey.Reveal())
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
		log.Warn("postgres: no cursor key configured; cursors will not survive a restart or cross replicas")
	} else if len(key) < 32 {
		return nil, fmt.Errorf("postgres: open: %w", telamentis.Invalid("cursor_key", "must be at least 32 bytes"))
	}
	pcfg, err := parseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	if err := setExecMode(pcfg, cfg.QueryExecMode, cfg.TransactionPooling); err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	timeout := cfg.StatementTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	// A DSN may still set jit=on (a startup parameter it chose).
	_, dsnJIT := pcfg.ConnConfig.RuntimeParams["jit"]
	warnTLS(log, cfg.DSN, pcfg)
	pool, err := newServicePool(ctx, pcfg, serviceSettings(timeout, dsnJIT), cfg.TransactionPooling)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", sanitize(err))
	}
	s := &Store{pool: pool, schema: cfg.Schema, codec: telamentis.NewCursorCodec(key),
		clock: telamentis.NewTxClock(now), now: now, log: log, nameProp: cfg.NameProperty, tenants: make(map[string]string), loose: make(map[string]bool), imported: make(map[string]int64), analyzing: make(map[string]bool)}
	var super, bypass bool
	if err := pool.QueryRow(ctx, `SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).
		Scan(&s.role, &super, &bypass); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", sanitize(err))
	}
	if super || bypass {
		if !cfg.AllowPrivilegedRole {
			pool.Close()
			return nil, fmt.Errorf("postgres: open: role %q is a superuser or has BYPASSRLS; connect as the service role (see docs/deploy/postgres.md)", s.role)
		}
		log.Error("postgres: service role bypasses row-level security; development only", "role", s.role)
	}
	var migrated bool
	err = pool.QueryRow(ctx, `SELECT count(*) = 2 FROM `+ident(s.schema)+`.schema_migrations WHERE schema_name = $1 AND name = ANY($2)`,
		s.schema, strings.Split(latestMigration(), ",")).Scan(&migrated)
	if err != nil || !migrated {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: schema %q is not migrated to this version; run telamentis migrate", s.schema)
	}
	if !cfg.OwnerDSN.IsZero() {
		ocfg, err := parseDSN(cfg.OwnerDSN)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: open: owner: %w", err)
		}
		ocfg.MaxConns = 2
		ocfg.MinConns = 0
		if err := setExecMode(ocfg, cfg.QueryExecMode, cfg.TransactionPooling); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: open: owner: %w", err)
		}
		warnTLS(log, cfg.OwnerDSN, ocfg)
		if s.owner, err = pgxpool.NewWithConfig(ctx, ocfg); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: open: owner: %w", sanitize(err))
		}
	}
	log.Info("postgres store open", "host", pcfg.ConnConfig.Host, "database", pcfg.ConnConfig.Database,
		"user", pcfg.ConnConfig.User, "schema", s.schema)
	return s, nil
}

// Close analyses the tables still holding imported rows that no ANALYZE has
// seen (see Import), waits for that and any running ANALYZE, and releases
// the pools. In-flight calls may fail with CodeUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closing = true
	if s.settle != nil {
		s.settle.Stop()
	}
	s.mu.Unlock()
	if s.owner != nil {
		s.analyzePending()
	}
	s.mu.Lock()
	s.waiting = true
	s.mu.Unlock()
	s.bg.Wait()
	s.pool.Close()
	if s.owner != nil {
		s.owner.Close()
	}
	return nil
}

// parseDSN parses a DSN without ever putting it, or a fragment of it, in an
// error: some parse errors quote the input, password included.
func parseDSN(dsn telamentis.Secret) (*pgxpool.Config, error) {
	if dsn.IsZero() {
		return nil, telamentis.Invalid("dsn", "required")
	}
	cfg, err := pgxpool.ParseConfig(dsn.Reveal())
	if err != nil {
		return nil, telamentis.Invalid("dsn", "cannot be parsed (the value is not shown)")
	}
	return cfg, nil
}

var sslmodeRe = regexp.MustCompile(`(?:^|\s)sslmode\s*=\s*'?([a-z-]+)`)

// sslMode returns the sslmode of a DSN (URL or keyword form) or "" if unset.
func sslMode(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			return u.Query().Get("sslmode")
		}
		return ""
	}
	if m := sslmodeRe.FindStringSubmatch(dsn); m != nil {
		return m[1]
	}
	return ""
}

// warnTLS logs a warning unless the connection verifies the server's
// certificate and host name (sslmode=verify-full).
func warnTLS(log *slog.Logger, dsn telamentis.Secret, cfg *pgxpool.Config) {
	mode := sslMode(dsn.Reveal())
	if mode == "" {
		mode = "prefer (default)"
	}
	if mode == "verify-full" && cfg.ConnConfig.TLSConfig != nil {
		return
	}
	log.Warn("postgres: connection is not verified; use sslmode=verify-full with sslrootcert",
		"sslmode", mode, "host", cfg.ConnConfig.Host)
}

// sanitize strips what a connection error may quote of the configuration.
// pgconn errors name host and user, never the password, so they are kept.
func sanitize(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return telamentis.Invalid("dsn", "cannot be parsed (the value is not shown)")
	}
	return err
}

// dedicatedSchema names the schema of a dedicated tenant: a hash of the ID,
// so that any valid tenant ID yields a short, safe identifier.
func (s *Store) dedicatedSchema(tenant string) string {
	h := sha256.Sum256([]byte(tenant))
	return s.schema + "_t_" + hex.EncodeToString(h[:10])
}

// q substitutes the quoted schema for {s} in an SQL template.
func q(schema, sql string) string { return strings.ReplaceAll(sql, "{s}", ident(schema)) }

// sysq substitutes the system schema.
func (s *Store) sysq(sql string) string { return q(s.schema, sql) }

// schemaOf returns the schema holding tenant's graph, or CodeNotFound.
func (s *Store) schemaOf(ctx context.Context, tenant string) (string, error) {
	if !telamentis.ValidTenantID(tenant) {
		return "", telamentis.NotFound("tenant")
	}
	s.mu.RLock()
	sc, ok := s.tenants[tenant]
	s.mu.RUnlock()
	if ok {
		return sc, nil
	}
	return s.refreshSchema(ctx, tenant)
}

// refreshSchema reads tenant's schema from the tenants table.
func (s *Store) refreshSchema(ctx context.Context, tenant string) (string, error) {
	var sc string
	err := s.pool.QueryRow(ctx, s.sysq(`SELECT schema_name FROM {s}.tenants WHERE id = $1`), tenant).Scan(&sc)
	if errors.Is(err, pgx.ErrNoRows) {
		s.mu.Lock()
		delete(s.tenants, tenant)
		s.mu.Unlock()
		return "", telamentis.NotFound("tenant")
	}
	if err != nil {
		return "", mapErr(err)
	}
	s.mu.Lock()
	s.tenants[tenant] = sc
	s.mu.Unlock()
	return sc, nil
}

// forget drops tenant from the schema cache.
func (s *Store) forget(tenant string) {
	s.mu.Lock()
	delete(s.tenants, tenant)
	delete(s.loose, tenant)
	s.mu.Unlock()
}

// mapErr turns driver errors into domain errors: unique violations are
// conflicts, lost connections and cancellations are unavailable, the rest
// internal. Domain errors pass through.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var te *telamentis.Error
	if errors.As(err, &te) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return &telamentis.Error{Code: telamentis.CodeConflict, Message: "conflicts with an existing record", Err: err}
		case pe.Code == "40001" || pe.Code == "40P01":
			return &telamentis.Error{Code: telamentis.CodeConflict, Message: "concurrent update, retry", Err: err}
		case strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57") || strings.HasPrefix(pe.Code, "53"):
			return &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "database unavailable", Err: err}
		}
		return &telamentis.Error{Code: telamentis.CodeInternal, Message: "internal error", Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "request cancelled", Err: err}
	}
	// puddle.ErrClosedPool: pgxpool returns its pool's error as is when
	// the store is closing.
	if pgconn.SafeToRetry(err) || errors.Is(err, pgx.ErrTxClosed) || errors.Is(err, puddle.ErrClosedPool) {
		return &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "database unavailable", Err: err}
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) {
		return &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "database unavailable", Err: err}
	}
	return &telamentis.Error{Code: telamentis.CodeInternal, Message: "internal error", Err: err}
}

// tenantTx runs fn in a transaction scoped to tenant: the first statement
// sets telamentis.tenant for this transaction only (set_config with
// is_local), so the setting ends with the transaction and never leaks to
// the next user of the pooled connection.
func (s *Store) tenantTx(ctx context.Context, tenant string, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('telamentis.tenant', $1, true)`, tenant); err != nil {
			return err
		}
		return fn(tx)
	})
}

// Schema returns the schema of the system tables and shared tenants.
func (s *Store) Schema() string { return s.schema }

// looseHint tells whether tenant was last seen with loose endpoints (see
// Import); reads use it to pick their statement and check it against the
// flag they read.
func (s *Store) looseHint(tenant string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.loose[tenant]
}

func (s *Store) setLooseHint(tenant string, loose bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if loose {
		s.loose[tenant] = true
	} else {
		delete(s.loose, tenant)
	}
}
