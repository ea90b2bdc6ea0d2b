package openai_test

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/llm"
	"github.com/telamentis/telamentis/llm/openai"
)

// fake is a loopback server speaking the chat completions wire format. Each
// request is answered by the next handler of the script (the last repeats).
type fake struct {
	mu      sync.Mutex
	script  []http.HandlerFunc
	bodies  []map[string]any
	auth    []string
	headers []http.Header
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	f.bodies = append(f.bodies, body)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.headers = append(f.headers, r.Header.Clone())
	n := len(f.bodies)
	h := f.script[min(n, len(f.script))-1]
	f.mu.Unlock()
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (f *fake) calls() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.bodies) }

func completion(content, finish, refusal string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		msg := map[string]any{"role": "assistant", "content": content, "refusal": nil}
		if refusal != "" {
			msg["content"] = nil
			msg["refusal"] = refusal
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-123", "object": "chat.completion", "created": 1700000000,
			"model":   "gpt-4o-mini-2024-07-18",
			"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
			"usage": map[string]any{"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
				"prompt_tokens_details": map[string]any{"cached_tokens": 0}, "completion_tokens_details": map[string]any{"reasoning_tokens": 0}},
			"system_fingerprint": "fp_1",
		})
	}
}

func apiError(status int, retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, `{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
	}
}

func raw(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func newConn(t *testing.T, url string, mod func(*openai.Config)) *openai.Connector {
	t.Helper()
	cfg := openai.Config{Endpoint: llm.Endpoint{
		BaseURL: url + "/v1", APIKey: telamentis.NewSecret("sk-test-key"), Model: "gpt-4o-mini",
		Timeout: 5 * time.Second,
		// A connector that ignored Retry-After would wait an hour here.
		Retry: llm.Retry{MaxAttempts: 3, BaseDelay: time.Hour, MaxDelay: 2 * time.Hour},
		Price: telamentis.LLMPrice{InputPerMTok: 0.15, OutputPerMTok: 0.60},
	}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := openai.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var req = telamentis.LLMRequest{
	System:     "You extract facts.",
	Messages:   []telamentis.LLMMessage{{Role: "user", Content: "Alice works at Acme."}},
	Schema:     json.RawMessage(`{"type":"object"}`),
	SchemaName: "envelope",
}

func TestComplete(t *testing.T) {
	// The environment of the process is not configuration: nothing of
	// another account may be sent.
	t.Setenv("OPENAI_ORG_ID", "org-ambient")
	t.Setenv("OPENAI_PROJECT_ID", "proj-ambient")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.2:1/v1")
	f := &fake{script: []http.HandlerFunc{completion(`{"nodes":[],"relations":[]}`, "stop", "")}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	resp, err := newConn(t, srv.URL, nil).Complete(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != `{"nodes":[],"relations":[]}` || resp.Model != "gpt-4o-mini-2024-07-18" || resp.Provider != "openai" {
		t.Errorf("resp = %+v", resp)
	}
	if resp.Usage != (telamentis.LLMUsage{InputTokens: 120, OutputTokens: 30}) || resp.Attempts != 1 {
		t.Errorf("usage = %+v attempts %d", resp.Usage, resp.Attempts)
	}
	if want := (120*0.15 + 30*0.60) / 1e6; resp.CostUSD < want*0.999 || resp.CostUSD > want*1.001 {
		t.Errorf("cost = %v, want %v", resp.CostUSD, want)
	}
	body := f.bodies[0]
	if f.auth[0] != "Bearer sk-test-key" || body["model"] != "gpt-4o-mini" {
		t.Errorf("auth %q model %v", f.auth[0], body["model"])
	}
	if h := f.headers[0]; h.Get("OpenAI-Organization") != "" || h.Get("OpenAI-Project") != "" {
		t.Errorf("ambient account headers sent: %v", h)
	}
	if body["max_completion_tokens"] != float64(8192) {
		t.Errorf("max_completion_tokens = %v", body["max_completion_tokens"])
	}
	rf, _ := body["response_format"].(map[string]any)
	js, _ := rf["json_schema"].(map[string]any)
	if rf["type"] != "json_schema" || js["name"] != "envelope" || js["strict"] != false || js["schema"] == nil {
		t.Errorf("response_format = %v", body["response_format"])
	}
	msgs, _ := body["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || msgs[1].(map[string]any)["role"] != "user" {
		t.Errorf("messages = %v", msgs)
	}
}

func TestJSONObjectMode(t *testing.T) {
	f := &fake{script: []http.HandlerFunc{completion(`{}`, "stop", "")}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newConn(t, srv.URL, func(c *openai.Config) {
		c.Name = "ollama"
		c.Mode = openai.ModeJSONObject
		c.APIKey = telamentis.Secret{}
	})
	resp, err := c.Complete(t.Context(), req)
	if err != nil || resp.Provider != "ollama" {
		t.Fatal(err, resp.Provider)
	}
	if rf, _ := f.bodies[0]["response_format"].(map[string]any); rf["type"] != "json_object" || rf["json_schema"] != nil {
		t.Errorf("response_format = %v", f.bodies[0]["response_format"])
	}
	if f.auth[0] != "" {
		t.Errorf("Authorization %q sent without a key", f.auth[0])
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name     string
		script   []http.HandlerFunc
		mod      func(*openai.Config)
		wantCode telamentis.Code
		wantKind telamentis.ProviderErrorKind
		calls    int
	}{
		{"429 then success honours Retry-After", []http.HandlerFunc{apiError(429, "0.01"), completion("{}", "stop", "")}, nil, "", "", 2},
		{"429 http-date Retry-After", []http.HandlerFunc{apiError(429, time.Now().UTC().Format(http.TimeFormat)), completion("{}", "stop", "")}, nil, "", "", 2},
		{"429 persistent gives up after max attempts", []http.HandlerFunc{apiError(429, "0")}, nil, telamentis.CodeRateLimited, telamentis.ProviderRateLimited, 3},
		{"429 asking too long is not waited for", []http.HandlerFunc{apiError(429, "86000")}, nil, telamentis.CodeRateLimited, telamentis.ProviderRateLimited, 1},
		{"500 retried then unavailable", []http.HandlerFunc{apiError(500, "0")}, nil, telamentis.CodeUnavailable, telamentis.ProviderUnavailable, 3},
		{"503 then success", []http.HandlerFunc{apiError(503, "0"), completion("{}", "stop", "")}, nil, "", "", 2},
		{"401 not retried", []http.HandlerFunc{apiError(401, "")}, nil, telamentis.CodeInvalid, telamentis.ProviderRejected, 1},
		{"timeout", []http.HandlerFunc{hang}, func(c *openai.Config) { c.Timeout = 200 * time.Millisecond }, telamentis.CodeUnavailable, telamentis.ProviderTimeout, 1},
		{"malformed json", []http.HandlerFunc{raw(`{"id":"x","choices":[{"message":`)}, nil, telamentis.CodeUnavailable, telamentis.ProviderMalformed, 1},
		{"not json at all", []http.HandlerFunc{raw(`<html>bad gateway</html>`)}, nil, telamentis.CodeUnavailable, telamentis.ProviderMalformed, 1},
		{"truncated output", []http.HandlerFunc{completion(`{"nodes":[{"alias":"a`, "length", "")}, nil, telamentis.CodeUnavailable, telamentis.ProviderTruncated, 1},
		{"refusal", []http.HandlerFunc{completion("", "stop", "I can't help with that.")}, nil, telamentis.CodeUnavailable, telamentis.ProviderRefused, 1},
		{"content filter", []http.HandlerFunc{completion("", "content_filter", "")}, nil, telamentis.CodeUnavailable, telamentis.ProviderRefused, 1},
		{"oversized body", []http.HandlerFunc{raw(`{"id":"` + strings.Repeat("a", llm.MaxResponseBytes) + `"}`)}, nil, telamentis.CodeUnavailable, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{script: tt.script}
			srv := httptest.NewServer(f)
			defer srv.Close()
			_, err := newConn(t, srv.URL, tt.mod).Complete(t.Context(), req)
			if got := telamentis.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.wantCode)
			}
			var pe *telamentis.ProviderError
			if tt.wantKind != "" && (!errors.As(err, &pe) || pe.Kind != tt.wantKind) {
				t.Errorf("err = %v, want kind %s", err, tt.wantKind)
			}
			if f.calls() != tt.calls {
				t.Errorf("calls = %d, want %d", f.calls(), tt.calls)
			}
		})
	}
}

func TestTransportSecurity(t *testing.T) {
	for _, u := range []string{"http://api.example.com/v1", "ftp://127.0.0.1/", "https://user:pw@api.example.com/v1", "not a url"} {
		if _, err := openai.New(openai.Config{Endpoint: llm.Endpoint{BaseURL: u, Model: "m"}}); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
			t.Errorf("New(%q) err = %v, want invalid", u, err)
		}
	}
	f := &fake{script: []http.HandlerFunc{completion("{}", "stop", "")}}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	// Without the test CA the certificate must not verify.
	_, err := newConn(t, srv.URL, nil).Complete(t.Context(), req)
	if err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if _, err := newConn(t, srv.URL, func(c *openai.Config) { c.CAPEM = ca }).Complete(t.Context(), req); err != nil {
		t.Fatalf("with CA: %v", err)
	}
	// A redirect to plain http off loopback is refused by the transport.
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://api.example.com/v1/chat/completions", http.StatusTemporaryRedirect)
	}))
	defer redir.Close()
	if _, err := newConn(t, redir.URL, nil).Complete(t.Context(), req); err == nil {
		t.Fatal("redirect to http followed")
	}
}

func TestSecretNotPrinted(t *testing.T) {
	cfg := openai.Config{Endpoint: llm.Endpoint{APIKey: telamentis.NewSecret("sk-very-secret")}}
	if b, _ := json.Marshal(cfg); strings.Contains(string(b), "very-secret") {
		t.Errorf("config marshals the key: %s", b)
	}
}
