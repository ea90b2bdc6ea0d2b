package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"

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

// server is `telamentis serve`, assembled by newServer in named steps.
// Each step keeps what it opened in a field and registers how to release
// it; Close releases everything in the reverse order, so a step may use
// whatever an earlier step opened until its own release has run.
type server struct {
	cfg    Config
	getenv func(string) string
	stderr io.Writer
	logger *slog.Logger

	metrics *metrics.Metrics
	sec     *secrets.Reloader
	tracing *metrics.Tracing
	master  []byte // nil in memory
	store   serverStore
	backend string // "badger" or "postgres", for metrics
	keys    *auth.Keys
	authn   auth.Chain

	auditLog    telamentis.AuditLog // nil without an audit log
	auditStep   telamentis.Step
	authSuccess func(context.Context, *telamentis.Principal, string, string) error
	limiter     *ratelimit.Limiter
	chain       *pipeline.Chain
	api         *httpapi.Server
	http        *transport.Server

	// jobs is cancelled by Close to end the background jobs.
	jobs    context.Context
	stop    context.CancelFunc
	closers []closer
}

// closer is one release step of Close.
type closer struct {
	name string
	fn   func() error
}

// step is one named assembly step of newServer.
type step struct {
	name string
	fn   func(context.Context) error
}

// newServer builds the server in order. On error it releases what the
// steps before opened and returns the error.
func newServer(ctx context.Context, cfg Config, getenv func(string) string, stderr io.Writer) (*server, error) {
	logger, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	s := &server{cfg: cfg, getenv: getenv, stderr: stderr, logger: logger}
	s.jobs, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	for _, st := range []step{
		{"memory limit", s.applyMemoryLimit},
		{"metrics", s.openMetrics},
		{"secrets", s.openSecrets},
		{"tracing", s.openTracing},
		{"store", s.openStore},
		{"auth", s.openAuth},
		{"bootstrap", s.bootstrap},
		{"audit log", s.openAudit},
		{"pipeline", s.openPipeline},
		{"api", s.openAPI},
		{"admin listener", s.openAdmin},
	} {
		if err := st.fn(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// onClose registers a release step for Close.
func (s *server) onClose(name string, fn func() error) {
	s.closers = append(s.closers, closer{name, fn})
}

// goJob runs fn in the background until Close, which cancels its context
// and waits for it to return.
func (s *server) goJob(name string, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(s.jobs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	s.onClose(name, func() error {
		cancel()
		<-done
		return nil
	})
}

// Close releases everything the steps opened, newest first, and logs
// each failure. It is safe to call more than once.
func (s *server) Close() error {
	s.stop()
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		c := s.closers[i]
		if err := c.fn(); err != nil {
			s.logger.Error("close", slog.String("op", c.name), slog.String("err", err.Error()))
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}

// applyMemoryLimit sets the Go runtime's soft memory limit.
func (s *server) applyMemoryLimit(context.Context) error {
	ml, err := memlimit.Parse(s.cfg.MemoryLimit)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	mr, err := memlimit.Apply(ml, memlimit.Env{Getenv: s.getenv})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	s.logger.Info("memory", slog.Int64("limit_bytes", mr.Bytes), slog.String("source", mr.Source))
	return nil
}

// openMetrics creates the registry and publishes the build.
func (s *server) openMetrics(context.Context) error {
	s.metrics = metrics.New()
	s.metrics.SetBuildInfo(version, revision)
	return nil
}

// openSecrets loads the reloadable secrets (env or *_FILE only; empty,
// short and placeholder values are refused) and re-reads them on SIGHUP.
func (s *server) openSecrets(context.Context) error {
	sec, err := secrets.NewReloader(secretLoader(s.cfg, s.getenv), s.logger, secretSpecs()...)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	s.sec = sec
	sec.Subscribe(func(name string, _ telamentis.Secret) {
		s.logger.Info("secret reloaded", slog.String("name", name))
		s.metrics.Reload("secrets", nil)
	})
	s.goJob("secret reloader", sec.Run)
	return nil
}

// openTracing starts OpenTelemetry tracing when configured.
func (s *server) openTracing(ctx context.Context) error {
	t := s.cfg.Security.Tracing
	tracing, err := metrics.NewTracing(ctx, metrics.TracingConfig{Enabled: t.Enabled,
		OTLPEndpoint: t.OTLPEndpoint, SampleRatio: t.SampleRatio}, s.logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	s.tracing = tracing
	s.onClose("tracing", func() error {
		// Spans that cannot be flushed are lost, not a failed shutdown.
		if err := tracing.Shutdown(context.WithoutCancel(ctx)); err != nil {
			s.logger.Warn("tracing shutdown", slog.String("err", err.Error()))
		}
		return nil
	})
	return nil
}

// openStore loads the master key (beside the data unless in memory) and
// opens the configured store; its own metrics join the registry.
func (s *server) openStore(ctx context.Context) error {
	bcfg := badger.Config{InMemory: s.cfg.InMemory, NoSync: s.cfg.NoSync, NameProperty: s.cfg.Store.NameProperty}
	if !s.cfg.InMemory {
		if err := os.MkdirAll(s.cfg.Data, 0o700); err != nil {
			return fmt.Errorf("serve: data dir: %w", err)
		}
		k, src, err := loadMasterKey(s.cfg, s.getenv, filepath.Join(s.cfg.Data, "dev-master.key"), s.logger)
		if err != nil {
			return fmt.Errorf("serve: master key: %w", err)
		}
		s.logger.Info("master key loaded", slog.String("source", src))
		s.master = k
		bcfg.Dir, bcfg.MasterKey = s.cfg.Data, k
	}
	store, backend, err := openStore(ctx, s.cfg, bcfg, s.getenv, s.master, s.logger)
	if err != nil {
		return fmt.Errorf("serve: open store: %w", err)
	}
	s.store, s.backend = store, backend
	s.onClose("store", func() error {
		err := store.Close()
		if err == nil {
			s.logger.Info("store closed")
		}
		return err
	})
	if r, ok := store.(telamentis.StoreMetrics); ok {
		s.metrics.WatchStore(backend, r)
	}
	return nil
}

// openAuth sets up API keys (with the key watcher of stores that report
// other replicas' key changes) and, when configured, OIDC tokens.
func (s *server) openAuth(context.Context) error {
	keys := auth.NewKeys(s.store, auth.KeysConfig{CacheTTL: s.cfg.KeyCacheTTL}, s.logger)
	s.keys = keys
	s.onClose("api keys", keys.Close) // before the store closes: pending last-used updates
	if w, ok := s.store.(keyWatcher); ok {
		// Other replicas' key changes drop this replica's cached copies as
		// they commit.
		s.goJob("key watcher", func(ctx context.Context) { w.WatchKeys(ctx, keys.Invalidate, keys.InvalidateAll) })
	}
	s.authn = auth.Chain{Keys: keys}
	o := s.cfg.OIDC
	if o.Issuer == "" {
		return nil
	}
	jwt, err := auth.NewJWT(auth.JWTConfig{
		Issuer: o.Issuer, Audience: o.Audience, JWKSURL: o.JWKSURL,
		Algorithms: o.Algorithms, TenantClaim: o.TenantClaim,
		RoleClaim: o.RoleClaim, PIIClaim: o.PIIClaim,
		HMACSecret: s.sec.Get(OIDCHMACSecretEnv),
	}, s.logger)
	if err != nil {
		return fmt.Errorf("serve: oidc: %w", err)
	}
	s.authn.JWT = jwt
	return nil
}

// bootstrap creates the first system admin key of an empty key store.
func (s *server) bootstrap(ctx context.Context) error {
	return bootstrap(ctx, s.store, s.keys, s.sec.Get(BootstrapKeyEnv), s.cfg.AdminKeyFile, s.stderr, s.logger)
}

// openAudit opens the hash-chained audit log (and its SIEM copy) and the
// pipeline step that writes to it. An in-memory server without audit_dir
// runs without one.
func (s *server) openAudit(context.Context) error {
	dir := auditDir(s.cfg)
	if dir == "" {
		s.logger.Warn("audit log disabled (in-memory store without audit_dir)")
		return nil
	}
	key, err := auditKey(s.cfg, s.getenv, s.master)
	if err != nil {
		return fmt.Errorf("serve: audit key: %w", err)
	}
	sink, err := openAuditSink(s.cfg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	acfg := audit.Config{Dir: dir, Key: telamentis.NewSecret(string(key))}
	if sink != nil {
		s.onClose("audit sink", sink.Close)
		acfg.Sink = sink
	}
	alog, err := audit.Open(acfg, s.logger)
	if err != nil {
		return fmt.Errorf("serve: audit log: %w", err)
	}
	s.onClose("audit log", alog.Close)
	counted := countingAudit{AuditLog: alog, m: s.metrics}
	st, err := pipeaudit.New(pipeaudit.Config{Log: counted, HashID: alog.HashID, SkipWrites: true}, s.logger)
	if err != nil {
		return fmt.Errorf("serve: audit step: %w", err)
	}
	s.auditStep, s.auditLog = st, counted
	if s.cfg.AuditAuthSuccess && s.cfg.Security.AuditAuthSuccessInterval > 0 {
		s.authSuccess = audit.NewAuthEvents(counted, s.cfg.Security.AuditAuthSuccessInterval).Success
	}
	return nil
}

// openPipeline builds the step chain. The order: log (and time)
// everything, refuse cheaply first (rate limits), then scope to the
// tenant, then audit what runs.
func (s *server) openPipeline(context.Context) error {
	rl := s.cfg.RateLimit
	rcfg := ratelimit.Config{
		Quotas: func(ctx context.Context, tenant string) (telamentis.Quotas, error) {
			t, err := s.store.GetTenant(ctx, tenant)
			return t.Quotas, err
		},
		Tenant:     ratelimit.Limits{RPS: rl.TenantRPS},
		Key:        ratelimit.Limits{RPS: rl.KeyRPS},
		IP:         ratelimit.Limits{RPS: rl.IPRPS},
		FailedAuth: ratelimit.Limits{RPS: rl.FailedAuthRPS, Burst: 10},
		Audit:      s.auditLog,
	}
	if s.cfg.RedisAddr != "" {
		client, err := s.openRedis()
		if err != nil {
			return err
		}
		rcfg.Redis = client
	}
	limiter, err := ratelimit.New(rcfg, s.logger)
	if err != nil {
		return fmt.Errorf("serve: rate limiter: %w", err)
	}
	s.limiter = limiter
	s.onClose("rate limiter", limiter.Close)
	steps := []telamentis.Step{pipeline.NewLogger(s.logger), metricsStep{m: s.metrics}, limiter, tenantguard.New(s.store)}
	if s.auditStep != nil {
		steps = append(steps, s.auditStep)
	}
	steps = append(steps, metricsStep{m: s.metrics, store: true, backend: s.backend})
	chain, err := pipeline.New(s.logger, steps...)
	if err != nil {
		return fmt.Errorf("serve: pipeline: %w", err)
	}
	s.chain = chain
	return nil
}

// openRedis connects the shared rate-limit buckets' client, with the
// password of TELAMENTIS_REDIS_PASSWORD(_FILE) if set. go-redis logs only
// through a process-wide logger, which is pointed at this server's.
func (s *server) openRedis() (*redis.Client, error) {
	pw, err := secretLoader(s.cfg, s.getenv).Load(secrets.Spec{Name: RedisPasswordEnv, Optional: true})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	redis.SetLogger(redisLogger{s.logger})
	client := redis.NewClient(&redis.Options{Addr: s.cfg.RedisAddr, Password: pw.Reveal()})
	s.onClose("redis", client.Close)
	return client, nil
}

// openAPI builds the REST handler, the LLM extractor and the API
// listener's transport (which refuses plaintext off loopback).
func (s *server) openAPI(ctx context.Context) error {
	tc, err := s.cfg.transportConfig()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	extractor, err := newExtractor(ctx, s.cfg.LLM, secretLoader(s.cfg, s.getenv), s.getenv, s.store, s.auditLog, s.metrics.Registry(), s.logger)
	if err != nil {
		return fmt.Errorf("serve: llm: %w", err)
	}
	api, err := httpapi.New(httpapi.Config{
		Store: s.store, Auth: s.authn, Keys: s.keys, Pipeline: s.chain,
		Audit: s.auditLog, AuditAuthSuccess: s.cfg.AuditAuthSuccess, AuthSuccess: s.authSuccess,
		PIIKey: derive(s.master, "telamentis/pii-pseudonym/v1"), Logger: s.logger, Version: version,
		AuthGuard: s.limiter,
		Extractor: extractor, OnRequest: onRequest(s.metrics),
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	s.api = api
	tc.OnCertReload = func(err error) { s.metrics.Reload("tls", err) }
	srv, err := transport.New(tc, s.tracing.Middleware(api, nil), s.logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	s.http = srv
	return nil
}

// openAdmin starts the admin listener (/metrics, pprof) unless it is off.
func (s *server) openAdmin(context.Context) error {
	ctx, cancel := context.WithCancel(s.jobs)
	addr, done, err := startAdmin(ctx, s.cfg, s.metrics, s.sec, s.logger)
	if err != nil {
		cancel()
		return fmt.Errorf("serve: %w", err)
	}
	s.onClose("admin listener", func() error {
		cancel()
		if done != nil {
			return <-done
		}
		return nil
	})
	if addr != nil {
		s.logger.Info("admin listening", slog.String("admin_addr", addr.String()))
	}
	return nil
}

// run serves the API until ctx ends, then drains in-flight requests for
// cfg.ShutdownTimeout. If ready is not nil it receives the bound address
// once the server accepts connections.
func (s *server) run(ctx context.Context, ready chan<- string) error {
	addr, err := s.http.Listen()
	if err != nil {
		return fmt.Errorf("serve: %w", listenError("listen", s.cfg.Listen, err))
	}
	s.logger.Info("pipeline", slog.String("version", version), slog.Any("steps", s.chain.Steps()))
	if ready != nil {
		ready <- addr.String()
	}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(ctx) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.logger.Info("shutting down", slog.Duration("timeout", s.cfg.ShutdownTimeout))
	if err := <-errc; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// serveCmd runs the server until ctx ends, then shuts down gracefully:
// the listener closes, in-flight requests get cfg.ShutdownTimeout to
// finish, and everything else closes in reverse order of opening.
func serveCmd(ctx context.Context, cfg Config, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	s, err := newServer(ctx, cfg, getenv, stderr)
	if err != nil {
		return err
	}
	err = s.run(ctx, ready)
	if cerr := s.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("serve: close: %w", cerr)
	}
	if err == nil {
		s.logger.Info("server stopped")
	}
	return err
}

// newLogger is every command's logger: JSON lines on stderr at level.
func newLogger(stderr io.Writer, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lv})), nil
}

// redisLogger passes go-redis's messages to the server's logger.
type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, "redis", slog.String("detail", fmt.Sprintf(format, v...)))
}
