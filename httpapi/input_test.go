package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// TestStrictInput sends hostile bodies, paths and headers through HTTP.
func TestStrictInput(t *testing.T) {
	e := newEnv(t)
	f := newFixture(e, "in", "x")
	w := e.key(f.tenant, telamentis.RoleWriter, false)
	nodes := "/v1/graph/" + f.tenant + "/nodes"
	big := `{"label":"Person","props":{"blob":"` + strings.Repeat("a", 1<<20) + `"}}`
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		slug, field              string
	}{
		{"unknown field", "POST", nodes, `{"label":"Person","tenant_id":"x"}`, 400, "invalid", "tenant_id"},
		{"case variant", "POST", nodes, `{"LABEL":"Person"}`, 400, "invalid", "LABEL"},
		{"case variant beside the real key", "POST", nodes, `{"label":"Person","Label":"Org"}`, 400, "invalid", "Label"},
		{"nested case variant", "POST", "/v1/graph/" + f.tenant + "/edges", `{"from":{"ALIAS":"a"},"to":{"alias":"b"},"kind":"K"}`, 400, "invalid", "from.ALIAS"},
		{"duplicate key", "POST", nodes, `{"label":"Person","label":"Org"}`, 400, "invalid", "label"},
		{"duplicate in props", "POST", nodes, `{"label":"Person","props":{"a":1,"a":2}}`, 400, "invalid", "props.a"},
		{"depth 33", "POST", nodes, `{"label":"P","props":` + strings.Repeat(`{"a":`, 32) + `1` + strings.Repeat(`}`, 32) + `}`, 400, "invalid", ""},
		{"depth 10000", "POST", nodes, strings.Repeat("[", 10000) + strings.Repeat("]", 10000), 400, "invalid", ""},
		{"over 1 MiB", "POST", nodes, big, 413, "too-large", ""},
		{"invalid UTF-8", "POST", nodes, "{\"label\":\"P\",\"props\":{\"a\":\"\xff\xfe\"}}", 400, "invalid", "body"},
		{"NUL", "POST", nodes, `{"label":"P","props":{"a":"x\u0000"}}`, 400, "invalid", "props.a"},
		{"trailing garbage", "POST", nodes, `{"label":"P"}{"label":"Q"}`, 400, "invalid", "body"},
		{"not JSON", "POST", nodes, `label=P`, 400, "invalid", ""},
		{"wrong type", "POST", nodes, `{"label":5}`, 400, "invalid", "label"},
		{"missing field", "POST", nodes, `{"alias":"a"}`, 400, "invalid", "label"},
		{"time without zone", "POST", "/v1/graph/" + f.tenant + "/edges", `{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"2024-01-01T00:00:00"}`, 400, "invalid", "valid_from"},
		{"bad tenant in path", "GET", "/v1/graph/BAD..id/stats", "", 400, "invalid", "path.tenant"},
		{"bad id in path", "GET", nodes + "/not-a-uuid", "", 400, "invalid", "path.id"},
		{"repeated query parameter", "GET", nodes + "?alias=a&alias=b", "", 400, "invalid", "query.alias"},
		{"malformed query string", "GET", nodes + "?alias=%zz", "", 400, "invalid", "query"},
		{"NUL in alias", "GET", nodes + "?alias=a%00b", "", 400, "invalid", "query.alias"},
		{"unknown query parameter", "GET", nodes + "?alias=a&tenant=x", "", 400, "invalid", "query.tenant"},
		{"limit too large", "GET", "/v1/graph/" + f.tenant + "/changes?limit=5000", "", 400, "invalid", "query.limit"},
		{"unknown route", "GET", "/v1/nothing-here", "", 404, "not-found", ""},
		{"wrong method", "PUT", nodes, "", 405, "method-not-allowed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := e.req(tc.method, tc.path, w, body)
			p := checkProblem(t, r, tc.status, tc.slug)
			if tc.field != "" {
				errs, _ := p["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["field"] != tc.field {
					t.Fatalf("errors %v, want field %s", p["errors"], tc.field)
				}
			}
		})
	}
	if r := e.req("PUT", nodes, w, nil); r.header.Get("Allow") != "GET, POST" {
		t.Errorf("405 Allow = %q", r.header.Get("Allow"))
	}
	// Nothing of the rejected writes landed.
	var st telamentis.TenantStats
	e.must(200, "GET", "/v1/graph/"+f.tenant+"/stats", w, nil).json(t, &st)
	if st.Nodes != 3 {
		t.Fatalf("rejected writes changed the tenant: %+v", st)
	}
	// A batch may be larger than 1 MiB (up to 16 MiB).
	var b strings.Builder
	b.WriteString(`{"nodes":[`)
	for i := range 3000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"alias":"n%d","label":"Thing","props":{"pad":"%s"}}`, i, strings.Repeat("p", 400))
	}
	b.WriteString(`]}`)
	if b.Len() <= 1<<20 {
		t.Fatal("batch too small for the test")
	}
	e.must(200, "POST", "/v1/graph/"+f.tenant+"/batch", w, b.String())
	// A content type other than JSON is refused.
	r := e.req("POST", nodes, w, nil, "Content-Type", "text/xml")
	if r.status != 415 && r.status != 400 {
		t.Fatalf("no body, xml content type: %d", r.status)
	}
	r = e.req("POST", nodes, w, `{"label":"P"}`, "Content-Type", "application/xml")
	checkProblem(t, r, 415, "unsupported-media-type")
	// An ingest line over 1 MiB is rejected by line number; the others apply.
	lines := `{"node":{"alias":"ok1","label":"P"}}` + "\n" + `{"node":{"alias":"huge","label":"P","props":{"x":"` + strings.Repeat("y", 1<<20) + `"}}}` + "\n" + `{"node":{"alias":"ok2","label":"P"}}` + "\n"
	var sum struct {
		Created, Rejected int
		Errors            []struct{ Line int }
	}
	e.must(200, "POST", "/v1/graph/"+f.tenant+"/ingest", w, lines).json(t, &sum)
	if sum.Created != 2 || sum.Rejected != 1 || len(sum.Errors) != 1 || sum.Errors[0].Line != 2 {
		t.Fatalf("ingest with a huge line: %+v", sum)
	}
}

// TestRequestID checks X-Request-ID on every response: a safe client id is
// kept, an unsafe one replaced.
func TestRequestID(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		sent string
		keep bool
	}{
		{"", false},
		{"client-req.42_A", true},
		{strings.Repeat("a", 65), false},
		{"<script>", false},
	} {
		r := e.req("GET", "/healthz", "", nil, "X-Request-ID", tc.sent)
		got := r.header.Get("X-Request-ID")
		if got == "" || (got == tc.sent) != tc.keep || r.header.Get("X-Evil") != "" {
			t.Errorf("sent %q, got %q", tc.sent, got)
		}
	}
	for _, p := range []string{"/v1/tenants", "/nowhere", "/openapi.json", "/docs"} {
		if r := e.req("GET", p, "", nil); r.header.Get("X-Request-ID") == "" {
			t.Errorf("%s: no X-Request-ID", p)
		}
	}
}

// panicStep panics on one operation: a plugin bug.
type panicStep struct{}

func (panicStep) ID() string { return "test.panic" }

func (panicStep) Handle(ctx context.Context, op *telamentis.Operation, next telamentis.Handler) error {
	if op.Name == "graph.stats" {
		panic("secret internal detail s3cr3t")
	}
	return next(ctx, op)
}

// failStep fails one operation with an internal error that holds a cause.
type failStep struct{}

func (failStep) ID() string { return "test.fail" }

func (failStep) Handle(ctx context.Context, op *telamentis.Operation, next telamentis.Handler) error {
	if op.Name == "graph.changes" {
		return fmt.Errorf("disk /var/lib/secret-path exploded")
	}
	if op.Name == "tenant.get" {
		return &telamentis.Error{Code: telamentis.CodeRateLimited, Message: "slow down"}
	}
	return next(ctx, op)
}

// TestInternalErrors checks that a panic or an internal error becomes a
// generic 500 for that request only, with the details in the log under the
// request id.
func TestInternalErrors(t *testing.T) {
	e := newEnv(t, envOptions{extraSteps: []telamentis.Step{panicStep{}, failStep{}}})
	f := newFixture(e, "ie", "x")
	r := e.req("GET", "/v1/graph/"+f.tenant+"/stats", f.setup, nil)
	p := checkProblem(t, r, 500, "internal")
	if p["detail"] != "internal error" || strings.Contains(r.String(), "s3cr3t") {
		t.Fatalf("panic leaks: %s", r.body)
	}
	if !strings.Contains(e.logs.String(), "s3cr3t") || !strings.Contains(e.logs.String(), r.header.Get("X-Request-ID")) {
		t.Fatal("panic not logged with its request id")
	}
	r = e.req("GET", "/v1/graph/"+f.tenant+"/changes", f.setup, nil)
	checkProblem(t, r, 500, "internal")
	if strings.Contains(r.String(), "secret-path") {
		t.Fatalf("internal error leaks: %s", r.body)
	}
	logs := e.logs.String()
	rid := r.header.Get("X-Request-ID")
	found := false
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, rid) && strings.Contains(line, "secret-path") {
			found = true
		}
	}
	if !found {
		t.Fatal("internal error not logged under its request id")
	}
	// Rate limited: 429 with Retry-After.
	r = e.req("GET", "/v1/tenants/"+f.tenant, f.setup, nil)
	checkProblem(t, r, 429, "rate-limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// The server keeps serving.
	e.must(200, "GET", "/v1/graph/"+f.tenant+"/nodes/"+f.alice, f.setup, nil)
	// The access log has the fields and never a secret or a body.
	if !strings.Contains(logs, `"route":"GET /v1/graph/{tenant}/stats"`) || !strings.Contains(logs, `"status":500`) {
		t.Fatalf("access log lacks fields: %s", logs)
	}
	if strings.Contains(logs, f.setup) || strings.Contains(logs, "s3cr3t-x") {
		t.Fatal("log holds a secret or a body")
	}
}

// TestUncleanPathsAre404 sends paths that are not in their clean form:
// each answers like an unknown route — a 404 problem with the request id,
// no redirect — where Go's ServeMux answered an HTML 307 to the cleaned
// path (issue 17).
func TestUncleanPathsAre404(t *testing.T) {
	e := newEnv(t)
	e.tenant("clean")
	w := e.key("clean", telamentis.RoleReader, false)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{
		"/v1/graph/clean//stats",
		"//v1/graph/clean/stats",
		"/v1/graph/clean/nodes/../stats",
		"/v1/graph/clean/./stats",
		"/v1/graph/clean/stats/.",
		"/v1/graph/clean/stats/..",
		"/v1/graph/clean/%2e%2e/clean/stats",
		"//healthz",
		"/docs/../openapi.json",
		"/docs//",
	} {
		t.Run(path, func(t *testing.T) {
			req, err := http.NewRequest("GET", e.url+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+w)
			res, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			checkProblem(t, resp{status: res.StatusCode, header: res.Header, body: body}, 404, "not-found")
			if loc := res.Header.Get("Location"); loc != "" {
				t.Errorf("Location %q", loc)
			}
		})
	}
	// Clean paths still route.
	e.must(200, "GET", "/v1/graph/clean/stats", w, nil)
	e.must(200, "GET", "/healthz", "", nil)
}
