package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test re-run this binary as the real server process.
func TestMain(m *testing.M) {
	if os.Getenv("TELAMENTIS_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

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

var (
	addrRe = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	keyRe  = regexp.MustCompile(`tm_[a-z2-7]{16}_[a-z2-7]{52}`)
)

// waitFor polls the log until re matches.
func waitFor(t testing.TB, logs interface{ String() string }, re *regexp.Regexp, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("timed out waiting for %s in\n%s", re, logs.String())
	return ""
}

func get(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// startRun runs `telamentis serve` in-process on a loopback port.
func startRun(t testing.TB, args []string, vars map[string]string) (addr string, logs *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, args...), env(vars), io.Discard, logs)
	}()
	addr = waitFor(t, logs, addrRe, done)
	return addr, logs, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("server did not stop")
			return nil
		}
	}
}

// TestServeBootstrap starts the server on an empty data directory: it
// prints one admin key, which works; after a restart on the same data no
// new key is printed and the old one still works.
func TestServeBootstrap(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addr, logs, stop := startRun(t, []string{"--data", data}, nil)
	keys := keyRe.FindAllString(logs.String(), -1)
	if len(keys) != 1 {
		t.Fatalf("want one printed key, got %d in\n%s", len(keys), logs)
	}
	admin := keys[0]
	if n := strings.Count(logs.String(), admin); n != 1 {
		t.Fatalf("key appears %d times in the output", n)
	}
	if c := get(t, "http://"+addr+"/v1/tenants", admin); c != 200 {
		t.Fatalf("admin key: %d", c)
	}
	if c := get(t, "http://"+addr+"/healthz", ""); c != 200 {
		t.Fatalf("healthz: %d", c)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"msg":"store closed"`) {
		t.Fatalf("store not closed:\n%s", logs)
	}
	addr, logs, stop = startRun(t, []string{"--data", data}, nil)
	defer stop()
	if keyRe.MatchString(logs.String()) {
		t.Fatalf("second start printed a key:\n%s", logs)
	}
	if c := get(t, "http://"+addr+"/v1/tenants", admin); c != 200 {
		t.Fatalf("admin key after restart: %d", c)
	}
}

// TestServeBootstrapKeyFile takes the first admin key from a file.
func TestServeBootstrapKeyFile(t *testing.T) {
	dir := t.TempDir()
	b32 := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	id, sec := make([]byte, 10), make([]byte, 32)
	rand.Read(id)
	rand.Read(sec)
	token := "tm_" + b32.EncodeToString(id) + "_" + b32.EncodeToString(sec)
	path := filepath.Join(dir, "admin.key")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A key file readable by others is refused.
	err := run(t.Context(), []string{"serve", "--in-memory", "--listen", "127.0.0.1:0"}, env(map[string]string{BootstrapKeyFileEnv: path}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "too open") {
		t.Fatalf("world-readable key file: %v", err)
	}
	os.Chmod(path, 0o600)
	addr, logs, stop := startRun(t, []string{"--in-memory"}, map[string]string{BootstrapKeyFileEnv: path})
	defer stop()
	if keyRe.MatchString(logs.String()) {
		t.Fatalf("a key was printed:\n%s", logs)
	}
	if c := get(t, "http://"+addr+"/v1/tenants", token); c != 200 {
		t.Fatalf("key from file: %d", c)
	}
	altered := token[:len(token)-2] + "aa"
	if altered == token {
		altered = token[:len(token)-2] + "bb"
	}
	if c := get(t, "http://"+addr+"/v1/tenants", altered); c != 401 {
		t.Fatalf("altered key: %d", c)
	}
}

// TestGracefulShutdown runs the real server process, starts a request
// that is still sending its body, sends SIGTERM, and checks that the
// request completes, the process exits 0 and the store closes.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	data := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "serve", "--data", data, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TELAMENTIS_TEST_RUN_MAIN=1")
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	addr := waitFor(t, logs, addrRe, done)
	admin := keyRe.FindString(logs.String())
	url := "http://" + addr

	// A tenant and a writer key to ingest with.
	post := func(path, key, body string) (int, string) {
		req, _ := http.NewRequest("POST", url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if c, b := post("/v1/tenants", admin, `{"id":"acme"}`); c != 201 {
		t.Fatalf("create tenant: %d %s", c, b)
	}
	c, b := post("/v1/tenants/acme/keys", admin, `{"role":"writer"}`)
	if c != 201 {
		t.Fatalf("create key: %d %s", c, b)
	}
	writer := keyRe.FindString(b)

	// The in-flight request: an ingest whose body is still being written.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", url+"/v1/graph/acme/ingest", pr)
	req.Header.Set("Authorization", "Bearer "+writer)
	type result struct {
		code int
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		resc <- result{code: res.StatusCode, body: string(b)}
	}()
	io.WriteString(pw, `{"node":{"alias":"before","label":"P"}}`+"\n")
	// SIGTERM once the request is in the handler (its first line is read).
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, logs, regexp.MustCompile(`"msg":"(shutting down)"`), done)
	io.WriteString(pw, `{"node":{"alias":"after","label":"P"}}`+"\n")
	pw.Close()
	res := <-resc
	if res.err != nil || res.code != 200 || !strings.Contains(res.body, `"created":2`) {
		t.Fatalf("in-flight request: %+v", res)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit")
	}
	for _, want := range []string{`"msg":"server stopped"`, `"msg":"store closed"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
	// New connections are refused after shutdown.
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("server still accepts connections")
	}
	// Every log line is JSON and none holds a body or secret.
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, writer) || strings.Contains(line, `"before"`) {
			t.Errorf("log line holds a secret or body: %s", line)
		}
	}
}

// TestConfigPrecedence checks flag > env > file > default and that unknown
// file keys are errors.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:7001\nlog_level: warn\ndata: /from/file\n"), 0o600)
	var out bytes.Buffer
	err := run(t.Context(), []string{"config", "check", "--config", file, "--listen", "127.0.0.1:7003"},
		env(map[string]string{"TELAMENTIS_LISTEN": "127.0.0.1:7002", "TELAMENTIS_LOG_LEVEL": "error"}), &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"listen: 127.0.0.1:7003", "log_level: error", "data: /from/file", "shutdown_timeout: 30s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("effective config lacks %q:\n%s", want, out.String())
		}
	}
	os.WriteFile(file, []byte("listen: 127.0.0.1:7001\nlisten_addr: x\n"), 0o600)
	err = run(t.Context(), []string{"config", "check", "--config", file}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "listen_addr") {
		t.Fatalf("unknown key: %v", err)
	}
	err = run(t.Context(), []string{"config", "check", "--log-level", "loud"}, env(nil), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("bad log level accepted")
	}
}

// TestConfigMemoryLimit checks the memory_limit setting: parsed and shown
// by config check, applied by serve, malformed values refused.
func TestConfigMemoryLimit(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"config", "check", "--memory-limit", "1536MiB"}, env(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"memory_limit: 1536MiB", "effective memory limit 1.5 GiB (setting)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config check lacks %q:\n%s", want, out.String())
		}
	}
	for _, bad := range []string{"lots", "1MiB", "-5"} {
		err := run(t.Context(), []string{"config", "check", "--memory-limit", bad}, env(nil), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "memory_limit") {
			t.Errorf("--memory-limit %s: %v", bad, err)
		}
	}
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	_, logs, stop := startRun(t, []string{"--in-memory", "--memory-limit", "900MiB"}, nil)
	stop()
	if got := debug.SetMemoryLimit(-1); got != 900<<20 {
		t.Fatalf("runtime memory limit %d after serve, want %d", got, 900<<20)
	}
	if !strings.Contains(logs.String(), `"limit_bytes":943718400`) {
		t.Errorf("serve did not log its memory limit:\n%s", logs.String())
	}
}

// TestFailedAuthGuard checks the wiring of the brute-force guard: after a
// burst of failed authentications a client IP's failures get 429 with
// Retry-After, while a valid key from that IP still gets through.
func TestFailedAuthGuard(t *testing.T) {
	addr, logs, stop := startRun(t, []string{"--in-memory", "--ratelimit-failed-auth-rps", "0.01"}, nil)
	defer stop()
	admin := keyRe.FindString(logs.String())
	url := "http://" + addr + "/v1/tenants"
	bad := "tm_aaaaaaaaaaaaaaaa_" + strings.Repeat("b", 52)
	codes := map[int]int{}
	for range 30 {
		codes[get(t, url, bad)]++
	}
	if codes[401] != 10 || codes[429] != 20 {
		t.Fatalf("failed-auth statuses %v, want 10 × 401 then 429s", codes)
	}
	for _, c := range []struct {
		key  string
		want int
	}{{admin, 200}, {bad, 429}, {admin, 200}} {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+c.key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want || (c.want == 429 && res.Header.Get("Retry-After") == "") {
			t.Fatalf("after the failures: %d retry-after %q, want %d", res.StatusCode, res.Header.Get("Retry-After"), c.want)
		}
	}
}
