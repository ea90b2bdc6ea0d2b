package main

// Attack tests against the real `telamentis serve` on loopback (issue 4):
// each one drives the server over HTTP(S) the way an attacker or a noisy
// tenant would, and checks what the hardening guide promises.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
)

var yamlUnmarshal = yaml.Unmarshal

// api is a small client of the server under test.
type api struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newAPI(t testing.TB, addr string) *api {
	return &api{t: t, base: "http://" + addr, hc: &http.Client{Timeout: 30 * time.Second}}
}

// do sends a request; body may be nil, a string or a value to marshal.
// extra holds header name/value pairs.
func (a *api) do(method, path, key string, body any, extra ...string) (int, http.Header, []byte) {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	res, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// must fails the test unless the request answers want.
func (a *api) must(want int, method, path, key string, body any) []byte {
	a.t.Helper()
	c, _, b := a.do(method, path, key, body)
	if c != want {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, c, want, b)
	}
	return b
}

// tenantKey creates tenant (with quotas) and returns a key of role for it.
func (a *api) tenantKey(admin, tenant, role string, quotas map[string]any) string {
	a.t.Helper()
	a.must(201, "POST", "/v1/tenants", admin, map[string]any{"id": tenant, "quotas": quotas})
	return a.issueKey(admin, tenant, role)
}

func (a *api) issueKey(admin, tenant, role string) string {
	a.t.Helper()
	var out struct {
		Key    struct{ ID string }
		Secret string
	}
	json.Unmarshal(a.must(201, "POST", "/v1/tenants/"+tenant+"/keys", admin, map[string]any{"role": role, "name": "k"}), &out)
	if out.Secret == "" {
		a.t.Fatal("no secret in key response")
	}
	return out.Secret
}

func randID(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("t%x", b)
}

// writeCert writes a fresh self-signed certificate for 127.0.0.1 with the
// given common name to certFile and keyFile (replacing them atomically).
func writeCert(t testing.TB, certFile, keyFile, cn string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	for path, blk := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kd}} {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
}

// startProcess runs `telamentis serve` as a child process (this test
// binary re-executed as main), so that signals reach only it.
func startProcess(t *testing.T, args []string, vars map[string]string) (addr string, logs *syncBuffer, cmd *exec.Cmd) {
	t.Helper()
	cmd = exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "TELAMENTIS_TEST_RUN_MAIN=1")
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs = &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	})
	return waitFor(t, logs, addrRe, done), logs, cmd
}

// TestAttackTLS runs the real serve path with TLS: old protocol versions
// are refused, 1.2 and 1.3 work, the security headers are set, and a new
// certificate is picked up on SIGHUP by new connections while an open
// connection keeps working.
func TestAttackTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, cert, key, "first")
	addr, logs, cmd := startProcess(t, []string{"--in-memory", "--tls-cert-file", cert, "--tls-key-file", key}, nil)

	dial := func(minV, maxV uint16) (*tls.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
			&tls.Config{InsecureSkipVerify: true, MinVersion: minV, MaxVersion: maxV})
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if c, err := dial(v, v); err == nil {
			c.Close()
			t.Errorf("%s handshake succeeded", tls.VersionName(v))
		}
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		c, err := dial(v, v)
		if err != nil {
			t.Fatalf("%s handshake: %v", tls.VersionName(v), err)
		}
		c.Close()
	}

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := hc.Get("https://" + addr + "/v1/whoami")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := res.Header
	if h.Get("Strict-Transport-Security") != "max-age=31536000; includeSubDomains" || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("Cache-Control") != "no-store" || h.Get("Server") != "" || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("security headers over TLS: %v", h)
	}
	// Plain HTTP on the TLS port gets no redirect and no API.
	if res, err := http.Get("http://" + addr + "/v1/whoami"); err == nil {
		if res.StatusCode < 400 || res.Header.Get("Location") != "" {
			t.Errorf("plaintext request to the TLS port: %d %v", res.StatusCode, res.Header)
		}
		res.Body.Close()
	}

	// An established connection from before the reload.
	old, err := dial(tls.VersionTLS12, tls.VersionTLS13)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	cn := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].Subject.CommonName }
	if cn(old) != "first" {
		t.Fatalf("certificate %q", cn(old))
	}
	writeCert(t, cert, key, "second")
	cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := dial(tls.VersionTLS12, tls.VersionTLS13)
		if err != nil {
			t.Fatal(err)
		}
		got := cn(c)
		c.Close()
		if got == "second" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new certificate never served:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(old, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	old.SetReadDeadline(time.Now().Add(10 * time.Second))
	if res, err := http.ReadResponse(bufio.NewReader(old), nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("connection from before the reload: %v %v", res, err)
	}
}

// TestAttackPlaintextOffLoopback: plaintext on a non-loopback address is
// refused unless a TLS-terminating proxy is declared with its CIDRs.
func TestAttackPlaintextOffLoopback(t *testing.T) {
	err := run(t.Context(), []string{"config", "check", "--in-memory", "--listen", "0.0.0.0:8080"}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("plaintext on 0.0.0.0 accepted: %v", err)
	}
	err = run(t.Context(), []string{"config", "check", "--in-memory", "--listen", "0.0.0.0:8080", "--behind-proxy"}, env(nil), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("behind-proxy without trusted proxies accepted")
	}
	err = run(t.Context(), []string{"config", "check", "--in-memory", "--listen", "0.0.0.0:8080", "--behind-proxy",
		"--trusted-proxies", "10.0.0.0/8"}, env(nil), io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("behind-proxy with trusted proxies: %v", err)
	}
	err = run(t.Context(), []string{"config", "check", "--in-memory", "--admin-listen", "0.0.0.0:9090"}, env(nil), io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("config check: %v", err)
	}
	// The admin listener off loopback needs its bearer token.
	err = run(t.Context(), []string{"serve", "--in-memory", "--listen", "127.0.0.1:0", "--admin-listen", "0.0.0.0:0"}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("public admin listener without token: %v", err)
	}
}

// TestAttackSlowHeaders: a client that never finishes its headers is cut
// off while a normal client is served.
func TestAttackSlowHeaders(t *testing.T) {
	addr, _, stop := startRun(t, []string{"--in-memory", "--read-header-timeout", "300ms"}, nil)
	defer stop()
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	if c := get(t, "http://"+addr+"/healthz", ""); c != 200 {
		t.Fatalf("normal client: %d", c)
	}
	// The server closes the slow connection; our own deadline only keeps
	// a broken server from hanging the test.
	slow.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err = io.ReadAll(slow)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("slow-header connection was never closed by the server")
	}
}

// TestAttackNoisyTenant: a tenant driven at ten times its limit gets 429s
// with Retry-After and RateLimit headers, while another tenant's requests
// all succeed.
func TestAttackNoisyTenant(t *testing.T) {
	addr, logs, stop := startRun(t, []string{"--in-memory"}, nil)
	defer stop()
	admin := keyRe.FindString(logs.String())
	a := newAPI(t, addr)
	noisy := a.tenantKey(admin, "noisy", "writer", map[string]any{"requests_per_second": 20, "burst": 20})
	calm := a.tenantKey(admin, "calm", "writer", map[string]any{"requests_per_second": 200, "burst": 50})

	var ok, limited atomic.Int64
	var hdrOnce sync.Once
	var hdr http.Header
	stopFlood := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopFlood:
					return
				default:
				}
				c, h, _ := a.do("GET", "/v1/graph/noisy/stats", noisy, nil)
				switch c {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
					hdrOnce.Do(func() { hdr = h })
				default:
					t.Errorf("noisy tenant: %d", c)
					return
				}
			}
		}()
	}
	for i := range 40 {
		if c, _, b := a.do("POST", "/v1/graph/calm/nodes", calm, map[string]any{"alias": fmt.Sprint("n", i), "label": "P"}); c != 201 {
			t.Errorf("calm tenant request %d during the flood: %d %s", i, c, b)
		}
		time.Sleep(10 * time.Millisecond) // calm's normal pace, well under its limit
	}
	close(stopFlood)
	wg.Wait()
	if limited.Load() == 0 || ok.Load() == 0 || limited.Load() < ok.Load() {
		t.Fatalf("noisy tenant: %d ok, %d limited", ok.Load(), limited.Load())
	}
	if hdr.Get("Retry-After") == "" || !strings.Contains(hdr.Get("RateLimit"), "r=0") ||
		!regexp.MustCompile(`^"(tenant|key)";q=20;w=1$`).MatchString(hdr.Get("RateLimit-Policy")) {
		t.Errorf("429 headers: %v", hdr)
	}
}

// TestAttackForwardedForRotation: rotating X-Forwarded-For from a peer
// that is not a trusted proxy does not escape the per-IP limit.
func TestAttackForwardedForRotation(t *testing.T) {
	for _, extra := range [][]string{nil, {"--behind-proxy", "--trusted-proxies", "10.9.0.0/16"}} {
		addr, logs, stop := startRun(t, append([]string{"--in-memory", "--ratelimit-ip-rps", "0.5"}, extra...), nil)
		admin := keyRe.FindString(logs.String())
		a := newAPI(t, addr)
		codes := map[int]int{}
		for i := range 12 {
			c, _, _ := a.do("GET", "/v1/whoami", admin, nil, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1), "X-Real-IP", fmt.Sprintf("198.51.100.%d", i+1))
			codes[c]++
		}
		stop()
		if codes[429] < 10 {
			t.Errorf("%v: rotating X-Forwarded-For escaped the IP limit: %v", extra, codes)
		}
	}
}

// TestAttackSharedRedisLimit: two servers sharing Redis enforce one
// combined tenant limit.
func TestAttackSharedRedisLimit(t *testing.T) {
	redisAddr := os.Getenv("TELAMENTIS_TEST_REDIS_ADDR")
	if redisAddr == "" {
		t.Skip("TELAMENTIS_TEST_REDIS_ADDR not set")
	}
	tenant := randID(t)
	const burst = 10
	var clients []*api
	var keys []string
	for range 2 {
		addr, logs, stop := startRun(t, []string{"--in-memory", "--redis-addr", redisAddr}, nil)
		defer stop()
		a := newAPI(t, addr)
		admin := keyRe.FindString(logs.String())
		keys = append(keys, a.tenantKey(admin, tenant, "reader", map[string]any{"requests_per_second": 1, "burst": burst}))
		clients = append(clients, a)
	}
	start := time.Now()
	ok := 0
	for i := range 2 * 2 * burst {
		c, _, b := clients[i%2].do("GET", "/v1/graph/"+tenant+"/stats", keys[i%2], nil)
		switch c {
		case 200:
			ok++
		case 429:
		default:
			t.Fatalf("status %d: %s", c, b)
		}
	}
	// One shared bucket admits the burst plus what refilled meanwhile;
	// two separate ones would admit about twice the burst. Each server's
	// key creation already took one token of the tenant's bucket: burst-2.
	refill := int(time.Since(start).Seconds()) + 1
	if ok < burst-2 || ok > burst+refill {
		t.Fatalf("%d requests admitted across two replicas, want %d..%d", ok, burst-2, burst+refill)
	}
}

// TestAttackQuotaConcurrentWriters: 16 concurrent writers through HTTP
// never overshoot a tenant's node quota, and refusals are quota-exceeded
// problems.
func TestAttackQuotaConcurrentWriters(t *testing.T) {
	addr, logs, stop := startRun(t, []string{"--in-memory"}, nil)
	defer stop()
	admin := keyRe.FindString(logs.String())
	a := newAPI(t, addr)
	const max = 40
	w := a.tenantKey(admin, "quota", "writer", map[string]any{"max_nodes": max})
	var created, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				c, _, b := a.do("POST", "/v1/graph/quota/nodes", w, map[string]any{"alias": fmt.Sprintf("w%d-%d", g, i), "label": "P"})
				switch {
				case c == 201:
					created.Add(1)
				case c == 403 && strings.Contains(string(b), "quota-exceeded"):
					refused.Add(1)
				default:
					t.Errorf("writer %d: %d %s", g, c, b)
				}
			}
		}()
	}
	wg.Wait()
	var st struct {
		Nodes int64 `json:"nodes"`
	}
	json.Unmarshal(a.must(200, "GET", "/v1/graph/quota/stats", w, nil), &st)
	if created.Load() != max || refused.Load() != 16*6-max || st.Nodes != max {
		t.Fatalf("created %d refused %d stored %d, quota %d", created.Load(), refused.Load(), st.Nodes, max)
	}
}

// TestAttackAuditFailClosed: with the audit store gone, an erase, a tenant
// delete and a key creation are refused and change nothing.
func TestAttackAuditFailClosed(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addr, logs, stop := startRun(t, []string{"--data", data, "--no-sync"}, nil)
	defer stop()
	admin := keyRe.FindString(logs.String())
	a := newAPI(t, addr)
	ta := a.tenantKey(admin, "acme", "tenant_admin", nil)
	var node struct{ Node struct{ ID string } }
	json.Unmarshal(a.must(201, "POST", "/v1/graph/acme/nodes", ta, map[string]any{"alias": "victim", "label": "P"}), &node)
	if node.Node.ID == "" {
		t.Fatal("no node id")
	}
	a.must(200, "GET", "/readyz", "", nil)
	if err := os.Rename(data+"-audit", data+"-audit.gone"); err != nil {
		t.Fatal(err)
	}
	if c, _, b := a.do("GET", "/readyz", "", nil); c != 503 {
		t.Errorf("readyz with the audit log gone: %d %s", c, b)
	}
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1/graph/acme/nodes/" + node.Node.ID + "/erase"},
		{"DELETE", "/v1/tenants/acme"},
		{"POST", "/v1/tenants/acme/keys"},
	} {
		key := admin
		var body any
		if r.method == "POST" && strings.HasSuffix(r.path, "/keys") {
			body = map[string]any{"role": "reader"}
		}
		if strings.HasSuffix(r.path, "/erase") {
			key = ta
		}
		c, _, b := a.do(r.method, r.path, key, body)
		if c != 503 {
			t.Errorf("%s %s with the audit log gone: %d %s", r.method, r.path, c, b)
		}
	}
	a.must(200, "GET", "/v1/graph/acme/nodes/"+node.Node.ID, ta, nil)
	a.must(200, "GET", "/v1/tenants/acme", admin, nil)
	var keys []json.RawMessage
	b := a.must(200, "GET", "/v1/tenants/acme/keys", admin, nil)
	if err := json.Unmarshal(b, &keys); err != nil {
		var wrapped struct{ Keys []json.RawMessage }
		json.Unmarshal(b, &wrapped)
		keys = wrapped.Keys
	}
	if len(keys) != 1 {
		t.Fatalf("keys after refused creation: %s", b)
	}
}

// readAudit returns the records in the audit log file of dir.
func readAudit(t *testing.T, dir string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestAttackAuditScenario scripts one of each audited event, checks each
// appears exactly once, that no canary secret or PII value appears in any
// log line, metric, error body or audit record, and that tampering with a
// stored record is found at its sequence number by `telamentis audit
// verify`.
func TestAttackAuditScenario(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const canaryPII = "canary-pii-7f3a9e@example.org"
	canaryAdminToken := "canary-admin-token-" + strings.Repeat("q", 24) + "-9b1c"
	tokenFile := filepath.Join(dir, "admin-token")
	os.WriteFile(tokenFile, []byte(canaryAdminToken+"\n"), 0o440)
	b32 := "abcdefghijklmnopqrstuvwxyz234567"
	rnd := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		for i := range b {
			b[i] = b32[int(b[i])%32]
		}
		return string(b)
	}
	bootstrapKey := "tm_" + rnd(16) + "_" + rnd(52)
	keyFile := filepath.Join(dir, "bootstrap-key")
	os.WriteFile(keyFile, []byte(bootstrapKey), 0o440)
	vars := map[string]string{"TELAMENTIS_ADMIN_TOKEN_FILE": tokenFile, BootstrapKeyFileEnv: keyFile}

	var bodies bytes.Buffer // every response body
	sinkFile := filepath.Join(dir, "siem.jsonl")
	addr, logs, stop := startRun(t, []string{"--data", data, "--no-sync", "--audit-auth-success",
		"--secret-files-group-readable", "--audit-sink-file", sinkFile}, vars)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	adminAddr := regexp.MustCompile(`"msg":"admin listening","admin_addr":"([^"]+)"`).FindStringSubmatch(logs.String())
	if adminAddr == nil {
		t.Fatalf("no admin listener in\n%s", logs)
	}
	a := newAPI(t, addr)
	admin := bootstrapKey
	call := func(want int, method, path, key string, body any) []byte {
		t.Helper()
		c, _, b := a.do(method, path, key, body)
		bodies.Write(b)
		if c != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, c, want, b)
		}
		return b
	}

	// auth.failure
	call(401, "GET", "/v1/whoami", "tm_aaaaaaaaaaaaaaaa_"+strings.Repeat("b", 52), nil)
	// tenant.create, key.create
	call(201, "POST", "/v1/tenants", admin, map[string]any{"id": "acme", "quotas": map[string]any{"max_nodes": 1},
		"pii": map[string]any{"fields": []string{"email"}, "mode": "mask"}})
	var k1 struct {
		Key    struct{ ID string }
		Secret string
	}
	json.Unmarshal(call(201, "POST", "/v1/tenants/acme/keys", admin, map[string]any{"role": "tenant_admin", "name": "ops"}), &k1)
	// node.upsert (not audited), then quota.trip
	var node struct{ Node struct{ ID string } }
	json.Unmarshal(call(201, "POST", "/v1/graph/acme/nodes", k1.Secret, map[string]any{"alias": "alice", "label": "Person",
		"props": map[string]any{"email": canaryPII}}), &node)
	call(403, "POST", "/v1/graph/acme/nodes", k1.Secret, map[string]any{"alias": "bob", "label": "Person",
		"props": map[string]any{"email": canaryPII}})
	// An invalid body carrying the PII value: the error must not echo it.
	call(400, "POST", "/v1/graph/acme/nodes", k1.Secret, map[string]any{"alias": "carol", "label": "bad label!",
		"props": map[string]any{"email": canaryPII}})
	call(200, "GET", "/v1/graph/acme/nodes?alias=alice", k1.Secret, nil)
	// node.retract and node.erase (other deletions, erasure)
	call(200, "DELETE", "/v1/graph/acme/nodes/"+node.Node.ID, k1.Secret, nil)
	call(200, "POST", "/v1/graph/acme/nodes/"+node.Node.ID+"/erase", k1.Secret, nil)
	// key.rotate (k1 → k2), tenant.update (security settings: rate limit)
	var k2 struct {
		Key    struct{ ID string }
		Secret string
	}
	json.Unmarshal(call(201, "POST", "/v1/tenants/acme/keys/"+k1.Key.ID+"/rotate", admin, nil), &k2)
	call(200, "PATCH", "/v1/tenants/acme", admin, map[string]any{"quotas": map[string]any{"max_nodes": 1, "requests_per_second": 2, "burst": 1}})
	// ratelimit.trip
	limited := 0
	for range 4 {
		c, h, b := a.do("GET", "/v1/graph/acme/stats", k2.Secret, nil)
		bodies.Write(b)
		if c == 429 {
			limited++
			if h.Get("Retry-After") == "" || h.Get("RateLimit") == "" || h.Get("RateLimit-Policy") == "" {
				t.Errorf("429 headers: %v", h)
			}
		}
	}
	if limited == 0 {
		t.Fatal("no rate-limit trip")
	}
	// key.revoke, tenant.delete: these act on acme too, so each first
	// waits for acme's bucket (2/s, burst 1) to hold a token again.
	time.Sleep(time.Second)
	call(200, "DELETE", "/v1/tenants/acme/keys/"+k2.Key.ID, admin, nil)
	time.Sleep(time.Second)
	call(204, "DELETE", "/v1/tenants/acme", admin, nil)
	// The audit trail through the API (admin) holds the same records.
	auditBody := call(200, "GET", "/v1/audit?limit=1000", admin, nil)

	// Metrics from the admin listener: only with the token.
	mreq := func(tok string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+adminAddr[1]+"/metrics", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if c, _ := mreq(""); c != 401 {
		t.Errorf("/metrics without token: %d", c)
	}
	c, metricsText := mreq(canaryAdminToken)
	if c != 200 {
		t.Fatalf("/metrics: %d", c)
	}
	for _, want := range []string{`route="POST /v1/graph/{tenant}/nodes"`, "telamentis_auth_failures_total", "telamentis_ratelimit_rejections_total",
		"telamentis_quota_exceeded_total", "telamentis_audit_writes_total", `telamentis_graph_operations_total{code="ok",op="node.erase",tenant="acme"} 1`,
		`telamentis_store_operation_duration_seconds_count{backend="badger",op="node.upsert"`} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if res, err := http.Get("http://" + addr + "/metrics"); err == nil {
		if res.StatusCode == 200 {
			t.Error("/metrics served on the API listener")
		}
		res.Body.Close()
	}
	if res, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		if res.StatusCode == 200 {
			t.Error("pprof served on the API listener")
		}
		res.Body.Close()
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	auditDir := data + "-audit"
	auditFile, _ := os.ReadFile(filepath.Join(auditDir, "audit.jsonl"))
	sink, err := os.ReadFile(sinkFile)
	if err != nil || !bytes.Equal(sink, auditFile) {
		t.Errorf("SIEM sink differs from the log (%v): %d vs %d bytes", err, len(sink), len(auditFile))
	}

	_, secretPart, _ := strings.Cut(strings.TrimPrefix(bootstrapKey, "tm_"), "_")
	for name, canary := range map[string]string{"admin token": canaryAdminToken, "bootstrap key secret": secretPart, "pii": canaryPII,
		"tenant key secret": k1.Secret[len(k1.Secret)-52:]} {
		for where, text := range map[string]string{"log": logs.String(), "metrics": metricsText, "bodies": bodies.String(),
			"audit file": string(auditFile), "audit api": string(auditBody), "siem sink": string(sink)} {
			if name == "tenant key secret" && where == "bodies" {
				continue // shown once, on purpose, when the key is issued
			}
			if strings.Contains(text, canary) {
				t.Errorf("%s canary found in %s", name, where)
			}
		}
	}

	recs := readAudit(t, auditDir)
	final := map[string]int{}
	attempts := map[string]int{}
	successByActor := map[string]int{}
	for _, r := range recs {
		action, _ := r["action"].(string)
		switch {
		case action == "auth.success":
			successByActor[r["actor"].(string)]++
		case r["outcome"] == "attempt":
			attempts[action]++
		default:
			final[action]++
		}
	}
	for _, action := range []string{"auth.failure", "tenant.create", "tenant.update", "tenant.delete", "key.create",
		"key.rotate", "key.revoke", "node.retract", "node.erase", "quota.trip", "ratelimit.trip"} {
		if final[action] != 1 {
			t.Errorf("%s recorded %d times, want once", action, final[action])
		}
	}
	for action, n := range attempts {
		if n != 1 {
			t.Errorf("%s attempt recorded %d times", action, n)
		}
	}
	if len(successByActor) < 2 {
		t.Errorf("auth.success by actor: %v", successByActor)
	}
	for actor, n := range successByActor {
		if n != 1 {
			t.Errorf("auth.success for %s recorded %d times (throttled to once per interval)", actor, n)
		}
	}

	// Verify, then tamper with record 5 and verify again.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--data", data}, env(nil), &out, io.Discard); err != nil {
		t.Fatalf("verify intact log: %v %s", err, out.String())
	}
	lines := bytes.Split(auditFile, []byte("\n"))
	lines[4] = bytes.Replace(lines[4], []byte(`"outcome":"`), []byte(`"outcome":"x`), 1)
	os.WriteFile(filepath.Join(auditDir, "audit.jsonl"), bytes.Join(lines, []byte("\n")), 0o600)
	out.Reset()
	err = run(context.Background(), []string{"audit", "verify", "--data", data}, env(nil), &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "BROKEN at seq 5:") {
		t.Fatalf("tampered record 5: %v %q", err, out.String())
	}
}

// TestConfigCheckK8s: the pod configuration of deploy/k8s is valid, with
// its secrets mounted 0440 (fsGroup); config check prints them redacted,
// and refuses a placeholder secret.
func TestConfigCheckK8s(t *testing.T) {
	b, err := os.ReadFile("../../deploy/k8s/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yamlUnmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "telamentis.yaml")
	os.WriteFile(cfgFile, []byte(cm.Data["telamentis.yaml"]), 0o600)
	const token = "k8s-admin-token-0123456789abcdefghijklmnop"
	const master = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	tokFile, keyFile := filepath.Join(dir, "admin-token"), filepath.Join(dir, "master-key")
	os.WriteFile(tokFile, []byte(token), 0o440)
	os.WriteFile(keyFile, []byte(master+"\n"), 0o440)
	vars := map[string]string{"TELAMENTIS_ADMIN_TOKEN_FILE": tokFile, "TELAMENTIS_MASTER_KEY_FILE": keyFile}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"config", "check", "--config", cfgFile}, env(vars), &out, io.Discard); err != nil {
		t.Fatalf("pod config: %v", err)
	}
	for _, want := range []string{"listen: 0.0.0.0:8443", "behind_proxy: true", "trusted_proxies: 10.244.0.0/16", "admin_listen: 0.0.0.0:8079",
		"max_conns: 1024", "secret TELAMENTIS_ADMIN_TOKEN: [redacted]", "secret TELAMENTIS_MASTER_KEY: [redacted]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config check lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), token) || strings.Contains(out.String(), master) {
		t.Fatal("config check printed a secret")
	}
	// The same files are refused without secret_files_group_readable.
	os.WriteFile(cfgFile, []byte(strings.Replace(cm.Data["telamentis.yaml"], "secret_files_group_readable: true", "secret_files_group_readable: false", 1)), 0o600)
	if err := run(t.Context(), []string{"config", "check", "--config", cfgFile}, env(vars), io.Discard, io.Discard); err == nil {
		t.Fatal("group-readable secret accepted without secret_files_group_readable")
	}
	// Placeholders and unknown keys are refused.
	os.Chmod(tokFile, 0o600)
	os.WriteFile(tokFile, []byte(strings.Repeat("changeme", 5)), 0o600)
	err = run(t.Context(), []string{"config", "check", "--in-memory"}, env(map[string]string{"TELAMENTIS_ADMIN_TOKEN_FILE": tokFile}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("placeholder admin token: %v", err)
	}
	err = run(t.Context(), []string{"serve", "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"},
		env(map[string]string{"TELAMENTIS_MASTER_KEY": strings.Repeat("changeme", 8)}), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve started with a placeholder master key")
	}
	os.WriteFile(cfgFile, []byte("tls_cert_fil: x\n"), 0o600)
	if err := run(t.Context(), []string{"config", "check", "--config", cfgFile}, env(nil), io.Discard, io.Discard); err == nil {
		t.Fatal("unknown key accepted")
	}
}

// TestAttackMutualTLS: with client_auth required, a client without a
// certificate from the configured CA gets no answer; one with it does.
func TestAttackMutualTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, cert, key, "server")
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	caCert, _ := x509.ParseCertificate(caDER)
	clientCert := func(signer *ecdsa.PrivateKey, parent *x509.Certificate) tls.Certificate {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gateway"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if parent == nil {
			parent, signer = tmpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, signer)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	addr, _, stop := startRun(t, []string{"--in-memory", "--tls-cert-file", cert, "--tls-key-file", key,
		"--client-ca-file", caFile, "--client-auth", "required"}, nil)
	defer stop()
	try := func(certs []tls.Certificate) error {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: certs}}}
		res, err := hc.Get("https://" + addr + "/healthz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	if err := try(nil); err == nil {
		t.Error("served a client without a certificate")
	}
	if err := try([]tls.Certificate{clientCert(nil, nil)}); err == nil {
		t.Error("served a client with a self-signed certificate")
	}
	if err := try([]tls.Certificate{clientCert(caKey, caCert)}); err != nil {
		t.Errorf("client certificate from the CA: %v", err)
	}
}
