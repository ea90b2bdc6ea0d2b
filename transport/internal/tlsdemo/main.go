// Command tlsdemo serves a trivial handler through transport.Server, so
// that scripts/tls-scan.sh can scan the transport's TLS configuration
// without the full server. It is not installed or shipped.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/telamentis/telamentis/transport"
)

func main() {
	cfg := transport.Defaults()
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:8443", "listen address")
	flag.StringVar(&cfg.TLSCertFile, "cert", "", "TLS certificate file")
	flag.StringVar(&cfg.TLSKeyFile, "key", "", "TLS key file")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	s, err := transport.New(cfg, h, logger)
	if err != nil {
		logger.Error("start", slog.String("err", err.Error()))
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Serve(ctx); err != nil {
		logger.Error("serve", slog.String("err", err.Error()))
		os.Exit(1)
	}
}
