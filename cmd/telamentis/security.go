package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/audit"
	"github.com/telamentis/telamentis/auth"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/metrics"
	"github.com/telamentis/telamentis/pipeline/ratelimit"
	"github.com/telamentis/telamentis/secrets"
	"github.com/telamentis/telamentis/transport"
)

// SecurityConfig holds the transport, admin-listener, secret-file and
// tracing settings (docs/security/transport.md). Its keys sit at the top
// level of the config file.
type SecurityConfig struct {
	// TLSCertFile and TLSKeyFile enable TLS (1.2+); both files are re-read
	// when they change and on SIGHUP.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// ClientCAFile and ClientAuth (none, optional, required) configure
	// client certificates (mTLS).
	ClientCAFile string `yaml:"client_ca_file"`
	ClientAuth   string `yaml:"client_auth"`
	// BehindProxy allows plaintext off loopback and believes
	// X-Forwarded-For, only from TrustedProxies (comma-separated CIDRs).
	BehindProxy    bool   `yaml:"behind_proxy"`
	TrustedProxies string `yaml:"trusted_proxies"`
	// CORSOrigins lists exact browser origins (comma-separated); empty
	// sends no CORS headers.
	CORSOrigins string `yaml:"cors_origins"`
	// MaxConns caps open connections of the API listener (0 = no cap).
	MaxConns int `yaml:"max_conns"`
	// Timeouts against slow clients.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	// AdminListen is the admin listener (/metrics, pprof): loopback by
	// default; anywhere else needs TELAMENTIS_ADMIN_TOKEN(_FILE). "off"
	// disables it.
	AdminListen string `yaml:"admin_listen"`
	// SecretFilesGroupReadable admits *_FILE secrets with group read
	// (Kubernetes secret volumes with fsGroup are 0440).
	SecretFilesGroupReadable bool `yaml:"secret_files_group_readable"`
	// Tracing configures OpenTelemetry tracing (off by default).
	Tracing TracingConfig `yaml:"tracing"`
	// AuditAuthSuccessInterval throttles audit_auth_success: one record per
	// actor and client IP per interval (0 = a record per request).
	AuditAuthSuccessInterval time.Duration `yaml:"audit_auth_success_interval"`
	// AuditSinkFile, if set, receives a copy of every audit record as a
	// JSON line once it is durable (for a SIEM shipper); created 0600.
	AuditSinkFile string `yaml:"audit_sink_file"`
}

// TracingConfig configures OpenTelemetry tracing.
type TracingConfig struct {
	Enabled      bool    `yaml:"enabled"`
	OTLPEndpoint string  `yaml:"otlp_endpoint"`
	SampleRatio  float64 `yaml:"sample_ratio"`
}

func defaultSecurity() SecurityConfig {
	d := transport.Defaults()
	return SecurityConfig{
		ClientAuth:        string(transport.ClientAuthNone),
		MaxConns:          d.MaxConns,
		ReadHeaderTimeout: d.ReadHeaderTimeout,
		ReadTimeout:       d.ReadTimeout,
		WriteTimeout:      d.WriteTimeout,
		IdleTimeout:       d.IdleTimeout,
		AdminListen:       metrics.AdminDefaults().Addr,
		Tracing:           TracingConfig{SampleRatio: 0.1},

		AuditAuthSuccessInterval: time.Minute,
	}
}

func securitySettings(c *SecurityConfig) []setting {
	return []setting{
		{"tls-cert-file", "TLS certificate file (PEM); enables TLS", &c.TLSCertFile},
		{"tls-key-file", "TLS private key file (PEM)", &c.TLSKeyFile},
		{"client-ca-file", "CA bundle verifying client certificates (mTLS)", &c.ClientCAFile},
		{"client-auth", "client certificates: none, optional, required", &c.ClientAuth},
		{"behind-proxy", "a TLS-terminating proxy sits in front (allows plaintext off loopback)", &c.BehindProxy},
		{"trusted-proxies", "comma-separated proxy CIDRs whose X-Forwarded-For is believed", &c.TrustedProxies},
		{"cors-origins", "comma-separated browser origins allowed (empty: no CORS)", &c.CORSOrigins},
		{"max-conns", "maximum open API connections (0 = no cap)", &c.MaxConns},
		{"read-header-timeout", "time a client has to send the request headers", &c.ReadHeaderTimeout},
		{"read-timeout", "time a client has to send the whole request", &c.ReadTimeout},
		{"write-timeout", "time to write the whole response", &c.WriteTimeout},
		{"idle-timeout", "keep-alive idle timeout", &c.IdleTimeout},
		{"admin-listen", "admin listener for /metrics and pprof (off to disable)", &c.AdminListen},
		{"secret-files-group-readable", "accept group-readable *_FILE secrets (k8s fsGroup 0440)", &c.SecretFilesGroupReadable},
		{"tracing-enabled", "export OpenTelemetry traces", &c.Tracing.Enabled},
		{"tracing-otlp-endpoint", "OTLP/HTTP traces URL", &c.Tracing.OTLPEndpoint},
		{"tracing-sample-ratio", "fraction of new traces recorded, (0, 1]", &c.Tracing.SampleRatio},
		{"audit-auth-success-interval", "audit a success once per actor and IP per interval (0 = every request)", &c.AuditAuthSuccessInterval},
		{"audit-sink-file", "append a JSON-lines copy of the audit log here (SIEM)", &c.AuditSinkFile},
	}
}

// transportConfig builds the API listener's transport config.
func (c *Config) transportConfig() (transport.Config, error) {
	s := c.Security
	tc := transport.Defaults()
	tc.Addr = c.Listen
	tc.TLSCertFile, tc.TLSKeyFile = s.TLSCertFile, s.TLSKeyFile
	tc.ClientCAFile, tc.ClientAuth = s.ClientCAFile, transport.ClientAuth(s.ClientAuth)
	tc.BehindProxy = s.BehindProxy
	var err error
	if tc.TrustedProxies, err = transport.ParsePrefixes(s.TrustedProxies); err != nil {
		return tc, fmt.Errorf("config: trusted_proxies: %w", err)
	}
	if s.CORSOrigins != "" {
		for _, o := range strings.Split(s.CORSOrigins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				tc.CORSOrigins = append(tc.CORSOrigins, o)
			}
		}
	}
	tc.MaxConns = s.MaxConns
	tc.ReadHeaderTimeout, tc.ReadTimeout = s.ReadHeaderTimeout, s.ReadTimeout
	tc.WriteTimeout, tc.IdleTimeout = s.WriteTimeout, s.IdleTimeout
	tc.ShutdownTimeout = c.ShutdownTimeout
	if err := tc.Validate(); err != nil {
		return tc, fmt.Errorf("config: transport: %w", err)
	}
	return tc, nil
}

// validateSecurity checks the security settings.
func (c *Config) validateSecurity() error {
	s := c.Security
	if s.AuditAuthSuccessInterval < 0 {
		return errors.New("config: audit_auth_success_interval: must not be negative")
	}
	if s.MaxConns < 0 {
		return errors.New("config: max_conns: must not be negative")
	}
	for name, d := range map[string]time.Duration{"read_header_timeout": s.ReadHeaderTimeout,
		"read_timeout": s.ReadTimeout, "write_timeout": s.WriteTimeout, "idle_timeout": s.IdleTimeout} {
		if d <= 0 {
			return fmt.Errorf("config: %s: must be positive", name)
		}
	}
	if _, err := c.transportConfig(); err != nil {
		return err
	}
	if s.AdminListen != "off" {
		if _, _, err := net.SplitHostPort(s.AdminListen); err != nil {
			return fmt.Errorf("config: admin_listen: %q is not host:port or off", s.AdminListen)
		}
		if s.AdminListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			return errors.New("config: admin_listen: must differ from listen")
		}
	}
	if s.Tracing.Enabled {
		if s.Tracing.OTLPEndpoint == "" {
			return errors.New("config: tracing.otlp_endpoint: required with tracing.enabled")
		}
		if s.Tracing.SampleRatio <= 0 || s.Tracing.SampleRatio > 1 {
			return errors.New("config: tracing.sample_ratio: must be in (0, 1]")
		}
	}
	return nil
}

// Secret names. Each is read from the variable or from the file named by
// the variable plus _FILE, never from the config file or flags.
const (
	MasterKeyEnv      = badger.MasterKeyEnv // 32 bytes, hex or base64
	AdminTokenEnv     = "TELAMENTIS_ADMIN_TOKEN"
	OIDCHMACSecretEnv = "TELAMENTIS_OIDC_HMAC_SECRET"
	BootstrapKeyEnv   = "TELAMENTIS_BOOTSTRAP_ADMIN_KEY" // its _FILE is BootstrapKeyFileEnv
	// RedisPasswordEnv is the password of redis_addr (Redis AUTH), read
	// once at start.
	RedisPasswordEnv = "TELAMENTIS_REDIS_PASSWORD"
)

// secretSpecs are the secrets held by the reloader (re-read on SIGHUP).
// The master key is read once at start: the store's data keys are
// encrypted under it, so a new one needs a restart (and a re-key).
func secretSpecs() []secrets.Spec {
	return []secrets.Spec{
		{Name: AdminTokenEnv, MinLen: 32, Optional: true},
		{Name: OIDCHMACSecretEnv, MinLen: 32, Optional: true},
		{Name: BootstrapKeyEnv, MinLen: 32, Optional: true},
	}
}

func secretLoader(cfg Config, getenv func(string) string) secrets.Loader {
	return secrets.Loader{
		LookupEnv:          func(k string) (string, bool) { v := getenv(k); return v, v != "" },
		AllowGroupReadable: cfg.Security.SecretFilesGroupReadable,
	}
}

// loadMasterKey reads the master key through the secrets loader (so a
// group-readable Kubernetes secret file is accepted when configured, and
// placeholders are refused); without either variable it falls back to
// badger's development key file beside the data.
func loadMasterKey(cfg Config, getenv func(string) string, devFile string, logger *slog.Logger) ([]byte, string, error) {
	if getenv(MasterKeyEnv) == "" && getenv(MasterKeyEnv+"_FILE") == "" {
		return badger.LoadMasterKey(func(string) string { return "" }, devFile, logger)
	}
	s, err := secretLoader(cfg, getenv).Load(secrets.Spec{Name: MasterKeyEnv, MinLen: 32})
	if err != nil {
		return nil, "", err
	}
	k, err := badger.ParseMasterKey(s.Reveal())
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", MasterKeyEnv, err)
	}
	src := "env " + MasterKeyEnv
	if getenv(MasterKeyEnv) == "" {
		src = "file " + MasterKeyEnv + "_FILE"
	}
	return k, src, nil
}

// secretStatus lists, for `config check`, which secrets are set and
// where from, never their values.
func secretStatus(getenv func(string) string) []string {
	var out []string
	for _, n := range []string{MasterKeyEnv, AuditKeyEnv, AdminTokenEnv, OIDCHMACSecretEnv, BootstrapKeyEnv, StoreEnv, OwnerDSNEnv, CursorKeyEnv, RedisPasswordEnv} {
		switch {
		case getenv(n) != "":
			out = append(out, fmt.Sprintf("secret %s: [redacted] (env)", n))
		case getenv(n+"_FILE") != "":
			out = append(out, fmt.Sprintf("secret %s: [redacted] (file %s)", n, getenv(n+"_FILE")))
		default:
			out = append(out, fmt.Sprintf("secret %s: unset", n))
		}
	}
	return out
}

// metricsStep feeds operation metrics from the pipeline. As the first step
// it counts every operation's outcome, rate-limit refusals and quota trips;
// as the last (store) it times the store work.
type metricsStep struct {
	m       *metrics.Metrics
	store   bool
	backend string
}

func (s metricsStep) ID() string {
	if s.store {
		return "telamentis.metrics.store"
	}
	return "telamentis.metrics"
}

func (s metricsStep) Handle(ctx context.Context, op *telamentis.Operation, next telamentis.Handler) error {
	if s.store {
		start := time.Now()
		err := next(ctx, op)
		s.m.StoreCall(s.backend, op.Name, time.Since(start), err)
		return err
	}
	err := next(ctx, op)
	s.m.GraphOp(op.Name, op.Tenant, err)
	var le *ratelimit.LimitError
	switch {
	case errors.As(err, &le):
		s.m.RateLimited(le.Scope, op.Tenant)
	case telamentis.ErrorCode(err) == telamentis.CodeQuota:
		resource := "nodes"
		if strings.HasPrefix(op.Name, "edge") {
			resource = "edges"
		}
		s.m.QuotaExceeded(resource, op.Tenant)
	}
	return err
}

// countingAudit counts audit writes and failures.
type countingAudit struct {
	telamentis.AuditLog
	m *metrics.Metrics
}

func (a countingAudit) Append(ctx context.Context, rec telamentis.AuditRecord) error {
	err := a.AuditLog.Append(ctx, rec)
	a.m.AuditWrite(err)
	return err
}

// Ready passes the log's readiness (audit.Log.Ready) on to /readyz.
func (a countingAudit) Ready(ctx context.Context) error {
	if r, ok := a.AuditLog.(interface{ Ready(context.Context) error }); ok {
		return r.Ready(ctx)
	}
	return nil
}

// onRequest is httpapi's request hook: request metrics by route pattern,
// the span name, and authentication failures (every failure is a 401).
func onRequest(m *metrics.Metrics) func(ctx context.Context, route, method, tenant string, status int, d time.Duration) {
	return func(ctx context.Context, route, method, tenant string, status int, d time.Duration) {
		m.ObserveRequest(route, method, status, tenant, d)
		if route != "" {
			metrics.NameSpan(ctx, route)
		}
		if status == http.StatusUnauthorized {
			m.AuthFailure("http", "rejected")
		}
	}
}

// startAdmin serves /metrics and pprof on the admin listener until ctx
// ends. It returns the bound address.
func startAdmin(ctx context.Context, cfg Config, m *metrics.Metrics, sec *secrets.Reloader, logger *slog.Logger) (net.Addr, <-chan error, error) {
	if cfg.Security.AdminListen == "off" {
		return nil, nil, nil
	}
	ac := metrics.AdminConfig{Addr: cfg.Security.AdminListen, Pprof: true}
	if !sec.Get(AdminTokenEnv).IsZero() {
		ac.TokenSource = func() telamentis.Secret { return sec.Get(AdminTokenEnv) }
	}
	ah, err := metrics.NewAdminHandler(m, ac)
	if err != nil {
		return nil, nil, err
	}
	tc := transport.Defaults()
	tc.Addr = cfg.Security.AdminListen
	tc.TLSCertFile, tc.TLSKeyFile = cfg.Security.TLSCertFile, cfg.Security.TLSKeyFile
	tc.MaxConns = 64
	tc.ShutdownTimeout = cfg.ShutdownTimeout
	tc.OnCertReload = func(err error) { m.Reload("tls", err) }
	srv, err := transport.New(tc, ah, logger.With(slog.String("listener", "admin")))
	if err != nil {
		return nil, nil, fmt.Errorf("admin: %w", err)
	}
	addr, err := srv.Listen()
	if err != nil {
		return nil, nil, listenError("admin-listen", cfg.Security.AdminListen, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	return addr, done, nil
}

// importBootstrapKey stores the bootstrap admin key through auth.Keys,
// which owns the digest scheme.
func importBootstrapKey(ctx context.Context, keys *auth.Keys, token telamentis.Secret) (string, error) {
	if !auth.IsAPIKey(token.Reveal()) {
		return "", fmt.Errorf("bootstrap admin key (%s): not an API key token (tm_<id>_<secret>)", BootstrapKeyFileEnv)
	}
	k, err := keys.ImportKey(ctx, token, telamentis.NewKey{Role: telamentis.RoleAdmin, Name: "bootstrap admin"})
	if err != nil {
		return "", fmt.Errorf("bootstrap admin key: %w", err)
	}
	return k.ID, nil
}

// openAuditSink opens the SIEM copy of the audit log, or returns nil.
func openAuditSink(cfg Config) (*os.File, error) {
	if cfg.Security.AuditSinkFile == "" {
		return nil, nil
	}
	f, err := os.OpenFile(cfg.Security.AuditSinkFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit sink: %w", err)
	}
	return f, nil
}

// AuditKeyEnv optionally holds the audit chain's HMAC key (at least 32
// bytes). Without it the key is derived from the master key; an in-memory
// server without either gets a random key and its log cannot be verified
// after it stops.
const AuditKeyEnv = "TELAMENTIS_AUDIT_HMAC_KEY"

// auditKey returns the audit chain key: AuditKeyEnv(_FILE) if set, else a
// key derived from master (random without one). It is read once: a new key
// would break the chain, so it changes only with a restart.
func auditKey(cfg Config, getenv func(string) string, master []byte) ([]byte, error) {
	if getenv(AuditKeyEnv) == "" && getenv(AuditKeyEnv+"_FILE") == "" {
		return derive(master, "telamentis/audit-chain/v1"), nil
	}
	s, err := secretLoader(cfg, getenv).Load(secrets.Spec{Name: AuditKeyEnv, MinLen: 32})
	if err != nil {
		return nil, err
	}
	return []byte(s.Reveal()), nil
}

// auditVerify checks the audit log's hash chain on disk and reports the
// first broken sequence number. It needs the same key as the server.
func auditVerify(cfg Config, getenv func(string) string, stdout io.Writer, logger *slog.Logger) error {
	dir := auditDir(cfg)
	if dir == "" {
		return errors.New("audit verify: no audit directory (set --audit-dir or --data)")
	}
	var master []byte
	if getenv(AuditKeyEnv) == "" && getenv(AuditKeyEnv+"_FILE") == "" {
		if cfg.InMemory {
			return fmt.Errorf("audit verify: an in-memory server's audit key is random; set %s", AuditKeyEnv)
		}
		dev := filepath.Join(cfg.Data, "dev-master.key")
		if getenv(MasterKeyEnv) == "" && getenv(MasterKeyEnv+"_FILE") == "" {
			if _, err := os.Stat(dev); err != nil {
				return fmt.Errorf("audit verify: no master key: set %s(_FILE) or %s(_FILE)", MasterKeyEnv, AuditKeyEnv)
			}
		}
		k, _, err := loadMasterKey(cfg, getenv, dev, logger)
		if err != nil {
			return fmt.Errorf("audit verify: master key: %w", err)
		}
		master = k
	}
	key, err := auditKey(cfg, getenv, master)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	f, err := os.Open(filepath.Join(dir, audit.FileName))
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	defer f.Close()
	res, err := audit.Verify(f, key)
	if err != nil {
		var ce *audit.ChainError
		if errors.As(err, &ce) {
			fmt.Fprintf(stdout, "BROKEN at seq %d: %s\n", ce.Seq, ce.Reason)
		}
		return fmt.Errorf("audit verify: %w", err)
	}
	fmt.Fprintf(stdout, "ok: %d records, last seq %d, head %s\n", res.Records, res.LastSeq, res.LastHash)
	return nil
}
