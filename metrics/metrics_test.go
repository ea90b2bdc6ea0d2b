package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/telamentis/telamentis"
)

// canary stands for a tenant's API key secret; it must never reach metrics
// or traces.
const canary = "tm_0194a6f3_CaNaRy9d8e7f6a5b4c3d2e1f0SeCrEt"

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// apiMux stands for the API: one patterned route that records an auth
// failure and a graph error whose message carries the canary.
func apiMux(m *Metrics) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/graph/{tenant}/nodes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			m.AuthFailure("api_key", "unknown_key")
			m.AuthFailure("api_key", canary) // a careless caller: collapsed to "other"
			m.RateLimited("ip", r.PathValue("tenant"))
			m.GraphOp("node.get", r.PathValue("tenant"), telamentis.Errorf(telamentis.CodeNotFound, "node %s not found", canary))
			m.StoreCall("badger", "get_node", time.Millisecond, nil)
			m.AuditWrite(errors.New("disk full " + canary))
			m.QuotaExceeded("nodes", r.PathValue("tenant"))
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write([]byte("ok"))
	})
	return mux
}

func scrape(t *testing.T, url string, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsOnAdminListenerOnly(t *testing.T) {
	m := New()
	api := httptest.NewServer(m.Middleware(apiMux(m), nil))
	defer api.Close()
	h, err := NewAdminHandler(m, AdminDefaults())
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(h)
	defer admin.Close()

	for _, p := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		if code, _ := scrape(t, api.URL+p, ""); code != http.StatusNotFound {
			t.Errorf("API handler serves %s: %d", p, code)
		}
		// Nothing registered profiles on the default mux either (as
		// importing net/http/pprof would).
		if _, pattern := http.DefaultServeMux.Handler(httptest.NewRequest(http.MethodGet, p, nil)); pattern != "" {
			t.Errorf("http.DefaultServeMux serves %s via %q", p, pattern)
		}
	}
	if code, body := scrape(t, admin.URL+"/debug/pprof/", ""); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("admin pprof index: %d", code)
	}
	if code, body := scrape(t, admin.URL+"/debug/pprof/goroutine?debug=1", ""); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("admin goroutine profile: %d", code)
	}
	for _, p := range []string{"/debug/pprof/heap", "/debug/pprof/allocs?gc=1", "/debug/pprof/profile?seconds=1"} {
		code, body := scrape(t, admin.URL+p, "")
		if code != 200 || !strings.HasPrefix(body, "\x1f\x8b") { // gzipped profile.proto
			t.Errorf("admin %s: %d, %d bytes", p, code, len(body))
		}
	}
	for _, p := range []string{"/debug/pprof/cmdline", "/debug/pprof/nosuch", "/debug/pprof/profile?seconds=0"} {
		if code, _ := scrape(t, admin.URL+p, ""); code == 200 {
			t.Errorf("admin %s served", p)
		}
	}
	code, body := scrape(t, admin.URL+"/metrics", "")
	if code != 200 {
		t.Fatalf("admin /metrics: %d", code)
	}
	for _, want := range []string{
		`telamentis_http_requests_total{method="GET",route="unmatched",status="404",tenant="none"}`,
		"go_goroutines", "process_", "telamentis_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics output lacks %s", want)
		}
	}
	if code, _ := scrape(t, admin.URL+"/v1/graph/acme/nodes/x", ""); code != http.StatusNotFound {
		t.Errorf("admin serves API paths: %d", code)
	}
}

func TestLabelsAreRoutePatterns(t *testing.T) {
	m := New()
	api := httptest.NewServer(m.Middleware(apiMux(m), nil))
	defer api.Close()
	ids := []string{"0194a6f3-1111-7000-8000-000000000001", "0194a6f3-2222-7000-8000-000000000002", "alias-" + canary}
	for _, id := range ids {
		scrape(t, api.URL+"/v1/graph/acme/nodes/"+id+"?q="+canary, "")
		scrape(t, api.URL+"/v1/graph/acme/nodes/"+id, canary)
	}
	scrape(t, api.URL+"/random/"+canary, canary)
	h, _ := NewAdminHandler(m, AdminDefaults())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	out := rec.Body.String()

	for _, want := range []string{
		`telamentis_http_requests_total{method="GET",route="GET /v1/graph/{tenant}/nodes/{id}",status="200",tenant="none"} 3`,
		`telamentis_http_requests_total{method="GET",route="GET /v1/graph/{tenant}/nodes/{id}",status="401",tenant="none"} 3`,
		`telamentis_http_requests_total{method="GET",route="unmatched",status="404",tenant="none"} 1`,
		`telamentis_auth_failures_total{method="api_key",reason="unknown_key"} 3`,
		`telamentis_auth_failures_total{method="api_key",reason="other"} 3`,
		`telamentis_graph_operations_total{code="not_found",op="node.get",tenant="acme"} 3`,
		`telamentis_audit_writes_total{outcome="error"} 3`,
		`telamentis_ratelimit_rejections_total{scope="ip",tenant="acme"} 3`,
		`telamentis_quota_exceeded_total{resource="nodes",tenant="acme"} 3`,
		`telamentis_store_operation_duration_seconds_count{backend="badger",op="get_node",outcome="ok"} 3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, leak := range append(ids[:2], canary, "CaNaRy", "/random") {
		if strings.Contains(out, leak) {
			t.Errorf("metrics output contains %q", leak)
		}
	}
}

func TestLabelValuesBounded(t *testing.T) {
	tests := []struct{ in, tenant, word string }{
		{"acme", "acme", "other"},
		{"node.upsert", "invalid", "node.upsert"},
		{"", "none", "other"},
		{"Acme", "invalid", "other"},
		{strings.Repeat("a", 80), "invalid", "other"},
		{"a b", "invalid", "other"},
	}
	for _, tt := range tests {
		if got := tenantLabel(tt.in); got != tt.tenant {
			t.Errorf("tenantLabel(%q) = %q, want %q", tt.in, got, tt.tenant)
		}
		if got := word(tt.in); got != tt.word && !(tt.in == "acme" && got == "acme") {
			t.Errorf("word(%q) = %q, want %q", tt.in, got, tt.word)
		}
	}
	if methodLabel("PROPFIND") != "OTHER" {
		t.Error("unknown method kept")
	}
}

func TestAdminToken(t *testing.T) {
	m := New()
	token := telamentis.NewSecret("admin-token-" + strings.Repeat("q7", 16))
	if _, err := NewAdminHandler(m, AdminConfig{Addr: "0.0.0.0:9090"}); err == nil {
		t.Fatal("non-loopback admin without a token accepted")
	}
	if _, err := NewAdminHandler(m, AdminConfig{Addr: "0.0.0.0:9090", Token: telamentis.NewSecret("short")}); err == nil {
		t.Fatal("short admin token accepted")
	}
	h, err := NewAdminHandler(m, AdminConfig{Addr: "0.0.0.0:9090", Token: token, Pprof: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		if code, _ := scrape(t, srv.URL+p, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without token: %d", p, code)
		}
		if code, _ := scrape(t, srv.URL+p, "wrong"+token.Reveal()); code != http.StatusUnauthorized {
			t.Errorf("%s with wrong token: %d", p, code)
		}
		if code, _ := scrape(t, srv.URL+p, token.Reveal()); code != http.StatusOK {
			t.Errorf("%s with token: %d", p, code)
		}
	}
	_, out := scrape(t, srv.URL+"/metrics", token.Reveal())
	if strings.Contains(out, token.Reveal()) {
		t.Error("metrics contain the admin token")
	}
	if !strings.Contains(out, `telamentis_auth_failures_total{method="admin_token",reason="bad_token"} 4`) {
		t.Error("admin token failures not counted")
	}
	h, err = NewAdminHandler(m, AdminConfig{Addr: "127.0.0.1:9090"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("pprof served with Pprof off: %d", rec.Code)
	}
}

func TestAdminTokenSourceFollowsReload(t *testing.T) {
	m := New()
	cur := telamentis.NewSecret(strings.Repeat("a1", 20))
	var mu sync.Mutex
	h, err := NewAdminHandler(m, AdminConfig{Addr: "[::]:9090", TokenSource: func() telamentis.Secret {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	old := cur.Reveal()
	if code, _ := scrape(t, srv.URL+"/metrics", old); code != 200 {
		t.Fatalf("current token: %d", code)
	}
	mu.Lock()
	cur = telamentis.NewSecret(strings.Repeat("b2", 20))
	mu.Unlock()
	if code, _ := scrape(t, srv.URL+"/metrics", old); code != http.StatusUnauthorized {
		t.Fatalf("old token after rotation: %d", code)
	}
	if code, _ := scrape(t, srv.URL+"/metrics", strings.Repeat("b2", 20)); code != 200 {
		t.Fatalf("new token: %d", code)
	}
	mu.Lock()
	cur = telamentis.Secret{}
	mu.Unlock()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an empty token from the source must refuse everyone: %d", resp.StatusCode)
	}
}

func TestNilMetricsIsSafe(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("r", "GET", 200, "t", time.Second)
	m.GraphOp("x", "t", nil)
	m.StoreCall("b", "o", 0, nil)
	m.AuthFailure("a", "b")
	m.RateLimited("ip", "")
	m.QuotaExceeded("nodes", "t")
	m.AuditWrite(nil)
	m.Reload("tls", nil)
	next := http.NotFoundHandler()
	rec := httptest.NewRecorder()
	m.Middleware(next, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 404 {
		t.Fatal("nil middleware did not pass through")
	}
	if _, err := NewAdminHandler(nil, AdminDefaults()); err == nil {
		t.Fatal("admin handler without metrics")
	}
}

// collector is a local OTLP/HTTP trace receiver speaking the real wire
// format (protobuf ExportTraceServiceRequest on POST /v1/traces).
type collector struct {
	mu   sync.Mutex
	reqs []*coltrace.ExportTraceServiceRequest
	hdrs []http.Header
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, &req)
	c.hdrs = append(c.hdrs, r.Header.Clone())
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func TestTracingPropagatesTraceContext(t *testing.T) {
	col := &collector{}
	cs := httptest.NewServer(col)
	defer cs.Close()
	tr, err := NewTracing(t.Context(), TracingConfig{
		Enabled: true, OTLPEndpoint: cs.URL + "/v1/traces", SampleRatio: 1,
		Headers: map[string]telamentis.Secret{"X-Collector-Key": telamentis.NewSecret("collector-key")},
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	mux := apiMux(m)
	api := httptest.NewServer(tr.Middleware(m.Middleware(mux, nil), nil))
	defer api.Close()

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest(http.MethodGet, api.URL+"/v1/graph/acme/nodes/n1?secret="+canary, nil)
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	req.Header.Set("Authorization", "Bearer "+canary)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.reqs) == 0 {
		t.Fatal("collector received nothing")
	}
	if col.hdrs[0].Get("X-Collector-Key") != "collector-key" {
		t.Error("exporter did not send the configured header")
	}
	var found bool
	for _, r := range col.reqs {
		raw, _ := proto.Marshal(r)
		if bytes.Contains(raw, []byte(canary)) || bytes.Contains(raw, []byte("n1")) {
			t.Error("exported spans contain the canary or the raw path")
		}
		for _, rs := range r.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					if s.Name != "GET /v1/graph/{tenant}/nodes/{id}" {
						t.Errorf("span name %q, want the route pattern", s.Name)
					}
					if got := hexs(s.TraceId); got != traceID {
						t.Errorf("trace id %s, want %s from traceparent", got, traceID)
					}
					if got := hexs(s.ParentSpanId); got != parentID {
						t.Errorf("parent span %s, want %s", got, parentID)
					}
					found = true
				}
			}
		}
	}
	if !found {
		t.Fatal("no span exported")
	}
}

func TestNameSpanFromInsideTheHandler(t *testing.T) {
	col := &collector{}
	cs := httptest.NewServer(col)
	defer cs.Close()
	tr, err := NewTracing(t.Context(), TracingConfig{Enabled: true, OTLPEndpoint: cs.URL + "/v1/traces", SampleRatio: 1}, discard())
	if err != nil {
		t.Fatal(err)
	}
	// The handler clones the request before its mux, as httpapi does, so
	// r.Pattern is invisible outside; it names the span itself.
	inner := http.NewServeMux()
	inner.HandleFunc("GET /v1/tenants/{tenant}", func(w http.ResponseWriter, r *http.Request) { NameSpan(r.Context(), r.Pattern) })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.ServeHTTP(w, r.WithContext(r.Context())) })
	srv := httptest.NewServer(tr.Middleware(h, nil))
	defer srv.Close()
	scrape(t, srv.URL+"/v1/tenants/acme", "")
	scrape(t, srv.URL+"/nowhere", "")
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range col.reqs {
		for _, rs := range r.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, s.Name)
				}
			}
		}
	}
	if strings.Join(names, ",") != "GET /v1/tenants/{tenant},GET" {
		t.Fatalf("span names %q", names)
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestTracingOffByDefault(t *testing.T) {
	col := &collector{}
	cs := httptest.NewServer(col)
	defer cs.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", cs.URL)
	var cfg TracingConfig // zero value: off
	tr, err := NewTracing(t.Context(), cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(tr.Middleware(h, nil))
	defer srv.Close()
	scrape(t, srv.URL+"/x", "")
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(col.reqs) != 0 {
		t.Fatal("disabled tracing exported spans")
	}
}

func TestTracingConfigChecks(t *testing.T) {
	for name, cfg := range map[string]TracingConfig{
		"no endpoint":        {Enabled: true, SampleRatio: 1},
		"zero ratio":         {Enabled: true, OTLPEndpoint: "https://c:4318/v1/traces"},
		"plaintext off host": {Enabled: true, OTLPEndpoint: "http://collector.example:4318/v1/traces", SampleRatio: 1},
		"not a url":          {Enabled: true, OTLPEndpoint: "collector:4318", SampleRatio: 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewTracing(t.Context(), cfg, discard()); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
