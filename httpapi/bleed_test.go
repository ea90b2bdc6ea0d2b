package httpapi_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// lastUsed matches a key's last-use time, which the snapshot's own use of
// A's key moves (written in the background, so a snapshot may or may not
// see it); it is A's doing, not a change by B.
var lastUsed = regexp.MustCompile(`,"last_used_at":"[^"]*"`)

// snapshot is everything tenant A has, as A's tenant_admin (with pii)
// and the admin see it.
func snapshot(e *env, a *fixture) string {
	e.t.Helper()
	var b strings.Builder
	for _, p := range []struct{ path, key string }{
		{"/v1/graph/" + a.tenant + "/export", a.setup},
		{"/v1/graph/" + a.tenant + "/stats", a.setup},
		{"/v1/tenants/" + a.tenant, e.admin},
		{"/v1/tenants/" + a.tenant + "/keys", e.admin},
	} {
		r := e.must(200, "GET", p.path, p.key, nil)
		b.Write(lastUsed.ReplaceAll(r.body, nil))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestTenantBleed aims tenant B's credentials of every role at tenant A
// on every route: A's paths, A's ids, aliases and cursors on B's own paths,
// with A's tenant id planted in headers, the query and the body. Nothing of
// A may change, and nothing B gets back may hold A's secret canary, A's
// ids or A's tenant id.
func TestTenantBleed(t *testing.T) { eachStore(t, testTenantBleed) }

func testTenantBleed(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	const canary = "qzcanary"
	a := newFixture(e, "zzvictim", canary)
	// More of A: history, a retracted node, an erased-then-recreated alias.
	e.node(a.tenant, a.setup, "alice"+canary, "Person", map[string]any{"name": "Alice s3cr3t-" + canary, "email": "s3cr3t-" + canary + "@example.com", "v": 2})
	before := snapshot(e, a)

	b := newFixture(e, "bbb", "b")
	bKeys := map[telamentis.Role]string{}
	for _, role := range tenantRoles {
		bKeys[role] = e.key(b.tenant, role, true)
	}
	forbidden := []string{"s3cr3t-" + canary, a.alice, a.bob, a.edge, a.keyID, a.tenant, a.cursor}
	check := func(what string, r resp) {
		t.Helper()
		forbidden := forbidden
		if strings.Contains(what, "audit") {
			// B's audit trail names the ids B itself sent in refused requests.
			forbidden = []string{"s3cr3t-" + canary, `"tenant":"` + a.tenant}
		}
		all := string(r.body)
		for k, vs := range r.header {
			all += "\n" + k + ": " + strings.Join(vs, ",")
		}
		for _, s := range forbidden {
			if s != "" && strings.Contains(all, s) {
				t.Errorf("%s: response holds A's %q: %d %s", what, s, r.status, r.body)
			}
		}
	}
	w := bKeys[telamentis.RoleTenantAdmin]
	plant := []string{"X-Tenant-ID", a.tenant, "X-Tenant", a.tenant, "Tenant", a.tenant, "X-Forwarded-User", a.tenant}

	// Cross-tenant references inside B's own requests.
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"A's cursor", "POST", "/v1/graph/" + b.tenant + "/query", map[string]any{"kind": "nodes", "limit": 1, "cursor": a.cursor}, 400},
		{"A's node id", "GET", "/v1/graph/" + b.tenant + "/nodes/" + a.alice, nil, 404},
		{"A's alias", "GET", "/v1/graph/" + b.tenant + "/nodes?alias=alice" + canary, nil, 404},
		{"edge to A's nodes", "POST", "/v1/graph/" + b.tenant + "/edges", map[string]any{"from": map[string]string{"id": a.alice}, "to": map[string]string{"id": a.bob}, "kind": "KNOWS"}, 404},
		{"upsert A's node id", "POST", "/v1/graph/" + b.tenant + "/nodes", map[string]any{"id": a.alice, "label": "Person", "props": map[string]any{"hijacked": true}}, 404},
		{"history of A's node", "POST", "/v1/graph/" + b.tenant + "/query", map[string]any{"kind": "history", "node": map[string]string{"id": a.alice}}, 404},
		{"paths from A's node", "POST", "/v1/graph/" + b.tenant + "/query", map[string]any{"kind": "paths", "start": map[string]string{"id": a.alice}}, 404},
		{"A's key on B's path", "DELETE", "/v1/tenants/" + b.tenant + "/keys/" + a.keyID, nil, 404},
		{"rotate A's key on B's path", "POST", "/v1/tenants/" + b.tenant + "/keys/" + a.keyID + "/rotate", nil, 404},
		{"A's audit", "GET", "/v1/audit?tenant=" + a.tenant, nil, 404},
	} {
		r := e.req(tc.method, tc.path, w, tc.body, plant...)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
		}
		check(tc.name, r)
	}
	for _, rt := range routes {
		for _, role := range tenantRoles {
			key := bKeys[role]
			what := rt.op + " as B " + string(role)
			if rt.tenanty {
				// 1. A's path with A's ids, A's tenant planted in headers.
				r := e.call(rt, a, canary, a.tenant, key, plant...)
				if r.status != 404 {
					t.Errorf("%s on A's path: status %d: %s", what, r.status, r.body)
				}
				check(what+" on A's path", r)
				// 2. B's own path with A's ids, aliases and cursor.
				r = e.call(rt, a, canary, b.tenant, key, plant...)
				check(what+" on B's path with A's ids", r)
				// 3. A's tenant in the query string.
				path := fill(rt.path, b, b.tenant, "b")
				sep := "?"
				if strings.Contains(path, "?") {
					sep = "&"
				}
				var body any
				if rt.body != "" {
					body = fill(rt.body, b, b.tenant, "b")
				}
				r = e.req(rt.method, path+sep+"tenant="+a.tenant, key, body)
				if r.status != 400 && r.status != 403 {
					t.Errorf("%s with ?tenant=A: status %d: %s", what, r.status, r.body)
				}
				check(what+" with ?tenant=A", r)
			} else {
				r := e.call(rt, a, canary, "", key, plant...)
				check(what, r)
			}
			// 4. A's tenant in the body.
			if rt.body != "" && strings.HasPrefix(rt.body, "{") && !strings.Contains(rt.body, "\n") {
				body := `{"tenant":"` + a.tenant + `",` + fill(rt.body, b, b.tenant, "b")[1:]
				r := e.req(rt.method, fill(rt.path, b, b.tenant, "b"), key, body)
				if r.status != 400 && r.status != 403 {
					t.Errorf("%s with tenant in body: status %d: %s", what, r.status, r.body)
				}
				check(what+" with tenant in body", r)
				body = `{"tenant_id":"` + a.tenant + `","TENANT_ID":"` + a.tenant + `",` + fill(rt.body, b, b.tenant, "b")[1:]
				r = e.req(rt.method, fill(rt.path, b, b.tenant, "b"), key, body)
				if r.status != 400 && r.status != 403 {
					t.Errorf("%s with tenant_id in body: status %d: %s", what, r.status, r.body)
				}
				check(what+" with tenant_id in body", r)
			}
		}
	}

	// Ingest naming A's aliases and ids: every such line is rejected.
	lines := `{"edge":{"from":{"alias":"alice` + canary + `"},"to":{"alias":"bob` + canary + `"},"kind":"KNOWS"}}` + "\n" +
		`{"edge":{"from":{"id":"` + a.alice + `"},"to":{"id":"` + a.bob + `"},"kind":"KNOWS"}}` + "\n" +
		`{"node":{"id":"` + a.alice + `","label":"Person"}}` + "\n"
	r := e.must(200, "POST", "/v1/graph/"+b.tenant+"/ingest", w, lines)
	var sum struct{ Rejected, Created int }
	r.json(t, &sum)
	if sum.Rejected != 3 || sum.Created != 0 {
		t.Errorf("ingest with A's references: %s", r.body)
	}
	check("ingest", r)
	// B's own reads hold nothing of A.
	for _, p := range []string{"/v1/graph/" + b.tenant + "/export", "/v1/graph/" + b.tenant + "/changes", "/v1/audit", "/v1/whoami"} {
		check("B reads "+p, e.must(200, "GET", p, w, nil))
	}
	check("B query", e.must(200, "POST", "/v1/graph/"+b.tenant+"/query", w, map[string]any{"kind": "nodes", "labels": []string{"Person"}}))

	if after := snapshot(e, a); after != before {
		t.Errorf("tenant A changed:\nbefore %s\nafter  %s", before, after)
	}
	if !bytes.Contains([]byte(before), []byte("s3cr3t-"+canary)) {
		t.Fatal("the snapshot does not hold the canary: the check above proves nothing")
	}
}
