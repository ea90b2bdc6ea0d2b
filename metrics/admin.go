package metrics

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/telamentis/telamentis"
)

// AdminConfig configures the admin listener's handler.
type AdminConfig struct {
	// Addr is where the admin listener binds; default 127.0.0.1:8079.
	// Any address other than loopback requires Token.
	Addr string
	// Token, when set, must be presented as "Authorization: Bearer <token>"
	// on every admin request. Load it with the secrets package (at least
	// 32 bytes).
	Token telamentis.Secret
	// TokenSource, if set, is asked for the token on every request instead
	// of Token, so that a secret reloaded on SIGHUP takes effect at once
	// (e.g. a secrets.Reloader's Get). A zero token from it refuses all.
	TokenSource func() telamentis.Secret
	// Pprof mounts net/http/pprof under /debug/pprof/.
	Pprof bool
}

// minTokenLen is the shortest admin token accepted.
const minTokenLen = 32

// AdminDefaults returns a loopback admin config with pprof on.
func AdminDefaults() AdminConfig { return AdminConfig{Addr: "127.0.0.1:8079", Pprof: true} }

// Validate refuses a non-loopback admin address without a token, and a
// token shorter than 32 bytes.
func (c AdminConfig) Validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("metrics: admin config: addr %q: %w", c.Addr, err)
	}
	if !isLoopbackHost(host) && c.Token.IsZero() && c.TokenSource == nil {
		return fmt.Errorf("metrics: admin config: addr %q is not loopback: a bearer token is required", c.Addr)
	}
	if !c.Token.IsZero() && len(c.Token.Reveal()) < minTokenLen {
		return fmt.Errorf("metrics: admin config: token shorter than %d bytes", minTokenLen)
	}
	if c.TokenSource != nil && len(c.TokenSource().Reveal()) < minTokenLen {
		return fmt.Errorf("metrics: admin config: token source gives a token shorter than %d bytes", minTokenLen)
	}
	return nil
}

// NewAdminHandler returns the admin listener's handler: /metrics and, if
// enabled, the profiles under /debug/pprof/ (see pprof.go). Serve it on its own listener (for example with
// transport.New for timeouts and TLS); never mount it on the API handler.
// Everything else answers 404.
func NewAdminHandler(m *Metrics, cfg AdminConfig) (http.Handler, error) {
	if m == nil {
		return nil, errNoMetrics
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if cfg.Pprof {
		mountPprof(mux)
	}
	token := cfg.TokenSource
	if token == nil {
		if cfg.Token.IsZero() {
			return mux, nil
		}
		token = func() telamentis.Secret { return cfg.Token }
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := token().Reveal()
		got := []byte(r.Header.Get("Authorization"))
		want := []byte("Bearer " + tok)
		if len(tok) < minTokenLen || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="telamentis-admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			m.AuthFailure("admin_token", "bad_token")
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
