package httpapi_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// TestQueryIncludeNodes checks include_nodes on the query endpoint: an
// edges page carries its endpoints (masked like every other node), other
// kinds refuse the field, and the cursor binds it.
func TestQueryIncludeNodes(t *testing.T) {
	e := newEnv(t)
	const secret = "carol.pii@example.com"
	tn := "incl"
	e.tenant(tn, map[string]any{"pii": map[string]any{"fields": []string{"email"}, "mode": "mask"}})
	ta := e.key(tn, telamentis.RoleTenantAdmin, true)
	rd := e.key(tn, telamentis.RoleReader, false)
	carol := e.node(tn, ta, "carol", "Person", map[string]any{"email": secret})
	var want []string
	want = append(want, carol)
	for i := range 3 {
		want = append(want, e.node(tn, ta, fmt.Sprintf("friend%d", i), "Person", nil))
		e.edge(tn, ta, fmt.Sprintf("knows%d", i), "carol", fmt.Sprintf("friend%d", i), "KNOWS", "")
	}
	slices.Sort(want)

	q := map[string]any{"kind": "edges", "from": map[string]string{"alias": "carol"}, "include_nodes": true}
	r := e.must(200, "POST", "/v1/graph/"+tn+"/query", rd, q)
	p := pageOf(t, r)
	var got []string
	for _, n := range p.Nodes {
		got = append(got, n.ID)
	}
	if len(p.Edges) != 3 || !slices.Equal(got, want) {
		t.Errorf("include_nodes: %d edges, nodes %v; want 3 and %v (carol and her friends, by id)", len(p.Edges), got, want)
	}
	if strings.Contains(r.String(), secret) || !strings.Contains(r.String(), `"email":"[pii]"`) {
		t.Errorf("included nodes must be masked like any node for a key without pii: %s", r.body)
	}
	q["include_nodes"] = false
	if p := pageOf(t, e.must(200, "POST", "/v1/graph/"+tn+"/query", rd, q)); len(p.Nodes) != 0 {
		t.Errorf("include_nodes false: %d nodes, want none", len(p.Nodes))
	}

	// Paging: each page carries the endpoints of its own edges.
	q = map[string]any{"kind": "edges", "from": map[string]string{"alias": "carol"}, "include_nodes": true, "limit": 2}
	p = pageOf(t, e.must(200, "POST", "/v1/graph/"+tn+"/query", rd, q))
	if len(p.Edges) != 2 || len(p.Nodes) != 3 || p.NextCursor == "" {
		t.Fatalf("first page of 2: %d edges, %d nodes, cursor %q; want 2, 3 and a cursor", len(p.Edges), len(p.Nodes), p.NextCursor)
	}
	q["cursor"] = p.NextCursor
	if p := pageOf(t, e.must(200, "POST", "/v1/graph/"+tn+"/query", rd, q)); len(p.Edges) != 1 || len(p.Nodes) != 2 {
		t.Errorf("second page: %d edges, %d nodes; want 1 and 2", len(p.Edges), len(p.Nodes))
	}
	delete(q, "include_nodes")
	pb := checkProblem(t, e.req("POST", "/v1/graph/"+tn+"/query", rd, q), 400, "invalid")
	if !strings.Contains(fmt.Sprint(pb["errors"]), "cursor") {
		t.Errorf("a cursor of an include_nodes query without include_nodes: errors %v, want the cursor named", pb["errors"])
	}

	for _, kind := range []string{"nodes", "changes"} {
		pb := checkProblem(t, e.req("POST", "/v1/graph/"+tn+"/query", rd, map[string]any{"kind": kind, "include_nodes": true}), 400, "invalid")
		if !strings.Contains(fmt.Sprint(pb["errors"]), "include_nodes") {
			t.Errorf("include_nodes on %s: errors %v, want the field named", kind, pb["errors"])
		}
	}
}
