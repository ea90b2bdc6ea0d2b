package httpapi_test

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/telamentis/telamentis"
)

// fixture is one tenant with a little of everything, for the route tests.
type fixture struct {
	tenant string
	setup  string // a tenant_admin key with pii, for setting up
	alice  string // node ids
	bob    string
	edge   string // alice KNOWS bob, alias "k"
	keyID  string // a reader key of the tenant
	cursor string // a next_cursor of a nodes query
}

var fixtureSeq atomic.Int64

// newFixture creates a fresh tenant (prefix + sequence) with data.
func newFixture(e *env, prefix string, canary string) *fixture {
	e.t.Helper()
	f := &fixture{tenant: fmt.Sprintf("%s%d", prefix, fixtureSeq.Add(1))}
	secret := "s3cr3t-" + canary
	e.tenant(f.tenant, map[string]any{"name": "tenant " + secret, "pii": map[string]any{"fields": []string{"email"}, "mode": "pseudonymise"}})
	f.setup = e.key(f.tenant, telamentis.RoleTenantAdmin, true)
	f.alice = e.node(f.tenant, f.setup, "alice"+canary, "Person", map[string]any{"name": "Alice " + secret, "email": secret + "@example.com"})
	f.bob = e.node(f.tenant, f.setup, "bob"+canary, "Person", map[string]any{"name": "Bob " + secret})
	e.node(f.tenant, f.setup, "carol"+canary, "Person", nil)
	f.edge = e.edge(f.tenant, f.setup, "k"+canary, "alice"+canary, "bob"+canary, "KNOWS", "2020-01-01T00:00:00Z")
	r := e.must(201, "POST", "/v1/tenants/"+f.tenant+"/keys", e.admin, map[string]any{"role": "reader", "name": "reader " + secret})
	var out struct {
		Key telamentis.APIKey `json:"key"`
	}
	r.json(e.t, &out)
	f.keyID = out.Key.ID
	var p telamentis.Page
	e.must(200, "POST", "/v1/graph/"+f.tenant+"/query", f.setup, map[string]any{"kind": "nodes", "limit": 1}).json(e.t, &p)
	f.cursor = p.NextCursor
	return f
}

// route is one API route for the matrix and bleed suites. Path and body
// templates use {t}, {alice}, {bob}, {edge}, {key}, {alias} and {cursor},
// filled from a fixture.
type route struct {
	op      string
	method  string
	path    string
	body    string // "" = none
	ok      int    // status of a successful call
	allowed string // roles allowed: "A" admin, "T" tenant_admin, "W" writer, "R" reader
	tenanty bool   // path names a tenant
}

var routes = []route{
	{"tenant.create", "POST", "/v1/tenants", `{"id":"{new}"}`, 201, "A", false},
	{"tenant.list", "GET", "/v1/tenants", "", 200, "A", false},
	{"tenant.get", "GET", "/v1/tenants/{t}", "", 200, "ATWR", true},
	{"tenant.update", "PATCH", "/v1/tenants/{t}", `{"name":"renamed"}`, 200, "A", true},
	{"tenant.delete", "DELETE", "/v1/tenants/{t}", "", 204, "A", true},
	// 409: allowed, but the fixture tenant is not empty (TestImportRoundTrip imports for real).
	{"tenant.import", "POST", "/v1/tenants/{t}/import", "", 409, "A", true},
	{"key.create", "POST", "/v1/tenants/{t}/keys", `{"role":"reader"}`, 201, "AT", true},
	{"key.list", "GET", "/v1/tenants/{t}/keys", "", 200, "AT", true},
	{"key.get", "GET", "/v1/tenants/{t}/keys/{key}", "", 200, "AT", true},
	{"key.revoke", "DELETE", "/v1/tenants/{t}/keys/{key}", "", 200, "AT", true},
	{"key.rotate", "POST", "/v1/tenants/{t}/keys/{key}/rotate", "", 201, "AT", true},
	{"key.create_system", "POST", "/v1/keys", `{"role":"admin"}`, 201, "A", false},
	{"key.list_system", "GET", "/v1/keys", "", 200, "A", false},
	{"key.get_any", "GET", "/v1/keys/{key}", "", 200, "A", false},
	{"key.revoke_any", "DELETE", "/v1/keys/{key}", "", 200, "A", false},
	{"key.rotate_any", "POST", "/v1/keys/{key}/rotate", "", 201, "A", false},
	{"auth.whoami", "GET", "/v1/whoami", "", 200, "ATWR", false},
	{"audit.query", "GET", "/v1/audit", "", 200, "AT", false},
	{"node.upsert", "POST", "/v1/graph/{t}/nodes", `{"alias":"new-node","label":"Thing"}`, 201, "TW", true},
	{"node.get_by_alias", "GET", "/v1/graph/{t}/nodes?alias={alias}", "", 200, "TWR", true},
	{"node.get", "GET", "/v1/graph/{t}/nodes/{alice}", "", 200, "TWR", true},
	{"node.retract", "DELETE", "/v1/graph/{t}/nodes/{alice}", "", 200, "TW", true},
	{"node.erase", "POST", "/v1/graph/{t}/nodes/{alice}/erase", "", 200, "T", true},
	{"node.merge", "POST", "/v1/graph/{t}/nodes/{alice}/merge", `{"into":{"id":"{bob}"}}`, 200, "TW", true},
	{"node.history", "GET", "/v1/graph/{t}/nodes/{alice}/history", "", 200, "TWR", true},
	{"node.neighbors", "GET", "/v1/graph/{t}/nodes/{alice}/neighbors?depth=2", "", 200, "TWR", true},
	{"edge.upsert", "POST", "/v1/graph/{t}/edges", `{"from":{"id":"{alice}"},"to":{"id":"{bob}"},"kind":"LIKES"}`, 201, "TW", true},
	{"edge.get_by_alias", "GET", "/v1/graph/{t}/edges?alias=k{canary}", "", 200, "TWR", true},
	{"edge.get", "GET", "/v1/graph/{t}/edges/{edge}", "", 200, "TWR", true},
	{"edge.retract", "DELETE", "/v1/graph/{t}/edges/{edge}", "", 200, "TW", true},
	{"edge.invalidate", "POST", "/v1/graph/{t}/edges/{edge}/invalidate", `{"at":"2030-01-01T00:00:00Z"}`, 200, "TW", true},
	{"edge.history", "GET", "/v1/graph/{t}/edges/{edge}/history", "", 200, "TWR", true},
	{"graph.batch", "POST", "/v1/graph/{t}/batch", `{"nodes":[{"alias":"{alias}","label":"Person","props":{"x":1}}],"edges":[{"from":{"alias":"{alias}"},"to":{"id":"{bob}"},"kind":"KNOWS"}]}`, 200, "TW", true},
	{"graph.query", "POST", "/v1/graph/{t}/query", `{"kind":"nodes","limit":1,"cursor":"{cursor}"}`, 200, "TWR", true},
	{"graph.query_paths", "POST", "/v1/graph/{t}/query", `{"kind":"paths","start":{"alias":"{alias}"},"depth":2}`, 200, "TWR", true},
	{"graph.query_history", "POST", "/v1/graph/{t}/query", `{"kind":"history","node":{"id":"{alice}"}}`, 200, "TWR", true},
	{"graph.changes", "GET", "/v1/graph/{t}/changes", "", 200, "TWR", true},
	{"graph.stats", "GET", "/v1/graph/{t}/stats", "", 200, "TWR", true},
	{"graph.export", "GET", "/v1/graph/{t}/export", "", 200, "T", true},
	{"graph.ingest", "POST", "/v1/graph/{t}/ingest", `{"node":{"alias":"{alias}","label":"Person","props":{"y":2}}}` + "\n" + `{"edge":{"from":{"alias":"{alias}"},"to":{"id":"{bob}"},"kind":"KNOWS"}}`, 200, "TW", true},
	// 503: allowed, but newEnv configures no LLM provider (extract_test.go runs it with one).
	{"llm.extract", "POST", "/v1/llm/{t}/extract", `{"text":"{alias} knows Bob","dry_run":true}`, 503, "TW", true},
}

var roleLetters = map[telamentis.Role]string{
	telamentis.RoleAdmin: "A", telamentis.RoleTenantAdmin: "T", telamentis.RoleWriter: "W", telamentis.RoleReader: "R",
}

var tenantRoles = []telamentis.Role{telamentis.RoleTenantAdmin, telamentis.RoleWriter, telamentis.RoleReader}

// fill expands a template for fixture f (whose canary is canary) as seen
// from tenant path pathTenant.
func fill(tmpl string, f *fixture, pathTenant, canary string) string {
	return strings.NewReplacer(
		"{t}", pathTenant, "{alice}", f.alice, "{bob}", f.bob, "{edge}", f.edge, "{key}", f.keyID,
		"{alias}", "alice"+canary, "{canary}", canary, "{cursor}", f.cursor,
		"{new}", fmt.Sprintf("new%d", fixtureSeq.Add(1)),
	).Replace(tmpl)
}

// call runs route rt against fixture f with key, aimed at pathTenant.
func (e *env) call(rt route, f *fixture, canary, pathTenant, key string, hdr ...string) resp {
	e.t.Helper()
	var body any
	if rt.body != "" {
		body = fill(rt.body, f, pathTenant, canary)
	}
	return e.req(rt.method, fill(rt.path, f, pathTenant, canary), key, body, hdr...)
}
