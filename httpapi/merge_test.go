package httpapi_test

import (
	"slices"
	"testing"

	"github.com/telamentis/telamentis"
)

// TestMergeRoute merges over HTTP on each store: the answer, the alias
// redirect seen by GET, the audit record (a merge is recorded before it
// runs), PII masking of the target in the answer, and whole errors.
func TestMergeRoute(t *testing.T) { eachStore(t, testMergeRoute) }

func testMergeRoute(t *testing.T, o envOptions) {
	e := newEnv(t, o)
	e.tenant("mt", map[string]any{"pii": map[string]any{"fields": []string{"email"}, "mode": "mask"}})
	w := e.key("mt", telamentis.RoleWriter, false)
	dup := e.node("mt", w, "alice-dup", "Person", map[string]any{"name": "ALICE SMITH"})
	alice := e.node("mt", w, "alice", "Person", map[string]any{"name": "Alice Smith", "email": "alice@example.com"})
	bob := e.node("mt", w, "bob", "Person", nil)
	e.edge("mt", w, "k", "bob", "alice-dup", "KNOWS", "2020-01-01T00:00:00Z")

	var res telamentis.MergeResult
	e.must(200, "POST", "/v1/graph/mt/nodes/"+dup+"/merge", w, map[string]any{"into": map[string]string{"alias": "alice"}}).json(t, &res)
	if res.Merged != dup || res.Node.ID != alice || len(res.Moved) != 1 || !slices.Equal(res.Aliases, []string{"alice-dup"}) {
		t.Fatalf("merge result %+v", res)
	}
	if got := string(res.Node.Props); got != `{"email":"[pii]","name":"Alice Smith"}` {
		t.Errorf("the target in the answer is masked for a credential without pii: %s", got)
	}
	var n telamentis.Node
	e.must(200, "GET", "/v1/graph/mt/nodes?alias=alice-dup", w, nil).json(t, &n)
	if n.ID != alice {
		t.Errorf("GET by the merged alias answers the target, got %s", n.ID)
	}
	var e2 telamentis.Edge
	e.must(200, "GET", "/v1/graph/mt/edges?alias=k", w, nil).json(t, &e2)
	if e2.From != bob || e2.To != alice || e2.ID != res.Moved[0].NewID {
		t.Errorf("the moved edge: %+v", e2)
	}
	var out struct{ Records []telamentis.AuditRecord }
	e.must(200, "GET", "/v1/audit?action=node.merge", e.admin, nil).json(t, &out)
	outcomes := map[string]bool{}
	for _, r := range out.Records {
		if r.Tenant == "mt" && r.Target == dup+" into alias:alice" {
			outcomes[r.Outcome] = true
		}
	}
	if !outcomes[telamentis.OutcomeAttempt] || !outcomes[telamentis.OutcomeSuccess] {
		t.Errorf("a merge is audited before (attempt) and after (success): %+v", out.Records)
	}

	r := e.req("POST", "/v1/graph/mt/nodes/"+alice+"/merge", w, map[string]any{"into": map[string]string{"id": alice}})
	checkProblem(t, r, 400, "invalid")
	if got := r.m(t); !hasField(got, "into", "must name another node") {
		t.Errorf("merging a node into itself: %s", r.body)
	}
	r = e.req("POST", "/v1/graph/mt/nodes/"+dup+"/merge", w, map[string]any{"into": map[string]string{"alias": "nobody"}})
	checkProblem(t, r, 404, "not-found")
	if got := r.m(t); !hasField(got, "ref", "node not found") || !hasField(got, "into", "node not found") {
		t.Errorf("a merged node and a missing target: %s", r.body)
	}
	checkProblem(t, e.req("POST", "/v1/graph/mt/nodes/"+bob+"/merge", e.key("mt", telamentis.RoleReader, false),
		map[string]any{"into": map[string]string{"id": alice}}), 403, "forbidden")

	// resolve normalized over HTTP: two matches are candidates.
	e.node("mt", w, "", "Person", map[string]any{"name": "Bo Chen"})
	e.node("mt", w, "", "Person", map[string]any{"name": "bo  chen"})
	var nr telamentis.NodeResult
	e.must(201, "POST", "/v1/graph/mt/nodes", w, map[string]any{"label": "Person", "props": map[string]any{"name": "BO CHEN"}, "resolve": "normalized"}).json(t, &nr)
	if !nr.Created || len(nr.Candidates) != 2 {
		t.Errorf("two matches are reported as candidates: %+v", nr)
	}
	e.must(200, "POST", "/v1/graph/mt/nodes", w, map[string]any{"alias": "alice-3", "label": "Person", "props": map[string]any{"name": "alice smith"}, "resolve": "normalized"}).json(t, &nr)
	if nr.Node.ID != alice || nr.Resolved != "normalized" {
		t.Errorf("one match is attached to: %+v", nr)
	}
}

// hasField reports whether a problem document lists field with message.
func hasField(problem map[string]any, field, message string) bool {
	errs, _ := problem["errors"].([]any)
	for _, x := range errs {
		f, _ := x.(map[string]any)
		if f["location"] == field || f["field"] == field {
			if f["message"] == message {
				return true
			}
		}
	}
	return false
}
