package extract_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/extract"
	"github.com/telamentis/telamentis/llm"
	"github.com/telamentis/telamentis/llm/openai"
	"github.com/telamentis/telamentis/pipeline/safeguard"
)

// provider is a loopback server speaking the OpenAI chat completions wire
// format. answer sees the user message (the fenced prompt) and the system
// prompt and returns the model's content; it stands in for a model, and
// for the injection tests a model that obeys whatever the text says.
type provider struct {
	mu       sync.Mutex
	bodies   []string // every raw request body
	answer   func(system, user string) string
	status   int // if non-zero, answer every request with this status
	usageIn  int64
	usageOut int64
	srv      *httptest.Server
}

func newProvider(t testing.TB, answer func(system, user string) string) *provider {
	t.Helper()
	p := &provider{answer: answer, usageIn: 120, usageOut: 30}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.bodies = append(p.bodies, string(b))
	status, answer, in, out := p.status, p.answer, p.usageIn, p.usageOut
	p.mu.Unlock()
	if status != 0 {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(status)
		io.WriteString(w, `{"error":{"message":"unavailable","type":"server_error"}}`)
		return
	}
	var req struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	json.Unmarshal(b, &req)
	var system, user string
	for _, m := range req.Messages {
		if m.Role == "system" {
			system = m.Content
		} else {
			user = m.Content
		}
	}
	content := answer(system, user)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "fake-model-1",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": content, "refusal": nil}}},
		"usage": map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out},
	})
}

func (p *provider) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.bodies...)
}

func (p *provider) connector(t testing.TB, name string, price telamentis.LLMPrice) telamentis.Connector {
	t.Helper()
	c, err := openai.New(openai.Config{Endpoint: llm.Endpoint{Name: name, BaseURL: p.srv.URL + "/v1",
		Model: "fake-model", Timeout: 5 * time.Second, Price: price, Retry: llm.Retry{MaxAttempts: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fixed answers every request with the same content.
func fixed(content string) func(string, string) string {
	return func(string, string) string { return content }
}

// env is the test environment: a badger store in memory with tenants
// "acme" and "other", the Safeguard, and a Service.
type env struct {
	store *badger.Store
	svc   *extract.Service
}

func newEnv(t testing.TB, cfg extract.Config, tenants ...telamentis.Tenant) *env {
	t.Helper()
	st, err := badger.Open(badger.Config{InMemory: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if len(tenants) == 0 {
		tenants = []telamentis.Tenant{{ID: "acme"}}
	}
	tenants = append(tenants, telamentis.Tenant{ID: "other"})
	for _, tn := range tenants {
		if _, err := st.CreateTenant(t.Context(), tn); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Store = st
	if cfg.Redactor == nil {
		cfg.Redactor = safeguard.New()
	}
	svc, err := extract.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: st, svc: svc}
}

func (e *env) stats(t testing.TB, tenant string) telamentis.TenantStats {
	t.Helper()
	s, err := e.store.Stats(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) node(t testing.TB, tenant, alias string) telamentis.Node {
	t.Helper()
	n, err := e.store.GetNode(t.Context(), tenant, telamentis.Ref{Alias: alias}, time.Time{})
	if err != nil {
		t.Fatalf("node %q: %v", alias, err)
	}
	return n
}

func props(t testing.TB, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// bigEnvelope returns an envelope of n nodes and m relations, aliases
// suffixed with tag.
func bigEnvelope(n, m int, tag string) string {
	var b strings.Builder
	b.WriteString(`{"nodes":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"alias":"person:%s-%d","label":"Person","props":{"name":"Person %d","rank":%d},"confidence":0.9}`, tag, i, i, i)
	}
	b.WriteString(`],"relations":[`)
	for j := range m {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"from":"person:%s-%d","to":"person:%s-%d","kind":"KNOWS","valid_from":"2024-01-%02dT00:00:00Z","confidence":0.8}`,
			tag, j%n, tag, (j+1+j/n)%n, 1+j%28)
	}
	b.WriteString(`]}`)
	return b.String()
}

var placeholderRe = regexp.MustCompile(`\[[A-Z]+_[0-9]+\]`)
