package gemini_test

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/llm"
	"github.com/telamentis/telamentis/llm/gemini"
)

// fake is a loopback server speaking the generateContent wire format. Each
// request is answered by the next handler of the script (the last repeats).
type fake struct {
	mu      sync.Mutex
	script  []http.HandlerFunc
	bodies  []map[string]any
	headers []http.Header
	paths   []string
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	f.bodies = append(f.bodies, body)
	f.headers = append(f.headers, r.Header.Clone())
	f.paths = append(f.paths, r.URL.Path)
	h := f.script[min(len(f.bodies), len(f.script))-1]
	f.mu.Unlock()
	if r.URL.Path != "/v1beta/models/gemini-2.5-flash:generateContent" {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (f *fake) calls() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.bodies) }

func generate(text, finish string, blocked string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out := map[string]any{
			"usageMetadata": map[string]any{"promptTokenCount": 120, "candidatesTokenCount": 30, "thoughtsTokenCount": 10, "totalTokenCount": 160,
				"promptTokensDetails": []any{map[string]any{"modality": "TEXT", "tokenCount": 120}}},
			"modelVersion": "gemini-2.5-flash-001", "responseId": "resp-1",
		}
		if blocked != "" {
			out["promptFeedback"] = map[string]any{"blockReason": blocked}
		} else {
			parts := []any{}
			if text != "" {
				parts = append(parts, map[string]any{"text": text})
			}
			out["candidates"] = []any{map[string]any{"content": map[string]any{"parts": parts, "role": "model"}, "finishReason": finish, "index": 0}}
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		json.NewEncoder(w).Encode(out)
	}
}

func apiError(status int, st, retryDelay, retryAfter string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		details := []any{}
		if retryDelay != "" {
			details = append(details, map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retryDelay})
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": "nope", "status": st, "details": details}})
	}
}

func raw(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func newConn(t *testing.T, url string, mod func(*gemini.Config)) *gemini.Connector {
	t.Helper()
	cfg := gemini.Config{Endpoint: llm.Endpoint{
		BaseURL: url, APIKey: telamentis.NewSecret("AIza-test-key"), Model: "gemini-2.5-flash",
		Timeout: 5 * time.Second,
		// A connector that ignored the retry hint would wait an hour here.
		Retry: llm.Retry{MaxAttempts: 3, BaseDelay: time.Hour, MaxDelay: 2 * time.Hour},
		Price: telamentis.LLMPrice{InputPerMTok: 0.30, OutputPerMTok: 2.50},
	}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := gemini.New(cfg)
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
	f := &fake{script: []http.HandlerFunc{generate(`{"nodes":[],"relations":[]}`, "STOP", "")}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	resp, err := newConn(t, srv.URL, nil).Complete(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Content != `{"nodes":[],"relations":[]}` || resp.Model != "gemini-2.5-flash-001" || resp.Provider != "gemini" {
		t.Errorf("resp = %+v", resp)
	}
	if resp.Usage != (telamentis.LLMUsage{InputTokens: 120, OutputTokens: 40}) {
		t.Errorf("usage = %+v", resp.Usage)
	}
	if want := (120*0.30 + 40*2.50) / 1e6; resp.CostUSD < want*0.999 || resp.CostUSD > want*1.001 {
		t.Errorf("cost = %v, want %v", resp.CostUSD, want)
	}
	h, body := f.headers[0], f.bodies[0]
	if h.Get("X-Goog-Api-Key") != "AIza-test-key" {
		t.Errorf("api key header = %q", h.Get("X-Goog-Api-Key"))
	}
	gc, _ := body["generationConfig"].(map[string]any)
	if gc["responseMimeType"] != "application/json" || gc["responseJsonSchema"] == nil || gc["maxOutputTokens"] != float64(8192) {
		t.Errorf("generationConfig = %v", body["generationConfig"])
	}
	si, _ := body["systemInstruction"].(map[string]any)
	if parts, _ := si["parts"].([]any); len(parts) != 1 {
		t.Errorf("systemInstruction = %v", body["systemInstruction"])
	}
	if contents, _ := body["contents"].([]any); len(contents) != 1 || contents[0].(map[string]any)["role"] != "user" {
		t.Errorf("contents = %v", body["contents"])
	}
}

// TestModelPath checks the model part of the URL: a bare name is a base
// model, a "models/" or "tunedModels/" name is taken as it is.
func TestModelPath(t *testing.T) {
	for model, want := range map[string]string{
		"gemini-2.5-flash":        "/v1beta/models/gemini-2.5-flash:generateContent",
		"models/gemini-2.5-flash": "/v1beta/models/gemini-2.5-flash:generateContent",
		"tunedModels/my-model-1":  "/v1beta/tunedModels/my-model-1:generateContent",
	} {
		f := &fake{script: []http.HandlerFunc{generate("{}", "STOP", "")}}
		srv := httptest.NewServer(f)
		newConn(t, srv.URL, func(c *gemini.Config) { c.Model = model }).Complete(t.Context(), req)
		srv.Close()
		if len(f.paths) != 1 || f.paths[0] != want {
			t.Errorf("model %q: paths %v, want %s", model, f.paths, want)
		}
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name     string
		script   []http.HandlerFunc
		mod      func(*gemini.Config)
		wantCode telamentis.Code
		wantKind telamentis.ProviderErrorKind
		calls    int
	}{
		{"429 then success honours Retry-After", []http.HandlerFunc{apiError(429, "RESOURCE_EXHAUSTED", "", "0.01"), generate("{}", "STOP", "")}, nil, "", "", 2},
		{"429 then success honours RetryInfo", []http.HandlerFunc{apiError(429, "RESOURCE_EXHAUSTED", "0.01s", ""), generate("{}", "STOP", "")}, nil, "", "", 2},
		{"429 persistent", []http.HandlerFunc{apiError(429, "RESOURCE_EXHAUSTED", "0s", "")}, nil, telamentis.CodeRateLimited, telamentis.ProviderRateLimited, 3},
		{"429 asking too long", []http.HandlerFunc{apiError(429, "RESOURCE_EXHAUSTED", "86000s", "")}, nil, telamentis.CodeRateLimited, telamentis.ProviderRateLimited, 1},
		{"500", []http.HandlerFunc{apiError(500, "INTERNAL", "", "0")}, nil, telamentis.CodeUnavailable, telamentis.ProviderUnavailable, 3},
		{"503 then success", []http.HandlerFunc{apiError(503, "UNAVAILABLE", "", "0"), generate("{}", "STOP", "")}, nil, "", "", 2},
		{"400 bad key", []http.HandlerFunc{apiError(400, "INVALID_ARGUMENT", "", "")}, nil, telamentis.CodeInvalid, telamentis.ProviderRejected, 1},
		{"timeout", []http.HandlerFunc{hang}, func(c *gemini.Config) { c.Timeout = 200 * time.Millisecond }, telamentis.CodeUnavailable, telamentis.ProviderTimeout, 1},
		{"malformed json", []http.HandlerFunc{raw(`{"candidates":[{"content":`)}, nil, telamentis.CodeUnavailable, telamentis.ProviderMalformed, 1},
		{"truncated output", []http.HandlerFunc{generate(`{"nodes":[{"al`, "MAX_TOKENS", "")}, nil, telamentis.CodeUnavailable, telamentis.ProviderTruncated, 1},
		{"refusal safety", []http.HandlerFunc{generate("", "SAFETY", "")}, nil, telamentis.CodeUnavailable, telamentis.ProviderRefused, 1},
		{"prompt blocked", []http.HandlerFunc{generate("", "", "PROHIBITED_CONTENT")}, nil, telamentis.CodeUnavailable, telamentis.ProviderRefused, 1},
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
	if _, err := gemini.New(gemini.Config{Endpoint: llm.Endpoint{BaseURL: "http://gemini.example", Model: "m", APIKey: telamentis.NewSecret("k")}}); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		t.Errorf("http base accepted: %v", err)
	}
	if _, err := gemini.New(gemini.Config{Endpoint: llm.Endpoint{Model: "m"}}); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		t.Errorf("missing key accepted: %v", err)
	}
	f := &fake{script: []http.HandlerFunc{generate("{}", "STOP", "")}}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	if _, err := newConn(t, srv.URL, nil).Complete(t.Context(), req); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if _, err := newConn(t, srv.URL, func(c *gemini.Config) { c.CAPEM = ca }).Complete(t.Context(), req); err != nil {
		t.Fatalf("with CA: %v", err)
	}
}
