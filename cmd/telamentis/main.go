// Command telamentis is the TelaMentis server: `telamentis serve` runs the
// REST API on the embedded store, creating a system admin API key on first
// start.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/audit"
	"github.com/telamentis/telamentis/auth"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/httpapi"
	"github.com/telamentis/telamentis/pipeline"
	pipeaudit "github.com/telamentis/telamentis/pipeline/audit"
	"github.com/telamentis/telamentis/pipeline/ratelimit"
	"github.com/telamentis/telamentis/pipeline/tenantguard"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// BootstrapKeyFileEnv names a file holding the first system admin API key
// (tm_<id>_<secret>); without it the server creates one and prints it.
const BootstrapKeyFileEnv = "TELAMENTIS_BOOTSTRAP_ADMIN_KEY_FILE"

func main() {
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
				fmt.Fprintf(stdout, "%s: %v\n", s.name, derefSetting(s.ptr))
			}
			return nil
		},
	}
	registerFlags(check.Flags(), &cfg)
	configCmd := &cobra.Command{Use: "config", Short: "Configuration commands"}
	configCmd.AddCommand(check)

	root.AddCommand(serve, configCmd, &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, "telamentis", version) },
	})
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

	bcfg := badger.Config{InMemory: cfg.InMemory, NoSync: cfg.NoSync}
	var master []byte
	if !cfg.InMemory {
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			return fmt.Errorf("serve: data dir: %w", err)
		}
		k, src, err := badger.LoadMasterKey(getenv, filepath.Join(cfg.Data, "dev-master.key"), logger)
		if err != nil {
			return fmt.Errorf("serve: master key: %w", err)
		}
		logger.Info("master key loaded", slog.String("source", src))
		master = k
		bcfg.Dir, bcfg.MasterKey = cfg.Data, k
	}
	store, err := badger.Open(bcfg, logger)
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

	keys := auth.NewKeys(store, auth.KeysConfig{}, logger)
	authn := auth.Chain{Keys: keys}
	if cfg.OIDC.Issuer != "" {
		jwt, err := auth.NewJWT(auth.JWTConfig{
			Issuer: cfg.OIDC.Issuer, Audience: cfg.OIDC.Audience, JWKSURL: cfg.OIDC.JWKSURL,
			Algorithms: cfg.OIDC.Algorithms, TenantClaim: cfg.OIDC.TenantClaim,
			RoleClaim: cfg.OIDC.RoleClaim, PIIClaim: cfg.OIDC.PIIClaim,
		}, logger)
		if err != nil {
			return fmt.Errorf("serve: oidc: %w", err)
		}
		authn.JWT = jwt
	}

	if err := bootstrap(ctx, store, keys, getenv, stderr, logger); err != nil {
		return err
	}

	var auditLog telamentis.AuditLog
	var auditStep telamentis.Step
	if dir := auditDir(cfg); dir != "" {
		key := derive(master, "telamentis/audit-chain/v1")
		alog, err := audit.Open(audit.Config{Dir: dir, Key: telamentis.NewSecret(string(key))}, logger)
		if err != nil {
			return fmt.Errorf("serve: audit log: %w", err)
		}
		defer alog.Close()
		step, err := pipeaudit.New(pipeaudit.Config{Log: alog, HashID: alog.HashID, SkipWrites: true}, logger)
		if err != nil {
			return fmt.Errorf("serve: audit step: %w", err)
		}
		auditStep, auditLog = step, alog
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
	steps := []telamentis.Step{pipeline.NewLogger(logger), limiter, tenantguard.New(store)}
	if auditStep != nil {
		steps = append(steps, auditStep)
	}
	chain, err := pipeline.New(logger, steps...)
	if err != nil {
		return fmt.Errorf("serve: pipeline: %w", err)
	}
	extractor, err := newExtractor(ctx, cfg.LLM, getenv, store, auditLog, nil, logger)
	if err != nil {
		return fmt.Errorf("serve: llm: %w", err)
	}

	api, err := httpapi.New(httpapi.Config{
		Store: store, Auth: authn, Keys: keys, Pipeline: chain,
		Audit: auditLog, AuditAuthSuccess: cfg.AuditAuthSuccess,
		PIIKey: derive(master, "telamentis/pii-pseudonym/v1"), Logger: logger, Version: version,
		QueryHasCredential: auth.QueryHasCredential, AuthGuard: limiter,
		Extractor: extractor,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("serve: listen: %w", err)
	}
	logger.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("version", version),
		slog.Any("pipeline", chain.Steps()))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
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
// empty: from BootstrapKeyFileEnv if set, else a new key printed once to
// stderr.
func bootstrap(ctx context.Context, store telamentis.KeyStore, keys *auth.Keys, getenv func(string) string, stderr io.Writer, logger *slog.Logger) error {
	n, err := store.CountKeys(ctx)
	if err != nil {
		return fmt.Errorf("serve: bootstrap: %w", err)
	}
	if n > 0 {
		return nil
	}
	if path := getenv(BootstrapKeyFileEnv); path != "" {
		id, err := importKey(ctx, store, path)
		if err != nil {
			return fmt.Errorf("serve: bootstrap: %w", err)
		}
		logger.Info("bootstrap admin key imported", slog.String("key_id", id), slog.String("source", path))
		return nil
	}
	k, secret, err := keys.IssueKey(ctx, telamentis.NewKey{Role: telamentis.RoleAdmin, Name: "bootstrap admin"})
	if err != nil {
		return fmt.Errorf("serve: bootstrap: %w", err)
	}
	logger.Info("bootstrap admin key created", slog.String("key_id", k.ID))
	fmt.Fprintf(stderr, "\nTelaMentis created the first system admin API key. It is shown only this once; store it now:\n\n    %s\n\n", secret.Reveal())
	return nil
}

// importKey stores the admin API key held in path. The file must not be
// readable by group or others. Only the token's SHA-256 digest is stored,
// as auth.Keys does for the keys it issues.
func importKey(ctx context.Context, store telamentis.KeyStore, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("admin key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("admin key file %s: permissions %v allow group or others; chmod 600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin key file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if !auth.IsAPIKey(token) {
		return "", fmt.Errorf("admin key file %s: not an API key token (tm_<id>_<secret>)", path)
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(token, "tm_"), "_")
	d := sha256.Sum256([]byte(token))
	err = store.CreateKey(ctx, telamentis.APIKey{ID: id, Role: telamentis.RoleAdmin, Name: "bootstrap admin",
		Hash: d[:], CreatedAt: time.Now().UTC()})
	if err != nil {
		return "", fmt.Errorf("admin key file: %w", err)
	}
	return id, nil
}
