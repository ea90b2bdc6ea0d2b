package metrics

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// recordDefaultLogs makes slog.Default, and through it the log package,
// record into the returned recorder until the test ends.
func recordDefaultLogs(t *testing.T) *recorder {
	rec := &recorder{}
	prev, out, flags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(rec))
	t.Cleanup(func() {
		slog.SetDefault(prev)
		log.SetOutput(out)
		log.SetFlags(flags)
	})
	return rec
}

// TestTracingLogsThroughItsLogger: a collector that refuses the export is
// reported to the logger Tracing was given, not to the process's default
// logger (where OpenTelemetry's global error handler writes).
func TestTracingLogsThroughItsLogger(t *testing.T) {
	def := recordDefaultLogs(t)
	cs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest) // not retried
	}))
	defer cs.Close()
	var own bytes.Buffer
	tr, err := NewTracing(t.Context(), TracingConfig{Enabled: true, OTLPEndpoint: cs.URL + "/v1/traces", SampleRatio: 1},
		slog.New(slog.NewTextHandler(&own, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tr.Middleware(http.NotFoundHandler(), nil))
	scrape(t, srv.URL+"/x", "")
	srv.Close()
	tr.Shutdown(t.Context())
	if !strings.Contains(own.String(), "tracing export failed") {
		t.Errorf("the tracing logger did not hear of the failed export:\n%s", own.String())
	}
	if m := def.messages(); len(m) > 0 {
		t.Errorf("the default logger got %q", m)
	}
	// A nil logger discards, as every component's does: still nothing
	// reaches the default logger.
	tr, err = NewTracing(t.Context(), TracingConfig{Enabled: true, OTLPEndpoint: cs.URL + "/v1/traces", SampleRatio: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(tr.Middleware(http.NotFoundHandler(), nil))
	scrape(t, srv.URL+"/x", "")
	srv.Close()
	tr.Shutdown(t.Context())
	if m := def.messages(); len(m) > 0 {
		t.Errorf("with a nil logger, the default logger got %q", m)
	}
}
