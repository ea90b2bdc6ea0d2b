package anthropic_test

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
	"github.com/telamentis/telamentis/llm/anthropic"
)

// fake is a loopback server speaking the Messages API wire format. Each
// request is answered by the next handler of the script (the last repeats).
type fake struct {
	mu      sync.Mutex
	script  []http.HandlerFunc
	bodies  []map[string]any
	headers []http.Header
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	f.bodies = append(f.bodies, body)
	f.headers = append(f.headers, r.Header.Clone())
	h := f.script[min(len(f.bodies), len(f.script))-1]
	f.mu.Unlock()
	if r.URL.Path != "/v1/messages" {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (f *fake) calls() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.bodies) }

func message(text, stop string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		content := []any{}
		if text != "" {
			content = append(content, map[string]any{"type": "text", "text": text})
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("request-id", "req_011")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
			"model": "claude-sonnet-4-5-20250929", "content": content,
			"stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": 100, "output_tokens": 30,
				"cache_creation_input_tokens": 15, "cache_read_input_tokens": 5, "service_tier": "standard"},
		})
	}
}

func apiError(status int, typ, retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, `{"type":"error","error":{"type":"`+typ+`","message":"nope"},"request_id":"req_1"}`)
	}
}

func raw(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func newConn(t *testing.T, url string, mod func(*anthropic.Config)) *anthropic.Connector {
	t.Helper()
	cfg := anthropic.Config{Endpoint: llm.Endpoint{
		BaseURL: url, APIKey: telamentis.NewSecret("sk-ant-test"), Model: "claude-sonnet-4-5",
		Timeout: 5 * time.Second,
		// A connector that ignored Retry-After would wait an hour here.
		Retry: llm.Retry{MaxAttempts: 3, BaseDelay: time.Hour, MaxDelay: 2 * time.Hour},
		Price: telamentis.LLMPrice{InputPerMTok: 3, OutputPerMTok: 15},
	}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := anthropic.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var req = telamentis.LLMRequest{
	System:     "You extract facts.",
	Messages:   []telamentis.LLMMessage{{Role: "user", Content: "Alice works at Acme."}},
	Schema:     json.RawMessage(`{"type":"object","additionalProperties":false}`),
	SchemaName: "envelope",
}

func TestComplete(t *testing.T) {
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "ambient-token-must-not-leak")
	f := &fake{script: []http.HandlerFunc{message(`{"nodes":[],"relations":[]}`, "end_turn")}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	resp, err := newConn(t, srv.URL, nil).Complete(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != `{"nodes":[],"relations":[]}` || resp.Model != "claude-sonnet-4-5-20250929" || resp.Provider != "anthropic" {
		t.Errorf("resp = %+v", resp)
	}
	if resp.Usage != (telamentis.LLMUsage{InputTokens: 120, OutputTokens: 30}) {
		t.Errorf("usage = %+v", resp.Usage)
	}
	if want := (120*3.0 + 30*15.0) / 1e6; resp.CostUSD < want*0.999 || resp.CostUSD > want*1.001 {
		t.Errorf("cost = %v, want %v", resp.CostUSD, want)
	}
	h, body := f.headers[0], f.bodies[0]
	if h.Get("X-Api-Key") != "sk-ant-test" || h.Get("Anthropic-Version") == "" || h.Get("Authorization") != "" {
		t.Errorf("headers: key %q version %q authorization %q", h.Get("X-Api-Key"), h.Get("Anthropic-Version"), h.Get("Authorization"))
	}
	if body["model"] != "claude-sonnet-4-5" || body["max_tokens"] != float64(8192) {
		t.Errorf("body = %v", body)
	}
	if sys, _ := body["system"].([]any); len(sys) != 1 || sys[0].(map[string]any)["text"] != "You extract facts." {
		t.Errorf("system = %v", body["system"])
	}
	if _, ok := body["output_config"]; ok {
		t.Errorf("output_config sent without StructuredOutput")
	}
}

func TestStructuredOutput(t *testing.T) {
	f := &fake{script: []http.HandlerFunc{message(`{}`, "end_turn")}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	if _, err := newConn(t, srv.URL, func(c *anthropic.Config) { c.StructuredOutput = true }).Complete(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	oc, _ := f.bodies[0]["output_config"].(map[string]any)
	format, _ := oc["format"].(map[string]any)
	if format["type"] != "json_schema" || format["schema"] == nil {
		t.Errorf("output_config = %v", f.bodies[0]["output_config"])
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name     string
		script   []http.HandlerFunc
		mod      func(*anthropic.Config)
		wantCode telamentis.Code
		wantKind telamentis.ProviderErrorKind
		calls    int
	}{
		{"429 then success honours Retry-After", []http.HandlerFunc{apiError(429, "rate_limit_error", "0.01"), message("{}", "end_turn")}, nil, "", "", 2},
		{"429 persistent", []http.HandlerFunc{apiError(429, "rate_limit_error", "0")}, nil, telamentis.CodeRateLimited, telamentis.ProviderRateLimited, 3},
		{"429 asking too long", []http.HandlerFunc{apiError(429, "rate_limit_error", "86000")}, nil, telamentis.CodeRateLimited, telamentis.ProviderRateLimited, 1},
		{"500", []http.HandlerFunc{apiError(500, "api_error", "0")}, nil, telamentis.CodeUnavailable, telamentis.ProviderUnavailable, 3},
		{"529 overloaded then success", []http.HandlerFunc{apiError(529, "overloaded_error", "0"), message("{}", "end_turn")}, nil, "", "", 2},
		{"401", []http.HandlerFunc{apiError(401, "authentication_error", "")}, nil, telamentis.CodeInvalid, telamentis.ProviderRejected, 1},
		{"timeout", []http.HandlerFunc{hang}, func(c *anthropic.Config) { c.Timeout = 200 * time.Millisecond }, telamentis.CodeUnavailable, telamentis.ProviderTimeout, 1},
		{"malformed json", []http.HandlerFunc{raw(`{"id":"msg","content":[{"type":"text","text":`)}, nil, telamentis.CodeUnavailable, telamentis.ProviderMalformed, 1},
		{"truncated output", []http.HandlerFunc{message(`{"nodes":[{"ali`, "max_tokens")}, nil, telamentis.CodeUnavailable, telamentis.ProviderTruncated, 1},
		{"refusal", []http.HandlerFunc{message("", "refusal")}, nil, telamentis.CodeUnavailable, telamentis.ProviderRefused, 1},
		{"no text", []http.HandlerFunc{message("", "end_turn")}, nil, telamentis.CodeUnavailable, telamentis.ProviderMalformed, 1},
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
	for _, u := range []string{"http://api.anthropic.example", "https://u:p@api.anthropic.com"} {
		if _, err := anthropic.New(anthropic.Config{Endpoint: llm.Endpoint{BaseURL: u, Model: "m", APIKey: telamentis.NewSecret("k")}}); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
			t.Errorf("New(%q) err = %v, want invalid", u, err)
		}
	}
	if _, err := anthropic.New(anthropic.Config{Endpoint: llm.Endpoint{Model: "m"}}); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		t.Errorf("missing key accepted: %v", err)
	}
	f := &fake{script: []http.HandlerFunc{message("{}", "end_turn")}}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	if _, err := newConn(t, srv.URL, nil).Complete(t.Context(), req); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if _, err := newConn(t, srv.URL, func(c *anthropic.Config) { c.CAPEM = ca }).Complete(t.Context(), req); err != nil {
		t.Fatalf("with CA: %v", err)
	}
	if strings.Contains(f.headers[len(f.headers)-1].Get("Authorization"), "ambient") {
		t.Error("ambient token sent")
	}
}
