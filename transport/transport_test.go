package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// echo answers with the client IP the transport resolved, RemoteAddr, and
// the client certificate's common name; it also tries to leak a Server
// header, which the transport must remove.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "telamentis/9.9.9")
	cn := "-"
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cn = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	fmt.Fprintf(w, "%s %s %s", ClientIP(r), r.RemoteAddr, cn)
})

// start runs a server for cfg on a free loopback port and returns it with
// its base URL. It is stopped at cleanup.
func start(t *testing.T, cfg Config, h http.Handler) (*Server, string) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := New(cfg, h, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	scheme := "http"
	if cfg.TLS() {
		scheme = "https"
	}
	return s, scheme + "://" + addr.String()
}

func tlsCfg(t *testing.T) (Config, *testCA) {
	t.Helper()
	ca := newTestCA(t, "test ca")
	cfg := Defaults()
	cfg.Addr = "127.0.0.1:0"
	cfg.TLSCertFile, cfg.TLSKeyFile = certFiles(t, t.TempDir(), ca, "server-1", 1)
	return cfg, ca
}

func client(tc *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: false}}
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestConfigValidate(t *testing.T) {
	public := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name   string
		edit   func(*Config)
		errSub string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"plaintext ipv6 loopback", func(c *Config) { c.Addr = "[::1]:8080" }, ""},
		{"plaintext localhost", func(c *Config) { c.Addr = "localhost:8080" }, ""},
		{"plaintext all interfaces v4", func(c *Config) { c.Addr = "0.0.0.0:8080" }, "refusing plaintext"},
		{"plaintext all interfaces empty host", func(c *Config) { c.Addr = ":8080" }, "refusing plaintext"},
		{"plaintext all interfaces v6", func(c *Config) { c.Addr = "[::]:8080" }, "refusing plaintext"},
		{"plaintext public ip", func(c *Config) { c.Addr = "192.0.2.10:8080" }, "refusing plaintext"},
		{"behind proxy without cidrs", func(c *Config) { c.Addr = "0.0.0.0:8080"; c.BehindProxy = true }, "trusted proxy"},
		{"behind proxy with cidrs", func(c *Config) { c.Addr = "0.0.0.0:8080"; c.BehindProxy = true; c.TrustedProxies = public }, ""},
		{"cidrs without behind proxy still plaintext", func(c *Config) { c.Addr = "0.0.0.0:8080"; c.TrustedProxies = public }, "refusing plaintext"},
		{"tls on all interfaces", func(c *Config) { c.Addr = ":8443"; c.TLSCertFile, c.TLSKeyFile = "c", "k" }, ""},
		{"cert without key", func(c *Config) { c.TLSCertFile = "c" }, "together"},
		{"mtls without ca", func(c *Config) { c.TLSCertFile, c.TLSKeyFile = "c", "k"; c.ClientAuth = ClientAuthRequired }, "client CA"},
		{"mtls without tls", func(c *Config) { c.ClientCAFile = "ca"; c.ClientAuth = ClientAuthOptional }, "needs TLS"},
		{"unknown client auth", func(c *Config) { c.ClientAuth = "maybe" }, "client auth"},
		{"cors wildcard", func(c *Config) { c.CORSOrigins = []string{"*"} }, "cors origin"},
		{"cors with path", func(c *Config) { c.CORSOrigins = []string{"https://a.example/x"} }, "cors origin"},
		{"header cap zero", func(c *Config) { c.MaxHeaderBytes = 0 }, "max header"},
		{"zero read header timeout", func(c *Config) { c.ReadHeaderTimeout = 0 }, "read header timeout"},
		{"unix socket plaintext", func(c *Config) { c.Addr = "unix:/tmp/x.sock" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.errSub == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.errSub != "" && (err == nil || !strings.Contains(err.Error(), tt.errSub)):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.errSub)
			}
		})
	}
	if d := Defaults(); d.MaxHeaderBytes != 16<<10 {
		t.Errorf("default MaxHeaderBytes = %d, want 16 KiB", d.MaxHeaderBytes)
	}
}

func TestNewRefusesPlaintextOnPublicAddress(t *testing.T) {
	cfg := Defaults()
	cfg.Addr = "0.0.0.0:0"
	if _, err := New(cfg, echo, testLogger(t)); err == nil {
		t.Fatal("New accepted plaintext on 0.0.0.0")
	}
	cfg.BehindProxy = true
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	if _, err := New(cfg, echo, testLogger(t)); err != nil {
		t.Fatalf("New behind proxy with cidrs: %v", err)
	}
}

func TestTLSVersions(t *testing.T) {
	cfg, ca := tlsCfg(t)
	_, url := start(t, cfg, echo)
	addr := strings.TrimPrefix(url, "https://")
	tests := []struct {
		name    string
		version uint16
		ok      bool
	}{
		{"TLS1.0", tls.VersionTLS10, false},
		{"TLS1.1", tls.VersionTLS11, false},
		{"TLS1.2", tls.VersionTLS12, true},
		{"TLS1.3", tls.VersionTLS13, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, &tls.Config{
				RootCAs: ca.pool(), ServerName: "127.0.0.1",
				MinVersion: tt.version, MaxVersion: tt.version,
			})
			if !tt.ok {
				if err == nil {
					c.Close()
					t.Fatalf("handshake with %s succeeded", tt.name)
				}
				if !strings.Contains(err.Error(), "version") {
					t.Fatalf("handshake error %q does not name the protocol version", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake with %s: %v", tt.name, err)
			}
			defer c.Close()
			if got := c.ConnectionState().Version; got != tt.version {
				t.Fatalf("negotiated %x, want %x", got, tt.version)
			}
		})
	}
	t.Run("TLS1.2 weak suite refused", func(t *testing.T) {
		c, err := tls.Dial("tcp", addr, &tls.Config{
			RootCAs: ca.pool(), MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
		})
		if err == nil {
			c.Close()
			t.Fatal("handshake with a CBC suite succeeded")
		}
	})
}

func peerCN(t *testing.T, addr string, ca *testCA) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestCertificateReload(t *testing.T) {
	for _, trigger := range []string{"file change", "SIGHUP", "Reload"} {
		t.Run(trigger, func(t *testing.T) {
			cfg, ca := tlsCfg(t)
			reloads := make(chan error, 16)
			cfg.OnCertReload = func(err error) { reloads <- err }
			if trigger == "file change" {
				cfg.CertCheckInterval = 20 * time.Millisecond
			} else {
				cfg.CertCheckInterval = time.Hour // only the explicit trigger reloads
			}
			s, url := start(t, cfg, echo)
			addr := strings.TrimPrefix(url, "https://")
			if cn := peerCN(t, addr, ca); cn != "server-1" {
				t.Fatalf("initial certificate %q, want server-1", cn)
			}

			// An established keep-alive connection, made with the old cert.
			c := client(&tls.Config{RootCAs: ca.pool()})
			get(t, c, url)

			// Replace both files, as cert-manager or certbot would.
			cert, key := ca.issue(t, "server-2", 2)
			writeFile(t, cfg.TLSKeyFile, key)
			writeFile(t, cfg.TLSCertFile, cert)
			switch trigger {
			case "SIGHUP":
				if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
			case "Reload":
				s.Reload()
			}
			deadline := time.Now().Add(20 * time.Second)
			for peerCN(t, addr, ca) != "server-2" {
				if time.Now().After(deadline) {
					t.Fatal("new connections still get the old certificate")
				}
				time.Sleep(10 * time.Millisecond)
			}

			if err := <-reloads; err != nil {
				t.Fatalf("OnCertReload got %v", err)
			}

			// The old connection still works and is the same connection.
			var reused bool
			var oldCN string
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				GotConn: func(i httptrace.GotConnInfo) {
					reused = i.Reused
					if tc, ok := i.Conn.(*tls.Conn); ok {
						oldCN = tc.ConnectionState().PeerCertificates[0].Subject.CommonName
					}
				},
			}))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("request on the old connection: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if !reused || oldCN != "server-1" {
				t.Fatalf("old connection reused=%v cn=%q, want reused with server-1", reused, oldCN)
			}
		})
	}
}

func TestCertificateReloadKeepsCurrentOnBadFiles(t *testing.T) {
	cfg, ca := tlsCfg(t)
	cfg.CertCheckInterval = time.Hour
	reloads := make(chan error, 1)
	cfg.OnCertReload = func(err error) { reloads <- err }
	s, url := start(t, cfg, echo)
	addr := strings.TrimPrefix(url, "https://")
	writeFile(t, cfg.TLSCertFile, []byte("not a certificate"))
	s.Reload()
	if err := <-reloads; err == nil {
		t.Fatal("loading a broken certificate file reported success")
	}
	if cn := peerCN(t, addr, ca); cn != "server-1" {
		t.Fatalf("after a bad reload the server presents %q", cn)
	}
}

func TestMTLS(t *testing.T) {
	ca := newTestCA(t, "client ca")
	other := newTestCA(t, "other ca")
	caFile := filepath.Join(t.TempDir(), "clients.pem")
	writeFile(t, caFile, ca.pem)
	for _, mode := range []ClientAuth{ClientAuthRequired, ClientAuthOptional} {
		t.Run(string(mode), func(t *testing.T) {
			cfg, serverCA := tlsCfg(t)
			cfg.ClientCAFile, cfg.ClientAuth = caFile, mode
			_, url := start(t, cfg, echo)
			tests := []struct {
				name  string
				certs []tls.Certificate
				ok    bool
				cn    string
			}{
				{"no client cert", nil, mode == ClientAuthOptional, "-"},
				{"cert from trusted ca", []tls.Certificate{ca.clientCert(t, "agent-7")}, true, "agent-7"},
				{"cert from other ca", []tls.Certificate{other.clientCert(t, "mallory")}, false, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tc := &tls.Config{RootCAs: serverCA.pool()}
					// Always present the certificate, even when the server
					// does not list its issuer, as an attacker would.
					tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
						if len(tt.certs) == 0 {
							return &tls.Certificate{}, nil
						}
						return &tt.certs[0], nil
					}
					c := client(tc)
					resp, err := c.Get(url)
					if !tt.ok {
						if err == nil {
							resp.Body.Close()
							t.Fatal("request without an acceptable client certificate was served")
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					if f := strings.Fields(string(b)); len(f) != 3 || f[2] != tt.cn {
						t.Fatalf("handler saw %q, want client cn %q", b, tt.cn)
					}
				})
			}
		})
	}
}

func TestSlowHeaderClientIsCutOff(t *testing.T) {
	cfg := Defaults()
	cfg.Addr = "127.0.0.1:0"
	cfg.ReadHeaderTimeout = 200 * time.Millisecond
	_, url := start(t, cfg, echo)
	addr := strings.TrimPrefix(url, "http://")

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("GET /v1/graph/acme/no")); err != nil {
		t.Fatal(err)
	}

	// A normal client is served while the slow one stalls.
	resp, body := get(t, http.DefaultClient, url)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "127.0.0.1 ") {
		t.Fatalf("normal client got %d %q", resp.StatusCode, body)
	}

	// The server closes the stalled connection. The read deadline is only
	// a guard against hanging the test; hitting it means the server did not
	// cut the client off.
	slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(slow)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("slow-header connection was not closed by the server")
	}
	if strings.Contains(string(b), "200 OK") {
		t.Fatalf("slow client was served: %q", b)
	}
}

func TestMaxHeaderBytes(t *testing.T) {
	var served atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) })
	cfg := Defaults()
	cfg.Addr = "127.0.0.1:0"
	_, url := start(t, cfg, h)
	addr := strings.TrimPrefix(url, "http://")

	// Over the cap: refused with 431, or the connection is reset while the
	// client is still writing; either way the handler never runs.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Padding: %s\r\n\r\n", strings.Repeat("a", 40<<10))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil && resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("40 KiB header: status %d, want 431", resp.StatusCode)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("40 KiB header: no answer and no close")
	}
	if n := served.Load(); n != 0 {
		t.Fatalf("handler ran %d times for an oversized header", n)
	}

	resp2, _ := get(t, http.DefaultClient, url, "X-Padding", strings.Repeat("a", 8<<10))
	if resp2.StatusCode != http.StatusOK || served.Load() != 1 {
		t.Fatalf("8 KiB header: status %d, served %d", resp2.StatusCode, served.Load())
	}
}

func TestResolveClientIP(t *testing.T) {
	trusted := proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	a := netip.MustParseAddr
	tests := []struct {
		name string
		p    proxies
		peer string
		xff  []string
		want string
	}{
		{"no proxies configured ignores header", nil, "203.0.113.9", []string{"1.2.3.4"}, "203.0.113.9"},
		{"untrusted peer spoofing is ignored", trusted, "203.0.113.9", []string{"10.1.1.1, 1.2.3.4"}, "203.0.113.9"},
		{"trusted proxy, one hop", trusted, "10.0.0.2", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client-written left part is not believed", trusted, "10.0.0.2", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies skipped", trusted, "10.0.0.2", []string{"198.51.100.7, 10.9.9.9, 10.0.0.3"}, "198.51.100.7"},
		{"multiple header lines", trusted, "10.0.0.2", []string{"6.6.6.6", "198.51.100.7, 10.0.0.3"}, "198.51.100.7"},
		{"malformed hop stops at last trusted", trusted, "10.0.0.2", []string{"198.51.100.7, bogus"}, "10.0.0.2"},
		{"all trusted gives leftmost", trusted, "10.0.0.2", []string{"10.0.0.5, 10.0.0.3"}, "10.0.0.5"},
		{"no header from trusted proxy", trusted, "10.0.0.2", nil, "10.0.0.2"},
		{"ipv6 hops", trusted, "fd00::1", []string{"2001:db8::7, fd00::2"}, "2001:db8::7"},
		{"ipv4-mapped normalised", trusted, "10.0.0.2", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.resolve(a(tt.peer), tt.xff); got != a(tt.want) {
				t.Fatalf("resolve = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestForwardedForEndToEnd(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trusted string
		want    string
	}{
		{"spoof from untrusted peer ignored", "10.0.0.0/8", "127.0.0.1"},
		{"trusted proxy honoured", "127.0.0.0/8", "198.51.100.7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Defaults()
			cfg.Addr = "127.0.0.1:0"
			cfg.BehindProxy = true
			cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(tt.trusted)}
			_, url := start(t, cfg, echo)
			for i := range 5 { // rotating the header must not change an untrusted peer's identity
				spoof := fmt.Sprintf("6.6.6.%d, 198.51.100.7", i)
				_, body := get(t, http.DefaultClient, url, "X-Forwarded-For", spoof)
				f := strings.Fields(body)
				if f[0] != tt.want || !strings.HasPrefix(f[1], tt.want+":") {
					t.Fatalf("client ip %q remote addr %q, want %s", f[0], f[1], tt.want)
				}
			}
		})
	}
	t.Run("not behind proxy ignores header", func(t *testing.T) {
		cfg := Defaults()
		cfg.Addr = "127.0.0.1:0"
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		_, url := start(t, cfg, echo)
		_, body := get(t, http.DefaultClient, url, "X-Forwarded-For", "198.51.100.7")
		if !strings.HasPrefix(body, "127.0.0.1 ") {
			t.Fatalf("got %q", body)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	cached := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write([]byte("spec"))
	})
	mux := http.NewServeMux()
	mux.Handle("/", echo)
	mux.Handle("/openapi.json", cached)

	t.Run("tls", func(t *testing.T) {
		cfg, ca := tlsCfg(t)
		_, url := start(t, cfg, mux)
		resp, _ := get(t, client(&tls.Config{RootCAs: ca.pool()}), url+"/v1/x")
		want := map[string]string{
			"Strict-Transport-Security":   "max-age=31536000; includeSubDomains",
			"X-Content-Type-Options":      "nosniff",
			"Cache-Control":               "no-store",
			"Referrer-Policy":             "no-referrer",
			"Server":                      "",
			"Access-Control-Allow-Origin": "",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		resp, _ = get(t, client(&tls.Config{RootCAs: ca.pool()}), url+"/openapi.json")
		if got := resp.Header.Get("Cache-Control"); got != "public, max-age=60" {
			t.Errorf("handler's own Cache-Control overwritten: %q", got)
		}
	})
	t.Run("plaintext loopback has no hsts", func(t *testing.T) {
		cfg := Defaults()
		cfg.Addr = "127.0.0.1:0"
		_, url := start(t, cfg, mux)
		resp, _ := get(t, http.DefaultClient, url)
		if resp.Header.Get("Strict-Transport-Security") != "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("headers %v", resp.Header)
		}
	})
	t.Run("behind trusted proxy has hsts", func(t *testing.T) {
		cfg := Defaults()
		cfg.Addr = "127.0.0.1:0"
		cfg.BehindProxy, cfg.TrustedProxies = true, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		_, url := start(t, cfg, mux)
		resp, _ := get(t, http.DefaultClient, url)
		if resp.Header.Get("Strict-Transport-Security") != HSTS {
			t.Fatalf("headers %v", resp.Header)
		}
	})
	t.Run("cors allowlist", func(t *testing.T) {
		cfg := Defaults()
		cfg.Addr = "127.0.0.1:0"
		cfg.CORSOrigins = []string{"https://app.example.com"}
		_, url := start(t, cfg, mux)
		resp, _ := get(t, http.DefaultClient, url, "Origin", "https://app.example.com")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
			t.Errorf("allowed origin: ACAO %q", got)
		}
		resp, _ = get(t, http.DefaultClient, url, "Origin", "https://evil.example")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("foreign origin: ACAO %q", got)
		}
		for origin, status := range map[string]int{"https://app.example.com": 204, "https://evil.example": 403} {
			req, _ := http.NewRequest(http.MethodOptions, url+"/v1/x", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != status {
				t.Errorf("preflight from %s: %d, want %d", origin, resp.StatusCode, status)
			}
			if status == 403 && resp.Header.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("preflight from %s got allow-methods", origin)
			}
		}
	})
	t.Run("no cors configured", func(t *testing.T) {
		cfg := Defaults()
		cfg.Addr = "127.0.0.1:0"
		_, url := start(t, cfg, mux)
		resp, _ := get(t, http.DefaultClient, url, "Origin", "https://app.example.com")
		for k := range resp.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("CORS header %s sent with no origins configured", k)
			}
		}
	})
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tm.sock")
	dial := func(t *testing.T) *http.Client {
		return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
	}
	t.Run("own uid admitted, mode 0600", func(t *testing.T) {
		cfg := Defaults()
		cfg.Addr = UnixPrefix + path
		start(t, cfg, echo)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("socket mode %v, want 0600", fi.Mode().Perm())
		}
		resp, body := get(t, dial(t), "http://unix/")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "127.0.0.1 ") {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	})
	t.Run("other uid refused", func(t *testing.T) {
		cfg := Defaults()
		cfg.Addr = UnixPrefix + path
		cfg.UnixSocketUIDs = []int{os.Getuid() + 4242}
		start(t, cfg, echo)
		resp, err := dial(t).Get("http://unix/")
		if err == nil {
			resp.Body.Close()
			t.Fatal("peer with a uid not on the list was served")
		}
	})
	t.Run("refuses to replace a regular file", func(t *testing.T) {
		p := filepath.Join(dir, "file")
		writeFile(t, p, []byte("keep me"))
		cfg := Defaults()
		cfg.Addr = UnixPrefix + p
		s, err := New(cfg, echo, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Listen(); err == nil {
			t.Fatal("listened over a regular file")
		}
	})
}

func TestConnectionCap(t *testing.T) {
	// With a cap of one, a second connection is accepted only after the
	// first closes; both are eventually served.
	cfg := Defaults()
	cfg.Addr = "127.0.0.1:0"
	cfg.MaxConns = 1
	_, url := start(t, cfg, echo)
	addr := strings.TrimPrefix(url, "http://")
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(first, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(first), nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("second connection served while the first held the only slot (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	first.Close()
	if err := <-done; err != nil {
		t.Fatalf("second connection after the first closed: %v", err)
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes(" 10.0.0.0/8, 192.0.2.7 ,, fd00::/8,::ffff:198.51.100.1, 10.1.2.3/8")
	if err != nil {
		t.Fatal(err)
	}
	want := "[10.0.0.0/8 192.0.2.7/32 fd00::/8 198.51.100.1/32 10.0.0.0/8]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted", bad)
		}
	}
}
