package telamentis

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestQueryNormalizeDefaults(t *testing.T) {
	q, err := Query{Kind: QueryPaths, Start: &Ref{Alias: "a"}}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if q.Limit != DefaultLimit || q.Direction != DirOut || q.Depth != 1 || q.MinDepth != 1 {
		t.Errorf("paths defaults: limit %d direction %q depth %d min_depth %d", q.Limit, q.Direction, q.Depth, q.MinDepth)
	}
	cet := time.FixedZone("CET", 3600)
	q, err = Query{Kind: QueryEdges, AsAt: time.Date(2024, 1, 1, 1, 0, 0, 1999, cet),
		Allen: &AllenFilter{Relation: During, Interval: Interval{Start: time.Date(2024, 1, 1, 1, 0, 0, 0, cet)}}}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if !q.AsAt.Equal(time.Date(2024, 1, 1, 0, 0, 0, 1000, time.UTC)) || q.AsAt.Location() != time.UTC || q.Allen.Interval.Start.Location() != time.UTC {
		t.Errorf("times normalised to UTC microseconds: as_at %v, allen %v", q.AsAt, q.Allen.Interval.Start)
	}
	q, err = Query{Kind: QueryNodes, Limit: MaxLimit}.Normalize()
	if err != nil || q.Limit != MaxLimit {
		t.Errorf("limit %d is allowed: %v", MaxLimit, err)
	}
	q, err = Query{Kind: QueryChanges, Since: time.Date(2024, 1, 1, 0, 0, 0, 0, cet)}.Normalize()
	if err != nil || q.Since.Location() != time.UTC {
		t.Errorf("changes since normalised: %v, %v", q.Since, err)
	}
}

func TestQueryNormalizeProps(t *testing.T) {
	filters := map[string]json.RawMessage{"a": json.RawMessage(` { "y" : 1, "x" : [ 2 ] } `), "b": json.RawMessage(` "s" `)}
	q, err := Query{Kind: QueryNodes, Props: filters}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if string(q.Props["a"]) != `{"x":[2],"y":1}` || string(q.Props["b"]) != `"s"` {
		t.Errorf("props filter values are canonical: %s %s", q.Props["a"], q.Props["b"])
	}
	if string(filters["a"]) != ` { "y" : 1, "x" : [ 2 ] } ` {
		t.Errorf("Normalize must not modify the caller's props map: %s", filters["a"])
	}
	if !PropEquals(json.RawMessage(`{"a":{"x":[2],"y":1}}`), "a", q.Props["a"]) {
		t.Error("a canonical filter matches canonical props")
	}
}

func TestQueryNormalizeInvalid(t *testing.T) {
	d := func(n int) time.Time { return time.Date(2020, 1, n, 0, 0, 0, 0, time.UTC) }
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		q     Query
		field string
	}{
		{"no kind", Query{}, "kind"},
		{"unknown kind", Query{Kind: "graph"}, "kind"},
		{"negative limit", Query{Kind: QueryNodes, Limit: -1}, "limit"},
		{"limit too large", Query{Kind: QueryNodes, Limit: MaxLimit + 1}, "limit"},
		{"cursor too long", Query{Kind: QueryNodes, Cursor: strings.Repeat("A", 4097)}, "cursor"},
		{"as_at out of range", Query{Kind: QueryNodes, AsAt: far}, "as_at"},
		{"as_at on history", Query{Kind: QueryHistory, Node: &Ref{Alias: "a"}, AsAt: d(1)}, "as_at"},
		{"valid_at out of range", Query{Kind: QueryEdges, ValidAt: far}, "valid_at"},
		{"valid_at and between", Query{Kind: QueryEdges, ValidAt: d(1), ValidBetween: &Interval{Start: d(1)}}, "valid_at"},
		{"valid_at and allen", Query{Kind: QueryEdges, ValidAt: d(1), Allen: &AllenFilter{Relation: Before, Interval: Interval{Start: d(1)}}}, "valid_at"},
		{"between without start", Query{Kind: QueryEdges, ValidBetween: &Interval{End: d(1)}}, "valid_between.start"},
		{"between reversed", Query{Kind: QueryEdges, ValidBetween: &Interval{Start: d(2), End: d(1)}}, "valid_between.end"},
		{"between empty", Query{Kind: QueryEdges, ValidBetween: &Interval{Start: d(2), End: d(2)}}, "valid_between.end"},
		{"allen relation", Query{Kind: QueryEdges, Allen: &AllenFilter{Relation: "close_to", Interval: Interval{Start: d(1)}}}, "allen.relation"},
		{"allen interval", Query{Kind: QueryEdges, Allen: &AllenFilter{Relation: Meets}}, "allen.interval.start"},
		{"valid_at on nodes", Query{Kind: QueryNodes, ValidAt: d(1)}, "valid_at"},
		{"between on history", Query{Kind: QueryHistory, Node: &Ref{Alias: "a"}, ValidBetween: &Interval{Start: d(1)}}, "valid_at"},
		{"bad kind filter", Query{Kind: QueryEdges, Kinds: []string{"K", "a b"}}, "kinds"},
		{"bad label", Query{Kind: QueryNodes, Labels: []string{""}}, "labels"},
		{"labels on edges", Query{Kind: QueryEdges, Labels: []string{"P"}}, "labels"},
		{"alias on edges", Query{Kind: QueryEdges, Alias: "a"}, "alias"},
		{"props on paths", Query{Kind: QueryPaths, Start: &Ref{Alias: "a"}, Props: map[string]json.RawMessage{"a": json.RawMessage(`1`)}}, "props"},
		{"from on nodes", Query{Kind: QueryNodes, From: &Ref{Alias: "a"}}, "from"},
		{"to on paths", Query{Kind: QueryPaths, Start: &Ref{Alias: "a"}, To: &Ref{Alias: "a"}}, "to"},
		{"kinds on nodes", Query{Kind: QueryNodes, Kinds: []string{"K"}}, "kinds"},
		{"start on edges", Query{Kind: QueryEdges, Start: &Ref{Alias: "a"}}, "start"},
		{"direction on edges", Query{Kind: QueryEdges, Direction: DirIn}, "direction"},
		{"depth on edges", Query{Kind: QueryEdges, Depth: 2}, "depth"},
		{"min_depth on nodes", Query{Kind: QueryNodes, MinDepth: 1}, "min_depth"},
		{"node on edges", Query{Kind: QueryEdges, Node: &Ref{Alias: "a"}}, "node"},
		{"include_nodes on nodes", Query{Kind: QueryNodes, IncludeNodes: true}, "include_nodes"},
		{"include_nodes on paths", Query{Kind: QueryPaths, Start: &Ref{Alias: "a"}, IncludeNodes: true}, "include_nodes"},
		{"ids_only on nodes", Query{Kind: QueryNodes, IDsOnly: true}, "ids_only"},
		{"ids_only on edges", Query{Kind: QueryEdges, IDsOnly: true}, "ids_only"},
		{"ids_only on history", Query{Kind: QueryHistory, Node: &Ref{Alias: "a"}, IDsOnly: true}, "ids_only"},
		{"ids_only on changes", Query{Kind: QueryChanges, IDsOnly: true}, "ids_only"},
		{"edge on nodes", Query{Kind: QueryNodes, Edge: &Ref{Alias: "a"}}, "edge"},
		{"since on nodes", Query{Kind: QueryNodes, Since: d(1)}, "since"},
		{"until on edges", Query{Kind: QueryEdges, Until: d(1)}, "until"},
		{"alias filter bad", Query{Kind: QueryNodes, Alias: "a\x00"}, "alias"},
		{"props filter empty value", Query{Kind: QueryNodes, Props: map[string]json.RawMessage{"a": nil}}, "props.a"},
		{"props filter bad value", Query{Kind: QueryNodes, Props: map[string]json.RawMessage{"a": json.RawMessage(`{"x":1,"x":2}`)}}, "props.a.x"},
		{"props filter trailing", Query{Kind: QueryNodes, Props: map[string]json.RawMessage{"a": json.RawMessage(`1}, "b": {2`)}}, "props.a"},
		{"props filter two values", Query{Kind: QueryNodes, Props: map[string]json.RawMessage{"a": json.RawMessage(`1, "w": 2`)}}, "props.a"},
		{"props filter bad key", Query{Kind: QueryNodes, Props: map[string]json.RawMessage{"": json.RawMessage(`1`)}}, "props"},
		{"from bad", Query{Kind: QueryEdges, From: &Ref{ID: "x"}}, "from.id"},
		{"to empty", Query{Kind: QueryEdges, To: &Ref{}}, "to"},
		{"paths without start", Query{Kind: QueryPaths}, "start"},
		{"paths bad start", Query{Kind: QueryPaths, Start: &Ref{ID: "x"}}, "start.id"},
		{"direction", Query{Kind: QueryPaths, Start: &Ref{Alias: "a"}, Direction: "sideways"}, "direction"},
		{"depth 5", Query{Kind: QueryPaths, Start: &Ref{Alias: "a"}, Depth: 5}, "depth"},
		{"depth negative", Query{Kind: QueryPaths, Start: &Ref{Alias: "a"}, Depth: -1}, "depth"},
		{"min_depth above depth", Query{Kind: QueryPaths, Start: &Ref{Alias: "a"}, Depth: 2, MinDepth: 3}, "min_depth"},
		{"min_depth above default depth", Query{Kind: QueryPaths, Start: &Ref{Alias: "a"}, MinDepth: 2}, "min_depth"},
		{"min_depth negative", Query{Kind: QueryPaths, Start: &Ref{Alias: "a"}, MinDepth: -1}, "min_depth"},
		{"history without ref", Query{Kind: QueryHistory}, "node"},
		{"history with both", Query{Kind: QueryHistory, Node: &Ref{Alias: "a"}, Edge: &Ref{Alias: "a"}}, "node"},
		{"history bad edge", Query{Kind: QueryHistory, Edge: &Ref{Alias: strings.Repeat("a", 257)}}, "edge.alias"},
		{"changes until before since", Query{Kind: QueryChanges, Since: d(2), Until: d(1)}, "until"},
		{"changes until equal since", Query{Kind: QueryChanges, Since: d(2), Until: d(2)}, "until"},
		{"changes since out of range", Query{Kind: QueryChanges, Since: far}, "since"},
	} {
		_, err := c.q.Normalize()
		wantInvalid(t, err, c.field, c.name)
	}
}

func TestQueryValidFilter(t *testing.T) {
	d := func(n int) time.Time { return time.Date(2020, 1, n, 0, 0, 0, 0, time.UTC) }
	span := func(a, b int) Span {
		s := Span{Micros(d(a)), Open}
		if b > 0 {
			s.End = Micros(d(b))
		}
		return s
	}
	if f := (&Query{}).ValidFilter(); f != nil {
		t.Error("no valid-time filter: nil")
	}
	at := &Query{ValidAt: d(10)}
	between := &Query{ValidBetween: &Interval{Start: d(10), End: d(20)}}
	openBetween := &Query{ValidBetween: &Interval{Start: d(10)}}
	allen := &Query{Allen: &AllenFilter{Relation: During, Interval: Interval{Start: d(10), End: d(20)}}}
	for _, c := range []struct {
		q    *Query
		s    Span
		want bool
	}{
		{at, span(10, 11), true}, {at, span(5, 10), false}, {at, span(1, 0), true}, {at, span(11, 0), false},
		{between, span(1, 10), false}, {between, span(1, 11), true}, {between, span(19, 0), true}, {between, span(20, 0), false},
		{openBetween, span(25, 30), true}, {openBetween, span(1, 10), false},
		{allen, span(12, 18), true}, {allen, span(10, 18), false}, {allen, span(12, 0), false},
	} {
		if got := c.q.ValidFilter()(c.s); got != c.want {
			t.Errorf("filter %+v on %v = %v, want %v", c.q, c.s, got, c.want)
		}
	}
}

// TestNeighborJSON checks that an ids_only neighbour is written with its
// identifiers only (no "props":null, no empty label or zero times) and
// that a full one is written as before.
func TestNeighborJSON(t *testing.T) {
	ids := Neighbor{Node: Node{ID: "n"}, Depth: 2, Via: Edge{ID: "e", From: "a", To: "n"}}
	b, err := json.Marshal(Page{Neighbors: []Neighbor{ids}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"neighbors":[{"node":{"id":"n"},"depth":2,"via":{"id":"e","from":"a","to":"n"}}]}`; string(b) != want {
		t.Errorf("ids_only neighbour:\n got %s\nwant %s", b, want)
	}
	var back Page
	if err := json.Unmarshal(b, &back); err != nil || len(back.Neighbors) != 1 || !reflect.DeepEqual(back.Neighbors[0], ids) {
		t.Errorf("ids_only neighbour round trip: %+v, %v", back.Neighbors, err)
	}
	tx := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	full := Neighbor{Node: Node{ID: "n", Label: "P", Props: json.RawMessage(`{"k":1}`), TxStart: tx}, Depth: 1,
		Via: Edge{ID: "e", From: "a", To: "n", Kind: "K", Props: json.RawMessage(`{}`), ValidFrom: tx, TxStart: tx}}
	b, err = json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"node":{"id":"n","label":"P","props":{"k":1},"tx_start":"2024-01-01T00:00:00Z"},"depth":1,` +
		`"via":{"id":"e","from":"a","to":"n","kind":"K","props":{},"valid_from":"2024-01-01T00:00:00Z","tx_start":"2024-01-01T00:00:00Z"}}`
	if string(b) != want {
		t.Errorf("full neighbour:\n got %s\nwant %s", b, want)
	}
}
