package extract_test

import (
	"encoding/json"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/extract"
)

// TestExtractResolvesNormalizedNames checks the extraction default,
// resolve normalized: an entity under a new alias whose normalised name
// matches one node of its label attaches to it (props merged, the alias
// kept as an extra alias, relations follow it); two matches are reported
// as candidates; resolve exact creates.
func TestExtractResolvesNormalizedNames(t *testing.T) {
	p := newProvider(t, fixed(`{"nodes":[
 {"alias":"person:alice-smith","label":"Person","props":{"name":"ALICE  SMITH","city":"Oslo"},"confidence":0.9},
 {"alias":"person:bo","label":"Person","props":{"name":"Bo Chen"},"confidence":0.9},
 {"alias":"org:acme","label":"Organization","props":{"name":"Acme"},"confidence":0.9}],
 "relations":[{"from":"person:alice-smith","to":"org:acme","kind":"WORKS_AT","confidence":0.9}]}`))
	e := newEnv(t, extract.Config{Routes: []telamentis.Connector{p.connector(t, "openai", telamentis.LLMPrice{})}})
	ctx := t.Context()
	up := func(in telamentis.NodeInput) telamentis.Node {
		r, err := e.store.UpsertNode(ctx, "acme", in)
		if err != nil {
			t.Fatal(err)
		}
		return r.Node
	}
	alice := up(telamentis.NodeInput{Alias: "crm:42", Label: "Person", Props: json.RawMessage(`{"name":"Alice Smith","email":"a@example.com"}`)})
	bo1 := up(telamentis.NodeInput{Label: "Person", Props: json.RawMessage(`{"name":"Bo Chen"}`)})
	bo2 := up(telamentis.NodeInput{Label: "Person", Props: json.RawMessage(`{"name":"bo chen"}`)})

	res, err := e.svc.Extract(ctx, "acme", telamentis.ExtractRequest{Text: "Alice Smith of Oslo works at Acme with Bo Chen."})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Updated) != 1 || res.Updated[0].ID != alice.ID || res.Updated[0].Alias != "person:alice-smith" {
		t.Fatalf("the entity attaches to the node with its normalised name: %+v", res)
	}
	ap := props(t, e.node(t, "acme", "person:alice-smith").Props)
	if ap["email"] != "a@example.com" || ap["city"] != "Oslo" || ap[extract.ProvenanceKey] == nil {
		t.Errorf("the node keeps its props and takes the extracted ones: %v", ap)
	}
	if n := e.node(t, "acme", "crm:42"); n.ID != alice.ID {
		t.Errorf("the node keeps its own alias: %+v", n)
	}
	var bo *telamentis.ExtractItem
	for i := range res.Created {
		if res.Created[i].Alias == "person:bo" {
			bo = &res.Created[i]
		}
	}
	if bo == nil || len(bo.Candidates) != 2 || bo.ID == bo1.ID || bo.ID == bo2.ID {
		t.Errorf("two matches are reported as candidates and a node is created: %+v", res.Created)
	}
	page, err := e.store.Query(ctx, "acme", telamentis.Query{Kind: telamentis.QueryEdges, Kinds: []string{"WORKS_AT"}})
	if err != nil || len(page.Edges) != 1 || page.Edges[0].From != alice.ID {
		t.Errorf("the relation follows the attached node: %v %+v", err, page.Edges)
	}

	e2 := newEnv(t, extract.Config{Routes: []telamentis.Connector{p.connector(t, "openai", telamentis.LLMPrice{})}})
	e.store = e2.store
	up(telamentis.NodeInput{Alias: "crm:42", Label: "Person", Props: json.RawMessage(`{"name":"Alice Smith"}`)})
	res, err = e2.svc.Extract(ctx, "acme", telamentis.ExtractRequest{Text: "Alice Smith works at Acme.", Resolve: telamentis.ResolveExact})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Created) != 4 || len(res.Updated) != 0 {
		t.Errorf("resolve exact matches by alias only: %+v", res)
	}
	if _, err := e2.svc.Extract(ctx, "acme", telamentis.ExtractRequest{Text: "x", Resolve: "fuzzy"}); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		t.Errorf("an unknown resolve mode: %v", err)
	}
}
