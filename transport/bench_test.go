package transport

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
)

// BenchmarkRequest measures one small request over a kept-alive connection
// through the transport (headers and client-IP middleware included), in
// plaintext and over TLS 1.2 and 1.3, and a full TLS handshake per request.
func BenchmarkRequest(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	for _, bc := range []struct {
		name      string
		tls       bool
		version   uint16
		keepAlive bool
	}{
		{"plain", false, 0, true},
		{"tls1.2", true, tls.VersionTLS12, true},
		{"tls1.3", true, tls.VersionTLS13, true},
		{"tls1.3-handshake-each", true, tls.VersionTLS13, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Defaults()
			cfg.Addr = "127.0.0.1:0"
			var ca *testCA
			if bc.tls {
				ca = newTestCA(b, "bench ca")
				cfg.TLSCertFile, cfg.TLSKeyFile = certFiles(b, b.TempDir(), ca, "bench", 1)
			}
			s, err := New(cfg, ok, testLogger(b))
			if err != nil {
				b.Fatal(err)
			}
			addr, err := s.Listen()
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Serve(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			tr := &http.Transport{DisableKeepAlives: !bc.keepAlive}
			url := "http://" + addr.String()
			if bc.tls {
				tr.TLSClientConfig = &tls.Config{RootCAs: ca.pool(), MinVersion: bc.version, MaxVersion: bc.version}
				url = "https://" + addr.String()
			}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
