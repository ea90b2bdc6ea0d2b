package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// pgDB is a fresh database with its own owner and service roles, both
// with passwords (so the tests can check that no password is logged).
type pgDB struct {
	ownerURL, svcURL string
	svc              string
	passwords        []string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newPGDB creates the database, or skips without TELAMENTIS_TEST_POSTGRES_URL.
func newPGDB(t *testing.T) *pgDB {
	t.Helper()
	base := os.Getenv("TELAMENTIS_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TELAMENTIS_TEST_POSTGRES_URL not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	suffix := randHex(6)
	db, owner, svc := "tm_cmd_"+suffix, "tm_cmdowner_"+suffix, "tm_cmdsvc_"+suffix
	opw, spw := "opw-"+randHex(12), "spw-"+randHex(12)
	for _, s := range []string{
		`CREATE ROLE ` + owner + ` LOGIN PASSWORD '` + opw + `' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`,
		`CREATE ROLE ` + svc + ` LOGIN PASSWORD '` + spw + `' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`,
		`CREATE DATABASE ` + db + ` OWNER ` + owner,
		`REVOKE ALL ON DATABASE ` + db + ` FROM PUBLIC`,
		`GRANT CONNECT ON DATABASE ` + db + ` TO ` + svc,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`)
		c.Exec(ctx, `DROP ROLE IF EXISTS `+svc)
		c.Exec(ctx, `DROP ROLE IF EXISTS `+owner)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	u.User = url.UserPassword(owner, opw)
	d := &pgDB{ownerURL: u.String(), svc: svc, passwords: []string{opw, spw}}
	u.User = url.UserPassword(svc, spw)
	d.svcURL = u.String()
	return d
}

// noPasswords fails if any password appears in out.
func (d *pgDB) noPasswords(t *testing.T, out string) {
	t.Helper()
	for _, pw := range d.passwords {
		if strings.Contains(out, pw) {
			t.Fatalf("a database password appears in the output:\n%s", out)
		}
	}
}

func doJSON(t *testing.T, method, url, key string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return res.StatusCode
}

// TestServePostgres migrates a fresh database with `telamentis migrate`,
// serves on it with the DSNs and the cursor key from the environment,
// restarts with the DSN from a *_FILE, and checks that keys, data and
// cursors survive, that dedicated tenants work through the owner DSN, that
// the unverified TLS is warned about, and that no password is ever output.
func TestServePostgres(t *testing.T) {
	d := newPGDB(t)
	ctx := t.Context()

	// migrate: the owner DSN with a password only from the environment.
	var out strings.Builder
	err := run(ctx, []string{"migrate", "--owner-dsn", d.ownerURL, "--service-role", d.svc}, env(nil), io.Discard, &out)
	if err == nil || !strings.Contains(err.Error(), "not a flag") {
		t.Fatalf("owner DSN with a password in a flag: %v", err)
	}
	d.noPasswords(t, err.Error())
	if err := run(ctx, []string{"migrate"}, env(map[string]string{OwnerDSNEnv: d.ownerURL}), io.Discard, &out); err == nil {
		t.Fatal("migrate without --service-role succeeded")
	}
	for range 2 { // idempotent
		if err := run(ctx, []string{"migrate", "--service-role", d.svc}, env(map[string]string{OwnerDSNEnv: d.ownerURL}), io.Discard, &out); err != nil {
			t.Fatalf("migrate: %v\n%s", err, out.String())
		}
	}
	if !strings.Contains(out.String(), `"msg":"migrations applied"`) {
		t.Fatalf("migrate log:\n%s", out.String())
	}
	d.noPasswords(t, out.String())

	// A password in --store or the config file is refused.
	err = run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--store", d.svcURL}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not a flag") {
		t.Fatalf("service DSN with a password in a flag: %v", err)
	}
	d.noPasswords(t, err.Error())
	err = run(ctx, []string{"serve", "--in-memory", "--listen", "127.0.0.1:0"}, env(map[string]string{StoreEnv: d.svcURL}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "in_memory") {
		t.Fatalf("in-memory with postgres: %v", err)
	}

	// config check shows the DSN redacted and validates the secrets.
	out.Reset()
	if err := run(ctx, []string{"config", "check"}, env(map[string]string{StoreEnv: d.svcURL, CursorKeyEnv: "short"}), &out, io.Discard); err == nil || !strings.Contains(err.Error(), CursorKeyEnv) {
		t.Fatalf("short cursor key: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"config", "check"}, env(map[string]string{StoreEnv: d.svcURL}), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "store: postgres://"+d.svc+":redacted@") {
		t.Fatalf("config check:\n%s", out.String())
	}
	d.noPasswords(t, out.String())

	data := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{StoreEnv: d.svcURL, OwnerDSNEnv: d.ownerURL, CursorKeyEnv: randHex(16)}
	addr, logs, stop := startRun(t, []string{"--data", data}, vars)
	base := "http://" + addr
	keys := keyRe.FindAllString(logs.String(), -1)
	if len(keys) != 1 {
		t.Fatalf("want one printed key, got %d in\n%s", len(keys), logs)
	}
	admin := keys[0]
	for _, want := range []string{`"msg":"postgres store open"`, `postgres: connection is not verified`} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %s:\n%s", want, logs)
		}
	}
	writers := map[string]string{}
	for _, ten := range []map[string]any{{"id": "acme", "name": "Acme"}, {"id": "solo", "name": "Solo", "isolation": "dedicated"}} {
		if c := doJSON(t, "POST", base+"/v1/tenants", admin, ten, nil); c != 201 {
			t.Fatalf("create tenant %v: %d", ten["id"], c)
		}
		var k struct {
			Secret string `json:"secret"`
		}
		if c := doJSON(t, "POST", base+"/v1/tenants/"+ten["id"].(string)+"/keys", admin, map[string]any{"role": "writer"}, &k); c != 201 {
			t.Fatalf("issue key: %d", c)
		}
		writers[ten["id"].(string)] = k.Secret
		for _, a := range []string{"a", "b", "c"} {
			if c := doJSON(t, "POST", base+"/v1/graph/"+ten["id"].(string)+"/nodes", k.Secret,
				map[string]any{"alias": a, "label": "Thing"}, nil); c != 201 {
				t.Fatalf("upsert node %s: %d", a, c)
			}
		}
	}
	var page struct {
		Nodes []struct {
			Alias string `json:"alias"`
		} `json:"nodes"`
		Next string `json:"next_cursor"`
	}
	q := map[string]any{"kind": "nodes", "labels": []string{"Thing"}, "limit": 2}
	if c := doJSON(t, "POST", base+"/v1/graph/acme/query", writers["acme"], q, &page); c != 200 || len(page.Nodes) != 2 || page.Next == "" {
		t.Fatalf("first page: %d %+v", c, page)
	}
	seen := page.Nodes[0].Alias + page.Nodes[1].Alias
	cursor := page.Next
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"msg":"store closed"`) {
		t.Fatalf("store not closed:\n%s", logs)
	}
	d.noPasswords(t, logs.String())

	// Restart with the DSN from a file: the admin key, the data of both
	// tenants and the cursor survive.
	file := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(file, []byte(d.svcURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(vars, StoreEnv)
	vars[StoreEnv+"_FILE"] = file
	addr, logs, stop = startRun(t, []string{"--data", data}, vars)
	defer stop()
	base = "http://" + addr
	if keyRe.MatchString(logs.String()) {
		t.Fatalf("second start printed a key:\n%s", logs)
	}
	if c := get(t, base+"/v1/tenants", admin); c != 200 {
		t.Fatalf("admin key after restart: %d", c)
	}
	page.Nodes, page.Next = nil, ""
	q["cursor"] = cursor
	if c := doJSON(t, "POST", base+"/v1/graph/acme/query", writers["acme"], q, &page); c != 200 || len(page.Nodes) != 1 || page.Next != "" ||
		strings.Contains(seen, page.Nodes[0].Alias) {
		t.Fatalf("page after restart: %d %+v (first page %s)", c, page, seen)
	}
	var node struct {
		Alias string `json:"alias"`
	}
	if c := doJSON(t, "GET", base+"/v1/graph/solo/nodes?alias=b", writers["solo"], nil, &node); c != 200 || node.Alias != "b" {
		t.Fatalf("dedicated tenant's node after restart: %d %+v", c, node)
	}
	d.noPasswords(t, logs.String())
}
