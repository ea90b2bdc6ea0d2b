package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/httpapi"
)

// TestQuickstart is the README quickstart through HTTP: a tenant, a tenant
// key, two facts (Alice works at Acme from 2021, moves to Globex in 2024),
// read as of two valid times and two transaction times.
func TestQuickstart(t *testing.T) { eachStore(t, testQuickstart) }

func testQuickstart(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	e.tenant("acme")
	w := e.key("acme", telamentis.RoleWriter, false)

	e.node("acme", w, "alice", "Person", map[string]any{"name": "Alice"})
	e.node("acme", w, "acme-corp", "Org", map[string]any{"name": "Acme"})
	e.node("acme", w, "globex", "Org", map[string]any{"name": "Globex"})

	// Fact 1: Alice WORKS_AT Acme from 2021.
	r := e.must(201, "POST", "/v1/graph/acme/edges", w, map[string]any{
		"alias": "alice-job", "from": map[string]string{"alias": "alice"}, "to": map[string]string{"alias": "acme-corp"},
		"kind": "WORKS_AT", "valid_from": "2021-01-01T00:00:00Z"})
	var first telamentis.EdgeResult
	r.json(t, &first)
	t1 := first.Edge.TxStart

	// Fact 2: she left Acme at the start of 2024 and works at Globex since.
	e.must(200, "POST", "/v1/graph/acme/edges/"+first.Edge.ID+"/invalidate", w, map[string]any{"at": "2024-01-01T00:00:00Z"})
	e.must(201, "POST", "/v1/graph/acme/edges", w, map[string]any{
		"alias": "alice-job-2", "from": map[string]string{"alias": "alice"}, "to": map[string]string{"alias": "globex"},
		"kind": "WORKS_AT", "valid_from": "2024-01-01T00:00:00Z"})

	alice := e.must(200, "GET", "/v1/graph/acme/nodes?alias=alice", w, nil)
	var an telamentis.Node
	alice.json(t, &an)
	employer := func(validAt string, asAt time.Time) string {
		t.Helper()
		q := map[string]any{"kind": "edges", "from": map[string]string{"id": an.ID}, "kinds": []string{"WORKS_AT"}, "valid_at": validAt}
		if !asAt.IsZero() {
			q["as_at"] = asAt.Format(time.RFC3339Nano)
		}
		var p telamentis.Page
		e.must(200, "POST", "/v1/graph/acme/query", w, q).json(t, &p)
		var names []string
		for _, ed := range p.Edges {
			var n telamentis.Node
			e.must(200, "GET", "/v1/graph/acme/nodes/"+ed.To, w, nil).json(t, &n)
			names = append(names, n.Alias)
		}
		return strings.Join(names, ",")
	}
	for _, tc := range []struct {
		validAt string
		asAt    time.Time
		want    string
	}{
		{"2022-06-01T00:00:00Z", time.Time{}, "acme-corp"},
		{"2025-06-01T00:00:00Z", time.Time{}, "globex"},
		// As the database knew it right after fact 1: Alice still at Acme.
		{"2025-06-01T00:00:00Z", t1, "acme-corp"},
		// Before anything was written: nothing.
		{"2025-06-01T00:00:00Z", t1.Add(-time.Microsecond), ""},
	} {
		if got := employer(tc.validAt, tc.asAt); got != tc.want {
			t.Errorf("employer valid_at %s as_at %v = %q, want %q", tc.validAt, tc.asAt, got, tc.want)
		}
	}
}

// TestAPIFlow walks every route once with the role it needs.
func TestAPIFlow(t *testing.T) { eachStore(t, testAPIFlow) }

func testAPIFlow(t *testing.T, o envOptions) {
	e := newEnv(t, o)

	// Unauthenticated endpoints.
	r := e.must(200, "GET", "/healthz", "", nil)
	if r.String() != "{\"status\":\"ok\"}\n" {
		t.Fatalf("healthz says too much: %s", r.body)
	}
	e.must(200, "GET", "/readyz", "", nil)
	spec := e.must(200, "GET", "/openapi.json", "", nil).m(t)
	if spec["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v", spec["openapi"])
	}
	paths := spec["paths"].(map[string]any)
	for _, p := range []string{"/v1/tenants", "/v1/graph/{tenant}/nodes", "/v1/graph/{tenant}/ingest", "/v1/graph/{tenant}/export", "/v1/graph/{tenant}/query"} {
		if paths[p] == nil {
			t.Errorf("openapi lacks %s", p)
		}
	}
	schemas := spec["components"].(map[string]any)["schemas"].(map[string]any)
	if schemas["Problem"] == nil || schemas["ErrorModel"] != nil {
		t.Fatal("errors are not documented as Problem")
	}
	docs := e.must(200, "GET", "/docs", "", nil)
	if bytes.Contains(docs.body, []byte("https://")) || !bytes.Contains(docs.body, []byte("/docs/docs.js")) {
		t.Fatalf("/docs must be self-contained: %s", docs.body)
	}
	e.must(200, "GET", "/docs/docs.js", "", nil)
	checkProblem(t, e.req("GET", "/v1/tenants", "", nil), 401, "unauthenticated")

	// Tenants.
	e.tenant("acme", map[string]any{"quotas": map[string]any{"max_nodes": 1000}})
	e.tenant("other")
	var tl struct{ Tenants []telamentis.Tenant }
	e.must(200, "GET", "/v1/tenants", e.admin, nil).json(t, &tl)
	if len(tl.Tenants) != 2 {
		t.Fatalf("tenants %+v", tl)
	}
	var tn telamentis.Tenant
	e.must(200, "PATCH", "/v1/tenants/acme", e.admin, map[string]any{"name": "Acme Inc", "pii": map[string]any{"fields": []string{"email"}, "mode": "mask"}}).json(t, &tn)
	if tn.Name != "Acme Inc" || tn.Quotas.MaxNodes != 1000 || tn.PII.Mode != "mask" {
		t.Fatalf("patched tenant %+v", tn)
	}
	checkProblem(t, e.req("POST", "/v1/tenants", e.admin, map[string]any{"id": "acme"}), 409, "conflict")

	// Keys.
	ta := e.key("acme", telamentis.RoleTenantAdmin, true)
	var issued struct {
		Key    telamentis.APIKey `json:"key"`
		Secret string            `json:"secret"`
	}
	e.must(201, "POST", "/v1/tenants/acme/keys", ta, map[string]any{"role": "writer", "name": "agent"}).json(t, &issued)
	w := issued.Secret
	if !strings.HasPrefix(w, "tm_") || issued.Key.Tenant != "acme" {
		t.Fatalf("issued %+v", issued)
	}
	rd := e.key("acme", telamentis.RoleReader, false)
	kl := e.must(200, "GET", "/v1/tenants/acme/keys", ta, nil)
	if strings.Contains(kl.String(), strings.Split(w, "_")[2]) || strings.Contains(kl.String(), "hash") {
		t.Fatalf("key list shows secrets: %s", kl.body)
	}
	e.must(200, "GET", "/v1/tenants/acme/keys/"+issued.Key.ID, ta, nil)
	e.must(200, "GET", "/v1/whoami", w, nil)
	// Rotation: the new key works, the old one is revoked at once.
	var rot struct {
		Key    telamentis.APIKey `json:"key"`
		Secret string            `json:"secret"`
	}
	e.must(201, "POST", "/v1/tenants/acme/keys/"+issued.Key.ID+"/rotate", ta, nil).json(t, &rot)
	checkProblem(t, e.req("GET", "/v1/whoami", w, nil), 401, "unauthenticated")
	w = rot.Secret
	e.must(200, "GET", "/v1/whoami", w, nil)
	// Revocation is effective on the next request.
	victim := e.key("acme", telamentis.RoleReader, false)
	e.must(200, "GET", "/v1/whoami", victim, nil)
	vid := strings.Split(victim, "_")[1]
	e.must(200, "DELETE", "/v1/tenants/acme/keys/"+vid, ta, nil)
	checkProblem(t, e.req("GET", "/v1/whoami", victim, nil), 401, "unauthenticated")
	// System keys.
	var sys struct {
		Secret string `json:"secret"`
	}
	e.must(201, "POST", "/v1/keys", e.admin, map[string]any{"role": "admin", "name": "ops"}).json(t, &sys)
	e.must(200, "GET", "/v1/keys", sys.Secret, nil)

	// Nodes and edges.
	alice := e.node("acme", w, "alice", "Person", map[string]any{"name": "Alice", "email": "alice@example.com"})
	bob := e.node("acme", w, "bob", "Person", map[string]any{"name": "Bob"})
	// An upsert that changes nothing writes nothing.
	var nr telamentis.NodeResult
	e.must(200, "POST", "/v1/graph/acme/nodes", w, map[string]any{"alias": "bob", "label": "Person", "props": map[string]any{"name": "Bob"}}).json(t, &nr)
	if nr.Created || nr.Changed {
		t.Fatalf("no-op upsert %+v", nr)
	}
	e.must(200, "POST", "/v1/graph/acme/nodes", w, map[string]any{"alias": "bob", "label": "Person", "props": map[string]any{"name": "Robert"}}).json(t, &nr)
	if !nr.Changed {
		t.Fatalf("update %+v", nr)
	}
	// PII: masked for a key without pii, shown to one with it.
	if n := e.must(200, "GET", "/v1/graph/acme/nodes/"+alice, w, nil); !strings.Contains(n.String(), `"email":"[pii]"`) || strings.Contains(n.String(), "alice@example.com") {
		t.Fatalf("pii not masked: %s", n.body)
	}
	if n := e.must(200, "GET", "/v1/graph/acme/nodes/"+alice, ta, nil); !strings.Contains(n.String(), "alice@example.com") {
		t.Fatalf("pii hidden from a pii key: %s", n.body)
	}
	knows := e.edge("acme", w, "k1", "alice", "bob", "KNOWS", "2020-01-01T00:00:00Z")
	e.must(200, "GET", "/v1/graph/acme/edges/"+knows, rd, nil)
	e.must(200, "GET", "/v1/graph/acme/edges?alias=k1", rd, nil)
	var er telamentis.EdgeResult
	e.must(200, "POST", "/v1/graph/acme/edges/"+knows+"/invalidate", w, map[string]any{"at": "2023-01-01T00:00:00Z"}).json(t, &er)
	if er.Edge.ValidTo.Year() != 2023 {
		t.Fatalf("invalidate %+v", er)
	}
	var page telamentis.Page
	page = pageOf(t, e.must(200, "GET", "/v1/graph/acme/edges/"+knows+"/history", rd, nil))
	if len(page.Edges) != 2 {
		t.Fatalf("edge history %+v", page)
	}
	page = pageOf(t, e.must(200, "GET", "/v1/graph/acme/nodes/"+bob+"/history", rd, nil))
	if len(page.Nodes) != 2 {
		t.Fatalf("node history %+v", page)
	}
	page = pageOf(t, e.must(200, "GET", "/v1/graph/acme/nodes/"+alice+"/neighbors?valid_at=2021-01-01T00:00:00Z&kind=KNOWS", rd, nil))
	if len(page.Neighbors) != 1 || page.Neighbors[0].Node.ID != bob {
		t.Fatalf("neighbors %+v", page)
	}
	page = pageOf(t, e.must(200, "GET", "/v1/graph/acme/nodes/"+alice+"/neighbors?valid_at=2024-01-01T00:00:00Z", rd, nil))
	if len(page.Neighbors) != 0 {
		t.Fatalf("neighbors after invalidation %+v", page)
	}
	// as_at: bob's first version.
	var bobNow telamentis.Node
	e.must(200, "GET", "/v1/graph/acme/nodes/"+bob, rd, nil).json(t, &bobNow)
	var bobThen telamentis.Node
	e.must(200, "GET", "/v1/graph/acme/nodes/"+bob+"?as_at="+url.QueryEscape(bobNow.TxStart.Add(-time.Microsecond).Format(time.RFC3339Nano)), rd, nil).json(t, &bobThen)
	if !strings.Contains(string(bobThen.Props), "Bob") || !strings.Contains(string(bobNow.Props), "Robert") {
		t.Fatalf("as_at: then %s now %s", bobThen.Props, bobNow.Props)
	}
	checkProblem(t, e.req("GET", "/v1/graph/acme/nodes/"+bob+"?as_at=2024-01-01T00:00:00", rd, nil), 400, "invalid")

	// Batch and paged query.
	var batch struct {
		Nodes []map[string]any `json:"nodes"`
		Edges []map[string]any `json:"edges"`
	}
	for i := range 25 {
		batch.Nodes = append(batch.Nodes, map[string]any{"alias": fmt.Sprintf("t%02d", i), "label": "Topic"})
	}
	batch.Edges = append(batch.Edges, map[string]any{"from": map[string]string{"alias": "t00"}, "to": map[string]string{"alias": "alice"}, "kind": "ABOUT"})
	var br telamentis.BatchResult
	e.must(200, "POST", "/v1/graph/acme/batch", w, batch).json(t, &br)
	if len(br.Nodes) != 25 || len(br.Edges) != 1 || br.Nodes[0].Node.TxStart != br.Edges[0].Edge.TxStart {
		t.Fatalf("batch %+v", br)
	}
	// A bad item rejects the whole batch, naming it.
	bad := e.req("POST", "/v1/graph/acme/batch", w, map[string]any{"nodes": []map[string]any{{"alias": "x1", "label": "Ok"}, {"alias": "x2", "label": "9bad"}}})
	p := checkProblem(t, bad, 400, "invalid")
	if !strings.Contains(fmt.Sprint(p["errors"]), "nodes[1].label") {
		t.Fatalf("batch errors %v", p["errors"])
	}
	e.must(404, "GET", "/v1/graph/acme/nodes?alias=x1", rd, nil)
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		q := map[string]any{"kind": "nodes", "labels": []string{"Topic"}, "limit": 10}
		if cursor != "" {
			q["cursor"] = cursor
		}
		var pg telamentis.Page
		e.must(200, "POST", "/v1/graph/acme/query", rd, q).json(t, &pg)
		for _, n := range pg.Nodes {
			seen[n.ID] = true
		}
		if cursor = pg.NextCursor; cursor == "" {
			if pages != 2 {
				t.Fatalf("pages %d", pages+1)
			}
			break
		}
	}
	if len(seen) != 25 {
		t.Fatalf("paged %d topics", len(seen))
	}
	page = pageOf(t, e.must(200, "GET", "/v1/graph/acme/changes?since=2000-01-01T00:00:00Z&limit=5", rd, nil))
	if len(page.Changes) != 5 || page.NextCursor == "" {
		t.Fatalf("changes %+v", page)
	}

	// Ingest: per-line errors with line numbers, batches, summary.
	lines := []string{
		`{"node":{"alias":"carol","label":"Person","props":{"name":"Carol"}}}`,
		``,
		`{"node":{"alias":"carol","label":"Person","props":{"name":"Carol"}}}`,
		`{"node":{"alias":"bob","label":"Person","props":{"name":"Bobby"}}}`,
		`not json`,
		`{"edge":{"from":{"alias":"carol"},"to":{"alias":"alice"},"kind":"KNOWS","valid_from":"2022-01-01T00:00:00Z"}}`,
		`{"edge":{"from":{"alias":"carol"},"to":{"alias":"nobody"},"kind":"KNOWS"}}`,
		`{"node":{"alias":"dave","label":"Person","LABEL":"x"}}`,
		`{"node":{"alias":"erin","label":"Person"}}`,
	}
	var sum struct {
		Lines, Created, Updated, Unchanged, Rejected, Batches int
		Errors                                                []struct {
			Line    int
			Field   string
			Message string
		}
	}
	e.must(200, "POST", "/v1/graph/acme/ingest?batch_size=2", w, strings.Join(lines, "\n")+"\n").json(t, &sum)
	if sum.Lines != 9 || sum.Created != 3 || sum.Updated != 1 || sum.Unchanged != 1 || sum.Rejected != 3 {
		t.Fatalf("ingest summary %+v", sum)
	}
	gotLines := []int{}
	for _, er := range sum.Errors {
		gotLines = append(gotLines, er.Line)
	}
	if fmt.Sprint(gotLines) != "[5 7 8]" {
		t.Fatalf("ingest error lines %v (%+v)", gotLines, sum.Errors)
	}

	// Stats, export (every version), retract, erase.
	var st telamentis.TenantStats
	e.must(200, "GET", "/v1/graph/acme/stats", rd, nil).json(t, &st)
	if st.Nodes != 29 || st.NodeVersions <= st.Nodes {
		t.Fatalf("stats %+v", st)
	}
	ex := e.must(200, "GET", "/v1/graph/acme/export", ta, nil)
	if ct := ex.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("export content type %q", ct)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(ex.body))
	for sc.Scan() {
		var line struct {
			Node *telamentis.Node
			Edge *telamentis.Edge
		}
		if err := jsonUnmarshalStrict(sc.Bytes(), &line); err != nil || (line.Node == nil) == (line.Edge == nil) {
			t.Fatalf("export line %s: %v", sc.Text(), err)
		}
		n++
	}
	if int64(n) != st.NodeVersions+st.EdgeVersions {
		t.Fatalf("export has %d lines, stats say %d versions", n, st.NodeVersions+st.EdgeVersions)
	}
	var rr telamentis.RetractResult
	e.must(200, "DELETE", "/v1/graph/acme/edges/"+br.Edges[0].Edge.ID, w, nil).json(t, &rr)
	e.must(200, "DELETE", "/v1/graph/acme/nodes/"+bob, w, nil).json(t, &rr)
	e.must(404, "GET", "/v1/graph/acme/nodes/"+bob, rd, nil)
	e.must(200, "GET", "/v1/graph/acme/nodes/"+bob+"?as_at="+url.QueryEscape(bobNow.TxStart.Format(time.RFC3339Nano)), rd, nil)
	var eraseRes telamentis.EraseResult
	e.must(200, "POST", "/v1/graph/acme/nodes/"+alice+"/erase", ta, nil).json(t, &eraseRes)
	if eraseRes.Nodes != 1 || eraseRes.Versions == 0 {
		t.Fatalf("erase %+v", eraseRes)
	}
	e.must(404, "GET", "/v1/graph/acme/nodes/"+alice+"/history", rd, nil) // no version is left

	// Suspension refuses the tenant's keys; deletion revokes them.
	e.must(200, "PATCH", "/v1/tenants/acme", e.admin, map[string]any{"status": "suspended"})
	checkProblem(t, e.req("GET", "/v1/graph/acme/stats", rd, nil), 403, "forbidden")
	e.must(200, "PATCH", "/v1/tenants/acme", e.admin, map[string]any{"status": "active"})
	e.must(200, "GET", "/v1/graph/acme/stats", rd, nil)
	e.must(204, "DELETE", "/v1/tenants/acme", e.admin, nil)
	checkProblem(t, e.req("GET", "/v1/whoami", rd, nil), 401, "unauthenticated")
	e.tenant("acme") // re-created: the old keys stay dead
	checkProblem(t, e.req("GET", "/v1/graph/acme/stats", w, nil), 401, "unauthenticated")
}

// TestImportRoundTrip exports a tenant's full history and imports it into
// a new tenant: the export of the copy is identical, and as_at reads agree.
func TestImportRoundTrip(t *testing.T) { eachStore(t, testImportRoundTrip) }

func testImportRoundTrip(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	src := newFixture(e, "src", "x")
	// More history: an update, an invalidation, a retraction.
	e.node(src.tenant, src.setup, "alicex", "Person", map[string]any{"name": "Alice 2"})
	e.must(200, "POST", "/v1/graph/"+src.tenant+"/edges/"+src.edge+"/invalidate", src.setup, map[string]any{"at": "2025-01-01T00:00:00Z"})
	e.must(200, "DELETE", "/v1/graph/"+src.tenant+"/nodes/"+src.bob, src.setup, nil)
	exp := e.must(200, "GET", "/v1/graph/"+src.tenant+"/export", src.setup, nil)

	e.tenant("copy", map[string]any{"pii": map[string]any{"fields": []string{"email"}, "mode": "pseudonymise"}})
	ta := e.key("copy", telamentis.RoleTenantAdmin, true)
	// Only an admin may import.
	checkProblem(t, e.req("POST", "/v1/tenants/copy/import", ta, string(exp.body)), 403, "forbidden")
	// A bad line fails the whole import, naming the line.
	bad := string(exp.body) + `{"node":{"id":"x","LABEL":"y"}}` + "\n"
	p := checkProblem(t, e.req("POST", "/v1/tenants/copy/import", e.admin, bad), 400, "invalid")
	if !strings.Contains(fmt.Sprint(p["errors"]), "line ") {
		t.Fatalf("errors %v", p["errors"])
	}
	var sum httpapi.ImportSummary
	e.must(200, "POST", "/v1/tenants/copy/import", e.admin, string(exp.body)).json(t, &sum)
	if sum.NodeVersions == 0 || sum.EdgeVersions == 0 || sum.Lines != sum.NodeVersions+sum.EdgeVersions {
		t.Fatalf("import summary %+v", sum)
	}
	got := e.must(200, "GET", "/v1/graph/copy/export", ta, nil)
	if string(got.body) != string(exp.body) {
		t.Fatalf("export of the copy differs:\n%s\nvs\n%s", got.body, exp.body)
	}
	// A second import into the now non-empty tenant is refused.
	checkProblem(t, e.req("POST", "/v1/tenants/copy/import", e.admin, string(exp.body)), 409, "conflict")
	// as_at reads agree.
	for _, path := range []string{"/nodes/" + src.alice + "/history", "/edges/" + src.edge + "/history", "/nodes/" + src.alice + "/neighbors?valid_at=2021-01-01T00:00:00Z"} {
		a := e.must(200, "GET", "/v1/graph/"+src.tenant+path, src.setup, nil)
		b := e.must(200, "GET", "/v1/graph/copy"+path, ta, nil)
		if string(a.body) != string(b.body) {
			t.Errorf("%s differs:\n%s\n%s", path, a.body, b.body)
		}
	}
}

// TestExportSnapshot checks export with as_at, valid_at and include.
func TestExportSnapshot(t *testing.T) { eachStore(t, testExportSnapshot) }

func testExportSnapshot(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	e.tenant("snap")
	ta := e.key("snap", telamentis.RoleTenantAdmin, false)
	e.node("snap", ta, "alice", "Person", nil)
	e.node("snap", ta, "acme", "Org", nil)
	e.node("snap", ta, "globex", "Org", nil)
	var first telamentis.EdgeResult
	e.must(201, "POST", "/v1/graph/snap/edges", ta, map[string]any{"alias": "job1", "from": map[string]string{"alias": "alice"},
		"to": map[string]string{"alias": "acme"}, "kind": "WORKS_AT", "valid_from": "2021-01-01T00:00:00Z"}).json(t, &first)
	e.must(200, "POST", "/v1/graph/snap/edges/"+first.Edge.ID+"/invalidate", ta, map[string]any{"at": "2024-01-01T00:00:00Z"})
	e.edge("snap", ta, "job2", "alice", "globex", "WORKS_AT", "2024-01-01T00:00:00Z")

	lines := func(query string) (nodes, edges []string) {
		t.Helper()
		r := e.must(200, "GET", "/v1/graph/snap/export"+query, ta, nil)
		for _, l := range strings.Split(strings.TrimSpace(r.String()), "\n") {
			if l == "" {
				continue
			}
			var x httpapi.ExportLine
			if err := jsonUnmarshalStrict([]byte(l), &x); err != nil {
				t.Fatalf("line %s: %v", l, err)
			}
			if x.Node != nil {
				nodes = append(nodes, x.Node.Alias)
			} else {
				edges = append(edges, x.Edge.Alias+":"+fmt.Sprint(x.Edge.ValidTo.Year()))
			}
		}
		return nodes, edges
	}
	n, ed := lines("")
	if len(n) != 3 || len(ed) != 3 { // full history: job1 twice
		t.Fatalf("history export %v %v", n, ed)
	}
	n, ed = lines("?valid_at=2022-01-01T00:00:00Z")
	if len(n) != 3 || fmt.Sprint(ed) != "[job1:2024]" {
		t.Fatalf("valid_at 2022: %v %v", n, ed)
	}
	n, ed = lines("?as_at=" + url.QueryEscape(first.Edge.TxStart.Format(time.RFC3339Nano)))
	if len(n) != 3 || fmt.Sprint(ed) != "[job1:1]" {
		t.Fatalf("as_at first fact: %v %v", n, ed)
	}
	n, ed = lines("?valid_at=2025-01-01T00:00:00Z&include=edges")
	if len(n) != 0 || fmt.Sprint(ed) != "[job2:1]" {
		t.Fatalf("edges valid 2025: %v %v", n, ed)
	}
	checkProblem(t, e.req("GET", "/v1/graph/snap/export?as_at=yesterday", ta, nil), 400, "invalid")
}

// TestIngestQuota checks that a quota stops an ingest stream: batches
// committed before it stay, the summary says where it stopped; a stream
// whose first batch exceeds the quota answers quota-exceeded and writes
// nothing.
func TestIngestQuota(t *testing.T) {
	e := newEnv(t)
	e.tenant("small", map[string]any{"quotas": map[string]any{"max_nodes": 3}})
	w := e.key("small", telamentis.RoleWriter, false)
	var body strings.Builder
	for i := range 6 {
		fmt.Fprintf(&body, `{"node":{"alias":"n%d","label":"P"}}`+"\n", i)
	}
	checkProblem(t, e.req("POST", "/v1/graph/small/ingest", w, body.String()), 403, "quota-exceeded")
	var st telamentis.TenantStats
	e.must(200, "GET", "/v1/graph/small/stats", w, nil).json(t, &st)
	if st.Nodes != 0 {
		t.Fatalf("a refused batch wrote %d nodes", st.Nodes)
	}
	var sum httpapi.IngestSummary
	e.must(200, "POST", "/v1/graph/small/ingest?batch_size=1", w, body.String()).json(t, &sum)
	if sum.Created != 3 || sum.Aborted == "" || sum.Batches != 3 {
		t.Fatalf("summary %+v", sum)
	}
	e.must(200, "GET", "/v1/graph/small/stats", w, nil).json(t, &st)
	if st.Nodes != 3 {
		t.Fatalf("quota overshoot: %d nodes", st.Nodes)
	}
}
