package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

const tiny = "testdata/tiny"

func openTiny(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join(tiny, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestBenchUUID(t *testing.T) {
	seen := map[string]bool{}
	for _, id := range []int64{0, 1, 9, 10, 255, 1_399_640, 1<<48 - 1} {
		for _, tc := range []struct {
			tag string
			f   func(int64) string
		}{{nodeTag, nodeUUID}, {edgeTag, edgeUUID}} {
			u := tc.f(id)
			if !telamentis.ValidID(u) {
				t.Errorf("%s(%d) = %q is not a valid TelaMentis ID", tc.tag, id, u)
			}
			if seen[u] {
				t.Errorf("%q produced twice", u)
			}
			seen[u] = true
			back, ok := benchID(tc.tag, u)
			if !ok || back != id {
				t.Errorf("benchID(%q) = %d, %v; want %d", u, back, ok, id)
			}
		}
	}
	if got := nodeUUID(2113); got != "6e6f6465-0000-8000-8000-000000000841" {
		t.Errorf("nodeUUID(2113) = %q", got)
	}
	if _, ok := benchID(nodeTag, edgeUUID(5)); ok {
		t.Error("an edge UUID parsed as a node id")
	}
	if nodeUUID(9) >= nodeUUID(10) || nodeUUID(255) >= nodeUUID(256) {
		t.Error("node UUIDs do not sort like their ids")
	}
}

func TestParseTS(t *testing.T) {
	for _, s := range []string{"2021-05-25 05:34:25+00", "2015-01-01 00:00:00+00", "2024-02-29 23:59:59+00", "2020-06-30 12:00:00+02"} {
		want, err := time.Parse(csvTimeLayout, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseTS(s)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseTS(%q) = %v, %v; want %v in UTC", s, got, err, want)
		}
	}
	for _, s := range []string{"", csvOpen} {
		if got, err := parseTS(s); err != nil || !got.IsZero() {
			t.Errorf("parseTS(%q) = %v, %v; want the zero time (open)", s, got, err)
		}
	}
	for _, s := range []string{"2023-02-30 00:00:00+00", "2021-13-01 00:00:00+00", "2021-05-25T05:34:25Z", "yesterday"} {
		if _, err := parseTS(s); err == nil {
			t.Errorf("parseTS(%q) accepted", s)
		}
	}
}

func TestReadNodes(t *testing.T) {
	type got struct {
		tenant int
		n      telamentis.Node
	}
	var rows []got
	err := readNodes(openTiny(t, "nodes.csv"), func(tenant int, n telamentis.Node) error {
		rows = append(rows, got{tenant, n})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("read %d nodes, want 5", len(rows))
	}
	r := rows[1]
	if r.tenant != 0 || r.n.ID != nodeUUID(2) || r.n.Alias != "org/acme-2" || r.n.Label != "Org" ||
		string(r.n.Props) != `{"name":"Acme, Inc.","score":0.25}` || !r.n.TxStart.Equal(nodeTxStart) || !r.n.TxEnd.IsZero() {
		t.Errorf("node row 2 = %+v", r)
	}
	if rows[3].tenant != 1 || rows[3].n.Alias != rows[0].n.Alias {
		t.Errorf("the same alias in tenant 1 should be kept: %+v", rows[3])
	}
	for _, r := range rows {
		n, err := telamentis.NodeInput{ID: r.n.ID, Alias: r.n.Alias, Label: r.n.Label, Props: r.n.Props}.Normalize()
		if err != nil {
			t.Errorf("node %s does not validate: %v (%+v)", r.n.ID, err, n)
		}
	}
}

func TestReadEdges(t *testing.T) {
	var rows []edgeRow
	if err := readEdges(openTiny(t, "edges.csv"), func(e edgeRow) error { rows = append(rows, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 {
		t.Fatalf("read %d edge rows, want 7", len(rows))
	}
	v1, v2 := rows[0], rows[1]
	day := func(s string) time.Time { t, _ := time.Parse(time.DateTime, s); return t }
	if v1.Tenant != 0 || v1.ID != 1 || v1.Version != 1 || v1.Edge.ID != edgeUUID(1) ||
		v1.Edge.From != nodeUUID(1) || v1.Edge.To != nodeUUID(2) || v1.Edge.Kind != "WORKS_AT" ||
		!v1.Edge.ValidFrom.Equal(day("2021-01-01 00:00:00")) || !v1.Edge.ValidTo.IsZero() ||
		!v1.Edge.TxStart.Equal(day("2021-01-02 10:00:00")) || !v1.Edge.TxEnd.Equal(day("2022-03-01 12:30:00")) ||
		string(v1.Edge.Props) != `{"w":0.5,"src":"chat"}` {
		t.Errorf("edge row 1 = %+v", v1)
	}
	if v2.Version != 2 || !v2.Edge.TxStart.Equal(v1.Edge.TxEnd) || !v2.Edge.TxEnd.IsZero() || !v2.Edge.ValidTo.Equal(day("2024-03-01 00:00:00")) {
		t.Errorf("edge row 2 = %+v", v2)
	}
	for _, r := range rows {
		in := telamentis.EdgeInput{ID: r.Edge.ID, From: telamentis.Ref{ID: r.Edge.From}, To: telamentis.Ref{ID: r.Edge.To},
			Kind: r.Edge.Kind, Props: r.Edge.Props, ValidFrom: r.Edge.ValidFrom, ValidTo: r.Edge.ValidTo}
		if _, err := in.Normalize(); err != nil {
			t.Errorf("edge %s v%d does not validate: %v", r.Edge.ID, r.Version, err)
		}
	}

	bad := strings.Replace(edgeHeader[0], "from_id", "src", 1) + "\n"
	if err := readEdges(strings.NewReader(bad), func(edgeRow) error { return nil }); err == nil {
		t.Error("a wrong header was accepted")
	}
	early := strings.Join(edgeHeader, ",") + "\n1,2,0,1,1,KNOWS,1990-01-01 00:00:00+00,9999-12-31 23:59:59+00,1999-01-01 00:00:00+00,9999-12-31 23:59:59+00,{}\n"
	if err := readEdges(strings.NewReader(early), func(edgeRow) error { return nil }); err == nil {
		t.Error("an edge written before the nodes exist was accepted")
	}
}

func TestReadQueries(t *testing.T) {
	qs, err := readQueries(openTiny(t, "queries.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 5 {
		t.Fatalf("read %d queries, want 5", len(qs))
	}
	for i, typ := range queryTypes {
		if qs[i].Type != typ {
			t.Errorf("query %d has type %q, want %q", i+1, qs[i].Type, typ)
		}
	}
	if q := qs[0]; q.Tenant != "bench-1" || q.Alias != "person/ada-1" || q.Node != nodeUUID(4) || q.Expect != 1 {
		t.Errorf("lookup = %+v", q)
	}
	if q := qs[3]; q.Node != nodeUUID(1) || q.VT.Year() != 2022 || q.TT.Year() != 2021 || q.Expect != 2 {
		t.Errorf("asat = %+v", q)
	}
	if q := qs[4]; q.Kind != "ABOUT" || q.Lo.Month() != time.January || q.Hi.Month() != time.March || !q.VT.IsZero() {
		t.Errorf("overlap = %+v", q)
	}
	missing := strings.Join(queryHeader, ",") + "\n9,hop1,0,,,,,,,,3\n"
	if _, err := readQueries(strings.NewReader(missing)); err == nil {
		t.Error("a hop1 query without node and vt was accepted")
	}
}

func TestBatcher(t *testing.T) {
	var rows []edgeRow
	if err := readEdges(openTiny(t, "edges.csv"), func(e edgeRow) error { rows = append(rows, e); return nil }); err != nil {
		t.Fatal(err)
	}
	var got []importBatch
	b := newBatcher(2, func(ib importBatch) error { got = append(got, ib); return nil })
	for _, r := range rows {
		if err := b.edge(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	// Tenant 0: edge 1 (2 versions) fills a batch, edge 2 and edge 4 (3
	// versions) form the next; tenant 1: edge 3.
	perID := map[string]int{}
	total := 0
	for i, ib := range got {
		ids := map[string]bool{}
		for j, e := range ib.edges {
			ids[e.ID] = true
			if j > 0 && ib.edges[j-1].ID == e.ID && !ib.edges[j-1].TxStart.Before(e.TxStart) {
				t.Errorf("batch %d: versions of %s out of tx order", i, e.ID)
			}
		}
		for id := range ids {
			perID[id]++
		}
		total += len(ib.edges)
	}
	for id, n := range perID {
		if n != 1 {
			t.Errorf("edge %s split over %d Import calls", id, n)
		}
	}
	if total != 7 || len(got) != 3 {
		t.Errorf("%d batches with %d rows, want 3 with 7", len(got), total)
	}

	b = newBatcher(10, func(importBatch) error { return nil })
	if err := b.edge(rows[1]); err == nil {
		t.Error("an edge starting at version 2 was accepted")
	}
	b = newBatcher(10, func(importBatch) error { return nil })
	var err error
	for _, r := range []edgeRow{rows[4], rows[0]} {
		if err = b.edge(r); err != nil {
			break
		}
	}
	if err == nil {
		t.Error("edge ids going backwards within a tenant were accepted")
	}
}
