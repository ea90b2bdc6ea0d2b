// Command telamentis is the TelaMentis server: `telamentis serve` runs the
// REST API on the embedded store (or on PostgreSQL, store.go), creating a
// system admin API key on first start; `telamentis migrate` applies the
// PostgreSQL schema migrations.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/audit"
	"github.com/telamentis/telamentis/auth"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/httpapi"
	"github.com/telamentis/telamentis/memlimit"
	"github.com/telamentis/telamentis/metrics"
	"github.com/telamentis/telamentis/pipeline"
	pipeaudit "github.com/telamentis/telamentis/pipeline/audit"
	"github.com/telamentis/telamentis/pipeline/ratelimit"
	"github.com/telamentis/telamentis/pipeline/tenantguard"
	"github.com/telamentis/telamentis/secrets"
	"github.com/telamentis/telamentis/transport"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// BootstrapKeyFileEnv names a file holding the first system admin API key
// (tm_<id>_<secret>); without it the server creates one and prints it.
const BootstrapKeyFileEnv = "TELAMENTIS_BOOTSTRAP_ADMIN_KEY_FILE"

func main() {
	privateUmask()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "telamentis:", err)
		os.Exit(1)
	}
}

// run is main without the process: tests call it with their own context,
// arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:           "telamentis",
		Short:         "TelaMentis: multi-tenant bitemporal knowledge-graph memory",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)

	var cfg Config
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the REST API server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd.Flags(), getenv)
			if err != nil {
				return err
			}
			return serveCmd(cmd.Context(), c, getenv, stderr, nil)
		},
	}
	cfg = DefaultConfig()
	registerFlags(serve.Flags(), &cfg)

	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print the effective settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd.Flags(), getenv)
			if err != nil {
				return err
			}
			for _, s := range settings(&c) {
				fmt.Fprintf(stdout, "%s: %v\n", s.name, redactSetting(s.name, derefSetting(s.ptr)))
			}
			// Secrets are checked as serve would load them, then shown
			// only as set or unset.
			if _, err := secrets.NewReloader(secretLoader(c, getenv), slog.New(slog.DiscardHandler), secretSpecs()...); err != nil {
				return fmt.Errorf("config: %w", err)
			}
			if getenv(MasterKeyEnv) != "" || getenv(MasterKeyEnv+"_FILE") != "" {
				if _, err := secretLoader(c, getenv).Load(secrets.Spec{Name: MasterKeyEnv, MinLen: 32}); err != nil {
					return fmt.Errorf("config: %w", err)
				}
			}
			if err := checkStore(c, getenv); err != nil {
				return err
			}
			ml, _ := memlimit.Parse(c.MemoryLimit) // validated by loadConfig
			mr, err := memlimit.Resolve(ml, memlimit.Env{Getenv: getenv})
			if err != nil {
				return fmt.Errorf("config: %w", err)
			}
			fmt.Fprintln(stdout, "effective", mr)
			for _, l := range secretStatus(getenv) {
				fmt.Fprintln(stdout, l)
			}
			return nil
		},
	}
	registerFlags(check.Flags(), &cfg)
	configCmd := &cobra.Command{Use: "config", Short: "Configuration commands"}
	configCmd.AddCommand(check)

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit log's hash chain; report the first broken sequence number",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd.Flags(), getenv)
			if err != nil {
				return err
			}
			return auditVerify(c, getenv, stdout)
		},
	}
	registerFlags(verify.Flags(), &cfg)
	auditCmd := &cobra.Command{Use: "audit", Short: "Audit log commands"}
	auditCmd.AddCommand(verify)

	root.AddCommand(serve, configCmd, auditCmd, &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, "telamentis", version) },
	})
	root.AddCommand(migrateCommand(getenv, stderr))
	return root.ExecuteContext(ctx)
}

func derefSetting(p any) any {
	switch v := p.(type) {
	case *string:
		return *v
	case *bool:
		return *v
	case *time.Duration:
		return *v
	case *float64:
		return *v
	case *int:
		return *v
	}
	return nil
}

// serveCmd runs the server until ctx ends, then shuts down gracefully:
// the listener closes, in-flight requests get cfg.ShutdownTimeout to
// finish, and the stores close. If ready is not nil it receives the bound
// address once the server accepts connections.
func serveCmd(ctx context.Context, cfg Config, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("serve: log level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	ml, err := memlimit.Parse(cfg.MemoryLimit)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	mr, err := memlimit.Apply(ml, memlimit.Env{Getenv: getenv})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("memory", slog.Int64("limit_bytes", mr.Bytes), slog.String("source", mr.Source))

	// Secrets: from env or *_FILE only, refused when empty, short or a
	// placeholder, re-read on SIGHUP.
	sec, err := secrets.NewReloader(secretLoader(cfg, getenv), logger, secretSpecs()...)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	m := metrics.New()
	sec.Subscribe(func(name string, _ telamentis.Secret) {
		logger.Info("secret reloaded", slog.String("name", name))
		m.Reload("secrets", nil)
	})
	go sec.Run(ctx)
	tc, err := cfg.transportConfig()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	tracing, err := metrics.NewTracing(ctx, metrics.TracingConfig{Enabled: cfg.Security.Tracing.Enabled,
		OTLPEndpoint: cfg.Security.Tracing.OTLPEndpoint, SampleRatio: cfg.Security.Tracing.SampleRatio}, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer tracing.Shutdown(context.WithoutCancel(ctx))

	bcfg := badger.Config{InMemory: cfg.InMemory, NoSync: cfg.NoSync, NameProperty: cfg.Store.NameProperty}
	var master []byte
	if !cfg.InMemory {
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			return fmt.Errorf("serve: data dir: %w", err)
		}
		k, src, err := loadMasterKey(cfg, getenv, filepath.Join(cfg.Data, "dev-master.key"), logger)
		if err != nil {
			return fmt.Errorf("serve: master key: %w", err)
		}
		logger.Info("master key loaded", slog.String("source", src))
		master = k
		bcfg.Dir, bcfg.MasterKey = cfg.Data, k
	}
	store, backend, err := openStore(ctx, cfg, bcfg, getenv, master, logger)
	if err != nil {
		return fmt.Errorf("serve: open store: %w", err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error("store close", slog.String("err", err.Error()))
		} else {
			logger.Info("store closed")
		}
	}()

	keys := auth.NewKeys(store, auth.KeysConfig{CacheTTL: cfg.KeyCacheTTL}, logger)
	defer keys.Close() // before the store closes: pending last-used updates
	if w, ok := store.(keyWatcher); ok {
		// Other replicas' key changes drop this replica's cached copies as
		// they commit.
		wctx, wcancel := context.WithCancel(ctx)
		wdone := make(chan struct{})
		go func() {
			defer close(wdone)
			w.WatchKeys(wctx, keys.Invalidate, keys.InvalidateAll)
		}()
		defer func() {
			wcancel()
			<-wdone
		}()
	}
	authn := auth.Chain{Keys: keys}
	if cfg.OIDC.Issuer != "" {
		jwt, err := auth.NewJWT(auth.JWTConfig{
			Issuer: cfg.OIDC.Issuer, Audience: cfg.OIDC.Audience, JWKSURL: cfg.OIDC.JWKSURL,
			Algorithms: cfg.OIDC.Algorithms, TenantClaim: cfg.OIDC.TenantClaim,
			RoleClaim: cfg.OIDC.RoleClaim, PIIClaim: cfg.OIDC.PIIClaim,
			HMACSecret: sec.Get(OIDCHMACSecretEnv),
		}, logger)
		if err != nil {
			return fmt.Errorf("serve: oidc: %w", err)
		}
		authn.JWT = jwt
	}

	if err := bootstrap(ctx, store, keys, sec.Get(BootstrapKeyEnv), cfg.AdminKeyFile, stderr, logger); err != nil {
		return err
	}

	var auditLog telamentis.AuditLog
	var auditStep telamentis.Step
	var authSuccess func(context.Context, *telamentis.Principal, string, string) error
	if dir := auditDir(cfg); dir != "" {
		key, err := auditKey(cfg, getenv, master)
		if err != nil {
			return fmt.Errorf("serve: audit key: %w", err)
		}
		sink, err := openAuditSink(cfg)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		acfg := audit.Config{Dir: dir, Key: telamentis.NewSecret(string(key))}
		if sink != nil {
			defer sink.Close()
			acfg.Sink = sink
		}
		alog, err := audit.Open(acfg, logger)
		if err != nil {
			return fmt.Errorf("serve: audit log: %w", err)
		}
		defer alog.Close()
		counted := countingAudit{AuditLog: alog, m: m}
		step, err := pipeaudit.New(pipeaudit.Config{Log: counted, HashID: alog.HashID, SkipWrites: true}, logger)
		if err != nil {
			return fmt.Errorf("serve: audit step: %w", err)
		}
		auditStep, auditLog = step, counted
		if cfg.AuditAuthSuccess && cfg.Security.AuditAuthSuccessInterval > 0 {
			authSuccess = audit.NewAuthEvents(counted, cfg.Security.AuditAuthSuccessInterval).Success
		}
	} else {
		logger.Warn("audit log disabled (in-memory store without audit_dir)")
	}
	rcfg := ratelimit.Config{
		Quotas: func(ctx context.Context, tenant string) (telamentis.Quotas, error) {
			t, err := store.GetTenant(ctx, tenant)
			return t.Quotas, err
		},
		Tenant:     ratelimit.Limits{RPS: cfg.RateLimit.TenantRPS},
		Key:        ratelimit.Limits{RPS: cfg.RateLimit.KeyRPS},
		IP:         ratelimit.Limits{RPS: cfg.RateLimit.IPRPS},
		FailedAuth: ratelimit.Limits{RPS: cfg.RateLimit.FailedAuthRPS, Burst: 10},
		Audit:      auditLog,
	}
	if cfg.RedisAddr != "" {
		rcfg.Redis = redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	}
	limiter, err := ratelimit.New(rcfg, logger)
	if err != nil {
		return fmt.Errorf("serve: rate limiter: %w", err)
	}
	defer limiter.Close()
	// The pipeline order: log (and time) everything, refuse cheaply first
	// (rate limits), then scope to the tenant, then audit what runs.
	steps := []telamentis.Step{pipeline.NewLogger(logger), metricsStep{m: m}, limiter, tenantguard.New(store)}
	if auditStep != nil {
		steps = append(steps, auditStep)
	}
	steps = append(steps, metricsStep{m: m, store: true, backend: backend})
	chain, err := pipeline.New(logger, steps...)
	if err != nil {
		return fmt.Errorf("serve: pipeline: %w", err)
	}
	extractor, err := newExtractor(ctx, cfg.LLM, secretLoader(cfg, getenv), getenv, store, auditLog, m.Registry(), logger)
	if err != nil {
		return fmt.Errorf("serve: llm: %w", err)
	}

	api, err := httpapi.New(httpapi.Config{
		Store: store, Auth: authn, Keys: keys, Pipeline: chain,
		Audit: auditLog, AuditAuthSuccess: cfg.AuditAuthSuccess, AuthSuccess: authSuccess,
		PIIKey: derive(master, "telamentis/pii-pseudonym/v1"), Logger: logger, Version: version,
		AuthGuard: limiter,
		Extractor: extractor, OnRequest: onRequest(m),
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	tc.OnCertReload = func(err error) { m.Reload("tls", err) }
	srv, err := transport.New(tc, tracing.Middleware(api, nil), logger) // refuses plaintext off loopback
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	adminAddr, adminDone, err := startAdmin(actx, cfg, m, sec, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if adminAddr != nil {
		logger.Info("admin listening", slog.String("admin_addr", adminAddr.String()))
	}
	addr, err := srv.Listen()
	if err != nil {
		return fmt.Errorf("serve: %w", listenError("listen", cfg.Listen, err))
	}
	logger.Info("pipeline", slog.String("version", version), slog.Any("steps", chain.Steps()))
	if ready != nil {
		ready <- addr.String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	if err := <-errc; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	acancel()
	if adminDone != nil {
		<-adminDone
	}
	logger.Info("server stopped")
	return nil
}

// auditDir is where the audit log lives: apart from the data directory.
func auditDir(cfg Config) string {
	if cfg.AuditDir != "" {
		return cfg.AuditDir
	}
	if cfg.InMemory {
		return ""
	}
	return filepath.Clean(cfg.Data) + "-audit"
}

// derive returns a purpose-bound 32-byte key from the master key, or a
// random one when there is no master key (in-memory mode).
func derive(master []byte, purpose string) []byte {
	if len(master) == 0 {
		k := make([]byte, 32)
		rand.Read(k)
		return k
	}
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// bootstrap creates the first system admin key when the key store is
// empty: the token of TELAMENTIS_BOOTSTRAP_ADMIN_KEY(_FILE) if set, else a
// new key written to keyFile (--admin-key-file) or printed once to stderr.
func bootstrap(ctx context.Context, store telamentis.KeyStore, keys *auth.Keys, token telamentis.Secret, keyFile string, stderr io.Writer, logger *slog.Logger) error {
	n, err := store.CountKeys(ctx)
	if err != nil {
		return fmt.Errorf("serve: bootstrap: %w", err)
	}
	if n > 0 {
		return nil
	}
	if !token.IsZero() {
		id, err := importBootstrapKey(ctx, keys, token)
		if err != nil {
			return fmt.Errorf("serve: bootstrap: %w", err)
		}
		logger.Info("bootstrap admin key imported", slog.String("key_id", id))
		return nil
	}
	return createBootstrapKey(ctx, keys, keyFile, stderr, logger)
}
