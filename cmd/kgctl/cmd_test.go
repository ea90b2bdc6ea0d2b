package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

func TestHealthVersion(t *testing.T) {
	r := run(t, env{}, "health")
	golden(t, "health", r.out)
	r = run(t, env{}, "health", "--ready", "-o", "json")
	var h map[string]any
	if err := json.Unmarshal([]byte(r.out), &h); err != nil || h["status"] == nil {
		t.Fatalf("health json: %v %q", err, r.out)
	}
	golden(t, "version", run(t, env{}, "version").out)
	golden(t, "version_json", run(t, env{}, "version", "-o", "json").out)
	r = run(t, env{}, "version", "-o", "yaml")
	if strings.TrimSpace(r.out) != "client: dev" {
		t.Fatalf("version yaml: %q", r.out)
	}
}

func TestTenantLifecycle(t *testing.T) {
	a := admin()
	id := "golden-tenant"
	kgctl(t, a, "", "tenant", "delete", id, "--force")
	r := run(t, a, "tenant", "create", id, "--name", "Golden Inc", "--isolation", "dedicated", "--max-nodes", "1000")
	golden(t, "tenant_create", r.out)
	r = run(t, a, "tenant", "describe", id, "-o", "json")
	golden(t, "tenant_describe_json", r.out)
	var got telamentis.Tenant
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Isolation != telamentis.IsolationDedicated || got.Quotas.MaxNodes != 1000 || got.Name != "Golden Inc" {
		t.Fatalf("describe: %+v", got)
	}
	r = run(t, a, "tenant", "list", "-o", "json")
	var list []telamentis.Tenant
	if err := json.Unmarshal([]byte(r.out), &list); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tt := range list {
		found = found || tt.ID == id
	}
	if !found {
		t.Fatalf("tenant list lacks %s", id)
	}
	if r := run(t, a, "tenant", "list"); !strings.Contains(r.out, "ID  NAME") && !strings.Contains(r.out, "ID ") {
		t.Fatalf("table header: %q", r.out)
	}

	// Quotas keep the values not given; suspend and resume.
	r = run(t, a, "tenant", "update", id, "--max-edges", "5", "--suspend", "-o", "json")
	json.Unmarshal([]byte(r.out), &got)
	if got.Status != telamentis.TenantSuspended || got.Quotas.MaxNodes != 1000 || got.Quotas.MaxEdges != 5 {
		t.Fatalf("update: %+v", got)
	}
	// A suspended tenant's keys are refused (exit 3).
	kr := run(t, a, "--tenant", id, "key", "create", "--role", "reader")
	ke := keyEnv(t, strings.TrimSpace(kr.out))
	if r := kgctl(t, ke, "", "query", "nodes"); r.code != exitAuth {
		t.Fatalf("suspended tenant: exit %d %s", r.code, r.err)
	}
	r = run(t, a, "tenant", "update", id, "--resume", "-o", "json")
	json.Unmarshal([]byte(r.out), &got)
	if got.Status != telamentis.TenantActive {
		t.Fatalf("resume: %+v", got)
	}
	if r := kgctl(t, a, "", "tenant", "update", id); r.code != exitUsage {
		t.Fatalf("update without changes: exit %d", r.code)
	}
	if r := kgctl(t, a, "", "tenant", "create", "Bad_ID"); r.code != exitUsage {
		t.Fatalf("bad id: exit %d", r.code)
	}
	if r := kgctl(t, a, "", "tenant", "create", id); r.code != exitInvalid || !strings.Contains(r.err, "request id") {
		t.Fatalf("duplicate: exit %d %q", r.code, r.err)
	}

	// Delete: no confirmation from a non-terminal; a wrong answer keeps it.
	if r := kgctl(t, a, "", "tenant", "delete", id); r.code != exitUsage {
		t.Fatalf("delete without tty: exit %d", r.code)
	}
	tty := &IOStreams{In: strings.NewReader("nope\n"), StdinTTY: true}
	if r := kgctlIO(t, a, tty, "tenant", "delete", id); r.code != exitUsage || !strings.Contains(r.err, "Type the tenant id") {
		t.Fatalf("delete with a wrong answer: exit %d %q", r.code, r.err)
	}
	run(t, a, "tenant", "describe", id)
	// Some data, then delete with --export-first after typing the id.
	run(t, ke, "whoami")
	wr := run(t, a, "--tenant", id, "key", "create", "--role", "writer")
	we := keyEnv(t, strings.TrimSpace(wr.out))
	f := filepath.Join(t.TempDir(), "nodes.csv")
	os.WriteFile(f, []byte("id,label\na,Person\nb,Person\n"), 0o600)
	run(t, we, "ingest", "csv", "--file", f, "--id-col", "id", "--label-col", "label")
	exp := filepath.Join(t.TempDir(), "before-delete.jsonl")
	tty = &IOStreams{In: strings.NewReader(id + "\n"), StdinTTY: true}
	r = kgctlIO(t, a, tty, "tenant", "delete", id, "--export-first", exp)
	must(t, r, "tenant delete")
	if n := strings.Count(readAll(t, exp), "\n"); n != 2 {
		t.Fatalf("export-first wrote %d lines", n)
	}
	if r := kgctl(t, a, "", "tenant", "describe", id); r.code != exitNotFound {
		t.Fatalf("describe deleted: exit %d", r.code)
	}
	// Its keys are gone with it.
	if r := kgctl(t, we, "", "whoami"); r.code != exitAuth {
		t.Fatalf("deleted tenant's key: exit %d", r.code)
	}
}

var tokenRe = regexp.MustCompile(`^tm_[a-z2-7]{16}_[a-z2-7]{52}\n$`)

func TestKeys(t *testing.T) {
	id, ta := newTenant(t, "tenant_admin")
	// The secret alone on stdout, once.
	r := run(t, ta, "key", "create", "--role", "writer", "--name", "agent")
	if !tokenRe.MatchString(r.out) {
		t.Fatalf("key create stdout: %q", r.out)
	}
	secret := strings.TrimSpace(r.out)
	writer := keyEnv(t, secret)
	wid := keyID(secret)
	r = run(t, writer, "whoami", "-o", "json")
	var p telamentis.Principal
	json.Unmarshal([]byte(r.out), &p)
	if p.Tenant != id || p.Role != telamentis.RoleWriter {
		t.Fatalf("whoami: %+v", p)
	}
	// Lists never show secrets.
	for _, o := range []string{"table", "json", "yaml"} {
		r = run(t, ta, "key", "list", "-o", o)
		if strings.Contains(r.out, secret) || strings.Contains(r.out, secret[len(secret)-52:]) || !strings.Contains(r.out, wid) {
			t.Fatalf("key list -o %s: %q", o, r.out)
		}
	}
	// JSON create shows the API's field names.
	r = run(t, ta, "key", "create", "--role", "reader", "-o", "json")
	var issued struct {
		Key    telamentis.APIKey `json:"key"`
		Secret string            `json:"secret"`
	}
	if err := json.Unmarshal([]byte(r.out), &issued); err != nil || !tokenRe.MatchString(issued.Secret+"\n") || issued.Key.Role != "reader" {
		t.Fatalf("key create json: %v %q", err, r.out)
	}
	// Rotate: a new working key; the old one is revoked.
	r = run(t, ta, "key", "rotate", wid)
	if !tokenRe.MatchString(r.out) {
		t.Fatalf("rotate stdout: %q", r.out)
	}
	rotated := keyEnv(t, strings.TrimSpace(r.out))
	run(t, rotated, "whoami")
	if r := kgctl(t, writer, "", "whoami"); r.code != exitAuth {
		t.Fatalf("old key after rotate: exit %d", r.code)
	}
	// Revoke.
	r = run(t, ta, "key", "revoke", issued.Key.ID, "-o", "json")
	var k telamentis.APIKey
	json.Unmarshal([]byte(r.out), &k)
	if k.RevokedAt.IsZero() {
		t.Fatalf("revoke: %q", r.out)
	}
	if r := kgctl(t, keyEnv(t, issued.Secret), "", "whoami"); r.code != exitAuth {
		t.Fatalf("revoked key: exit %d", r.code)
	}
	if r := kgctl(t, ta, "", "key", "revoke", "aaaaaaaaaaaaaaaa"); r.code != exitNotFound {
		t.Fatalf("revoke missing: exit %d %s", r.code, r.err)
	}
	// A writer may not manage keys.
	if r := kgctl(t, rotated, "", "key", "list"); r.code != exitAuth {
		t.Fatalf("writer key list: exit %d", r.code)
	}
	if r := kgctl(t, ta, "", "key", "create", "--role", "boss"); r.code != exitUsage {
		t.Fatalf("bad role: exit %d", r.code)
	}
	// System admin keys.
	r = run(t, admin(), "key", "create", "--role", "admin", "--name", "second admin", "--expires-in", "1h")
	sys := strings.TrimSpace(r.out)
	r = run(t, admin(), "key", "list", "-o", "json")
	if !strings.Contains(r.out, keyID(sys)) {
		t.Fatal("system key list lacks the new admin key")
	}
	run(t, admin(), "key", "revoke", keyID(sys))
}

func TestErrors(t *testing.T) {
	_, ta := newTenant(t, "tenant_admin")
	cases := []struct {
		name string
		env  env
		args []string
		code int
		msg  string
	}{
		{"unknown command", ta, []string{"frobnicate"}, exitUsage, "unknown command"},
		{"unknown verb", ta, []string{"tenant", "frob"}, exitUsage, "unknown command"},
		{"bad flag", ta, []string{"query", "nodes", "--bogus"}, exitUsage, "unknown flag"},
		{"missing arg", admin(), []string{"tenant", "describe"}, exitUsage, "accepts 1 arg"},
		{"zoneless time", ta, []string{"query", "edges", "--valid-at", "2024-01-01T00:00:00"}, exitUsage, "zone"},
		{"bad output", ta, []string{"query", "nodes", "-o", "xml"}, exitUsage, "output"},
		{"unauthenticated", keyEnv(t, newToken()), []string{"whoami"}, exitAuth, "(401 unauthenticated, request id"},
		{"forbidden", ta, []string{"tenant", "list"}, exitAuth, "(403 forbidden, request id"},
		{"not found", ta, []string{"get", "node", "nobody"}, exitNotFound, "(404 not-found, request id"}, // the API's spelling
		{"invalid", ta, []string{"query", "paths", "--start", "x", "--depth", "9"}, exitUsage, "depth"},
		{"admin without tenant", admin(), []string{"query", "nodes"}, exitUsage, "--tenant"},
		{"no server", env{"TELAMENTIS_ENDPOINT": "http://127.0.0.1:1", "TELAMENTIS_API_KEY": newToken()}, []string{"whoami"}, exitError, "cannot reach"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := kgctl(t, c.env, "", c.args...)
			if r.code != c.code || !strings.Contains(r.err, c.msg) || r.out != "" {
				t.Fatalf("exit %d (want %d), stderr %q (want %q), stdout %q", r.code, c.code, r.err, c.msg, r.out)
			}
			if c.code != exitUsage && strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
				t.Fatalf("error is not one line: %q", r.err)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	_, ta := newTenant(t, "reader")
	secret := readAll(t, ta["TELAMENTIS_API_KEY_FILE"])
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "telamentis")
	os.MkdirAll(cfgDir, 0o700)
	os.WriteFile(filepath.Join(cfgDir, "kgctl.yaml"), []byte("endpoint: http://127.0.0.1:1\napi_key_file: "+ta["TELAMENTIS_API_KEY_FILE"]+"\noutput: json\n"), 0o600)
	base := env{"XDG_CONFIG_HOME": dir, "TELAMENTIS_ENDPOINT": ""}

	// The file alone: its endpoint (unreachable) and key.
	r := kgctl(t, base, "", "config", "view", "-o", "json")
	must(t, r, "config view")
	var rows []configRow
	if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
		t.Fatal(err)
	}
	src := map[string]configRow{}
	for _, row := range rows {
		src[row.Setting] = row
	}
	if !strings.HasPrefix(src["endpoint"].Source, "file ") || src["endpoint"].Value != "http://127.0.0.1:1" ||
		!strings.HasPrefix(src["api-key"].Source, "file ") || src["output"].Value != "json" {
		t.Fatalf("file sources: %+v", rows)
	}
	// env beats file, flag beats env.
	e := env{"XDG_CONFIG_HOME": dir, "TELAMENTIS_ENDPOINT": server.endpoint, "KGCTL_OUTPUT": "yaml"}
	r = run(t, e, "config", "view", "-o", "table")
	for _, want := range []string{"env TELAMENTIS_ENDPOINT", "flag --output", "(set, hidden)"} {
		if !strings.Contains(r.out, want) {
			t.Fatalf("config view lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, strings.TrimSpace(secret)) || strings.Contains(r.out, strings.TrimSpace(secret)[20:]) {
		t.Fatal("config view shows the secret")
	}
	run(t, e, "whoami") // the env endpoint and the file's key work together
	r = run(t, env{"XDG_CONFIG_HOME": dir, "TELAMENTIS_ENDPOINT": "http://127.0.0.1:1"}, "--endpoint", server.endpoint, "config", "view")
	if !strings.Contains(r.out, "flag --endpoint") {
		t.Fatalf("flag source: %s", r.out)
	}
	// TELAMENTIS_API_KEY beats the file's key file.
	r = run(t, env{"XDG_CONFIG_HOME": dir, "TELAMENTIS_API_KEY": newToken()}, "config", "view")
	if !strings.Contains(r.out, "env TELAMENTIS_API_KEY") {
		t.Fatalf("env key source: %s", r.out)
	}

	// A key file readable by others is refused.
	loose := filepath.Join(t.TempDir(), "key")
	os.WriteFile(loose, []byte(secret), 0o644)
	os.Chmod(loose, 0o644)
	if r := kgctl(t, env{"TELAMENTIS_API_KEY_FILE": loose}, "", "whoami"); r.code != exitUsage || !strings.Contains(r.err, "chmod 600") {
		t.Fatalf("loose key file: exit %d %q", r.code, r.err)
	}
	// Unknown config keys are errors.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("endpoint: x\napi_key: tm_secret\n"), 0o600)
	if r := kgctl(t, env{}, "", "--config", bad, "config", "view"); r.code != exitUsage || !strings.Contains(r.err, "api_key") {
		t.Fatalf("unknown key: exit %d %q", r.code, r.err)
	}
	// --insecure-skip-verify warns.
	r = kgctl(t, ta, "", "--insecure-skip-verify", "whoami")
	if r.code != 0 || !strings.Contains(r.err, "WARNING") {
		t.Fatalf("insecure: exit %d %q", r.code, r.err)
	}
	// A CA file that holds no certificate is refused.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("not a cert"), 0o600)
	if r := kgctl(t, ta, "", "--ca-cert", ca, "whoami"); r.code != exitUsage {
		t.Fatalf("bad ca: exit %d", r.code)
	}
}

func TestQuotaAbortsIngest(t *testing.T) {
	id, e := newTenant(t, "writer")
	run(t, admin(), "tenant", "update", id, "--max-nodes", "3")
	f := writeFile(t, "q.csv", "id,label\na,T\nb,T\nc,T\nd,T\ne,T\n")
	r := kgctl(t, e, "", "ingest", "csv", "--file", f, "--id-col", "id", "--label-col", "label", "--batch-size", "1", "--parallel", "1", "-o", "json")
	var sum ingestTotals
	json.Unmarshal([]byte(r.out), &sum)
	if r.code != exitError || sum.Created != 3 || sum.Aborted == "" {
		t.Fatalf("quota: exit %d %+v %q", r.code, sum, r.err)
	}
	// Over several streams, a stream that commits nothing is refused
	// outright (403 quota, exit 5); either way nothing beyond the quota.
	id2, e2 := newTenant(t, "writer")
	run(t, admin(), "tenant", "update", id2, "--max-nodes", "3")
	r = kgctl(t, e2, "", "ingest", "csv", "--file", f, "--id-col", "id", "--label-col", "label", "--batch-size", "1", "--parallel", "4", "-o", "json")
	json.Unmarshal([]byte(r.out), &sum)
	if (r.code != exitError && r.code != exitInvalid) || sum.Created != 3 {
		t.Fatalf("quota over streams: exit %d %+v %q", r.code, sum, r.err)
	}
	// The key list of a fresh tenant, as a golden table.
	_, ta := newTenant(t, "tenant_admin")
	golden(t, "key_list", run(t, ta, "key", "list").out)
}
