package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v4"

	"github.com/telamentis/telamentis/memlimit"
)

// Config is the server's configuration. Each setting resolves flag, then
// environment (TELAMENTIS_<NAME>), then the config file (--config or
// TELAMENTIS_CONFIG, YAML), then the default. Unknown keys in the file are
// errors. Secrets never live here: the master key comes from
// TELAMENTIS_MASTER_KEY / TELAMENTIS_MASTER_KEY_FILE, the bootstrap admin
// key from TELAMENTIS_BOOTSTRAP_ADMIN_KEY_FILE.
type Config struct {
	// Data is the data directory of the embedded store.
	Data string `yaml:"data"`
	// InMemory keeps everything in memory (demos, tests); Data is unused.
	InMemory bool `yaml:"in_memory"`
	// Listen is the HTTP listen address.
	Listen string `yaml:"listen"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish after SIGTERM/SIGINT.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MemoryLimit is the Go runtime's soft memory limit: auto (GOMEMLIMIT,
	// else 90 % of the container's memory limit, else none), off, or a
	// size such as 1GiB (package memlimit).
	MemoryLimit string `yaml:"memory_limit"`
	// NoSync turns off fsync per commit (benchmarks; never in production).
	NoSync bool `yaml:"no_sync"`
	// AdminKeyFile, if set, is where the first start writes the system
	// admin API key it creates: a new file, mode 0600, never overwritten.
	// Without it the key is printed once to stderr.
	AdminKeyFile string `yaml:"admin_key_file"`
	// AuditDir is the audit log's directory (default <data>/../<data>-audit).
	AuditDir string `yaml:"audit_dir"`
	// AuditAuthSuccess records every successful authentication in the
	// audit log (one durable write per request).
	AuditAuthSuccess bool `yaml:"audit_auth_success"`
	// KeyCacheTTL is how long a verified API key is trusted without reading
	// the store again (default 5s, at most 1m). On PostgreSQL a key change
	// on another replica reaches this one by notification at once; the TTL
	// bounds it only while that listener is down.
	KeyCacheTTL time.Duration `yaml:"key_cache_ttl"`
	// RateLimit sets the request rate limits (0 = unlimited). A tenant's
	// own quotas (requests_per_second, burst, max_concurrent) override
	// TenantRPS for that tenant.
	RateLimit RateLimitConfig `yaml:"rate_limit"`
	// RedisAddr, if set, shares rate-limit buckets between replicas.
	RedisAddr string `yaml:"redis_addr"`
	// OIDC configures JWT bearer tokens; off while Issuer is empty.
	OIDC OIDCConfig `yaml:"oidc"`
	// LLM configures LLM extraction: providers, routing order, prices
	// (llm.go). API keys come only from the environment or *_FILE.
	LLM LLMConfig `yaml:"llm"`
	// Security holds transport, admin listener, secret-file and tracing
	// settings (security.go); its keys are top-level in the file.
	Security SecurityConfig `yaml:",inline"`
	// Store selects the embedded or the PostgreSQL store (store.go); its
	// keys are top-level in the file.
	Store StoreConfig `yaml:",inline"`
}

// RateLimitConfig holds default request rates per second.
type RateLimitConfig struct {
	TenantRPS float64 `yaml:"tenant_rps"`
	KeyRPS    float64 `yaml:"key_rps"`
	IPRPS     float64 `yaml:"ip_rps"`
	// FailedAuthRPS bounds failed authentications per client IP (burst 10).
	FailedAuthRPS float64 `yaml:"failed_auth_rps"`
}

// OIDCConfig configures OIDC/JWT authentication.
type OIDCConfig struct {
	Issuer      string   `yaml:"issuer"`
	Audience    string   `yaml:"audience"`
	JWKSURL     string   `yaml:"jwks_url"`
	Algorithms  []string `yaml:"algorithms"`
	TenantClaim string   `yaml:"tenant_claim"`
	RoleClaim   string   `yaml:"role_claim"`
	PIIClaim    string   `yaml:"pii_claim"`
}

// DefaultConfig returns the defaults: ./telamentis-data on 127.0.0.1:8080.
func DefaultConfig() Config {
	return Config{
		Data:            "./telamentis-data",
		Listen:          "127.0.0.1:8080",
		LogLevel:        "info",
		MemoryLimit:     memlimit.Auto,
		ShutdownTimeout: 30 * time.Second,
		KeyCacheTTL:     5 * time.Second,
		RateLimit:       RateLimitConfig{FailedAuthRPS: 1},
		Security:        defaultSecurity(),
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if !c.InMemory && c.Data == "" {
		return errors.New("config: data: required unless in_memory")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("config: listen: %q is not host:port", c.Listen)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	if _, err := memlimit.Parse(c.MemoryLimit); err != nil {
		return fmt.Errorf("config: memory_limit: %w", err)
	}
	if c.ShutdownTimeout <= 0 || c.ShutdownTimeout > 10*time.Minute {
		return errors.New("config: shutdown_timeout: must be in (0, 10m]")
	}
	if c.KeyCacheTTL <= 0 || c.KeyCacheTTL > time.Minute {
		return errors.New("config: key_cache_ttl: must be in (0, 1m]")
	}
	for _, r := range []float64{c.RateLimit.TenantRPS, c.RateLimit.KeyRPS, c.RateLimit.IPRPS, c.RateLimit.FailedAuthRPS} {
		if r < 0 {
			return errors.New("config: rate_limit: rates must not be negative")
		}
	}
	if c.OIDC.Issuer != "" && c.OIDC.Audience == "" {
		return errors.New("config: oidc.audience: required with oidc.issuer")
	}
	if err := c.LLM.Validate(); err != nil {
		return err
	}
	if err := c.validateStore(); err != nil {
		return err
	}
	return c.validateSecurity()
}

// setting binds one Config field to its flag, env variable and file key.
type setting struct {
	name  string // flag name; env is TELAMENTIS_ + upper(name with - → _)
	usage string
	ptr   any
}

func settings(c *Config) []setting {
	return append([]setting{
		{"data", "data directory of the embedded store", &c.Data},
		{"in-memory", "keep all data in memory (nothing persists)", &c.InMemory},
		{"listen", "HTTP listen address", &c.Listen},
		{"log-level", "log level: debug, info, warn, error", &c.LogLevel},
		{"shutdown-timeout", "time in-flight requests get after SIGTERM", &c.ShutdownTimeout},
		{"memory-limit", "Go soft memory limit: auto (GOMEMLIMIT, else 90% of the cgroup limit), off, or a size like 1GiB", &c.MemoryLimit},
		{"no-sync", "do not fsync commits (benchmarks only)", &c.NoSync},
		{"admin-key-file", "on first start, write the new system admin API key to this new file (mode 0600; never overwritten) instead of printing it", &c.AdminKeyFile},
		{"audit-dir", "audit log directory (default: <data>-audit beside the data directory)", &c.AuditDir},
		{"audit-auth-success", "audit every successful authentication", &c.AuditAuthSuccess},
		{"key-cache-ttl", "how long a verified API key is trusted without reading the store; bounds other replicas' revocations only while the PostgreSQL key listener is down (max 1m)", &c.KeyCacheTTL},
		{"ratelimit-tenant-rps", "default requests/s per tenant (0 = unlimited)", &c.RateLimit.TenantRPS},
		{"ratelimit-key-rps", "requests/s per credential (0 = the tenant's rate)", &c.RateLimit.KeyRPS},
		{"ratelimit-ip-rps", "requests/s per client IP (0 = unlimited)", &c.RateLimit.IPRPS},
		{"ratelimit-failed-auth-rps", "failed authentications/s per client IP (burst 10)", &c.RateLimit.FailedAuthRPS},
		{"redis-addr", "Redis address for rate limits shared by replicas", &c.RedisAddr},
		{"oidc-issuer", "OIDC issuer (enables JWT bearer tokens)", &c.OIDC.Issuer},
		{"oidc-audience", "expected JWT audience", &c.OIDC.Audience},
		{"oidc-jwks-url", "JWKS URL (default: issuer discovery)", &c.OIDC.JWKSURL},
		{"oidc-tenant-claim", "JWT claim holding the tenant", &c.OIDC.TenantClaim},
		{"oidc-role-claim", "JWT claim holding the role(s)", &c.OIDC.RoleClaim},
		{"oidc-pii-claim", "JWT boolean claim granting pii", &c.OIDC.PIIClaim},
	}, append(securitySettings(&c.Security), storeSettings(&c.Store)...)...)
}

// registerFlags adds a flag per setting (defaults shown from c).
func registerFlags(fs *pflag.FlagSet, c *Config) {
	for _, s := range settings(c) {
		switch p := s.ptr.(type) {
		case *string:
			fs.String(s.name, *p, s.usage)
		case *bool:
			fs.Bool(s.name, *p, s.usage)
		case *time.Duration:
			fs.Duration(s.name, *p, s.usage)
		case *float64:
			fs.Float64(s.name, *p, s.usage)
		case *int:
			fs.Int(s.name, *p, s.usage)
		}
	}
	fs.String("config", "", "YAML config file (also TELAMENTIS_CONFIG)")
}

func envName(flag string) string {
	return "TELAMENTIS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// loadConfig resolves the configuration: defaults, then the file, then the
// environment, then flags that were set.
func loadConfig(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	path, _ := fs.GetString("config")
	if path == "" {
		path = getenv("TELAMENTIS_CONFIG")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	for _, s := range settings(&c) {
		if v := getenv(envName(s.name)); v != "" {
			if err := setValue(s.ptr, v); err != nil {
				return c, fmt.Errorf("config: %s: %w", envName(s.name), err)
			}
		}
		if f := fs.Lookup(s.name); f != nil && f.Changed {
			if err := setValue(s.ptr, f.Value.String()); err != nil {
				return c, fmt.Errorf("config: --%s: %w", s.name, err)
			}
		}
	}
	return c, c.Validate()
}

func setValue(ptr any, v string) error {
	switch p := ptr.(type) {
	case *string:
		*p = v
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*p = d
	case *float64:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return err
		}
		*p = f
	case *int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		*p = n
	}
	return nil
}
