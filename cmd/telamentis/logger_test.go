package main

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recorder is a slog handler that keeps every record's message.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// TestNothingLogsToTheDefaultLogger runs the server with every component
// that logs (store, keys, audit log, pipeline, rate limiter with Redis when
// available, tracing with a collector that refuses exports, admin
// listener), then config check and audit verify, while slog.Default (and
// through it the log package) records: each component must log through the
// logger it was given, never the process default.
func TestNothingLogsToTheDefaultLogger(t *testing.T) {
	def := &recorder{}
	prev, out, flags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(def))
	t.Cleanup(func() {
		slog.SetDefault(prev)
		log.SetOutput(out)
		log.SetFlags(flags)
	})
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer col.Close()
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--data", data, "--log-level", "debug", "--tracing-enabled", "--tracing-sample-ratio", "1",
		"--tracing-otlp-endpoint", col.URL + "/v1/traces"}
	if a := os.Getenv("TELAMENTIS_TEST_REDIS_ADDR"); a != "" {
		args = append(args, "--redis-addr", a)
	}
	addr, logs, stop := startRun(t, args, nil)
	admin := keyRe.FindString(logs.String())
	for _, c := range []struct{ path, key string }{{"/healthz", ""}, {"/v1/tenants", admin}, {"/v1/tenants", "tm_bad"}, {"/nowhere", ""}} {
		get(t, "http://"+addr+c.path, c.key)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "tracing export failed") {
		t.Errorf("the server's log lacks the failed trace export:\n%s", logs)
	}
	if err := run(t.Context(), []string{"config", "check", "--data", data}, env(nil), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), []string{"audit", "verify", "--data", data}, env(nil), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	def.mu.Lock()
	defer def.mu.Unlock()
	if len(def.msgs) > 0 {
		t.Fatalf("the default logger got %q", def.msgs)
	}
}
