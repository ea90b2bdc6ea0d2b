package httpapi_test

import (
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// TestAuthorizationMatrix checks every cell of
// docs/security/authorization.md: each route with a credential of each
// role on its own tenant (allowed → the route's success status, else 403),
// and each tenant role aimed at another tenant (404, byte-identical to the
// answer for a tenant that does not exist, apart from the request id).
func TestAuthorizationMatrix(t *testing.T) { eachStore(t, testAuthorizationMatrix) }

func testAuthorizationMatrix(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	roles := append([]telamentis.Role{telamentis.RoleAdmin}, tenantRoles...)
	for _, rt := range routes {
		t.Run(rt.op, func(t *testing.T) {
			e.t = t
			for _, role := range roles {
				f := newFixture(e, "m", "x")
				key := e.admin
				if role != telamentis.RoleAdmin {
					key = e.key(f.tenant, role, false)
				}
				r := e.call(rt, f, "x", f.tenant, key)
				allowed := strings.Contains(rt.allowed, roleLetters[role])
				switch {
				case allowed && r.status != rt.ok:
					t.Errorf("%s as %s: status %d, want %d: %s", rt.op, role, r.status, rt.ok, r.body)
				case !allowed:
					if r.status != 403 {
						t.Errorf("%s as %s: status %d, want 403: %s", rt.op, role, r.status, r.body)
					} else {
						checkProblem(t, r, 403, "forbidden")
					}
				}
			}
			if !rt.tenanty {
				return
			}
			// Another tenant's path: the same 404 as a tenant that does not exist.
			victim := newFixture(e, "v", "x")
			caller := newFixture(e, "c", "x")
			for _, role := range tenantRoles {
				key := e.key(caller.tenant, role, true)
				got := e.call(rt, victim, "x", victim.tenant, key)
				ghost := e.call(rt, victim, "x", "ghost-tenant", key)
				if got.status != 404 {
					t.Errorf("%s as %s of another tenant: status %d, want 404: %s", rt.op, role, got.status, got.body)
					continue
				}
				checkProblem(t, got, 404, "not-found")
				if normalizeProblem(got.body) != normalizeProblem(ghost.body) {
					t.Errorf("%s as %s: other tenant %s differs from missing tenant %s", rt.op, role, got.body, ghost.body)
				}
			}
			// A suspended tenant's credentials are refused (403) on every route.
			sus := newFixture(e, "s", "x")
			key := e.key(sus.tenant, telamentis.RoleTenantAdmin, true)
			e.must(200, "PATCH", "/v1/tenants/"+sus.tenant, e.admin, map[string]any{"status": "suspended"})
			if r := e.call(rt, sus, "x", sus.tenant, key); r.status != 403 {
				t.Errorf("%s by a suspended tenant: status %d: %s", rt.op, r.status, r.body)
			}
		})
	}
	e.t = t
	// Every route of the OpenAPI document is in the matrix.
	spec := e.must(200, "GET", "/openapi.json", "", nil).m(t)
	covered := map[string]bool{}
	for _, rt := range routes {
		covered[rt.method+" "+routePattern(rt)] = true
	}
	for p, item := range spec["paths"].(map[string]any) {
		for m := range item.(map[string]any) {
			if k := strings.ToUpper(m) + " " + p; !covered[k] {
				t.Errorf("route %s is not in the authorization matrix", k)
			}
		}
	}
}

// TestUnauthenticated checks that every failure to authenticate answers
// the same 401, and that a credential in the query string is refused.
func TestUnauthenticated(t *testing.T) {
	e := newEnv(t)
	f := newFixture(e, "u", "x")
	valid := e.key(f.tenant, telamentis.RoleReader, false)
	bodies := map[string]bool{}
	for name, hdr := range map[string]string{
		"none":         "",
		"garbage":      "Bearer garbage",
		"wrong secret": "Bearer " + valid[:len(valid)-4] + "aaaa",
		"unknown id":   "Bearer tm_aaaaaaaaaaaaaaaa_" + strings.Repeat("a", 52),
		"basic":        "Basic dXNlcjpwYXNz",
		"alg none jwt": "Bearer eyJhbGciOiJub25lIn0.eyJ0ZW5hbnQiOiJ4In0.",
	} {
		r := e.req("GET", "/v1/graph/"+f.tenant+"/stats", "", nil, "Authorization", hdr)
		checkProblem(t, r, 401, "unauthenticated")
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", name)
		}
		bodies[normalizeProblem(r.body)] = true
	}
	if len(bodies) != 1 {
		t.Errorf("401 bodies differ: %v", bodies)
	}
	for _, q := range []string{"?api_key=" + valid, "?access_token=abc", "?Token=abc"} {
		r := e.req("GET", "/v1/graph/"+f.tenant+"/stats"+q, valid, nil)
		checkProblem(t, r, 401, "unauthenticated")
	}
	// Only names are judged: a key as the value of another parameter is
	// data (here an unknown parameter), never a refused credential.
	checkProblem(t, e.req("GET", "/v1/graph/"+f.tenant+"/stats?x="+valid, valid, nil), 400, "invalid")
}

// TestCredentialInPathRedacted sends an API key and a JWT where a path
// segment or an alias belongs: the access log and the audit records (the
// SIEM sink is a copy of them) name the request with the credential
// redacted, never the credential itself (issue 17).
func TestCredentialInPathRedacted(t *testing.T) {
	e := newEnv(t, envOptions{auditWrites: true})
	e.tenant("alpha")
	w := e.key("alpha", telamentis.RoleWriter, false)
	id, _, _ := strings.Cut(strings.TrimPrefix(w, "tm_"), "_")
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

	checkProblem(t, e.req("GET", "/v1/graph/alpha/nodes/"+w, "", nil), 401, "unauthenticated")
	checkProblem(t, e.req("GET", "/v1/graph/alpha/nodes/"+jwt+"/history", "", nil), 401, "unauthenticated")
	e.node("alpha", w, w, "Person", nil) // a key pasted as an alias

	var out struct {
		Records []telamentis.AuditRecord `json:"records"`
	}
	e.must(200, "GET", "/v1/audit?action=auth.failure", e.admin, nil).json(t, &out)
	var targets []string
	for _, r := range out.Records {
		targets = append(targets, r.Target)
	}
	e.must(200, "GET", "/v1/audit?action=node.upsert", e.admin, nil).json(t, &out)
	for _, r := range out.Records {
		targets = append(targets, r.Target)
	}
	want := []string{
		"GET /v1/graph/alpha/nodes/tm_" + id + "_[redacted]",
		"GET /v1/graph/alpha/nodes/[redacted]/history",
		"alias:tm_" + id + "_[redacted]",
	}
	if strings.Join(targets, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit targets:\n%s\nwant:\n%s", strings.Join(targets, "\n"), strings.Join(want, "\n"))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"status":401`) {
		t.Fatalf("no access log lines for the refused requests:\n%s", logs)
	}
	for _, secret := range []string{w[len(w)-52:], jwt, "c2lnbmF0dXJl"} {
		if strings.Contains(logs, secret) {
			t.Errorf("access log holds %q:\n%s", secret, logs)
		}
	}
}
