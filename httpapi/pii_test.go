package httpapi_test

import (
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// TestPII checks that PII properties are hidden from keys without the pii
// permission on every kind of response, in both policy modes.
func TestPII(t *testing.T) {
	e := newEnv(t)
	const secret = "alice.pii@example.com"
	for _, mode := range []string{"mask", "pseudonymise"} {
		t.Run(mode, func(t *testing.T) {
			tn := "pii-" + mode[:4]
			e.tenant(tn, map[string]any{"pii": map[string]any{"fields": []string{"email"}, "mode": mode}})
			ta := e.key(tn, telamentis.RoleTenantAdmin, true)
			taNoPII := e.key(tn, telamentis.RoleTenantAdmin, false)
			w := e.key(tn, telamentis.RoleWriter, false)
			alice := e.node(tn, ta, "alice", "Person", map[string]any{"name": "Alice", "email": secret})
			e.node(tn, ta, "bob", "Person", map[string]any{"name": "Bob", "email": secret})
			edge := e.must(201, "POST", "/v1/graph/"+tn+"/edges", ta, map[string]any{"from": map[string]string{"alias": "alice"},
				"to": map[string]string{"alias": "bob"}, "kind": "EMAILED", "props": map[string]any{"email": secret}}).m(t)["edge"].(map[string]any)["id"].(string)

			hidden := []resp{
				e.req("POST", "/v1/graph/"+tn+"/nodes", w, map[string]any{"alias": "carol", "label": "Person", "props": map[string]any{"email": secret}}),
				e.req("GET", "/v1/graph/"+tn+"/nodes/"+alice, w, nil),
				e.req("GET", "/v1/graph/"+tn+"/nodes?alias=bob", w, nil),
				e.req("GET", "/v1/graph/"+tn+"/edges/"+edge, w, nil),
				e.req("GET", "/v1/graph/"+tn+"/nodes/"+alice+"/history", w, nil),
				e.req("GET", "/v1/graph/"+tn+"/nodes/"+alice+"/neighbors", w, nil),
				e.req("GET", "/v1/graph/"+tn+"/changes", w, nil),
				e.req("POST", "/v1/graph/"+tn+"/query", w, map[string]any{"kind": "nodes"}),
				e.req("POST", "/v1/graph/"+tn+"/query", w, map[string]any{"kind": "edges"}),
				e.req("POST", "/v1/graph/"+tn+"/batch", w, map[string]any{"nodes": []any{map[string]any{"alias": "dave", "label": "Person", "props": map[string]any{"email": secret}}}}),
				e.req("GET", "/v1/graph/"+tn+"/export", taNoPII, nil),
			}
			for i, r := range hidden {
				if r.status/100 != 2 {
					t.Fatalf("request %d: %d %s", i, r.status, r.body)
				}
				if strings.Contains(r.String(), secret) {
					t.Errorf("request %d shows PII: %s", i, r.body)
				}
				want := `"email":"[pii]"`
				if mode == "pseudonymise" {
					want = `"email":"pii:`
				}
				if !strings.Contains(r.String(), want) {
					t.Errorf("request %d lacks %s: %s", i, want, r.body)
				}
			}
			if mode == "pseudonymise" {
				// Equal values get equal pseudonyms within the tenant.
				a := e.must(200, "GET", "/v1/graph/"+tn+"/nodes/"+alice, w, nil).m(t)["props"].(map[string]any)["email"]
				b := e.must(200, "GET", "/v1/graph/"+tn+"/nodes?alias=bob", w, nil).m(t)["props"].(map[string]any)["email"]
				if a != b {
					t.Errorf("pseudonyms differ: %v %v", a, b)
				}
			}
			if r := e.must(200, "GET", "/v1/graph/"+tn+"/export", ta, nil); !strings.Contains(r.String(), secret) {
				t.Error("a pii key does not see PII")
			}
		})
	}
}
