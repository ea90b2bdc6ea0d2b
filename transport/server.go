package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/net/netutil"
)

// Server serves one http.Handler under a Config. Use New, then Serve (or
// Listen and Serve to learn the bound address first), and Shutdown or cancel
// Serve's context to stop.
type Server struct {
	cfg    Config
	logger *slog.Logger
	srv    *http.Server
	certs  *certStore // nil without TLS

	mu     sync.Mutex
	ln     net.Listener
	hup    chan struct{}
	closed bool
}

// New validates cfg, loads the TLS material and wraps h with the security
// headers and client-IP middleware. It does not listen yet.
func New(cfg Config, h http.Handler, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ClientAuth == "" {
		cfg.ClientAuth = ClientAuthNone
	}
	s := &Server{cfg: cfg, logger: logger, hup: make(chan struct{}, 1)}
	var trusted []netip.Prefix
	if cfg.BehindProxy {
		trusted = cfg.TrustedProxies
	}
	handler := Headers(cfg.CORSOrigins, cfg.BehindProxy, trusted, ClientIPMiddleware(trusted, h))
	s.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	if cfg.TLS() {
		certs, err := newCertStore(cfg.TLSCertFile, cfg.TLSKeyFile, logger)
		if err != nil {
			return nil, err
		}
		certs.onReload = cfg.OnCertReload
		tc, err := tlsConfig(cfg, certs)
		if err != nil {
			return nil, err
		}
		s.certs, s.srv.TLSConfig = certs, tc
	}
	return s, nil
}

// Listen binds the configured address and returns it; Serve calls it when
// needed. A Unix socket is created with mode 0600 after removing a stale
// socket at the path (never another kind of file).
func (s *Server) Listen() (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, http.ErrServerClosed
	}
	if s.ln != nil {
		return s.ln.Addr(), nil
	}
	var ln net.Listener
	var err error
	if s.cfg.IsUnix() {
		ln, err = listenUnix(strings.TrimPrefix(s.cfg.Addr, UnixPrefix), s.cfg.UnixSocketUIDs, s.logger)
	} else {
		ln, err = net.Listen("tcp", s.cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("transport: listen: %w", err)
	}
	if s.cfg.MaxConns > 0 {
		ln = netutil.LimitListener(ln, s.cfg.MaxConns)
	}
	s.ln = ln
	return ln.Addr(), nil
}

// Serve listens if needed and serves until ctx ends, then shuts down
// gracefully within Config.ShutdownTimeout. Request contexts carry ctx's
// values but are not cancelled by it, so requests in flight may finish
// during the drain. With TLS it reloads the certificate when its files
// change and on SIGHUP. It returns nil after a clean shutdown. Call it once.
func (s *Server) Serve(ctx context.Context) error {
	addr, err := s.Listen()
	if err != nil {
		return err
	}
	base := context.WithoutCancel(ctx)
	s.srv.BaseContext = func(net.Listener) context.Context { return base }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.certs != nil {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGHUP)
		defer signal.Stop(sig)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-sig:
					s.Reload()
				}
			}
		}()
		go s.certs.watch(ctx, s.cfg.CertCheckInterval, s.hup)
	}
	errc := make(chan error, 1)
	go func() {
		if s.certs != nil {
			errc <- s.srv.ServeTLS(s.ln, "", "")
		} else {
			errc <- s.srv.Serve(s.ln)
		}
	}()
	s.logger.Info("listening", slog.String("addr", addr.String()), slog.Bool("tls", s.certs != nil),
		slog.String("client_auth", string(s.cfg.ClientAuth)), slog.Bool("behind_proxy", s.cfg.BehindProxy))
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("transport: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer scancel()
	err = s.Shutdown(sctx)
	<-errc
	return err
}

// Reload asks for the TLS certificate to be re-read now (as SIGHUP does).
// New connections get the new certificate; established ones keep theirs.
func (s *Server) Reload() {
	select {
	case s.hup <- struct{}{}:
	default:
	}
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes the remaining connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
		return fmt.Errorf("transport: shutdown: %w", err)
	}
	return nil
}

// TLSConfig returns the server's TLS configuration, nil without TLS.
func (s *Server) TLSConfig() *tls.Config { return s.srv.TLSConfig }
