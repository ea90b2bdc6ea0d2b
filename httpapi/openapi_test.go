package httpapi_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	Servers []struct {
		URL string `json:"url"`
	} `json:"servers"`
	Info struct {
		License *struct {
			Name       string `json:"name"`
			Identifier string `json:"identifier"`
		} `json:"license"`
	} `json:"info"`
	Paths map[string]map[string]openAPIOp `json:"paths"`
}

type openAPIOp struct {
	OperationID string `json:"operationId"`
	Parameters  []struct {
		Name        string         `json:"name"`
		In          string         `json:"in"`
		Required    bool           `json:"required"`
		Description string         `json:"description"`
		Schema      map[string]any `json:"schema"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]json.RawMessage `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema struct {
				Ref string `json:"$ref"`
			} `json:"schema"`
		} `json:"content"`
		Headers map[string]json.RawMessage `json:"headers"`
	} `json:"responses"`
}

func openAPIOf(t *testing.T, e *env) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	e.must(200, "GET", "/openapi.json", "", nil).json(t, &doc)
	return doc
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// TestOpenAPIInvariants checks what a client generator and a linter rely
// on, without npm (scripts/openapi-lint.sh runs Redocly's linter): a
// server, the license of LICENSE, unique operation ids, described path
// parameters, and the error statuses every operation of its kind answers,
// each a Problem.
func TestOpenAPIInvariants(t *testing.T) {
	e := newEnv(t)
	doc := openAPIOf(t, e)

	if len(doc.Servers) == 0 || doc.Servers[0].URL == "" {
		t.Error("no servers: generated clients would take the document's own URL as their base")
	}
	license, err := os.ReadFile("../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	if l := doc.Info.License; l == nil || l.Identifier != "Apache-2.0" ||
		!bytes.Contains(license, []byte("Apache License")) || !bytes.Contains(license, []byte("Version 2.0")) {
		t.Errorf("info.license %+v does not match LICENSE (Apache 2.0)", doc.Info.License)
	}

	ids := map[string]string{}
	for path, ops := range doc.Paths {
		inPath := pathParam.FindAllStringSubmatch(path, -1)
		for method, op := range ops {
			name := strings.ToUpper(method) + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", name)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %s also names %s", name, op.OperationID, other)
			}
			ids[op.OperationID] = name

			declared := 0
			for _, p := range op.Parameters {
				if p.In != "path" {
					continue
				}
				declared++
				if !strings.Contains(path, "{"+p.Name+"}") {
					t.Errorf("%s: path parameter %s is not in the path", name, p.Name)
				}
				if !p.Required || p.Description == "" || p.Schema["pattern"] == nil {
					t.Errorf("%s: path parameter %s must be required, described and have a pattern", name, p.Name)
				}
			}
			if declared != len(inPath) {
				t.Errorf("%s: %d path parameters declared, %d in the path", name, declared, len(inPath))
			}

			want := []string{"400", "401", "403", "429", "503", "default"}
			if len(inPath) > 0 {
				want = append(want, "404")
			}
			if op.RequestBody != nil && op.RequestBody.Content["application/json"] != nil {
				want = append(want, "413", "415")
			}
			for _, st := range want {
				if _, ok := op.Responses[st]; !ok {
					t.Errorf("%s: response %s not documented", name, st)
				}
			}
			for st, r := range op.Responses {
				if st[0] == '2' {
					continue
				}
				if ref := r.Content["application/problem+json"].Schema.Ref; ref != "#/components/schemas/Problem" || len(r.Content) != 1 {
					t.Errorf("%s: response %s is not application/problem+json with the Problem schema", name, st)
				}
			}
			if op.Responses["429"].Headers["Retry-After"] == nil {
				t.Errorf("%s: 429 does not document Retry-After", name)
			}
		}
	}
}

// TestOpenAPIStatusesAnswered sends every route of the authorization
// matrix the requests that make it fail — no credential, each role, another
// tenant, a suspended tenant, an unknown query parameter, a body of the
// wrong type or size, the same write twice — and checks that each error
// status it answers is one its operation documents.
func TestOpenAPIStatusesAnswered(t *testing.T) {
	e := newEnv(t)
	doc := openAPIOf(t, e)
	big := `{"x":"` + strings.Repeat("a", 17<<20) + `"}`
	for _, rt := range routes {
		t.Run(rt.op, func(t *testing.T) {
			e.t = t
			method, pattern := rt.method, routePattern(rt)
			op, ok := doc.Paths[pattern][strings.ToLower(method)]
			if !ok {
				t.Fatalf("%s %s is not in the document", method, pattern)
			}
			seen := map[int]bool{}
			answered := func(r resp) {
				t.Helper()
				if r.status < 400 || seen[r.status] {
					return
				}
				seen[r.status] = true
				if _, ok := op.Responses[strconv.Itoa(r.status)]; !ok {
					t.Errorf("%s %s answered %d, which it does not document: %s", method, pattern, r.status, r.body)
				}
			}
			f := newFixture(e, "o", "x")
			answered(e.call(rt, f, "x", f.tenant, ""))
			for _, role := range tenantRoles {
				answered(e.call(rt, f, "x", f.tenant, e.key(f.tenant, role, false)))
			}
			other := newFixture(e, "o", "x")
			answered(e.call(rt, f, "x", f.tenant, e.key(other.tenant, telamentis.RoleReader, false)))
			sep := "?"
			if strings.Contains(rt.path, "?") {
				sep = "&"
			}
			answered(e.call(route{method: rt.method, path: rt.path + sep + "unknown=1", body: rt.body}, f, "x", f.tenant, f.setup))
			if rt.method != "GET" {
				answered(e.req(rt.method, fill(rt.path, f, f.tenant, "x"), f.setup, "x", "Content-Type", "text/plain"))
				answered(e.req(rt.method, fill(rt.path, f, f.tenant, "x"), f.setup, big))
			}
			// Twice as admin (a taken id, a non-empty tenant, a revoked key),
			// then twice with the fixture's tenant_admin key.
			answered(e.call(rt, f, "x", f.tenant, e.admin))
			answered(e.call(rt, f, "x", f.tenant, e.admin))
			answered(e.call(rt, f, "x", f.tenant, f.setup))
			answered(e.call(rt, f, "x", f.tenant, f.setup))
			e.must(200, "PATCH", "/v1/tenants/"+other.tenant, e.admin, map[string]any{"status": "suspended"})
			answered(e.call(rt, other, "x", other.tenant, other.setup))
		})
	}
}

// routePattern is the OpenAPI path of a matrix route.
func routePattern(rt route) string {
	p, _, _ := strings.Cut(rt.path, "?")
	return strings.NewReplacer("{t}", "{tenant}", "{alice}", "{id}", "{edge}", "{id}").Replace(p)
}
