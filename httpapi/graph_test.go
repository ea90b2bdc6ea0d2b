package httpapi_test

import (
	"encoding/json"
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

// TestQueryIDsOnly checks ids_only on the query endpoint: a paths page
// carries the same neighbours as without it, each as
// {"node":{"id"},"depth","via":{"id","from","to"}} and nothing more (no
// props, not even masked ones; no "props":null); other kinds refuse the
// field; the cursor binds it.
func TestQueryIDsOnly(t *testing.T) {
	e := newEnv(t)
	const secret = "dave.pii@example.com"
	tn := "idsonly"
	e.tenant(tn, map[string]any{"pii": map[string]any{"fields": []string{"email"}, "mode": "mask"}})
	ta := e.key(tn, telamentis.RoleTenantAdmin, true)
	rd := e.key(tn, telamentis.RoleReader, true) // may see PII: ids_only still sends none
	e.node(tn, ta, "dave", "Person", map[string]any{"email": secret})
	for i := range 3 {
		e.node(tn, ta, fmt.Sprintf("pal%d", i), "Person", map[string]any{"email": fmt.Sprintf("pal%d@example.com", i)})
		e.edge(tn, ta, fmt.Sprintf("pal%d", i), "dave", fmt.Sprintf("pal%d", i), "KNOWS", "")
		e.edge(tn, ta, fmt.Sprintf("back%d", i), fmt.Sprintf("pal%d", i), "dave", "KNOWS", "")
	}

	q := map[string]any{"kind": "paths", "start": map[string]string{"alias": "dave"}, "depth": 2}
	full := pageOf(t, e.must(200, "POST", "/v1/graph/"+tn+"/query", rd, q))
	q["ids_only"] = true
	r := e.must(200, "POST", "/v1/graph/"+tn+"/query", rd, q)
	var asIs struct {
		Neighbors []json.RawMessage `json:"neighbors"`
	}
	r.json(t, &asIs)
	if len(asIs.Neighbors) != len(full.Neighbors) || len(full.Neighbors) != 4 {
		t.Fatalf("ids_only: %d neighbours, without it %d; want 4 both (3 pals, dave at depth 2)", len(asIs.Neighbors), len(full.Neighbors))
	}
	for _, n := range asIs.Neighbors {
		var keys map[string]json.RawMessage
		json.Unmarshal(n, &keys)
		var node, via map[string]any
		json.Unmarshal(keys["node"], &node)
		json.Unmarshal(keys["via"], &via)
		if len(keys) != 3 || len(node) != 1 || node["id"] == nil || len(via) != 3 || via["from"] == nil || via["to"] == nil || via["id"] == nil {
			t.Errorf("ids_only neighbour %s: want exactly {\"node\":{\"id\"},\"depth\",\"via\":{\"id\",\"from\",\"to\"}}", n)
		}
	}
	if s := r.String(); strings.Contains(s, "props") || strings.Contains(s, "@example.com") || strings.Contains(s, "label") || strings.Contains(s, "tx_start") {
		t.Errorf("ids_only page carries more than identifiers: %s", s)
	}
	p := pageOf(t, r)
	for i, n := range p.Neighbors {
		f := full.Neighbors[i]
		if n.Node.ID != f.Node.ID || n.Depth != f.Depth || n.Via.ID != f.Via.ID || n.Via.From != f.Via.From || n.Via.To != f.Via.To {
			t.Errorf("ids_only neighbour %d: %+v, without ids_only %s depth %d via %s %s->%s", i, n, f.Node.ID, f.Depth, f.Via.ID, f.Via.From, f.Via.To)
		}
	}

	// Paging: the cursor binds ids_only.
	q["limit"] = 2
	p = pageOf(t, e.must(200, "POST", "/v1/graph/"+tn+"/query", rd, q))
	if len(p.Neighbors) != 2 || p.NextCursor == "" {
		t.Fatalf("first ids_only page of 2: %d neighbours, cursor %q; want 2 and a cursor", len(p.Neighbors), p.NextCursor)
	}
	q["cursor"] = p.NextCursor
	if p := pageOf(t, e.must(200, "POST", "/v1/graph/"+tn+"/query", rd, q)); len(p.Neighbors) != 2 || p.NextCursor != "" {
		t.Errorf("second ids_only page: %d neighbours, cursor %q; want the last 2", len(p.Neighbors), p.NextCursor)
	}
	delete(q, "ids_only")
	pb := checkProblem(t, e.req("POST", "/v1/graph/"+tn+"/query", rd, q), 400, "invalid")
	if !strings.Contains(fmt.Sprint(pb["errors"]), "cursor") {
		t.Errorf("a cursor of an ids_only query without ids_only: errors %v, want the cursor named", pb["errors"])
	}

	for _, kind := range []string{"nodes", "edges", "changes"} {
		pb := checkProblem(t, e.req("POST", "/v1/graph/"+tn+"/query", rd, map[string]any{"kind": kind, "ids_only": true}), 400, "invalid")
		if !strings.Contains(fmt.Sprint(pb["errors"]), "ids_only") {
			t.Errorf("ids_only on %s: errors %v, want the field named", kind, pb["errors"])
		}
	}
}
