package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/pflag"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
	"github.com/telamentis/telamentis/secrets"
)

// llmFake is a loopback OpenAI-compatible chat completions server that
// answers every request with the same extraction envelope and records the
// Authorization headers it gets.
type llmFake struct {
	mu    sync.Mutex
	auth  []string
	users []string
	srv   *httptest.Server
}

func newLLMFake(t *testing.T) *llmFake {
	t.Helper()
	f := &llmFake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		for _, m := range req.Messages {
			f.users = append(f.users, m.Content)
		}
		f.mu.Unlock()
		env := `{"nodes":[{"alias":"person:alice","label":"Person","props":{"name":"Alice"},"confidence":0.9},` +
			`{"alias":"org:acme","label":"Organization","confidence":0.9}],` +
			`"relations":[{"from":"person:alice","to":"org:acme","kind":"WORKS_AT","confidence":0.9}]}`
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "fake-model",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "logprobs": nil,
				"message": map[string]any{"role": "assistant", "content": env, "refusal": nil}}},
			"usage": map[string]any{"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
		})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *llmFake) headers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

func (f *llmFake) sent() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.users, "\n")
}

// testLoader is the secrets loader serve uses, over vars.
func testLoader(getenv func(string) string) secrets.Loader {
	return secretLoader(DefaultConfig(), getenv)
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadFile resolves the configuration from a YAML file and environment.
func loadFile(t *testing.T, yml string, vars map[string]string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c := DefaultConfig()
	registerFlags(fs, &c)
	if err := fs.Parse([]string{"--config", writeFile(t, "config.yaml", yml, 0o600)}); err != nil {
		t.Fatal(err)
	}
	return loadConfig(fs, env(vars))
}

func TestLLMConfigFile(t *testing.T) {
	c, err := loadFile(t, `
in_memory: true
llm:
  max_output_tokens: 2048
  routes:
    - name: openai
      type: openai
      model: gpt-4o-mini
      api_key_env: OPENAI_API_KEY
      price: {input_per_mtok: 0.15, output_per_mtok: 0.60}
      retry: {max_attempts: 2, base_delay: 250ms, max_delay: 5s}
    - name: claude
      type: anthropic
      model: claude-sonnet-4-5
      api_key_env: ANTHROPIC_API_KEY
      structured_output: true
      timeout: 30s
    - name: gemini
      type: gemini
      model: gemini-2.5-flash
      api_key_env: GEMINI_API_KEY
    - name: ollama
      type: openai
      base_url: http://127.0.0.1:11434/v1
      model: llama3.1:8b
      mode: json_object
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := c.LLM.Routes
	if len(rs) != 4 || rs[0].Name != "openai" || rs[0].Price.OutputPerMTok != 0.60 || rs[0].Retry.BaseDelay.Milliseconds() != 250 ||
		rs[1].Timeout.Seconds() != 30 || !rs[1].StructuredOutput || rs[3].Mode != "json_object" || c.LLM.MaxOutputTokens != 2048 {
		t.Errorf("routes %+v", rs)
	}
}

func TestLLMConfigRefused(t *testing.T) {
	route := func(extra string) string {
		return "in_memory: true\nllm:\n  routes:\n    - {name: one, type: openai, model: m, api_key_env: K" + extra + "}\n"
	}
	for name, tc := range map[string]struct{ yml, want string }{
		"key in the file": {route(", api_key: sk-live-abcdefghijklmnopqrstuvwxyz"), "api_key: API keys never go in the config file"},
		"repeated key":    {route(", type: mistral"), "type"},
		"bad type":        {"in_memory: true\nllm:\n  routes:\n    - {name: one, type: mistral, model: m, api_key_env: K}\n", "type:"},
		"no model":        {"in_memory: true\nllm:\n  routes:\n    - {name: one, type: openai, api_key_env: K}\n", "model: required"},
		"no key hosted":   {"in_memory: true\nllm:\n  routes:\n    - {name: one, type: anthropic, model: m}\n", "api_key_env: required"},
		"http remote":     {route(", base_url: 'http://10.0.0.5:11434/v1'"), "base_url"},
		"master key":      {"in_memory: true\nllm:\n  routes:\n    - {name: one, type: openai, model: m, api_key_env: TELAMENTIS_MASTER_KEY}\n", "server's own secret"},
		"duplicate name": {"in_memory: true\nllm:\n  routes:\n    - {name: one, type: openai, model: m, api_key_env: K}\n" +
			"    - {name: one, type: gemini, model: g, api_key_env: G}\n", "given twice"},
		"mode on anthropic": {"in_memory: true\nllm:\n  routes:\n    - {name: one, type: anthropic, model: m, api_key_env: K, mode: json_object}\n", "mode:"},
		"unknown key":       {route(", temperature: 2"), "temperature"},
		"bad name":          {"in_memory: true\nllm:\n  routes:\n    - {name: 'One Two', type: openai, model: m, api_key_env: K}\n", "name:"},
	} {
		_, err := loadFile(t, tc.yml, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "sk-live") {
			t.Errorf("%s: the error quotes the key: %v", name, err)
		}
	}
}

func TestNewExtractorKeys(t *testing.T) {
	fake := newLLMFake(t)
	store, err := badger.Open(badger.Config{InMemory: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	logger := slog.New(slog.DiscardHandler)
	cfg := LLMConfig{Routes: []LLMRoute{{Name: "fake", Type: "openai", BaseURL: fake.srv.URL + "/v1", Model: "m", APIKeyEnv: "FAKE_LLM_KEY"}}}
	const key = "sk-fake-0123456789abcdef"

	// No routes: no extractor, no error.
	if x, err := newExtractor(t.Context(), LLMConfig{}, testLoader(env(nil)), env(nil), store, nil, nil, logger); err != nil || x != nil {
		t.Fatalf("no routes: %v, %v", x, err)
	}
	// The key variable missing: refused at start, naming the variable.
	if _, err := newExtractor(t.Context(), cfg, testLoader(env(nil)), env(nil), store, nil, nil, logger); err == nil || !strings.Contains(err.Error(), "FAKE_LLM_KEY") {
		t.Fatalf("missing key: %v", err)
	}
	// A key file readable by others is refused; its content never shows.
	loose := env(map[string]string{"FAKE_LLM_KEY_FILE": writeFile(t, "key", key, 0o644)})
	if _, err := newExtractor(t.Context(), cfg, testLoader(loose), loose, store, nil, nil, logger); err == nil ||
		strings.Contains(err.Error(), key) {
		t.Fatalf("loose key file: %v", err)
	}
	for name, vars := range map[string]map[string]string{
		"env":  {"FAKE_LLM_KEY": key},
		"file": {"FAKE_LLM_KEY_FILE": writeFile(t, "key", key+"\n", 0o600)},
	} {
		x, err := newExtractor(t.Context(), cfg, testLoader(env(vars)), env(vars), store, nil, nil, logger)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := store.CreateTenant(t.Context(), telamentis.Tenant{ID: "k" + name}); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Extract(t.Context(), "k"+name, telamentis.ExtractRequest{Text: "Alice works at Acme.", DryRun: true}); err != nil {
			t.Fatalf("%s: extract: %v", name, err)
		}
		h := fake.headers()
		if got := h[len(h)-1]; got != "Bearer "+key {
			t.Errorf("%s: provider got Authorization %q", name, got)
		}
	}
}

// TestServeExtract runs `telamentis serve` with a route from the config
// file and its key from the environment, and extracts through the API; then
// with the routes from TELAMENTIS_LLM_ROUTES; then with none (503).
func TestServeExtract(t *testing.T) {
	fake := newLLMFake(t)
	const key = "sk-fake-serve-0123456789"
	cfgFile := writeFile(t, "telamentis.yaml", "llm:\n  routes:\n    - name: fake\n      type: openai\n      base_url: "+
		fake.srv.URL+"/v1\n      model: fake-model\n      api_key_env: FAKE_LLM_KEY\n      price: {input_per_mtok: 1, output_per_mtok: 1}\n", 0o600)

	do := func(addr, method, path, token string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, "http://"+addr+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	// setup creates tenant t1 with a writer key and returns the key.
	setup := func(addr string, logs *syncBuffer) string {
		t.Helper()
		admin := keyRe.FindString(logs.String())
		if c, b := do(addr, "POST", "/v1/tenants", admin, map[string]any{"id": "t1"}); c != 201 {
			t.Fatalf("create tenant: %d %s", c, b)
		}
		c, b := do(addr, "POST", "/v1/tenants/t1/keys", admin, map[string]any{"role": "writer"})
		if c != 201 {
			t.Fatalf("create key: %d %s", c, b)
		}
		var out struct {
			Secret string `json:"secret"`
		}
		json.Unmarshal(b, &out)
		return out.Secret
	}
	text := map[string]any{"text": "Alice (alice.serve@example.org) works at Acme."}

	for name, vars := range map[string]map[string]string{
		"file": {"FAKE_LLM_KEY": key, "TELAMENTIS_CONFIG": cfgFile},
		"env": {"FAKE_LLM_KEY": key, LLMRoutesEnv: `[{name: fake, type: openai, base_url: "` + fake.srv.URL +
			`/v1", model: fake-model, api_key_env: FAKE_LLM_KEY}]`},
	} {
		t.Run(name, func(t *testing.T) {
			addr, logs, stop := startRun(t, []string{"--in-memory"}, vars)
			defer stop()
			w := setup(addr, logs)
			c, b := do(addr, "POST", "/v1/llm/t1/extract", w, text)
			if c != 200 {
				t.Fatalf("extract: %d %s", c, b)
			}
			var res telamentis.ExtractResult
			if err := json.Unmarshal(b, &res); err != nil || len(res.Created) != 3 || res.Meta.Provider != "fake" {
				t.Fatalf("result %s (%v)", b, err)
			}
			if c, b := do(addr, "GET", "/v1/graph/t1/nodes?alias=person:alice", w, nil); c != 200 || !bytes.Contains(b, []byte(`"Alice"`)) {
				t.Fatalf("read back: %d %s", c, b)
			}
			if strings.Contains(fake.sent(), "alice.serve@example.org") {
				t.Error("the e-mail address reached the provider")
			}
			if strings.Contains(logs.String(), key) {
				t.Error("the provider key is in the server log")
			}
		})
	}

	t.Run("none", func(t *testing.T) {
		addr, logs, stop := startRun(t, []string{"--in-memory"}, nil)
		defer stop()
		w := setup(addr, logs)
		c, b := do(addr, "POST", "/v1/llm/t1/extract", w, text)
		if c != 503 || !bytes.Contains(b, []byte("llm.routes")) {
			t.Fatalf("no provider: %d %s", c, b)
		}
	})
}
