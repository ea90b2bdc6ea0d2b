package transport

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// HSTS is the Strict-Transport-Security value sent over TLS.
const HSTS = "max-age=31536000; includeSubDomains"

// Headers returns middleware that sets the security headers on every
// response and answers CORS for the allowed origins only:
//
//   - Strict-Transport-Security when the request came over TLS (directly,
//     or through a trusted TLS-terminating proxy when behindProxy is set);
//   - X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer,
//     X-Frame-Options: DENY;
//   - Cache-Control: no-store unless the handler sets its own;
//   - no Server header, whatever the handler sets.
//
// With no origins configured no Access-Control-* header is ever sent, so
// browsers keep the same-origin policy. There is no HTTP→HTTPS redirect: a
// plaintext request to a TLS port fails, and credentials sent in plaintext
// are not silently accepted.
func Headers(origins []string, behindProxy bool, trusted []netip.Prefix, next http.Handler) http.Handler {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[strings.ToLower(o)] = true
	}
	p := proxies(trusted)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		overTLS := r.TLS != nil
		if !overTLS && behindProxy && p.trusted(peerAddr(r.RemoteAddr)) {
			overTLS = true
		}
		if overTLS {
			h.Set("Strict-Transport-Security", HSTS)
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if len(allowed) > 0 {
			h.Add("Vary", "Origin")
			origin := r.Header.Get("Origin")
			ok := origin != "" && allowed[strings.ToLower(origin)]
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if ok {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, RateLimit, RateLimit-Policy")
			}
			if preflight {
				h.Set("Cache-Control", "no-store")
				if !ok {
					w.WriteHeader(http.StatusForbidden)
					return
				}
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID, Idempotency-Key")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(&headerWriter{ResponseWriter: w}, r)
	})
}

// headerWriter fills Cache-Control and removes Server just before the
// header is sent.
type headerWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *headerWriter) finish() {
	if w.wrote {
		return
	}
	w.wrote = true
	h := w.ResponseWriter.Header()
	h.Del("Server")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
}

func (w *headerWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.finish()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWriter) Write(b []byte) (int, error) {
	w.finish()
	return w.ResponseWriter.Write(b)
}

// Flush supports streamed responses.
func (w *headerWriter) Flush() {
	w.finish()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes through for protocol upgrades.
func (w *headerWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.finish()
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
