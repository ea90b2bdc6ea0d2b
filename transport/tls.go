package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// cipherSuites are the TLS 1.2 suites offered: forward-secret AEADs only.
// TLS 1.3 suites are fixed by crypto/tls and all modern.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// certStore holds the current key pair behind an atomic pointer, so a
// reload never blocks or disturbs handshakes in flight, and established
// connections keep the certificate they were made with.
type certStore struct {
	certFile, keyFile string
	logger            *slog.Logger
	onReload          func(error)

	cur atomic.Pointer[tls.Certificate]

	mu   sync.Mutex // serialises reloads and guards stat
	stat [2]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newCertStore(certFile, keyFile string, logger *slog.Logger) (*certStore, error) {
	s := &certStore{certFile: certFile, keyFile: keyFile, logger: logger}
	if _, err := s.reload(true); err != nil {
		return nil, err
	}
	return s, nil
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// reload loads the key pair if force is set or either file changed. A pair
// that fails to load (a half-written file, a key that does not match) leaves
// the current certificate in place.
func (s *certStore) reload(force bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, err := stamp(s.certFile)
	if err != nil {
		return false, fmt.Errorf("transport: stat cert: %w", err)
	}
	ks, err := stamp(s.keyFile)
	if err != nil {
		return false, fmt.Errorf("transport: stat key: %w", err)
	}
	if !force && cs == s.stat[0] && ks == s.stat[1] {
		return false, nil
	}
	pair, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return false, fmt.Errorf("transport: load key pair: %w", err)
	}
	s.cur.Store(&pair)
	s.stat = [2]fileStamp{cs, ks}
	return true, nil
}

func (s *certStore) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := s.cur.Load()
	if c == nil {
		return nil, errors.New("transport: no certificate loaded")
	}
	return c, nil
}

// watch polls the files every interval and reloads on change, and reloads
// unconditionally when hup delivers. It returns when ctx ends.
func (s *certStore) watch(ctx context.Context, interval time.Duration, hup <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			force = true
		}
		changed, err := s.reload(force)
		switch {
		case err != nil:
			s.logger.Warn("tls certificate reload failed; keeping the current one", slog.String("err", err.Error()))
		case changed:
			s.logger.Info("tls certificate reloaded", slog.String("op", "tls.reload"))
		}
		if s.onReload != nil && (changed || err != nil) {
			s.onReload(err)
		}
	}
}

// tlsConfig builds the server TLS configuration.
func tlsConfig(cfg Config, certs *certStore) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   cipherSuites,
		GetCertificate: certs.getCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	switch cfg.ClientAuth {
	case ClientAuthOptional, ClientAuthRequired:
		pem, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("transport: read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("transport: client CA file holds no PEM certificate")
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		if cfg.ClientAuth == ClientAuthRequired {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tc, nil
}
