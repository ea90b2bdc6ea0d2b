// Package transport serves an http.Handler safely: TLS 1.2+ with certificates
// reloaded from disk without dropping connections, optional client
// certificates (mTLS), security headers, a strict CORS allowlist, timeouts and
// a connection cap against slow or greedy clients, a client IP that believes
// X-Forwarded-For only from configured proxies, and a Unix socket listener
// that admits only permitted peer uids.
//
// It refuses to serve plaintext on a non-loopback address unless the operator
// states that a TLS-terminating proxy sits in front and lists its addresses.
package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// ClientAuth selects whether clients must present a certificate.
type ClientAuth string

// The client certificate modes. Optional and Required need Config.ClientCAFile.
const (
	ClientAuthNone     ClientAuth = "none"
	ClientAuthOptional ClientAuth = "optional" // verified if presented
	ClientAuthRequired ClientAuth = "required" // handshake fails without one
)

// UnixPrefix marks an Addr as a Unix socket path: "unix:/run/telamentis.sock".
const UnixPrefix = "unix:"

// Config is the transport's configuration. Start from Defaults, then set
// fields; New calls Validate.
type Config struct {
	// Addr is "host:port" for TCP or "unix:/path" for a Unix socket.
	Addr string

	// TLSCertFile and TLSKeyFile enable TLS. Both files are re-read when
	// their modification time or size changes and on SIGHUP.
	TLSCertFile string
	TLSKeyFile  string
	// ClientCAFile holds the PEM CA bundle that verifies client
	// certificates; ClientAuth says whether one is required.
	ClientCAFile string
	ClientAuth   ClientAuth
	// CertCheckInterval is how often the certificate files are polled.
	CertCheckInterval time.Duration
	// OnCertReload, if set, is called after every reload that loaded a new
	// certificate (err nil) or failed (err set), e.g. to count reloads in
	// metrics. It runs on the watcher goroutine and must not block.
	OnCertReload func(err error)

	// BehindProxy states that a TLS-terminating proxy sits in front. It
	// allows plaintext on a non-loopback address and makes X-Forwarded-For
	// believed, but only from peers inside TrustedProxies (required).
	BehindProxy    bool
	TrustedProxies []netip.Prefix

	// Timeouts against slow clients. ReadTimeout covers the whole request
	// including the body; WriteTimeout the whole response.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds the graceful drain when the context ends.
	ShutdownTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers (431 beyond it).
	MaxHeaderBytes int
	// MaxConns caps simultaneously open connections; further ones wait
	// in the kernel's accept queue. 0 means no cap.
	MaxConns int

	// CORSOrigins lists the exact origins ("https://app.example.com")
	// allowed to call the API from a browser. Empty: no CORS headers at all.
	CORSOrigins []string

	// UnixSocketUIDs lists the peer uids admitted on a Unix socket; empty
	// means only the server's own uid.
	UnixSocketUIDs []int
}

// Defaults returns a Config listening on 127.0.0.1:8443 with conservative
// limits.
func Defaults() Config {
	return Config{
		Addr:              "127.0.0.1:8443",
		ClientAuth:        ClientAuthNone,
		CertCheckInterval: 10 * time.Second,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		MaxConns:          1024,
	}
}

// TLS reports whether the config serves TLS.
func (c Config) TLS() bool { return c.TLSCertFile != "" || c.TLSKeyFile != "" }

// IsUnix reports whether Addr names a Unix socket.
func (c Config) IsUnix() bool { return strings.HasPrefix(c.Addr, UnixPrefix) }

// Validate reports every problem with the config. It refuses plaintext on a
// non-loopback TCP address unless BehindProxy is set with at least one
// trusted proxy prefix.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Addr == "" {
		bad("addr is required")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("tls cert file and key file must be set together")
	}
	switch c.ClientAuth {
	case "", ClientAuthNone:
	case ClientAuthOptional, ClientAuthRequired:
		if c.ClientCAFile == "" {
			bad("client auth %q needs a client CA file", c.ClientAuth)
		}
		if !c.TLS() {
			bad("client auth %q needs TLS", c.ClientAuth)
		}
	default:
		bad("client auth must be none, optional or required, not %q", c.ClientAuth)
	}
	if c.ClientCAFile != "" && (c.ClientAuth == "" || c.ClientAuth == ClientAuthNone) {
		bad("client CA file set but client auth is none")
	}
	if c.BehindProxy && len(c.TrustedProxies) == 0 {
		bad("behind proxy needs at least one trusted proxy prefix")
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			bad("invalid trusted proxy prefix %v", p)
		}
	}
	if c.TLS() && c.CertCheckInterval <= 0 {
		bad("cert check interval must be positive")
	}
	for name, d := range map[string]time.Duration{
		"read header timeout": c.ReadHeaderTimeout, "read timeout": c.ReadTimeout,
		"write timeout": c.WriteTimeout, "idle timeout": c.IdleTimeout, "shutdown timeout": c.ShutdownTimeout,
	} {
		if d <= 0 {
			bad("%s must be positive", name)
		}
	}
	if c.MaxHeaderBytes <= 0 || c.MaxHeaderBytes > 1<<20 {
		bad("max header bytes must be in (0, 1 MiB]")
	}
	if c.MaxConns < 0 {
		bad("max conns must not be negative")
	}
	for _, o := range c.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			bad("cors origin %q: %v", o, err)
		}
	}
	if !c.IsUnix() && c.Addr != "" {
		host, _, err := net.SplitHostPort(c.Addr)
		if err != nil {
			bad("addr %q: %v", c.Addr, err)
		} else if !c.TLS() && !isLoopbackHost(host) && !c.BehindProxy {
			bad("refusing plaintext on non-loopback address %q: configure TLS, or set behind-proxy with the trusted proxy CIDRs", c.Addr)
		}
	}
	if c.IsUnix() && strings.TrimPrefix(c.Addr, UnixPrefix) == "" {
		bad("unix socket path is empty")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("transport: config: %w", err)
	}
	return nil
}

// isLoopbackHost reports whether host binds only loopback interfaces. The
// empty host and unspecified addresses bind every interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil {
		return err
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return errors.New("must be scheme://host[:port] with no path")
	}
	if o == "*" || strings.Contains(o, "*") {
		return errors.New("wildcards are not allowed")
	}
	return nil
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes or bare
// addresses (taken as single-host prefixes), as used for the trusted
// proxies setting. Blank entries are skipped.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("transport: %q is not a CIDR prefix or address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
