package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// server is the real telamentis server the tests talk to.
var server struct {
	endpoint string
	adminKey string // path of the admin key file (0600)
	bin      string // directory holding the telamentis binary
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if testing.Short() && os.Getenv("KGCTL_E2E") == "" {
		// The end-to-end tests need the server binary; unit tests and
		// fuzzers run alone.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "kgctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	stop, err := startServer(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kgctl e2e:", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// newToken returns a random API key token of the server's shape.
func newToken() string {
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	id, sec := make([]byte, 10), make([]byte, 32)
	rand.Read(id)
	rand.Read(sec)
	return "tm_" + strings.ToLower(b32.EncodeToString(id)) + "_" + strings.ToLower(b32.EncodeToString(sec))
}

// startServer builds cmd/telamentis and runs `telamentis serve` on a free
// loopback port with a temporary data directory.
func startServer(dir string) (func(), error) {
	bin := filepath.Join(dir, "telamentis")
	build := exec.Command("go", "build", "-o", bin, "github.com/telamentis/telamentis/cmd/telamentis")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build server: %w", err)
	}
	server.bin = dir
	keyFile := filepath.Join(dir, "admin.key")
	if err := os.WriteFile(keyFile, []byte(newToken()+"\n"), 0o600); err != nil {
		return nil, err
	}
	server.adminKey = keyFile
	// KGCTL_TEST_SERVER_ADMIN turns on the server's admin listener
	// (metrics, pprof) at that loopback address, to profile the server
	// during a benchmark.
	adminListen := "off"
	if a := os.Getenv("KGCTL_TEST_SERVER_ADMIN"); a != "" {
		adminListen = a
	}
	args := []string{"serve", "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--admin-listen", adminListen}
	// Tests skip fsync for speed; benchmarks (-test.bench) measure the
	// production configuration, every acknowledged batch durable.
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		args = append(args, "--no-sync")
	}
	cmd := exec.Command(bin, args...)
	llm := startLLMFake()
	cmd.Env = append(os.Environ(), "TELAMENTIS_BOOTSTRAP_ADMIN_KEY_FILE="+keyFile, "TELAMENTIS_MASTER_KEY="+strings.Repeat("ab", 32),
		"FAKE_LLM_KEY=sk-fake-kgctl-0123456789",
		`TELAMENTIS_LLM_ROUTES=[{name: fake, type: openai, base_url: "`+llm.URL+`/v1", model: fake-model, api_key_env: FAKE_LLM_KEY}]`)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sent := false
		for sc.Scan() {
			var l struct {
				Msg      string `json:"msg"`
				Addr     string `json:"addr"`
				Listener string `json:"listener"`
			}
			if !sent && json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "listening" && l.Listener == "" {
				addr <- l.Addr
				sent = true
			}
			if os.Getenv("KGCTL_TEST_SERVER_LOG") != "" {
				fmt.Fprintln(os.Stderr, sc.Text())
			}
		}
		if !sent {
			close(addr)
		}
	}()
	stop := func() {
		defer llm.Close()
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	select {
	case a, ok := <-addr:
		if !ok {
			stop()
			return nil, fmt.Errorf("server exited before listening")
		}
		server.endpoint = "http://" + a
	case <-time.After(60 * time.Second):
		stop()
		return nil, fmt.Errorf("server did not start")
	}
	return stop, nil
}

// env is a test process environment.
type env map[string]string

// result is what one kgctl run produced.
type result struct {
	out, err string
	code     int
}

// kgctl runs kgctl in process with the environment e (HOME and
// XDG_CONFIG_HOME point at an empty directory unless e sets them).
func kgctl(t testing.TB, e env, stdin string, args ...string) result {
	t.Helper()
	return kgctlIO(t, e, &IOStreams{In: strings.NewReader(stdin)}, args...)
}

func kgctlIO(t testing.TB, e env, ios *IOStreams, args ...string) result {
	t.Helper()
	if server.endpoint == "" {
		t.Skip("end-to-end: no server (run without -short)")
	}
	var out, errb bytes.Buffer
	ios.Out, ios.ErrOut = &out, &errb
	home := t.TempDir()
	get := func(k string) string {
		if v, ok := e[k]; ok {
			return v
		}
		switch k {
		case "HOME", "XDG_CONFIG_HOME":
			return home
		case "TELAMENTIS_ENDPOINT":
			return server.endpoint
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	code := Main(ctx, args, get, ios)
	return result{out.String(), errb.String(), code}
}

// admin is the environment of the system admin key.
func admin() env { return env{"TELAMENTIS_API_KEY_FILE": server.adminKey} }

// keyEnv returns an environment for a key token, written to a 0600 file.
func keyEnv(t testing.TB, token string) env {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return env{"TELAMENTIS_API_KEY_FILE": p}
}

var tenantSeq atomic.Int64

// newTenant creates a fresh tenant and returns its id and a key of role
// for it (with pii).
func newTenant(t testing.TB, role string) (string, env) {
	t.Helper()
	id := fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, tenantSeq.Add(1))
	if r := kgctl(t, admin(), "", "tenant", "create", id); r.code != 0 {
		t.Fatalf("tenant create: %d %s", r.code, r.err)
	}
	r := kgctl(t, admin(), "", "--tenant", id, "key", "create", "--role", role, "--pii")
	if r.code != 0 {
		t.Fatalf("key create: %d %s", r.code, r.err)
	}
	return id, keyEnv(t, strings.TrimSpace(r.out))
}

func must(t testing.TB, r result, args ...string) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("kgctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r
}

// run runs kgctl and fails the test unless it exits 0.
func run(t testing.TB, e env, args ...string) result {
	t.Helper()
	return must(t, kgctl(t, e, "", args...), args...)
}

var (
	uuidRe  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeRe  = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z`)
	reqRe   = regexp.MustCompile(`request id [0-9a-zA-Z._-]+`)
	keyIDRe = regexp.MustCompile(`\b[a-z2-7]{16}\b`)
	tenRe   = regexp.MustCompile(`\bt\d+-\d+\b`)
)

// normalize replaces what changes between runs (ids, times, tenant ids)
// with placeholders. Table columns are re-aligned by the placeholders'
// fixed widths, so golden tables keep their shape.
func normalize(s string) string {
	s = uuidRe.ReplaceAllString(s, "<uuid>")
	s = timeRe.ReplaceAllString(s, "<time>")
	s = reqRe.ReplaceAllString(s, "request id <id>")
	s = tenRe.ReplaceAllString(s, "<tenant>")
	s = keyIDRe.ReplaceAllString(s, "<keyid>")
	// Collapse runs of spaces: column widths depend on replaced values.
	s = regexp.MustCompile(`http://127\.0\.0\.1:\d+`).ReplaceAllString(s, "<endpoint>")
	s = regexp.MustCompile(`(\S) {2,}`).ReplaceAllString(s, "$1  ")
	return s
}

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t testing.TB, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	got = normalize(got)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, p, got, want)
	}
}

func readAll(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var _ = io.Discard

// llmSent records what the fake LLM provider received.
var llmSent struct {
	sync.Mutex
	text []string
}

// startLLMFake starts a loopback server speaking the OpenAI chat
// completions wire format that answers every request with one extraction
// envelope: Alice works at Acme.
func startLLMFake() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		llmSent.Lock()
		for _, m := range req.Messages {
			llmSent.text = append(llmSent.text, m.Content)
		}
		llmSent.Unlock()
		env := `{"nodes":[{"alias":"person:alice","label":"Person","props":{"name":"Alice"},"confidence":0.9},` +
			`{"alias":"org:acme","label":"Organization","confidence":0.9},{"alias":"topic:x","label":"Topic","confidence":0.1}],` +
			`"relations":[{"from":"person:alice","to":"org:acme","kind":"WORKS_AT","valid_from":"2021-01-01T00:00:00Z","confidence":0.9}]}`
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "fake-model",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "logprobs": nil,
				"message": map[string]any{"role": "assistant", "content": env, "refusal": nil}}},
			"usage": map[string]any{"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
		})
	}))
}
