package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/audit"
	"github.com/telamentis/telamentis/auth"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/httpapi"
	"github.com/telamentis/telamentis/pipeline"
	pipeaudit "github.com/telamentis/telamentis/pipeline/audit"
	"github.com/telamentis/telamentis/pipeline/tenantguard"
)

// env is a real server on a loopback port: the badger store in memory,
// auth.Keys, the pipeline with the tenant guard, and httpapi.
type env struct {
	t       testing.TB
	url     string
	admin   string // a system admin API key
	store   envStore
	keys    *auth.Keys
	client  *http.Client
	logs    *syncBuffer
	handler http.Handler
}

type envOptions struct {
	extraSteps  []telamentis.Step
	dir         string    // on-disk store in dir (default in memory)
	masterKey   []byte    // with dir: encrypt at rest
	noSync      bool      // with dir: do not fsync commits
	store       storeKind // badger (default) or postgres (stores_test.go)
	guard       httpapi.AuthGuard
	auditWrites bool // the audit step records writes too (as in production)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newEnv(t testing.TB, opts ...envOptions) *env {
	t.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if _, ok := t.(*testing.B); ok {
		logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	bcfg := badger.Config{InMemory: true}
	if o.dir != "" {
		bcfg = badger.Config{Dir: o.dir, MasterKey: o.masterKey, Unencrypted: len(o.masterKey) == 0, NoSync: o.noSync}
	}
	store, err := openEnvStore(t, o.store, bcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys := auth.NewKeys(store, auth.KeysConfig{}, logger)
	alog, err := audit.Open(audit.Config{Dir: t.TempDir(), Key: telamentis.NewSecret(strings.Repeat("k", 32))}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })
	astep, err := pipeaudit.New(pipeaudit.Config{Log: alog, HashID: alog.HashID, SkipWrites: !o.auditWrites}, logger)
	if err != nil {
		t.Fatal(err)
	}
	steps := append([]telamentis.Step{tenantguard.New(store), astep}, o.extraSteps...)
	chain, err := pipeline.New(logger, steps...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{
		Store: store, Auth: auth.Chain{Keys: keys}, Keys: keys, Pipeline: chain, Audit: alog,
		PIIKey: bytes.Repeat([]byte{7}, 32), Logger: logger,
		AuthGuard: o.guard,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	_, sec, err := keys.IssueKey(context.Background(), telamentis.NewKey{Role: telamentis.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, url: ts.URL, admin: sec.Reveal(), store: store, keys: keys, client: ts.Client(), logs: logs, handler: srv}
}

// resp is a read response.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return string(r.body) }

// json decodes the body into v, failing the test on error.
func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// m decodes the body into a generic map.
func (r resp) m(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	r.json(t, &v)
	return v
}

// req sends a request. body may be nil, a string/[]byte (sent as is) or a
// value (JSON-encoded). hdr are extra header pairs.
func (e *env) req(method, path, key string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	r, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.client.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// must sends a request and fails unless the status is want.
func (e *env) must(want int, method, path, key string, body any) resp {
	e.t.Helper()
	r := e.req(method, path, key, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

// tenant creates a tenant as admin.
func (e *env) tenant(id string, extra ...map[string]any) {
	e.t.Helper()
	body := map[string]any{"id": id, "name": "tenant " + id}
	for _, x := range extra {
		for k, v := range x {
			body[k] = v
		}
	}
	e.must(201, "POST", "/v1/tenants", e.admin, body)
}

// key issues a key of tenant with role through the API and returns it.
func (e *env) key(tenant string, role telamentis.Role, pii bool) string {
	e.t.Helper()
	r := e.must(201, "POST", "/v1/tenants/"+tenant+"/keys", e.admin, map[string]any{"role": role, "pii": pii})
	var out struct {
		Secret string `json:"secret"`
	}
	r.json(e.t, &out)
	return out.Secret
}

// node upserts a node and returns its id.
func (e *env) node(tenant, key, alias, label string, props map[string]any) string {
	e.t.Helper()
	body := map[string]any{"alias": alias, "label": label}
	if props != nil {
		body["props"] = props
	}
	r := e.req("POST", "/v1/graph/"+tenant+"/nodes", key, body)
	if r.status != 201 && r.status != 200 {
		e.t.Fatalf("upsert node: %d %s", r.status, r.body)
	}
	var out telamentis.NodeResult
	r.json(e.t, &out)
	return out.Node.ID
}

// edge upserts an edge between aliases and returns its id.
func (e *env) edge(tenant, key, alias, from, to, kind, validFrom string) string {
	e.t.Helper()
	body := map[string]any{"alias": alias, "from": map[string]string{"alias": from},
		"to": map[string]string{"alias": to}, "kind": kind}
	if validFrom != "" {
		body["valid_from"] = validFrom
	}
	r := e.req("POST", "/v1/graph/"+tenant+"/edges", key, body)
	if r.status != 201 && r.status != 200 {
		e.t.Fatalf("upsert edge: %d %s", r.status, r.body)
	}
	var out telamentis.EdgeResult
	r.json(e.t, &out)
	return out.Edge.ID
}

var requestIDRe = regexp.MustCompile(`[0-9a-f]{32}`)

// normalizeProblem blanks request ids so two problem bodies compare.
func normalizeProblem(b []byte) string {
	return requestIDRe.ReplaceAllString(string(b), "RID")
}

// checkProblem checks the RFC 9457 shape of an error response.
func checkProblem(t testing.TB, r resp, status int, slug string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q", ct)
	}
	p := r.m(t)
	if p["type"] != httpapi.ProblemBase+slug {
		t.Fatalf("type %v, want %s", p["type"], slug)
	}
	if p["status"] != float64(status) || p["title"] == "" {
		t.Fatalf("bad problem %s", r.body)
	}
	rid := r.header.Get("X-Request-ID")
	if rid == "" || p["request_id"] != rid || p["instance"] != "urn:telamentis:request:"+rid {
		t.Fatalf("request id %q not in problem %s", rid, r.body)
	}
	return p
}

// jsonUnmarshalStrict decodes with unknown fields refused.
func jsonUnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// pageOf decodes a fresh Page.
func pageOf(t testing.TB, r resp) telamentis.Page {
	t.Helper()
	var p telamentis.Page
	r.json(t, &p)
	return p
}
