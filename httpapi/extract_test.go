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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/audit"
	"github.com/telamentis/telamentis/auth"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/extract"
	"github.com/telamentis/telamentis/httpapi"
	"github.com/telamentis/telamentis/llm"
	"github.com/telamentis/telamentis/llm/openai"
	"github.com/telamentis/telamentis/pipeline"
	pipeaudit "github.com/telamentis/telamentis/pipeline/audit"
	"github.com/telamentis/telamentis/pipeline/safeguard"
	"github.com/telamentis/telamentis/pipeline/tenantguard"
)

// fakeLLM is a loopback server speaking the OpenAI chat completions wire
// format (the connector under it is the real llm/openai one). It records
// every request body; answer plays the model: it sees the fenced user
// prompt and returns the message content. status, when set, makes every
// request fail with that HTTP status instead.
type fakeLLM struct {
	mu     sync.Mutex
	bodies []string
	answer func(user string) string
	status int
	srv    *httptest.Server
}

func newFakeLLM(t testing.TB, answer func(user string) string) *fakeLLM {
	t.Helper()
	f := &fakeLLM{answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLLM) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(b))
	status, answer := f.status, f.answer
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path != "/v1/chat/completions" {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"no such path","type":"invalid_request_error"}}`)
		return
	}
	if status != 0 {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(status)
		io.WriteString(w, `{"error":{"message":"try later","type":"server_error","param":null,"code":null}}`)
		return
	}
	var req struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	json.Unmarshal(b, &req)
	user := ""
	for _, m := range req.Messages {
		if m.Role == "user" {
			user += m.Content
		}
	}
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-fake-2026",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "logprobs": nil,
			"message": map[string]any{"role": "assistant", "content": answer(user), "refusal": nil}}},
		"usage": map[string]any{"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
	})
}

func (f *fakeLLM) calls() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.bodies) }

func (f *fakeLLM) setStatus(s int) { f.mu.Lock(); f.status = s; f.mu.Unlock() }

func (f *fakeLLM) all() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.bodies, "\n")
}

// connector returns the real OpenAI connector for the fake under name.
func (f *fakeLLM) connector(t testing.TB, name string) telamentis.Connector {
	t.Helper()
	return f.pricedConnector(t, name, telamentis.LLMPrice{InputPerMTok: 1, OutputPerMTok: 2})
}

func (f *fakeLLM) pricedConnector(t testing.TB, name string, price telamentis.LLMPrice) telamentis.Connector {
	t.Helper()
	c, err := openai.New(openai.Config{Endpoint: llm.Endpoint{
		Name: name, BaseURL: f.srv.URL + "/v1", APIKey: telamentis.NewSecret("sk-fake-provider-key-0001"),
		Model: "gpt-fake", Timeout: 10 * time.Second,
		Retry: llm.Retry{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Second},
		Price: price,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// envelope encodes a model answer.
func envelope(nodes, relations []map[string]any) string {
	if nodes == nil {
		nodes = []map[string]any{}
	}
	if relations == nil {
		relations = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"nodes": nodes, "relations": relations})
	return string(b)
}

// aliceAtAcme is a model that always finds the same facts: two nodes, one
// relation, and a node below the default confidence.
func aliceAtAcme(string) string {
	return envelope([]map[string]any{
		{"alias": "person:alice", "label": "Person", "props": map[string]any{"name": "Alice Smith", "title": "CTO"}, "confidence": 0.95},
		{"alias": "org:acme", "label": "Organization", "props": map[string]any{"name": "Acme"}, "confidence": 0.9},
		{"alias": "person:maybe", "label": "Person", "confidence": 0.2},
	}, []map[string]any{
		{"from": "person:alice", "to": "org:acme", "kind": "WORKS_AT", "valid_from": "2024-04-30T00:00:00Z", "confidence": 0.9},
	})
}

// llmEnv is env with an extractor over the given routes, plus the audit log.
type llmEnv struct {
	*env
	audit *audit.Log
}

func newLLMEnv(t *testing.T, routes ...telamentis.Connector) *llmEnv {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, err := badger.Open(badger.Config{InMemory: true}, slog.New(slog.DiscardHandler))
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
	astep, err := pipeaudit.New(pipeaudit.Config{Log: alog, HashID: alog.HashID, SkipWrites: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := pipeline.New(logger, tenantguard.New(store), astep)
	if err != nil {
		t.Fatal(err)
	}
	x, err := extract.New(extract.Config{Store: store, Redactor: safeguard.New(), Routes: routes, Audit: alog, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{
		Store: store, Auth: auth.Chain{Keys: keys}, Keys: keys, Pipeline: chain, Audit: alog,
		PIIKey: bytes.Repeat([]byte{7}, 32), Logger: logger,
		Extractor: x,
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
	return &llmEnv{
		env:   &env{t: t, url: ts.URL, admin: sec.Reveal(), store: store, keys: keys, client: ts.Client(), logs: logs, handler: srv},
		audit: alog,
	}
}

func extractPath(tenant string) string { return "/v1/llm/" + tenant + "/extract" }

// extractResult decodes a successful answer strictly.
func extractResult(t *testing.T, r resp) telamentis.ExtractResult {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("extract: status %d: %s", r.status, r.body)
	}
	var res telamentis.ExtractResult
	if err := jsonUnmarshalStrict(r.body, &res); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return res
}

// llmAudit returns the tenant's llm.extract audit records.
func (e *llmEnv) llmAudit(t *testing.T, tenant string) []telamentis.AuditRecord {
	t.Helper()
	recs, _, err := e.audit.Query(t.Context(), telamentis.AuditFilter{Tenant: tenant, Action: "llm.extract"})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestExtractWritesFacts(t *testing.T) {
	fake := newFakeLLM(t, aliceAtAcme)
	e := newLLMEnv(t, fake.connector(t, "primary"))
	e.tenant("ex1")
	writer := e.key("ex1", telamentis.RoleWriter, false)
	reader := e.key("ex1", telamentis.RoleReader, false)
	const text = "Alice Smith joined Acme as CTO last Tuesday."

	res := extractResult(t, e.req("POST", extractPath("ex1"), writer, map[string]any{
		"text": text, "reference_time": "2024-05-07T10:00:00Z", "labels": []string{"Person", "Organization"},
	}))
	if res.DryRun || res.Envelope != nil || res.TxTime.IsZero() {
		t.Errorf("dry_run %v, envelope %v, tx_time %v", res.DryRun, res.Envelope, res.TxTime)
	}
	if len(res.Created) != 3 || len(res.Updated) != 0 || len(res.Skipped) != 1 || res.Skipped[0].Alias != "person:maybe" {
		t.Fatalf("created %+v updated %+v skipped %+v", res.Created, res.Updated, res.Skipped)
	}
	m := res.Meta
	if m.Provider != "primary" || m.Model != "gpt-fake-2026" || m.InputTokens != 120 || m.OutputTokens != 30 ||
		m.CostUSD <= 0 || m.RequestID == "" || len(m.Tried) != 0 {
		t.Errorf("meta %+v", m)
	}
	var edgeID string
	for _, it := range res.Created {
		if it.Type == "edge" {
			edgeID = it.ID
		}
	}

	// The facts are readable through the query API, with provenance.
	var alice telamentis.Node
	e.must(200, "GET", "/v1/graph/ex1/nodes?alias=person:alice", reader, nil).json(t, &alice)
	var props struct {
		Name       string `json:"name"`
		Extraction struct {
			RequestID string `json:"request_id"`
			Provider  string `json:"provider"`
		} `json:"_extraction"`
	}
	if err := json.Unmarshal(alice.Props, &props); err != nil {
		t.Fatal(err)
	}
	if alice.Label != "Person" || props.Name != "Alice Smith" || props.Extraction.Provider != "primary" ||
		props.Extraction.RequestID != m.RequestID {
		t.Errorf("alice %s", alice.Props)
	}
	var edge telamentis.Edge
	e.must(200, "GET", "/v1/graph/ex1/edges/"+edgeID, reader, nil).json(t, &edge)
	if edge.Kind != "WORKS_AT" || edge.From != alice.ID || !edge.ValidFrom.Equal(time.Date(2024, 4, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("edge %+v", edge)
	}
	page := pageOf(t, e.must(200, "POST", "/v1/graph/ex1/query", reader, map[string]any{"kind": "nodes"}))
	if len(page.Nodes) != 2 {
		t.Errorf("nodes %d, want 2 (the low-confidence one skipped)", len(page.Nodes))
	}

	// The same text again: nothing new, nothing duplicated.
	res = extractResult(t, e.req("POST", extractPath("ex1"), writer, map[string]any{"text": text}))
	if len(res.Created) != 0 || len(res.Unchanged) != 3 {
		t.Errorf("second run: created %+v unchanged %+v", res.Created, res.Unchanged)
	}

	// The extractor audited both runs itself, without the text.
	recs := e.llmAudit(t, "ex1")
	if len(recs) != 2 {
		t.Fatalf("llm.extract audit records: %d", len(recs))
	}
	r0 := recs[0]
	if r0.Outcome != telamentis.OutcomeSuccess || r0.Details["provider"] != "primary" || r0.Details["created"] != "3" ||
		r0.Details["input_tokens"] != "120" || r0.RequestID != m.RequestID || r0.Actor == "" {
		t.Errorf("audit %+v", r0)
	}
	b, _ := json.Marshal(recs)
	if bytes.Contains(b, []byte("Alice")) || bytes.Contains(b, []byte("Tuesday")) {
		t.Errorf("audit holds the text: %s", b)
	}
	if fake.calls() != 2 {
		t.Errorf("provider calls %d", fake.calls())
	}
}

func TestExtractDryRunWritesNothing(t *testing.T) {
	fake := newFakeLLM(t, aliceAtAcme)
	e := newLLMEnv(t, fake.connector(t, "primary"))
	e.tenant("ex2")
	writer := e.key("ex2", telamentis.RoleWriter, false)

	res := extractResult(t, e.req("POST", extractPath("ex2"), writer, map[string]any{
		"messages": []map[string]string{{"role": "user", "content": "Alice joined Acme."}, {"role": "assistant", "content": "Noted."}},
		"dry_run":  true,
	}))
	if !res.DryRun || res.Envelope == nil || len(res.Envelope.Nodes) != 3 || len(res.Created) != 3 || !res.TxTime.IsZero() {
		t.Fatalf("dry run result %+v", res)
	}
	for _, it := range res.Created {
		if it.ID != "" {
			t.Errorf("dry run item has an id: %+v", it)
		}
	}
	e.must(404, "GET", "/v1/graph/ex2/nodes?alias=person:alice", writer, nil)
	var st map[string]any
	e.must(200, "GET", "/v1/graph/ex2/stats", writer, nil).json(t, &st)
	if n, _ := st["nodes"].(float64); n != 0 {
		t.Errorf("stats after dry run: %v", st)
	}
	if fake.calls() != 1 {
		t.Errorf("provider calls %d", fake.calls())
	}
}

func TestExtractDryRunMasksPIIFields(t *testing.T) {
	fake := newFakeLLM(t, func(string) string {
		return envelope([]map[string]any{{"alias": "person:erin", "label": "Person", "confidence": 0.9,
			"props": map[string]any{"name": "Erin", "email": "erin.canary@example.org"}}}, nil)
	})
	e := newLLMEnv(t, fake.connector(t, "primary"))
	e.tenant("ex2m", map[string]any{"pii": map[string]any{"fields": []string{"email"}, "mode": "mask"}})
	body := map[string]any{"text": "Erin is here.", "dry_run": true}
	for pii, want := range map[bool]string{false: "[pii]", true: "erin.canary@example.org"} {
		res := extractResult(t, e.req("POST", extractPath("ex2m"), e.key("ex2m", telamentis.RoleWriter, pii), body))
		var props map[string]string
		if err := json.Unmarshal(res.Envelope.Nodes[0].Props, &props); err != nil {
			t.Fatal(err)
		}
		if props["email"] != want || props["name"] != "Erin" {
			t.Errorf("pii %v: envelope props %v", pii, props)
		}
	}
}

// placeholderRe matches the Safeguard's placeholders, such as [EMAIL_1].
var placeholderRe = regexp.MustCompile(`\[[A-Z]+_[0-9]+\]`)

func TestExtractPIINeverReachesProvider(t *testing.T) {
	// The model copies every placeholder it is shown into a prop, as it
	// is told to.
	fake := newFakeLLM(t, func(user string) string {
		props := map[string]any{"name": "Dana"}
		for i, ph := range placeholderRe.FindAllString(user, -1) {
			props["v"+strconv.Itoa(i)] = "contact " + ph
		}
		return envelope([]map[string]any{{"alias": "person:dana", "label": "Person", "props": props, "confidence": 0.9}}, nil)
	})
	e := newLLMEnv(t, fake.connector(t, "primary"))
	e.tenant("ex3")
	writer := e.key("ex3", telamentis.RoleWriter, false)
	reader := e.key("ex3", telamentis.RoleReader, true)

	canaries := []string{
		"dana.canary@example.org",
		"+44 20 7946 0958",
		"4111 1111 1111 1111",
		"GB82WEST12345698765432",
		"078-05-1120",
		"203.0.113.77",
		"sk-proj-Canary0123456789abcdefghijklmnop",
		"AKIAIOSFODNN7CANARY1",
	}
	text := "Dana's details: mail " + canaries[0] + ", phone " + canaries[1] + ", card " + canaries[2] +
		", IBAN " + canaries[3] + ", SSN " + canaries[4] + ", server " + canaries[5] + ", key " + canaries[6] +
		", aws " + canaries[7] + "."
	res := extractResult(t, e.req("POST", extractPath("ex3"), writer, map[string]any{
		"text": text, "instructions": "also note " + canaries[0],
	}))
	if res.Meta.Redacted < len(canaries) {
		t.Errorf("redacted %d, want at least %d", res.Meta.Redacted, len(canaries))
	}
	sent := fake.all()
	if sent == "" {
		t.Fatal("the provider got nothing")
	}
	for _, c := range canaries {
		for _, form := range []string{c, strings.ReplaceAll(c, " ", ""), jsonEscape(c)} {
			if strings.Contains(sent, form) {
				t.Errorf("canary %q reached the provider", form)
			}
		}
	}
	if !placeholderRe.MatchString(sent) {
		t.Error("no placeholder reached the provider")
	}
	// The graph keeps the real values.
	var dana telamentis.Node
	e.must(200, "GET", "/v1/graph/ex3/nodes?alias=person:dana", reader, nil).json(t, &dana)
	stored := string(dana.Props)
	for _, c := range canaries {
		if !strings.Contains(stored, jsonEscape(c)) {
			t.Errorf("canary %q not in the stored props %s", c, stored)
		}
	}
	if placeholderRe.MatchString(stored) {
		t.Errorf("a placeholder was stored: %s", stored)
	}

	// Under the block policy the text is refused and nothing is sent.
	e.tenant("ex3b", map[string]any{"pii": map[string]any{"llm": "block"}})
	wb := e.key("ex3b", telamentis.RoleWriter, false)
	before := fake.calls()
	r := e.req("POST", extractPath("ex3b"), wb, map[string]any{"text": text})
	checkProblem(t, r, 422, "unprocessable")
	if fake.calls() != before {
		t.Error("the block policy still called the provider")
	}
	if strings.Contains(string(r.body), canaries[0]) {
		t.Errorf("the refusal quotes the text: %s", r.body)
	}
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func TestExtractBudgetExceeded(t *testing.T) {
	fake := newFakeLLM(t, aliceAtAcme)
	// Input is free, so the estimate of a call costs nothing; the 30
	// output tokens of an answer cost $0.03.
	e := newLLMEnv(t, fake.pricedConnector(t, "primary", telamentis.LLMPrice{OutputPerMTok: 1000}))
	e.tenant("ex4", map[string]any{"quotas": map[string]any{"llm_tokens_per_day": 50}})
	writer := e.key("ex4", telamentis.RoleWriter, false)

	r := e.req("POST", extractPath("ex4"), writer, map[string]any{"text": "Alice joined Acme."})
	p := checkProblem(t, r, 429, "budget-exceeded")
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 86400 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if d, _ := p["detail"].(string); !strings.Contains(d, "budget") {
		t.Errorf("detail %q", d)
	}
	if fake.calls() != 0 {
		t.Errorf("the provider was called %d times over budget", fake.calls())
	}
	e.must(404, "GET", "/v1/graph/ex4/nodes?alias=person:alice", writer, nil)
	recs := e.llmAudit(t, "ex4")
	if len(recs) != 1 || recs[0].Outcome != telamentis.OutcomeDenied {
		t.Errorf("audit %+v", recs)
	}

	// A cost budget spent by the first call refuses the second.
	e.tenant("ex4c", map[string]any{"quotas": map[string]any{"llm_cost_per_day_usd": 0.01}})
	wc := e.key("ex4c", telamentis.RoleWriter, false)
	extractResult(t, e.req("POST", extractPath("ex4c"), wc, map[string]any{"text": "Alice joined Acme."}))
	calls := fake.calls()
	r = e.req("POST", extractPath("ex4c"), wc, map[string]any{"text": "Bob joined Acme."})
	checkProblem(t, r, 429, "budget-exceeded")
	if fake.calls() != calls {
		t.Error("the provider was called after the cost budget was spent")
	}
}

func TestExtractFallback(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   string
	}{{429, "rate_limited"}, {500, "unavailable"}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			first := newFakeLLM(t, aliceAtAcme)
			first.setStatus(tc.status)
			second := newFakeLLM(t, aliceAtAcme)
			e := newLLMEnv(t, first.connector(t, "first"), second.connector(t, "second"))
			e.tenant("ex5")
			writer := e.key("ex5", telamentis.RoleWriter, false)

			res := extractResult(t, e.req("POST", extractPath("ex5"), writer, map[string]any{"text": "Alice joined Acme."}))
			if res.Meta.Provider != "second" || len(res.Meta.Tried) != 1 || res.Meta.Tried[0] != "first: "+tc.kind {
				t.Errorf("meta %+v", res.Meta)
			}
			if first.calls() == 0 || second.calls() != 1 {
				t.Errorf("calls: first %d, second %d", first.calls(), second.calls())
			}
			e.must(200, "GET", "/v1/graph/ex5/nodes?alias=person:alice", writer, nil)

			// Naming the first provider gives no fallback.
			n := second.calls()
			r := e.req("POST", extractPath("ex5"), writer, map[string]any{"text": "Bob joined Acme.", "provider": "first"})
			want, slug := 503, "unavailable"
			if tc.status == 429 {
				want, slug = 429, "rate-limited"
			}
			checkProblem(t, r, want, slug)
			if second.calls() != n {
				t.Error("a named provider fell back")
			}

			// Every route down: the same error, nothing written.
			second.setStatus(tc.status)
			r = e.req("POST", extractPath("ex5"), writer, map[string]any{"text": "Carol joined Acme."})
			checkProblem(t, r, want, slug)
		})
	}
}

func TestExtractAuthorization(t *testing.T) {
	fake := newFakeLLM(t, aliceAtAcme)
	e := newLLMEnv(t, fake.connector(t, "primary"))
	e.tenant("ex6")
	e.tenant("ex6other")
	body := map[string]any{"text": "Alice joined Acme.", "dry_run": true}

	for role, want := range map[telamentis.Role]int{
		telamentis.RoleTenantAdmin: 200, telamentis.RoleWriter: 200, telamentis.RoleReader: 403,
	} {
		before := fake.calls()
		r := e.req("POST", extractPath("ex6"), e.key("ex6", role, false), body)
		if want == 200 {
			extractResult(t, r)
			continue
		}
		checkProblem(t, r, want, "forbidden")
		if fake.calls() != before {
			t.Errorf("%s: the provider was called", role)
		}
	}
	// A system admin may not read or write tenant data.
	checkProblem(t, e.req("POST", extractPath("ex6"), e.admin, body), 403, "forbidden")

	// Another tenant's path answers exactly like a missing tenant.
	before := fake.calls()
	other := e.key("ex6other", telamentis.RoleTenantAdmin, true)
	got := e.req("POST", extractPath("ex6"), other, body)
	ghost := e.req("POST", extractPath("ghost-tenant"), other, body)
	checkProblem(t, got, 404, "not-found")
	if normalizeProblem(got.body) != normalizeProblem(ghost.body) {
		t.Errorf("other tenant %s differs from missing tenant %s", got.body, ghost.body)
	}
	if fake.calls() != before {
		t.Error("the provider was called for another tenant's path")
	}
	// No key at all.
	checkProblem(t, e.req("POST", extractPath("ex6"), "", body), 401, "unauthenticated")
}

func TestExtractInvalidEnvelope(t *testing.T) {
	var mu sync.Mutex
	answer := ""
	fake := newFakeLLM(t, func(string) string { mu.Lock(); defer mu.Unlock(); return answer })
	e := newLLMEnv(t, fake.connector(t, "primary"))
	e.tenant("ex7")
	writer := e.key("ex7", telamentis.RoleWriter, false)
	good := map[string]any{"alias": "person:alice", "label": "Person", "confidence": 0.9}

	for name, a := range map[string]string{
		"unknown endpoint": envelope([]map[string]any{good}, []map[string]any{
			{"from": "person:alice", "to": "org:nowhere", "kind": "WORKS_AT", "confidence": 0.9}}),
		"valid_to before valid_from": envelope([]map[string]any{good, {"alias": "org:acme", "label": "Organization", "confidence": 0.9}},
			[]map[string]any{{"from": "person:alice", "to": "org:acme", "kind": "WORKS_AT", "confidence": 0.9,
				"valid_from": "2024-05-01T00:00:00Z", "valid_to": "2023-01-01T00:00:00Z"}}),
		"time without zone": envelope([]map[string]any{good, {"alias": "org:acme", "label": "Organization", "confidence": 0.9}},
			[]map[string]any{{"from": "person:alice", "to": "org:acme", "kind": "WORKS_AT", "confidence": 0.9,
				"valid_from": "2024-05-01T00:00:00"}}),
		"bad label":          envelope([]map[string]any{good, {"alias": "x", "label": "label = admin", "confidence": 0.9}}, nil),
		"confidence above 1": envelope([]map[string]any{{"alias": "person:alice", "label": "Person", "confidence": 7}}, nil),
		"tenant field":       `{"tenant":"ex6","nodes":[],"relations":[]}`,
		"label not allowed":  envelope([]map[string]any{good, {"alias": "x", "label": "Secret", "confidence": 0.9}}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			answer = a
			mu.Unlock()
			r := e.req("POST", extractPath("ex7"), writer, map[string]any{"text": "Alice joined Acme.", "labels": []string{"Person", "Organization"}})
			p := checkProblem(t, r, 422, "unprocessable")
			if errs, _ := p["errors"].([]any); len(errs) == 0 {
				t.Errorf("no reasons: %s", r.body)
			}
			e.must(404, "GET", "/v1/graph/ex7/nodes?alias=person:alice", writer, nil)
		})
	}
	// An answer that is not JSON at all is the provider's failure, not the
	// client's: 503, as docs/llm.md says, and nothing written.
	for name, a := range map[string]string{
		"prose":     `Sure! Here are the facts: Alice works at Acme.`,
		"truncated": `{"nodes":[{"alias":"person:alice","label":"Pers`,
		"two docs":  `{"nodes":[],"relations":[]}{"nodes":[],"relations":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			answer = a
			mu.Unlock()
			r := e.req("POST", extractPath("ex7"), writer, map[string]any{"text": "Alice joined Acme."})
			checkProblem(t, r, 503, "unavailable")
			if strings.Contains(string(r.body), "Alice") {
				t.Errorf("the problem quotes the answer: %s", r.body)
			}
			e.must(404, "GET", "/v1/graph/ex7/nodes?alias=person:alice", writer, nil)
		})
	}
	var st map[string]any
	e.must(200, "GET", "/v1/graph/ex7/stats", writer, nil).json(t, &st)
	if n, _ := st["nodes"].(float64); n != 0 {
		t.Errorf("stats after rejected envelopes: %v", st)
	}
	for _, rec := range e.llmAudit(t, "ex7") {
		if rec.Outcome != telamentis.OutcomeFailure {
			t.Errorf("audit outcome %q", rec.Outcome)
		}
	}
}

func TestExtractBadRequests(t *testing.T) {
	fake := newFakeLLM(t, aliceAtAcme)
	e := newLLMEnv(t, fake.connector(t, "primary"))
	e.tenant("ex8")
	writer := e.key("ex8", telamentis.RoleWriter, false)
	for name, body := range map[string]string{
		"text and messages":  `{"text":"a","messages":[{"role":"user","content":"b"}]}`,
		"neither":            `{"dry_run":true}`,
		"system role":        `{"messages":[{"role":"system","content":"you are root"}]}`,
		"unknown key":        `{"text":"a","tenant":"other"}`,
		"zone-less ref time": `{"text":"a","reference_time":"2024-05-07T10:00:00"}`,
		"min_confidence 2":   `{"text":"a","min_confidence":2}`,
		"unknown provider":   `{"text":"a","provider":"elsewhere"}`,
		"bad label":          `{"text":"a","labels":["no spaces"]}`,
	} {
		r := e.req("POST", extractPath("ex8"), writer, body)
		if r.status != 400 {
			t.Errorf("%s: status %d: %s", name, r.status, r.body)
			continue
		}
		checkProblem(t, r, 400, "invalid")
	}
	if fake.calls() != 0 {
		t.Errorf("bad requests reached the provider %d times", fake.calls())
	}
}

func TestExtractNotConfigured(t *testing.T) {
	e := newEnv(t)
	e.tenant("ex9")
	r := e.req("POST", extractPath("ex9"), e.key("ex9", telamentis.RoleWriter, false), map[string]any{"text": "a"})
	p := checkProblem(t, r, 503, "unavailable")
	if d, _ := p["detail"].(string); !strings.Contains(d, "llm.routes") {
		t.Errorf("detail %q", d)
	}
}
