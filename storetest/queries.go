package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

func (r *runner) testQueries(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	mk := func(alias, label, p string) telamentis.Node {
		return mustNode(t, s, tn, telamentis.NodeInput{Alias: alias, Label: label, Props: props(p)}).Node
	}
	alice := mk("alice", "Person", `{"city":"Paris","age":30}`)
	bob := mk("bob", "Person", `{"city":"Berlin","age":30}`)
	acme := mk("acme", "Org", `{"city":"Paris"}`)
	topic := mk("go", "Topic", `{}`)

	t.Run("nodes", func(t *testing.T) {
		cases := []struct {
			name string
			q    telamentis.Query
			want []string
		}{
			{"all", telamentis.Query{}, []string{alice.ID, bob.ID, acme.ID, topic.ID}},
			{"one label", telamentis.Query{Labels: []string{"Person"}}, []string{alice.ID, bob.ID}},
			{"any of labels", telamentis.Query{Labels: []string{"Org", "Topic"}}, []string{acme.ID, topic.ID}},
			{"alias", telamentis.Query{Alias: "bob"}, []string{bob.ID}},
			{"unknown alias", telamentis.Query{Alias: "carol"}, nil},
			{"prop equality", telamentis.Query{Props: map[string]json.RawMessage{"city": json.RawMessage(`"Paris"`)}}, []string{alice.ID, acme.ID}},
			{"props are and-ed", telamentis.Query{Props: map[string]json.RawMessage{"city": json.RawMessage(`"Paris"`), "age": json.RawMessage(`30`)}}, []string{alice.ID}},
			{"labels and props", telamentis.Query{Labels: []string{"Person"}, Props: map[string]json.RawMessage{"age": json.RawMessage(` 30 `)}}, []string{alice.ID, bob.ID}},
			{"as_at before", telamentis.Query{AsAt: bob.TxStart.Add(-time.Microsecond)}, []string{alice.ID}},
		}
		for _, c := range cases {
			c.q.Kind = telamentis.QueryNodes
			got := nodeIDs(all(t, s, tn, c.q).Nodes)
			if want := sorted(c.want); !slices.Equal(got, want) {
				t.Errorf("nodes query %s (%s): got %v, want %v ordered by id", c.name, qstr(c.q), got, want)
			}
		}
	})

	// Edges whose valid spans stand in each Allen relation to W = [day 10, day 20).
	type spanEdge struct {
		rel    telamentis.Allen
		from   int
		to     int // -1 = open
		openRl telamentis.Allen
	}
	spans := []spanEdge{
		{telamentis.Before, 1, 5, telamentis.Before}, {telamentis.Meets, 5, 10, telamentis.Meets},
		{telamentis.Overlaps, 5, 15, telamentis.Overlaps}, {telamentis.Starts, 10, 15, telamentis.Starts},
		{telamentis.During, 12, 18, telamentis.During}, {telamentis.Finishes, 15, 20, telamentis.During},
		{telamentis.Equals, 10, 20, telamentis.Starts}, {telamentis.FinishedBy, 5, 20, telamentis.Overlaps},
		{telamentis.Contains, 5, 25, telamentis.Overlaps}, {telamentis.StartedBy, 10, 25, telamentis.Starts},
		{telamentis.OverlappedBy, 15, 25, telamentis.During}, {telamentis.MetBy, 20, 25, telamentis.During},
		{telamentis.After, 25, 30, telamentis.During},
		// open-ended edges
		{telamentis.After, 25, -1, telamentis.Finishes}, {telamentis.Contains, 5, -1, telamentis.FinishedBy},
		{telamentis.StartedBy, 10, -1, telamentis.Equals}, {telamentis.OverlappedBy, 15, -1, telamentis.Finishes},
		{telamentis.MetBy, 20, -1, telamentis.Finishes},
	}
	edgeOf := map[string]spanEdge{}
	var spanIDs []string
	for i, se := range spans {
		in := telamentis.EdgeInput{Alias: fmt.Sprintf("span%d", i), From: byID(alice.ID), To: byID(acme.ID), Kind: "SPAN", ValidFrom: day(se.from)}
		if se.to >= 0 {
			in.ValidTo = day(se.to)
		}
		e := mustEdge(t, s, tn, in).Edge
		edgeOf[e.ID] = se
		spanIDs = append(spanIDs, e.ID)
	}
	knows := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "knows", From: byID(alice.ID), To: byID(bob.ID), Kind: "KNOWS", ValidFrom: day(0)}).Edge
	works := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "works", From: byID(bob.ID), To: byID(acme.ID), Kind: "WORKS_AT", ValidFrom: day(0), ValidTo: day(12)}).Edge

	t.Run("edges", func(t *testing.T) {
		spanWhere := func(f func(spanEdge) bool) []string {
			var ids []string
			for id, se := range edgeOf {
				if f(se) {
					ids = append(ids, id)
				}
			}
			return ids
		}
		contains := func(se spanEdge, d int) bool { return se.from <= d && (se.to < 0 || d < se.to) }
		cases := []struct {
			name string
			q    telamentis.Query
			want []string
		}{
			{"kinds", telamentis.Query{Kinds: []string{"KNOWS", "WORKS_AT"}}, []string{knows.ID, works.ID}},
			{"from by id", telamentis.Query{From: &telamentis.Ref{ID: bob.ID}}, []string{works.ID}},
			{"from by alias", telamentis.Query{From: &telamentis.Ref{Alias: "bob"}}, []string{works.ID}},
			{"to", telamentis.Query{To: &telamentis.Ref{Alias: "bob"}}, []string{knows.ID}},
			{"from and to", telamentis.Query{From: &telamentis.Ref{Alias: "alice"}, To: &telamentis.Ref{ID: bob.ID}}, []string{knows.ID}},
			{"valid_at start is inclusive", telamentis.Query{Kinds: []string{"SPAN"}, ValidAt: day(10)}, spanWhere(func(se spanEdge) bool { return contains(se, 10) })},
			{"valid_at end is exclusive", telamentis.Query{Kinds: []string{"WORKS_AT"}, ValidAt: day(12)}, nil},
			{"valid_at", telamentis.Query{ValidAt: day(11).Add(time.Hour)}, append(spanWhere(func(se spanEdge) bool { return contains(se, 11) }), knows.ID, works.ID)},
			{"valid_between", telamentis.Query{Kinds: []string{"SPAN"}, ValidBetween: &telamentis.Interval{Start: day(20), End: day(25)}},
				spanWhere(func(se spanEdge) bool { return se.from < 25 && (se.to < 0 || se.to > 20) })},
			{"valid_between open end", telamentis.Query{Kinds: []string{"SPAN"}, ValidBetween: &telamentis.Interval{Start: day(29)}},
				spanWhere(func(se spanEdge) bool { return se.to < 0 || se.to > 29 })},
			{"as_at", telamentis.Query{AsAt: knows.TxStart}, append(slices.Clone(spanIDs), knows.ID)},
		}
		for _, rel := range telamentis.AllenRelations {
			cases = append(cases, struct {
				name string
				q    telamentis.Query
				want []string
			}{"allen " + string(rel) + " [10,20)", telamentis.Query{Kinds: []string{"SPAN"}, Allen: &telamentis.AllenFilter{Relation: rel, Interval: telamentis.Interval{Start: day(10), End: day(20)}}},
				spanWhere(func(se spanEdge) bool { return se.rel == rel })})
			cases = append(cases, struct {
				name string
				q    telamentis.Query
				want []string
			}{"allen " + string(rel) + " [10,∞)", telamentis.Query{Kinds: []string{"SPAN"}, Allen: &telamentis.AllenFilter{Relation: rel, Interval: telamentis.Interval{Start: day(10)}}},
				spanWhere(func(se spanEdge) bool { return se.openRl == rel })})
		}
		for _, c := range cases {
			c.q.Kind = telamentis.QueryEdges
			got := edgeIDs(all(t, s, tn, c.q).Edges)
			if want := sorted(c.want); !slices.Equal(got, want) {
				t.Errorf("edges query %s (%s): got %d edges %v, want %d %v ordered by id", c.name, qstr(c.q), len(got), got, len(want), want)
			}
		}
	})

	t.Run("paths", func(t *testing.T) {
		pt := newTenant(t, s)
		n := map[string]telamentis.Node{}
		for _, a := range []string{"A", "B", "C", "D", "E", "F", "G"} {
			n[a] = mustNode(t, s, pt, telamentis.NodeInput{Alias: a, Label: "P"}).Node
		}
		e := map[string]telamentis.Edge{}
		add := func(from, to, kind string, vf, vt int) {
			in := telamentis.EdgeInput{Alias: from + to, From: byAlias(from), To: byAlias(to), Kind: kind, ValidFrom: day(vf)}
			if vt >= 0 {
				in.ValidTo = day(vt)
			}
			e[from+to] = mustEdge(t, s, pt, in).Edge
		}
		// A→B→C→D→E (K), F→A (K), A→G (L); C→D is valid only in [day 0, day 10).
		add("A", "B", "K", 0, -1)
		add("B", "C", "K", 0, -1)
		add("C", "D", "K", 0, 10)
		add("D", "E", "K", 0, -1)
		add("F", "A", "K", 0, -1)
		add("A", "G", "L", 0, -1)
		rr, err := s.RetractEdge(ctx, pt, byAlias("DE"))
		if err != nil {
			t.Fatal(err)
		}
		beforeRetract := rr.TxTime.Add(-time.Microsecond)

		type hop struct {
			node  string
			depth int
			via   string
		}
		cases := []struct {
			name string
			q    telamentis.Query
			want []hop
		}{
			{"out depth 1", telamentis.Query{Start: &telamentis.Ref{Alias: "A"}}, []hop{{"B", 1, "AB"}, {"G", 1, "AG"}}},
			{"out depth 1 kinds", telamentis.Query{Start: &telamentis.Ref{ID: n["A"].ID}, Kinds: []string{"K"}}, []hop{{"B", 1, "AB"}}},
			{"out depth 4", telamentis.Query{Start: &telamentis.Ref{Alias: "A"}, Depth: 4, Kinds: []string{"K"}}, []hop{{"B", 1, "AB"}, {"C", 2, "BC"}, {"D", 3, "CD"}}},
			{"out depth 4 as_at before retract", telamentis.Query{Start: &telamentis.Ref{Alias: "A"}, Depth: 4, Kinds: []string{"K"}, AsAt: beforeRetract},
				[]hop{{"B", 1, "AB"}, {"C", 2, "BC"}, {"D", 3, "CD"}, {"E", 4, "DE"}}},
			{"out depth 3 valid_at", telamentis.Query{Start: &telamentis.Ref{Alias: "A"}, Depth: 3, ValidAt: day(12)}, []hop{{"B", 1, "AB"}, {"G", 1, "AG"}, {"C", 2, "BC"}}},
			{"out depth 2 valid_between", telamentis.Query{Start: &telamentis.Ref{Alias: "B"}, Depth: 2, ValidBetween: &telamentis.Interval{Start: day(9), End: day(11)}},
				[]hop{{"C", 1, "BC"}, {"D", 2, "CD"}}},
			{"out allen", telamentis.Query{Start: &telamentis.Ref{Alias: "B"}, Depth: 2, Allen: &telamentis.AllenFilter{Relation: telamentis.Starts, Interval: telamentis.Interval{Start: day(0), End: day(11)}}},
				nil},
			{"in depth 2", telamentis.Query{Start: &telamentis.Ref{Alias: "C"}, Direction: telamentis.DirIn, Depth: 2}, []hop{{"B", 1, "BC"}, {"A", 2, "AB"}}},
			{"in depth 4", telamentis.Query{Start: &telamentis.Ref{Alias: "C"}, Direction: telamentis.DirIn, Depth: 4}, []hop{{"B", 1, "BC"}, {"A", 2, "AB"}, {"F", 3, "FA"}}},
			{"both depth 1", telamentis.Query{Start: &telamentis.Ref{Alias: "A"}, Direction: telamentis.DirBoth}, []hop{{"B", 1, "AB"}, {"F", 1, "FA"}, {"G", 1, "AG"}}},
			// min_depth = depth = 2: nodes that a walk of exactly two edges reaches.
			{"out exactly 2", telamentis.Query{Start: &telamentis.Ref{Alias: "A"}, Depth: 2, MinDepth: 2}, []hop{{"C", 2, "BC"}}},
			{"out 3 to 4", telamentis.Query{Start: &telamentis.Ref{Alias: "F"}, Depth: 4, MinDepth: 3}, []hop{{"C", 3, "BC"}, {"D", 4, "CD"}}},
			// A walk may come back: with direction both, A-B-A reaches A again.
			{"both exactly 2", telamentis.Query{Start: &telamentis.Ref{Alias: "B"}, Direction: telamentis.DirBoth, Depth: 2, MinDepth: 2, Kinds: []string{"K"}},
				[]hop{{"B", 2, ""}, {"D", 2, "CD"}, {"F", 2, "FA"}}},
		}
		for _, c := range cases {
			c.q.Kind = telamentis.QueryPaths
			slices.SortFunc(c.want, func(a, b hop) int {
				if a.depth != b.depth {
					return a.depth - b.depth
				}
				return strings.Compare(n[a.node].ID, n[b.node].ID)
			})
			got := all(t, s, pt, c.q).Neighbors
			var gs, ws []string
			for _, nb := range got {
				gs = append(gs, fmt.Sprintf("%s@%d", nb.Node.Alias, nb.Depth))
			}
			for _, h := range c.want {
				ws = append(ws, fmt.Sprintf("%s@%d", h.node, h.depth))
			}
			if !slices.Equal(gs, ws) {
				t.Errorf("paths %s (%s): got %v, want %v ordered by (depth, node id)", c.name, qstr(c.q), gs, ws)
				continue
			}
			// the order is by (depth, node ID)
			for i := 1; i < len(got); i++ {
				a, b := got[i-1], got[i]
				if a.Depth > b.Depth || a.Depth == b.Depth && a.Node.ID >= b.Node.ID {
					t.Errorf("paths %s: results must be ordered by (depth, node id): %v", c.name, gs)
				}
			}
			for i, nb := range got {
				if want := c.want[i]; want.via != "" && nb.Via.ID != e[want.via].ID {
					t.Errorf("paths %s: %s reached via edge %s, want %s", c.name, want.node, edgeKey(nb.Via), want.via)
				}
				if nb.Node.ID != n[nb.Node.Alias].ID {
					t.Errorf("paths %s: neighbour %s has id %s, want %s", c.name, nb.Node.Alias, nb.Node.ID, n[nb.Node.Alias].ID)
				}
			}
		}
	})

	t.Run("history", func(t *testing.T) {
		mustNode(t, s, tn, telamentis.NodeInput{Alias: "bob", Label: "Person", Props: props(`{"city":"Rome"}`)})
		mustNode(t, s, tn, telamentis.NodeInput{Alias: "bob", Label: "Person", Props: props(`{"city":"Oslo"}`)})
		for _, ref := range []telamentis.Ref{byID(bob.ID), byAlias("bob")} {
			h := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryHistory, Node: &ref})
			var cities []string
			for i, v := range h.Nodes {
				var p struct{ City string }
				json.Unmarshal(v.Props, &p)
				cities = append(cities, p.City)
				if i > 0 && !h.Nodes[i-1].TxEnd.Equal(v.TxStart) {
					t.Errorf("history by %v: version %d starts at %v but the previous ends at %v", ref, i, v.TxStart, h.Nodes[i-1].TxEnd)
				}
			}
			if !slices.Equal(cities, []string{"Berlin", "Rome", "Oslo"}) {
				t.Errorf("history by %v: cities %v, want every version ordered by tx_start [Berlin Rome Oslo]", ref, cities)
			}
		}
		h := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryHistory, Edge: &telamentis.Ref{Alias: "works"}})
		if len(h.Edges) != 1 || h.Edges[0].ID != works.ID {
			t.Errorf("edge history by alias: %v, want the one version of works", edgeIDs(h.Edges))
		}
	})

	t.Run("changes", func(t *testing.T) {
		ct := newTenant(t, s)
		v1 := mustNode(t, s, ct, telamentis.NodeInput{Alias: "x", Label: "P", Props: props(`{"v":1}`)}).Node
		v2 := mustNode(t, s, ct, telamentis.NodeInput{Alias: "x", Label: "P", Props: props(`{"v":2}`)}).Node
		mustNode(t, s, ct, telamentis.NodeInput{Alias: "y", Label: "P"})
		rt, err := s.RetractNode(ctx, ct, byAlias("y"))
		if err != nil {
			t.Fatal(err)
		}
		q := func(since, until time.Time) []string {
			p := all(t, s, ct, telamentis.Query{Kind: telamentis.QueryChanges, Since: since, Until: until})
			var out []string
			for i, c := range p.Changes {
				if (c.Node == nil) == (c.Edge == nil) {
					t.Errorf("change %d: exactly one of node and edge must be set", i)
				}
				if i > 0 && c.TxTime.Before(p.Changes[i-1].TxTime) {
					t.Errorf("changes must be ordered by time: %v after %v", c.TxTime, p.Changes[i-1].TxTime)
				}
				if c.Node != nil {
					want := c.Node.TxStart
					if c.Op == telamentis.ChangeClose {
						want = c.Node.TxEnd
					}
					if !c.TxTime.Equal(want) {
						t.Errorf("a %s change happens at the version's %v, got %v", c.Op, want, c.TxTime)
					}
					var p struct{ V int }
					json.Unmarshal(c.Node.Props, &p)
					out = append(out, fmt.Sprintf("%s %s%d", c.Op, c.Node.Alias, p.V))
				}
			}
			slices.Sort(out)
			return out
		}
		cases := []struct {
			name         string
			since, until time.Time
			want         string
		}{
			{"everything", time.Time{}, time.Time{}, "close x1,close y0,write x1,write x2,write y0"},
			{"until is exclusive", v1.TxStart, v2.TxStart, "write x1"},
			{"since is inclusive", v2.TxStart, time.Time{}, "close x1,close y0,write x2,write y0"},
			{"retraction", rt.TxTime, rt.TxTime.Add(time.Microsecond), "close y0"},
			{"before anything", v1.TxStart.Add(-time.Hour), v1.TxStart, ""},
		}
		for _, c := range cases {
			if got := strings.Join(q(c.since, c.until), ","); got != c.want {
				t.Errorf("changes %s [%v, %v): got %q, want %q", c.name, c.since, c.until, got, c.want)
			}
		}
	})
}

func (r *runner) testPaging(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	var nodes []telamentis.NodeInput
	for i := range 7 {
		nodes = append(nodes, telamentis.NodeInput{Alias: fmt.Sprintf("n%d", i), Label: "P"})
	}
	var edges []telamentis.EdgeInput
	for i := range 7 {
		for j := range 7 {
			if i != j && (i+j)%3 != 0 {
				edges = append(edges, telamentis.EdgeInput{From: byAlias(fmt.Sprintf("n%d", i)), To: byAlias(fmt.Sprintf("n%d", j)), Kind: "K", ValidFrom: day(i)})
			}
		}
	}
	if _, err := s.ApplyBatch(ctx, tn, telamentis.Batch{Nodes: nodes, Edges: edges}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustNode(t, s, tn, telamentis.NodeInput{Alias: "n0", Label: "P", Props: props(fmt.Sprintf(`{"v":%d}`, i))})
	}
	queries := map[string]telamentis.Query{
		"nodes":   {Kind: telamentis.QueryNodes},
		"edges":   {Kind: telamentis.QueryEdges, ValidAt: day(3)},
		"paths":   {Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "n1"}, Direction: telamentis.DirBoth, Depth: 2},
		"history": {Kind: telamentis.QueryHistory, Node: &telamentis.Ref{Alias: "n0"}},
		"changes": {Kind: telamentis.QueryChanges},
	}
	key := func(p telamentis.Page) []string {
		var out []string
		for _, n := range p.Nodes {
			out = append(out, nodeKey(n))
		}
		for _, e := range p.Edges {
			out = append(out, edgeKey(e))
		}
		for _, n := range p.Neighbors {
			out = append(out, fmt.Sprintf("%d %s", n.Depth, nodeKey(n.Node)))
		}
		for _, c := range p.Changes {
			out = append(out, changeKey(c))
		}
		return out
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			big := q
			big.Limit = telamentis.MaxLimit
			one := mustQuery(t, s, tn, big)
			if one.NextCursor != "" {
				t.Fatalf("a page holding every result must not return a cursor")
			}
			want := key(one)
			if len(want) < 4 {
				t.Fatalf("fixture too small: %d results", len(want))
			}
			for _, limit := range []int{1, 2, 3} {
				q := q
				q.Limit = limit
				got := key(all(t, s, tn, q))
				if !slices.Equal(got, want) {
					t.Errorf("limit %d: collecting every page must give the single big page (no dupes, no gaps, same order):\n got  %q\n want %q", limit, got, want)
				}
				seen := map[string]bool{}
				for _, k := range got {
					if seen[k] {
						t.Errorf("limit %d: duplicate %s", limit, k)
					}
					seen[k] = true
				}
			}
			q.Limit = 2
			p := mustQuery(t, s, tn, q)
			if p.NextCursor == "" {
				t.Fatalf("a first page of 2 out of %d results must return a cursor", len(want))
			}
			// The limit may change between pages of the same query.
			q2 := q
			q2.Limit, q2.Cursor = 3, p.NextCursor
			if _, err := s.Query(ctx, tn, q2); err != nil {
				t.Errorf("continuing a query with another page size must be allowed: %v", err)
			}
			c := []byte(p.NextCursor)
			for _, i := range []int{0, len(c) / 2, len(c) - 1} {
				bad := slices.Clone(c)
				bad[i] = flipB64(bad[i])
				q3 := q
				q3.Cursor = string(bad)
				_, err := s.Query(ctx, tn, q3)
				wantField(t, err, fmt.Sprintf("cursor with byte %d changed", i), "cursor")
			}
			for _, bad := range []string{"!!!", "AAAA", strings.Repeat("A", 5000)} {
				q3 := q
				q3.Cursor = bad
				_, err := s.Query(ctx, tn, q3)
				wantField(t, err, fmt.Sprintf("cursor %.10q", bad), "cursor")
			}
			other := q
			other.Cursor = p.NextCursor
			switch q.Kind {
			case telamentis.QueryNodes:
				other.Labels = []string{"P"}
			case telamentis.QueryEdges:
				other.ValidAt = day(4)
			case telamentis.QueryPaths:
				other.Depth = 3
			case telamentis.QueryHistory:
				other.Node = &telamentis.Ref{Alias: "n1"}
			case telamentis.QueryChanges:
				other.Since = day(1)
			}
			_, err := s.Query(ctx, tn, other)
			wantField(t, err, "cursor reused with a different query", "cursor")
			if q.Kind != telamentis.QueryHistory {
				k := q
				k.Kind = telamentis.QueryNodes
				k.Cursor = p.NextCursor
				if q.Kind == telamentis.QueryNodes {
					k.Kind = telamentis.QueryChanges
				}
				k.ValidAt, k.Start, k.Direction, k.Depth = time.Time{}, nil, "", 0
				_, err := s.Query(ctx, tn, k)
				wantField(t, err, "cursor reused with a query of another kind", "cursor")
			}
		})
	}
	t.Run("pages keep the first page's now", func(t *testing.T) {
		st := newTenant(t, s)
		var b telamentis.Batch
		for i := range 8 {
			b.Nodes = append(b.Nodes, telamentis.NodeInput{Alias: fmt.Sprintf("n%d", i), Label: "P"})
			if i > 0 {
				b.Edges = append(b.Edges, telamentis.EdgeInput{Alias: fmt.Sprintf("e%d", i), From: byAlias("n0"), To: byAlias(fmt.Sprintf("n%d", i)), Kind: "K", ValidFrom: day(0)})
			}
		}
		if _, err := s.ApplyBatch(ctx, st, b); err != nil {
			t.Fatal(err)
		}
		qs := map[string]telamentis.Query{
			"nodes":   {Kind: telamentis.QueryNodes},
			"edges":   {Kind: telamentis.QueryEdges},
			"paths":   {Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "n0"}},
			"changes": {Kind: telamentis.QueryChanges},
		}
		round := 0
		for _, name := range []string{"nodes", "edges", "paths", "changes"} {
			q := qs[name]
			big := q
			big.Limit = telamentis.MaxLimit
			want := ident(mustQuery(t, s, st, big))
			q.Limit = 2
			first := mustQuery(t, s, st, q)
			// Writes between pages: new records, an update, a retraction.
			round++
			for i := range 3 {
				mustNode(t, s, st, telamentis.NodeInput{Alias: fmt.Sprintf("new%d-%d", round, i), Label: "P"})
				mustEdge(t, s, st, telamentis.EdgeInput{From: byAlias("n0"), To: byAlias(fmt.Sprintf("new%d-%d", round, i)), Kind: "K"})
			}
			mustNode(t, s, st, telamentis.NodeInput{Alias: "n5", Label: "P", Props: props(fmt.Sprintf(`{"round":%d}`, round))})
			if _, err := s.RetractEdge(ctx, st, byAlias(fmt.Sprintf("e%d", 8-round))); err != nil {
				t.Fatal(err)
			}
			q.Cursor = first.NextCursor
			rest, err := collect(t, s, st, q)
			if err != nil {
				t.Fatalf("%s: next pages: %v", name, err)
			}
			// Versions closed since the first page now carry their tx_end:
			// compare which versions come back, not their tx_end.
			got := ident(merge(t, q, append([]telamentis.Page{first}, rest...)))
			if !slices.Equal(got, want) {
				t.Errorf("%s: a query without as_at resolves now once, on its first page, and later pages continue that snapshot:\n got  %q\n want %q", name, got, want)
			}
		}
	})
	t.Run("limit bounds", func(t *testing.T) {
		for _, l := range []int{-1, telamentis.MaxLimit + 1} {
			_, err := s.Query(ctx, tn, telamentis.Query{Kind: telamentis.QueryNodes, Limit: l})
			wantField(t, err, fmt.Sprintf("limit %d", l), "limit")
		}
		lt := newTenant(t, s)
		var many []telamentis.NodeInput
		for range telamentis.DefaultLimit + 5 {
			many = append(many, telamentis.NodeInput{Label: "P"})
		}
		if _, err := s.ApplyBatch(ctx, lt, telamentis.Batch{Nodes: many}); err != nil {
			t.Fatal(err)
		}
		p := mustQuery(t, s, lt, telamentis.Query{Kind: telamentis.QueryNodes})
		if len(p.Nodes) != telamentis.DefaultLimit || p.NextCursor == "" {
			t.Errorf("the default page is %d items with a cursor: got %d, cursor %q", telamentis.DefaultLimit, len(p.Nodes), p.NextCursor)
		}
		p = mustQuery(t, s, lt, telamentis.Query{Kind: telamentis.QueryNodes, Limit: telamentis.MaxLimit})
		if len(p.Nodes) != len(many) || p.NextCursor != "" {
			t.Errorf("limit %d returns all %d nodes without a cursor: got %d", telamentis.MaxLimit, len(many), len(p.Nodes))
		}
	})
}

const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// ident names the versions of a page: record id and tx_start, and the
// depth or change operation.
func ident(p telamentis.Page) []string {
	var out []string
	for _, n := range p.Nodes {
		out = append(out, fmt.Sprintf("node %s %d", n.ID, us(n.TxStart)))
	}
	for _, e := range p.Edges {
		out = append(out, fmt.Sprintf("edge %s %d", e.ID, us(e.TxStart)))
	}
	for _, n := range p.Neighbors {
		out = append(out, fmt.Sprintf("%d node %s %d", n.Depth, n.Node.ID, us(n.Node.TxStart)))
	}
	for _, c := range p.Changes {
		switch {
		case c.Node != nil:
			out = append(out, fmt.Sprintf("%d %s node %s %d", us(c.TxTime), c.Op, c.Node.ID, us(c.Node.TxStart)))
		case c.Edge != nil:
			out = append(out, fmt.Sprintf("%d %s edge %s %d", us(c.TxTime), c.Op, c.Edge.ID, us(c.Edge.TxStart)))
		}
	}
	return out
}

// flipB64 returns the base64url character whose top bit differs from c's,
// so the decoded bytes change even in a final, partial character.
func flipB64(c byte) byte {
	i := strings.IndexByte(b64, c)
	if i < 0 {
		return 'A'
	}
	return b64[i^32]
}

func (r *runner) testValidation(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	a := mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P"}).Node
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "b", Label: "P"})
	e := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "e", From: byAlias("a"), To: byAlias("b"), Kind: "K", ValidFrom: day(0)}).Edge
	before := snapshot(t, s, tn)

	deep := strings.Repeat(`{"a":`, telamentis.MaxPropsDepth) + "1" + strings.Repeat("}", telamentis.MaxPropsDepth)
	deep = `{"x":` + deep + `}`
	big := `{"x":"` + strings.Repeat("y", telamentis.MaxPropsBytes) + `"}`
	badProps := map[string]string{
		"array":        `[1,2]`,
		"string":       `"x"`,
		"malformed":    `{"a":`,
		"duplicate":    `{"a":1,"a":2}`,
		"too deep":     deep,
		"too big":      big,
		"invalid utf8": "{\"a\":\"\xff\"}",
		"nul":          `{"a":"x\u0000y"}`,
		"long key":     `{"` + strings.Repeat("k", 257) + `":1}`,
	}
	t.Run("nodes", func(t *testing.T) {
		cases := map[string]struct {
			in    telamentis.NodeInput
			field string
		}{
			"empty label":     {telamentis.NodeInput{Label: ""}, "label"},
			"label digit":     {telamentis.NodeInput{Label: "1P"}, "label"},
			"label space":     {telamentis.NodeInput{Label: "P Q"}, "label"},
			"label too long":  {telamentis.NodeInput{Label: "P" + strings.Repeat("x", 64)}, "label"},
			"id not uuid":     {telamentis.NodeInput{ID: "abc", Label: "P"}, "id"},
			"id upper case":   {telamentis.NodeInput{ID: strings.ToUpper(a.ID), Label: "P"}, "id"},
			"alias nul":       {telamentis.NodeInput{Alias: "a\x00b", Label: "P"}, "alias"},
			"alias control":   {telamentis.NodeInput{Alias: "a\nb", Label: "P"}, "alias"},
			"alias too long":  {telamentis.NodeInput{Alias: strings.Repeat("a", 257), Label: "P"}, "alias"},
			"alias bad utf-8": {telamentis.NodeInput{Alias: "a\xffb", Label: "P"}, "alias"},
		}
		for name, p := range badProps {
			cases["props "+name] = struct {
				in    telamentis.NodeInput
				field string
			}{telamentis.NodeInput{Alias: "a", Label: "P", Props: props(p)}, "props"}
		}
		for name, c := range cases {
			_, err := s.UpsertNode(ctx, tn, c.in)
			wantField(t, err, "node "+name, c.field)
			_, err = s.ApplyBatch(ctx, tn, telamentis.Batch{Nodes: []telamentis.NodeInput{{Label: "P"}, c.in}})
			wantField(t, err, "batch node "+name, "nodes[1]."+c.field)
		}
	})
	t.Run("edges", func(t *testing.T) {
		ok := func(f func(*telamentis.EdgeInput)) telamentis.EdgeInput {
			in := telamentis.EdgeInput{From: byAlias("a"), To: byAlias("b"), Kind: "K", ValidFrom: day(1)}
			f(&in)
			return in
		}
		cases := map[string]struct {
			in    telamentis.EdgeInput
			field string
		}{
			"bad kind":          {ok(func(in *telamentis.EdgeInput) { in.Kind = "works-at" }), "kind"},
			"no kind":           {ok(func(in *telamentis.EdgeInput) { in.Kind = "" }), "kind"},
			"no from":           {ok(func(in *telamentis.EdgeInput) { in.From = telamentis.Ref{} }), "from"},
			"from id not uuid":  {ok(func(in *telamentis.EdgeInput) { in.From = byID("x") }), "from.id"},
			"to id and alias":   {ok(func(in *telamentis.EdgeInput) { in.To = telamentis.Ref{ID: a.ID, Alias: "b"} }), "to"},
			"to alias nul":      {ok(func(in *telamentis.EdgeInput) { in.To = byAlias("b\x00") }), "to"},
			"id not uuid":       {ok(func(in *telamentis.EdgeInput) { in.ID = "e" }), "id"},
			"valid_from year 0": {ok(func(in *telamentis.EdgeInput) { in.ValidFrom = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) }), "valid_from"},
			"valid_to year 10000": {ok(func(in *telamentis.EdgeInput) { in.ValidTo = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
				"valid_to"},
			"valid_to before": {ok(func(in *telamentis.EdgeInput) { in.ValidTo = day(0) }), "valid_to"},
			"valid_to equal":  {ok(func(in *telamentis.EdgeInput) { in.ValidTo = day(1) }), "valid_to"},
		}
		for name, p := range badProps {
			cases["props "+name] = struct {
				in    telamentis.EdgeInput
				field string
			}{ok(func(in *telamentis.EdgeInput) { in.Props = props(p) }), "props"}
		}
		for name, c := range cases {
			_, err := s.UpsertEdge(ctx, tn, c.in)
			wantField(t, err, "edge "+name, c.field)
			_, err = s.ApplyBatch(ctx, tn, telamentis.Batch{Nodes: []telamentis.NodeInput{{Label: "P"}}, Edges: []telamentis.EdgeInput{c.in}})
			wantField(t, err, "batch edge "+name, "edges[0]."+c.field)
		}
		_, err := s.InvalidateEdge(ctx, tn, byID("nope"), day(3))
		wantCode(t, err, "invalidate with a malformed id", telamentis.CodeInvalid)
		_, err = s.InvalidateEdge(ctx, tn, byID(e.ID), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
		wantCode(t, err, "invalidate at a time out of range", telamentis.CodeInvalid)
		_, err = s.RetractNode(ctx, tn, telamentis.Ref{})
		wantCode(t, err, "retract node without id or alias", telamentis.CodeInvalid)
		_, err = s.RetractEdge(ctx, tn, byAlias("a\x00"))
		wantCode(t, err, "retract edge with a bad alias", telamentis.CodeInvalid)
		_, err = s.EraseNode(ctx, tn, telamentis.Ref{ID: a.ID, Alias: "a"})
		wantCode(t, err, "erase with both id and alias", telamentis.CodeInvalid)
		_, err = s.GetNode(ctx, tn, byID("A"), time.Time{})
		wantCode(t, err, "get node with a malformed id", telamentis.CodeInvalid)
		_, err = s.GetEdge(ctx, tn, telamentis.Ref{}, time.Time{})
		wantCode(t, err, "get edge without id or alias", telamentis.CodeInvalid)
	})
	t.Run("queries", func(t *testing.T) {
		cases := map[string]struct {
			q     telamentis.Query
			field string
		}{
			"kind":                 {telamentis.Query{Kind: "graph"}, "kind"},
			"labels":               {telamentis.Query{Kind: telamentis.QueryNodes, Labels: []string{"a b"}}, "labels"},
			"kinds":                {telamentis.Query{Kind: telamentis.QueryEdges, Kinds: []string{"-"}}, "kinds"},
			"depth 5":              {telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "a"}, Depth: 5}, "depth"},
			"min_depth > depth":    {telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "a"}, Depth: 2, MinDepth: 3}, "min_depth"},
			"direction":            {telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "a"}, Direction: "up"}, "direction"},
			"no start":             {telamentis.Query{Kind: telamentis.QueryPaths}, "start"},
			"two valid filters":    {telamentis.Query{Kind: telamentis.QueryEdges, ValidAt: day(1), ValidBetween: &telamentis.Interval{Start: day(1)}}, "valid_at"},
			"allen relation":       {telamentis.Query{Kind: telamentis.QueryEdges, Allen: &telamentis.AllenFilter{Relation: "near", Interval: telamentis.Interval{Start: day(1)}}}, "allen.relation"},
			"allen interval":       {telamentis.Query{Kind: telamentis.QueryEdges, Allen: &telamentis.AllenFilter{Relation: telamentis.During}}, "allen.interval"},
			"valid_between order":  {telamentis.Query{Kind: telamentis.QueryEdges, ValidBetween: &telamentis.Interval{Start: day(2), End: day(1)}}, "valid_between"},
			"valid_at on nodes":    {telamentis.Query{Kind: telamentis.QueryNodes, ValidAt: day(1)}, "valid_at"},
			"history without ref":  {telamentis.Query{Kind: telamentis.QueryHistory}, "node"},
			"history bad ref":      {telamentis.Query{Kind: telamentis.QueryHistory, Edge: &telamentis.Ref{ID: "x"}}, "edge"},
			"changes until":        {telamentis.Query{Kind: telamentis.QueryChanges, Since: day(2), Until: day(1)}, "until"},
			"as_at out of range":   {telamentis.Query{Kind: telamentis.QueryEdges, AsAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "as_at"},
			"props filter value":   {telamentis.Query{Kind: telamentis.QueryNodes, Props: map[string]json.RawMessage{"a": json.RawMessage(`{`)}}, "props"},
			"from ref":             {telamentis.Query{Kind: telamentis.QueryEdges, From: &telamentis.Ref{}}, "from"},
			"cursor garbage":       {telamentis.Query{Kind: telamentis.QueryNodes, Cursor: "%%%"}, "cursor"},
			"limit":                {telamentis.Query{Kind: telamentis.QueryNodes, Limit: -5}, "limit"},
			"start on edges query": {telamentis.Query{Kind: telamentis.QueryEdges, Start: &telamentis.Ref{Alias: "a"}}, "start"},
		}
		for name, c := range cases {
			_, err := s.Query(ctx, tn, c.q)
			wantField(t, err, "query "+name, c.field)
		}
	})
	t.Run("times without a zone", func(t *testing.T) {
		for _, in := range []string{"2024-01-02T03:04:05", "2024-01-02 03:04:05", "2024-01-02", "2024-01-02T03:04:05.123"} {
			if _, err := telamentis.ParseTime(in); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
				t.Errorf("ParseTime(%q) = %v, want invalid: a time without a zone is rejected", in, err)
			}
		}
		got, err := telamentis.ParseTime("2024-01-02T03:04:05.1234567+02:00")
		if err != nil || !got.Equal(time.Date(2024, 1, 2, 1, 4, 5, 123456000, time.UTC)) || got.Location() != time.UTC {
			t.Errorf("ParseTime normalises offsets to UTC at microsecond precision: %v, %v", got, err)
		}
	})
	unchanged(t, s, tn, before, "rejected input")
}
