package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

func (r *runner) testTenants(t *testing.T) {
	s := r.h.New(t) // ListTenants needs a store of its own
	ctx := t.Context()

	t.Run("create fills defaults", func(t *testing.T) {
		got, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "acme", Name: "Acme"})
		if err != nil {
			t.Fatalf("create tenant: %v", err)
		}
		if got.ID != "acme" || got.Name != "Acme" || got.Isolation != telamentis.IsolationShared || got.Status != telamentis.TenantActive {
			t.Errorf("create tenant: returned %+v, want id acme, name Acme, shared isolation and active status by default", got)
		}
		g, err := s.GetTenant(ctx, "acme")
		if err != nil {
			t.Fatalf("get tenant: %v", err)
		}
		if g.ID != got.ID || g.Name != got.Name || g.Isolation != got.Isolation || g.Status != got.Status {
			t.Errorf("get tenant returns %+v, create returned %+v", g, got)
		}
	})
	t.Run("duplicate id is a conflict", func(t *testing.T) {
		_, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "acme", Name: "Other"})
		if d := sameError(err, wantErr(telamentis.CodeConflict, "tenant acme already exists")); d != "" {
			t.Errorf("create tenant with a taken id (every store answers the same error):\n%s", d)
		}
		g, err := s.GetTenant(ctx, "acme")
		if err != nil || g.Name != "Acme" {
			t.Errorf("a refused duplicate create must leave the tenant as it was: got %+v, %v", g, err)
		}
	})
	t.Run("invalid ids", func(t *testing.T) {
		for _, id := range []string{"", "a", "A1", "Acme", "-ab", "_ab", "ab!", "ab cd", "äb", string(make([]byte, 64)),
			"a" + string(slices.Repeat([]byte("b"), 63))} {
			_, err := s.CreateTenant(ctx, telamentis.Tenant{ID: id})
			wantField(t, err, fmt.Sprintf("create tenant with id %q", id), "id")
		}
		_, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "okid", Isolation: "weird"})
		wantField(t, err, "create tenant with an unknown isolation", "isolation")
		_, err = s.CreateTenant(ctx, telamentis.Tenant{ID: "okid", Quotas: telamentis.Quotas{MaxNodes: -1}})
		wantField(t, err, "create tenant with a negative quota", "quotas")
		if _, err := s.GetTenant(ctx, "okid"); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
			t.Errorf("a refused create must write nothing: get tenant okid = %v, want not_found", err)
		}
	})
	t.Run("list is ordered by id", func(t *testing.T) {
		for _, id := range []string{"zeta", "beta", "dedi"} {
			tn := telamentis.Tenant{ID: id}
			if id == "dedi" {
				tn.Isolation = telamentis.IsolationDedicated
			}
			if _, err := s.CreateTenant(ctx, tn); err != nil {
				t.Fatalf("create tenant %s: %v", id, err)
			}
		}
		ts, err := s.ListTenants(ctx)
		if err != nil {
			t.Fatalf("list tenants: %v", err)
		}
		var ids []string
		for _, tn := range ts {
			ids = append(ids, tn.ID)
			if tn.ID == "dedi" && tn.Isolation != telamentis.IsolationDedicated {
				t.Errorf("list tenants: dedi has isolation %q, want dedicated as created", tn.Isolation)
			}
		}
		if want := []string{"acme", "beta", "dedi", "zeta"}; !slices.Equal(ids, want) {
			t.Errorf("list tenants = %v, want exactly the created tenants ordered by id %v", ids, want)
		}
	})
	t.Run("update", func(t *testing.T) {
		g, err := s.GetTenant(ctx, "beta")
		if err != nil {
			t.Fatal(err)
		}
		g.Name = "Beta Ltd"
		g.Status = telamentis.TenantSuspended
		g.Quotas.MaxNodes = 7
		g.RetentionDays = 30
		g.PII = telamentis.PIIPolicy{Fields: []string{"email"}, Mode: "mask"}
		if _, err := s.UpdateTenant(ctx, g); err != nil {
			t.Fatalf("update tenant: %v", err)
		}
		u, err := s.GetTenant(ctx, "beta")
		if err != nil {
			t.Fatal(err)
		}
		if u.Name != "Beta Ltd" || u.Status != telamentis.TenantSuspended || u.Quotas.MaxNodes != 7 || u.RetentionDays != 30 ||
			u.PII.Mode != "mask" || !slices.Equal(u.PII.Fields, []string{"email"}) {
			t.Errorf("update tenant must replace name, status, quotas, retention and PII policy: got %+v", u)
		}
		u.Isolation = telamentis.IsolationDedicated
		_, err = s.UpdateTenant(ctx, u)
		wantCode(t, err, "update tenant: isolation cannot change", telamentis.CodeInvalid)
		if g, _ := s.GetTenant(ctx, "beta"); g.Isolation != telamentis.IsolationShared {
			t.Errorf("a refused isolation change must write nothing: isolation is now %q", g.Isolation)
		}
		_, err = s.UpdateTenant(ctx, telamentis.Tenant{ID: "nosuch", Name: "x"})
		wantCode(t, err, "update of a missing tenant", telamentis.CodeNotFound)
		_, err = s.UpdateTenant(ctx, telamentis.Tenant{ID: "beta", Status: "gone"})
		wantField(t, err, "update tenant with an unknown status", "status")
	})
	t.Run("missing tenant is not_found", func(t *testing.T) {
		_, err := s.GetTenant(ctx, "nosuch")
		wantCode(t, err, "get of a missing tenant", telamentis.CodeNotFound)
		_, err = s.UpsertNode(ctx, "nosuch", telamentis.NodeInput{Label: "Person"})
		wantCode(t, err, "graph write on a missing tenant", telamentis.CodeNotFound)
		_, err = s.Query(ctx, "nosuch", telamentis.Query{Kind: telamentis.QueryNodes})
		wantCode(t, err, "graph read on a missing tenant", telamentis.CodeNotFound)
		_, err = s.Stats(ctx, "nosuch")
		wantCode(t, err, "stats of a missing tenant", telamentis.CodeNotFound)
		err = s.DropTenant(ctx, "nosuch")
		wantCode(t, err, "drop of a missing tenant", telamentis.CodeNotFound)
	})
	for _, iso := range []telamentis.Isolation{telamentis.IsolationShared, telamentis.IsolationDedicated} {
		t.Run("drop "+string(iso), func(t *testing.T) {
			id := "drop-" + string(iso)
			if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: id, Isolation: iso}); err != nil {
				t.Fatal(err)
			}
			n := mustNode(t, s, id, telamentis.NodeInput{Alias: "alice", Label: "Person"})
			if err := s.DropTenant(ctx, id); err != nil {
				t.Fatalf("drop tenant: %v", err)
			}
			_, err := s.GetTenant(ctx, id)
			wantCode(t, err, "get tenant after drop", telamentis.CodeNotFound)
			_, err = s.GetNode(ctx, id, byID(n.Node.ID), time.Time{})
			wantCode(t, err, "graph read after drop", telamentis.CodeNotFound)
			err = s.DropTenant(ctx, id)
			wantCode(t, err, "second drop", telamentis.CodeNotFound)
			if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: id, Isolation: iso}); err != nil {
				t.Fatalf("recreate a dropped tenant id: %v", err)
			}
			st := snapshot(t, s, id)
			if st.Nodes+st.NodeVersions+st.Edges+st.EdgeVersions != 0 || len(st.Feed) != 0 {
				t.Errorf("a recreated tenant must start empty (drop is physical): %+v", st)
			}
			_, err = s.GetNode(ctx, id, byAlias("alice"), time.Time{})
			wantCode(t, err, "alias of a dropped tenant's node in the recreated tenant", telamentis.CodeNotFound)
			_, err = s.GetNode(ctx, id, byID(n.Node.ID), n.Node.TxStart)
			wantCode(t, err, "as_at read of a dropped tenant's node in the recreated tenant", telamentis.CodeNotFound)
		})
	}
}

func (r *runner) testNodes(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)

	var v1, v2 telamentis.Node
	t.Run("create by alias", func(t *testing.T) {
		res := mustNode(t, s, tn, telamentis.NodeInput{Alias: "alice", Label: "Person", Props: props(` { "name" : "Alice", "age":30 } `)})
		v1 = res.Node
		if !res.Created {
			t.Errorf("first upsert of an alias must create: created=false")
		}
		if !telamentis.ValidID(v1.ID) {
			t.Errorf("node id %q is not a canonical UUID", v1.ID)
		}
		if v1.Alias != "alice" || v1.Label != "Person" || string(v1.Props) != `{"age":30,"name":"Alice"}` {
			t.Errorf("created node %s: want alias alice, label Person, canonical props {\"age\":30,\"name\":\"Alice\"}", nodeKey(v1))
		}
		if v1.TxStart.IsZero() || !v1.TxEnd.IsZero() {
			t.Errorf("a new version has tx_start set and tx_end open: %s", nodeKey(v1))
		}
		if v1.TxStart.Location() != time.UTC || v1.TxStart.Nanosecond()%1000 != 0 {
			t.Errorf("tx_start %v must be UTC with microsecond precision", v1.TxStart)
		}
		g, err := s.GetNode(ctx, tn, byID(v1.ID), time.Time{})
		if err != nil {
			t.Fatalf("get node by id: %v", err)
		}
		sameNode(t, g, v1, "get by id returns the created version")
		g, err = s.GetNode(ctx, tn, byAlias("alice"), time.Time{})
		if err != nil {
			t.Fatalf("get node by alias: %v", err)
		}
		sameNode(t, g, v1, "get by alias returns the created version")
	})
	if v1.ID == "" {
		t.FailNow()
	}
	t.Run("update by alias versions", func(t *testing.T) {
		res := mustNode(t, s, tn, telamentis.NodeInput{Alias: "alice", Label: "Person", Props: props(`{"name":"Alice","age":31}`)})
		v2 = res.Node
		if res.Created || !res.Changed {
			t.Errorf("upsert by alias with new props: created=%v changed=%v, want false/true", res.Created, res.Changed)
		}
		if v2.ID != v1.ID {
			t.Errorf("an update keeps the node id: %s → %s", v1.ID, v2.ID)
		}
		if !v2.TxStart.After(v1.TxStart) {
			t.Errorf("the new version's tx_start %v must be after the old one's %v", v2.TxStart, v1.TxStart)
		}
		h := history(t, s, tn, true, v1.ID).Nodes
		if len(h) != 2 {
			t.Fatalf("history after one update: %d versions, want 2", len(h))
		}
		old := v1
		old.TxEnd = v2.TxStart
		sameNode(t, h[0], old, "the superseded version is closed at the new version's tx_start")
		sameNode(t, h[1], v2, "the new version is current")
	})
	t.Run("no-op upsert writes nothing", func(t *testing.T) {
		before := snapshot(t, s, tn)
		for _, in := range []telamentis.NodeInput{
			{Alias: "alice", Label: "Person", Props: props(`{ "age":31, "name":"Alice" }`)},
			{ID: v1.ID, Label: "Person", Props: props(`{"name":"Alice","age":31}`)},
		} {
			res := mustNode(t, s, tn, in)
			if res.Created || res.Changed {
				t.Errorf("upsert that changes nothing (%+v): created=%v changed=%v, want false/false", in, res.Created, res.Changed)
			}
			sameNode(t, res.Node, v2, "a no-op upsert returns the current version")
		}
		unchanged(t, s, tn, before, "no-op upsert")
		if h := history(t, s, tn, true, v1.ID).Nodes; len(h) != 2 {
			t.Errorf("no-op upsert: history has %d versions, want still 2", len(h))
		}
	})
	t.Run("update by id", func(t *testing.T) {
		res := mustNode(t, s, tn, telamentis.NodeInput{ID: v1.ID, Label: "Employee", Props: props(`{"name":"Alice","age":31}`)})
		if res.Created || !res.Changed || res.Node.ID != v1.ID || res.Node.Label != "Employee" || res.Node.Alias != "alice" {
			t.Errorf("label change by id: created=%v changed=%v node %s, want an update of %s keeping alias alice", res.Created, res.Changed, nodeKey(res.Node), v1.ID)
		}
		if h := history(t, s, tn, true, v1.ID).Nodes; len(h) != 3 {
			t.Errorf("history after two updates: %d versions, want 3", len(h))
		}
		before := snapshot(t, s, tn)
		_, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{ID: newUUID(), Label: "Person"})
		wantCode(t, err, "upsert by an id that does not exist", telamentis.CodeNotFound)
		unchanged(t, s, tn, before, "upsert by a missing id")
	})
	t.Run("new without alias", func(t *testing.T) {
		a := mustNode(t, s, tn, telamentis.NodeInput{Label: "Note"})
		b := mustNode(t, s, tn, telamentis.NodeInput{Label: "Note"})
		if !a.Created || !b.Created || a.Node.ID == b.Node.ID {
			t.Errorf("upserts without id or alias create a new node each time: %v %v", a, b)
		}
		if string(a.Node.Props) != "{}" {
			t.Errorf("absent props are stored as {}: got %s", a.Node.Props)
		}
	})
	t.Run("as_at reads old versions", func(t *testing.T) {
		cases := []struct {
			at   time.Time
			want *telamentis.Node
		}{
			{v1.TxStart.Add(-time.Microsecond), nil},
			{v1.TxStart, &v1},
			{v2.TxStart.Add(-time.Microsecond), &v1},
			{v2.TxStart, &v2},
		}
		for _, c := range cases {
			for _, ref := range []telamentis.Ref{byID(v1.ID), byAlias("alice")} {
				g, err := s.GetNode(ctx, tn, ref, c.at)
				rule := fmt.Sprintf("get %v as_at %v", ref, c.at)
				if c.want == nil {
					wantCode(t, err, rule+" (before the node existed)", telamentis.CodeNotFound)
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", rule, err)
					continue
				}
				if g.ID != c.want.ID || us(g.TxStart) != us(c.want.TxStart) || canon(g.Props) != canon(c.want.Props) {
					t.Errorf("%s: got %s, want the version with tx_start %v", rule, nodeKey(g), c.want.TxStart)
				}
			}
		}
	})
	t.Run("tx_start strictly increasing", func(t *testing.T) {
		last := time.Time{}
		for i := range 20 {
			res := mustNode(t, s, tn, telamentis.NodeInput{Alias: "counter", Label: "Counter", Props: props(fmt.Sprintf(`{"n":%d}`, i))})
			if !res.Node.TxStart.After(last) {
				t.Errorf("write %d: tx_start %v not after the previous write's %v", i, res.Node.TxStart, last)
			}
			last = res.Node.TxStart
		}
	})
	t.Run("alias unique among live nodes", func(t *testing.T) {
		x := mustNode(t, s, tn, telamentis.NodeInput{Alias: "x", Label: "Thing"}).Node
		y := mustNode(t, s, tn, telamentis.NodeInput{Alias: "y", Label: "Thing"}).Node
		before := snapshot(t, s, tn)
		_, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{ID: y.ID, Alias: "x", Label: "Thing"})
		wantCode(t, err, "giving node y the alias of live node x", telamentis.CodeConflict)
		unchanged(t, s, tn, before, "alias conflict")
		if _, err := s.RetractNode(ctx, tn, byAlias("x")); err != nil {
			t.Fatalf("retract x: %v", err)
		}
		res := mustNode(t, s, tn, telamentis.NodeInput{Alias: "x", Label: "Thing", Props: props(`{"gen":2}`)})
		if !res.Created || res.Node.ID == x.ID {
			t.Errorf("upsert of the alias of a retracted node creates a new node: created=%v id %s (old %s)", res.Created, res.Node.ID, x.ID)
		}
		_, err = s.GetNode(ctx, tn, byID(x.ID), time.Time{})
		wantCode(t, err, "get of a retracted node at now", telamentis.CodeNotFound)
		g, err := s.GetNode(ctx, tn, byAlias("x"), x.TxStart)
		if err != nil || g.ID != x.ID {
			t.Errorf("alias x as_at the first node's tx_start resolves to the first node %s: got %s, %v", x.ID, g.ID, err)
		}
		g, err = s.GetNode(ctx, tn, byAlias("x"), time.Time{})
		if err != nil || g.ID != res.Node.ID {
			t.Errorf("alias x now resolves to the new node %s: got %s, %v", res.Node.ID, g.ID, err)
		}
	})
}

func (r *runner) testEdges(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	a := mustNode(t, s, tn, telamentis.NodeInput{Alias: "alice", Label: "Person"}).Node
	b := mustNode(t, s, tn, telamentis.NodeInput{Alias: "acme", Label: "Org"}).Node
	c := mustNode(t, s, tn, telamentis.NodeInput{Alias: "globex", Label: "Org"}).Node

	var e1 telamentis.Edge
	t.Run("create with endpoints by alias and id", func(t *testing.T) {
		vf := time.Date(2021, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
		res := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "job", From: byAlias("alice"), To: byID(b.ID), Kind: "WORKS_AT",
			Props: props(`{"role":"dev"}`), ValidFrom: vf})
		e1 = res.Edge
		if !res.Created || !telamentis.ValidID(e1.ID) || e1.From != a.ID || e1.To != b.ID || e1.Kind != "WORKS_AT" || e1.Alias != "job" {
			t.Errorf("created edge %s: want from %s to %s, kind WORKS_AT, alias job, created", edgeKey(e1), a.ID, b.ID)
		}
		want := time.Date(2021, 3, 1, 11, 0, 0, 123456000, time.UTC)
		if !e1.ValidFrom.Equal(want) || e1.ValidFrom.Location() != time.UTC {
			t.Errorf("valid_from %v must be normalised to UTC at microsecond precision: want %v", e1.ValidFrom, want)
		}
		if !e1.ValidTo.IsZero() || e1.TxStart.IsZero() || !e1.TxEnd.IsZero() {
			t.Errorf("new edge without valid_to is open in valid and transaction time: %s", edgeKey(e1))
		}
		for _, ref := range []telamentis.Ref{byID(e1.ID), byAlias("job")} {
			g, err := s.GetEdge(ctx, tn, ref, time.Time{})
			if err != nil {
				t.Fatalf("get edge %v: %v", ref, err)
			}
			sameEdge(t, g, e1, "get edge returns the created version")
		}
	})
	if e1.ID == "" {
		t.FailNow()
	}
	t.Run("valid_from defaults to now", func(t *testing.T) {
		before := time.Now()
		res := mustEdge(t, s, tn, telamentis.EdgeInput{From: byID(a.ID), To: byID(c.ID), Kind: "KNOWS"})
		after := time.Now()
		vf := res.Edge.ValidFrom
		if vf.IsZero() || vf.Before(before.Add(-time.Minute)) || vf.After(after.Add(time.Minute)) {
			t.Errorf("valid_from of an edge created without one must be the server's now (%v .. %v): got %v", before, after, vf)
		}
	})
	t.Run("valid_to must be after valid_from", func(t *testing.T) {
		before := snapshot(t, s, tn)
		for _, in := range []telamentis.EdgeInput{
			{From: byID(a.ID), To: byID(c.ID), Kind: "KNOWS", ValidFrom: day(5), ValidTo: day(5)},
			{From: byID(a.ID), To: byID(c.ID), Kind: "KNOWS", ValidFrom: day(5), ValidTo: day(4)},
			{Alias: "job", From: byID(a.ID), To: byID(b.ID), Kind: "WORKS_AT", ValidTo: e1.ValidFrom},
			{Alias: "job", From: byID(a.ID), To: byID(b.ID), Kind: "WORKS_AT", ValidTo: e1.ValidFrom.Add(-time.Hour)},
			// valid_from defaults to now, and 2020 is before now.
			{From: byID(a.ID), To: byID(c.ID), Kind: "KNOWS", ValidTo: day(0)},
		} {
			_, err := s.UpsertEdge(ctx, tn, in)
			wantField(t, err, fmt.Sprintf("edge with valid_to %v not after valid_from %v (or its default)", in.ValidTo, in.ValidFrom), "valid_to")
		}
		unchanged(t, s, tn, before, "rejected valid_to")
	})
	t.Run("missing endpoint is not_found", func(t *testing.T) {
		gone := mustNode(t, s, tn, telamentis.NodeInput{Alias: "gone", Label: "Person"}).Node
		if _, err := s.RetractNode(ctx, tn, byID(gone.ID)); err != nil {
			t.Fatal(err)
		}
		other := newTenant(t, s)
		foreign := mustNode(t, s, other, telamentis.NodeInput{Alias: "alice", Label: "Person"}).Node
		before := snapshot(t, s, tn)
		for name, ref := range map[string]telamentis.Ref{
			"unknown id": byID(newUUID()), "unknown alias": byAlias("nobody"), "retracted node": byID(gone.ID),
			"retracted alias": byAlias("gone"), "node of another tenant": byID(foreign.ID),
		} {
			_, err := s.UpsertEdge(ctx, tn, telamentis.EdgeInput{From: byID(a.ID), To: ref, Kind: "KNOWS"})
			wantCode(t, err, "edge to "+name, telamentis.CodeNotFound)
			_, err = s.UpsertEdge(ctx, tn, telamentis.EdgeInput{From: ref, To: byID(a.ID), Kind: "KNOWS"})
			wantCode(t, err, "edge from "+name, telamentis.CodeNotFound)
		}
		unchanged(t, s, tn, before, "edge with a missing endpoint")
	})
	var e2 telamentis.Edge
	t.Run("update versions and no-op", func(t *testing.T) {
		res := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "job", From: byAlias("alice"), To: byAlias("acme"), Kind: "WORKS_AT",
			Props: props(`{"role":"lead"}`)})
		e2 = res.Edge
		if res.Created || !res.Changed || e2.ID != e1.ID {
			t.Errorf("props change by alias: created=%v changed=%v id %s, want an update of %s", res.Created, res.Changed, e2.ID, e1.ID)
		}
		if !e2.ValidFrom.Equal(e1.ValidFrom) {
			t.Errorf("an update without valid_from keeps valid_from %v: got %v", e1.ValidFrom, e2.ValidFrom)
		}
		h := history(t, s, tn, false, e1.ID).Edges
		if len(h) != 2 {
			t.Fatalf("edge history after one update: %d versions, want 2", len(h))
		}
		old := e1
		old.TxEnd = e2.TxStart
		sameEdge(t, h[0], old, "superseded edge version closed at the new version's tx_start")
		sameEdge(t, h[1], e2, "new edge version")

		before := snapshot(t, s, tn)
		for _, in := range []telamentis.EdgeInput{
			{Alias: "job", From: byAlias("alice"), To: byAlias("acme"), Kind: "WORKS_AT", Props: props(`{ "role" : "lead" }`)},
			{ID: e1.ID, From: byID(a.ID), To: byID(b.ID), Kind: "WORKS_AT", Props: props(`{"role":"lead"}`), ValidFrom: e1.ValidFrom},
		} {
			res := mustEdge(t, s, tn, in)
			if res.Created || res.Changed {
				t.Errorf("edge upsert that changes nothing: created=%v changed=%v, want false/false", res.Created, res.Changed)
			}
			sameEdge(t, res.Edge, e2, "no-op edge upsert returns the current version")
		}
		unchanged(t, s, tn, before, "no-op edge upsert")
	})
	t.Run("endpoints are immutable", func(t *testing.T) {
		before := snapshot(t, s, tn)
		for _, in := range []telamentis.EdgeInput{
			{Alias: "job", From: byAlias("alice"), To: byAlias("globex"), Kind: "WORKS_AT", Props: props(`{"role":"lead"}`)},
			{ID: e1.ID, From: byID(c.ID), To: byID(b.ID), Kind: "WORKS_AT", Props: props(`{"role":"lead"}`)},
		} {
			_, err := s.UpsertEdge(ctx, tn, in)
			wantCode(t, err, "changing an edge's endpoints", telamentis.CodeInvalid, telamentis.CodeConflict)
		}
		unchanged(t, s, tn, before, "endpoint change")
	})
	t.Run("valid time update", func(t *testing.T) {
		end := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		res := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "job", From: byAlias("alice"), To: byAlias("acme"), Kind: "WORKS_AT",
			Props: props(`{"role":"lead"}`), ValidTo: end})
		if !res.Changed || !res.Edge.ValidTo.Equal(end) || !res.Edge.ValidFrom.Equal(e1.ValidFrom) {
			t.Errorf("setting valid_to: %s, want valid [%v, %v) in a new version", edgeKey(res.Edge), e1.ValidFrom, end)
		}
		res = mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "job", From: byAlias("alice"), To: byAlias("acme"), Kind: "WORKS_AT",
			Props: props(`{"role":"lead"}`)})
		if !res.Changed || !res.Edge.ValidTo.IsZero() {
			t.Errorf("an upsert without valid_to says the fact is still true: %s, want valid_to open in a new version", edgeKey(res.Edge))
		}
		g, err := s.GetEdge(ctx, tn, byID(e1.ID), e2.TxStart)
		if err != nil || canon(g.Props) != `{"role":"lead"}` || us(g.TxStart) != us(e2.TxStart) {
			t.Errorf("get edge as_at an old version's tx_start returns that version: got %s, %v", edgeKey(g), err)
		}
		_, err = s.GetEdge(ctx, tn, byID(e1.ID), e1.TxStart.Add(-time.Microsecond))
		wantCode(t, err, "get edge as_at before it existed", telamentis.CodeNotFound)
	})
}

func (r *runner) testInvalidate(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P"})
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "b", Label: "P"})
	e := mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "e", From: byAlias("a"), To: byAlias("b"), Kind: "K", ValidFrom: day(0)}).Edge

	before := snapshot(t, s, tn)
	for _, at := range []time.Time{day(0), day(-1)} {
		_, err := s.InvalidateEdge(ctx, tn, byAlias("e"), at)
		wantCode(t, err, fmt.Sprintf("invalidate at %v, not after valid_from %v", at, day(0)), telamentis.CodeInvalid)
	}
	unchanged(t, s, tn, before, "rejected invalidate")

	res, err := s.InvalidateEdge(ctx, tn, byAlias("e"), day(5).In(time.FixedZone("X", -7200)))
	if err != nil {
		t.Fatalf("invalidate: %v", err)
	}
	if res.Created || !res.Changed || res.Edge.ID != e.ID || !res.Edge.ValidTo.Equal(day(5)) || !res.Edge.ValidFrom.Equal(day(0)) {
		t.Errorf("invalidate writes a new version with valid_to = at: got created=%v changed=%v %s", res.Created, res.Changed, edgeKey(res.Edge))
	}
	h := history(t, s, tn, false, e.ID).Edges
	if len(h) != 2 {
		t.Fatalf("invalidate keeps history: %d versions, want 2", len(h))
	}
	old := e
	old.TxEnd = res.Edge.TxStart
	sameEdge(t, h[0], old, "the version before invalidation is kept, closed in transaction time")

	before = snapshot(t, s, tn)
	res2, err := s.InvalidateEdge(ctx, tn, byID(e.ID), day(5))
	if err != nil {
		t.Fatalf("invalidate again at the same time: %v", err)
	}
	if res2.Changed || res2.Created {
		t.Errorf("invalidating at the current valid_to changes nothing: changed=%v", res2.Changed)
	}
	sameEdge(t, res2.Edge, res.Edge, "idempotent invalidate returns the current version")
	unchanged(t, s, tn, before, "idempotent invalidate")

	_, err = s.InvalidateEdge(ctx, tn, byID(newUUID()), day(9))
	wantCode(t, err, "invalidate of a missing edge", telamentis.CodeNotFound)
	if _, err := s.RetractEdge(ctx, tn, byAlias("e")); err != nil {
		t.Fatal(err)
	}
	_, err = s.InvalidateEdge(ctx, tn, byID(e.ID), day(9))
	wantCode(t, err, "invalidate of a retracted edge", telamentis.CodeNotFound)
}

func (r *runner) testRetract(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	for _, a := range []string{"a", "b", "c", "d"} {
		mustNode(t, s, tn, telamentis.NodeInput{Alias: a, Label: "P"})
	}
	edge := func(alias, from, to string) telamentis.Edge {
		return mustEdge(t, s, tn, telamentis.EdgeInput{Alias: alias, From: byAlias(from), To: byAlias(to), Kind: "K", ValidFrom: day(0)}).Edge
	}
	ab, ca, aa, ad, bc := edge("ab", "a", "b"), edge("ca", "c", "a"), edge("aa", "a", "a"), edge("ad", "a", "d"), edge("bc", "b", "c")
	rd, err := s.RetractEdge(ctx, tn, byAlias("ad"))
	if err != nil {
		t.Fatalf("retract edge: %v", err)
	}
	t.Run("edge", func(t *testing.T) {
		if rd.Edges != 1 || rd.Nodes != 0 || rd.TxTime.IsZero() {
			t.Errorf("retract edge result %+v, want 1 edge, 0 nodes and the tx time", rd)
		}
		_, err := s.GetEdge(ctx, tn, byID(ad.ID), time.Time{})
		wantCode(t, err, "get of a retracted edge now", telamentis.CodeNotFound)
		g, err := s.GetEdge(ctx, tn, byID(ad.ID), rd.TxTime.Add(-time.Microsecond))
		if err != nil || !g.TxEnd.Equal(rd.TxTime) {
			t.Errorf("the retracted version is visible before the retraction, closed at its tx time %v: %s, %v", rd.TxTime, edgeKey(g), err)
		}
		if h := history(t, s, tn, false, ad.ID).Edges; len(h) != 1 || !h[0].TxEnd.Equal(rd.TxTime) {
			t.Errorf("retract closes the current version with no successor: history %v", edgeIDs(h))
		}
		_, err = s.RetractEdge(ctx, tn, byID(ad.ID))
		wantCode(t, err, "retract of an already retracted edge", telamentis.CodeNotFound)
		_, err = s.RetractEdge(ctx, tn, byID(newUUID()))
		wantCode(t, err, "retract of a missing edge", telamentis.CodeNotFound)
	})
	t.Run("node cascades to live edges", func(t *testing.T) {
		res, err := s.RetractNode(ctx, tn, byAlias("a"))
		if err != nil {
			t.Fatalf("retract node: %v", err)
		}
		if res.Nodes != 1 || res.Edges != 3 {
			t.Errorf("retract node a with live edges ab, ca, aa (ad already retracted): result %+v, want 1 node and 3 edges", res)
		}
		T := res.TxTime
		if !T.After(rd.TxTime) {
			t.Errorf("retract tx time %v must be after the previous write %v", T, rd.TxTime)
		}
		hn := history(t, s, tn, true, ab.From).Nodes
		if len(hn) != 1 || !hn[0].TxEnd.Equal(T) {
			t.Errorf("node version closed at the retract tx time %v: history %+v", T, hn)
		}
		for _, e := range []telamentis.Edge{ab, ca, aa} {
			h := history(t, s, tn, false, e.ID).Edges
			if len(h) != 1 || !h[0].TxEnd.Equal(T) {
				t.Errorf("live edge %s must be retracted in the same transaction (tx_end %v): history %v", e.Alias, T, h)
			}
		}
		if h := history(t, s, tn, false, ad.ID).Edges; len(h) != 1 || !h[0].TxEnd.Equal(rd.TxTime) {
			t.Errorf("an edge retracted earlier keeps its tx_end %v", rd.TxTime)
		}
		if h := history(t, s, tn, false, bc.ID).Edges; len(h) != 1 || !h[0].TxEnd.IsZero() {
			t.Errorf("edge b→c does not touch a and stays live")
		}
		now := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryEdges})
		if ids := edgeIDs(now.Edges); !slices.Equal(ids, []string{bc.ID}) {
			t.Errorf("edges now after retracting a: %v, want only b→c %s", ids, bc.ID)
		}
		then := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryEdges, AsAt: T.Add(-time.Microsecond)})
		if ids := edgeIDs(then.Edges); !slices.Equal(ids, sorted([]string{ab.ID, ca.ID, aa.ID, bc.ID})) {
			t.Errorf("edges as_at just before the retraction: %v, want ab, ca, aa, bc", ids)
		}
		ch := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryChanges, Since: T})
		closes := 0
		for _, c := range ch.Changes {
			if c.Op == telamentis.ChangeClose && c.TxTime.Equal(T) {
				closes++
			}
		}
		if closes != 4 || len(ch.Changes) != 4 {
			t.Errorf("changes since the retraction: %d entries, %d closes at %v; want 4 closes (node a and 3 edges)", len(ch.Changes), closes, T)
		}
		_, err = s.RetractNode(ctx, tn, byAlias("a"))
		wantCode(t, err, "retract of a node that is not live", telamentis.CodeNotFound)
		_, err = s.GetNode(ctx, tn, byID(ab.From), time.Time{})
		wantCode(t, err, "get of a retracted node now", telamentis.CodeNotFound)
	})
}

func (r *runner) testErase(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	a := mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P", Props: props(`{"v":1}`)}).Node
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P", Props: props(`{"v":2}`)})
	b := mustNode(t, s, tn, telamentis.NodeInput{Alias: "b", Label: "P"}).Node
	c := mustNode(t, s, tn, telamentis.NodeInput{Alias: "c", Label: "P"}).Node
	edge := func(alias, from, to string, p string) telamentis.Edge {
		return mustEdge(t, s, tn, telamentis.EdgeInput{Alias: alias, From: byAlias(from), To: byAlias(to), Kind: "K", ValidFrom: day(0), Props: props(p)}).Edge
	}
	ab := edge("ab", "a", "b", `{"v":1}`)
	edge("ab", "a", "b", `{"v":2}`)
	ca := edge("ca", "c", "a", `{}`)
	ac := edge("ac", "a", "c", `{}`)
	bc := edge("bc", "b", "c", `{}`)
	if _, err := s.RetractEdge(ctx, tn, byAlias("ac")); err != nil {
		t.Fatal(err)
	}
	old := a.TxStart
	before := snapshot(t, s, tn)
	hb, hc, hbc := history(t, s, tn, true, b.ID), history(t, s, tn, true, c.ID), history(t, s, tn, false, bc.ID)

	res, err := s.EraseNode(ctx, tn, byAlias("a"))
	if err != nil {
		t.Fatalf("erase node: %v", err)
	}
	// a: 2 versions; ab: 2; ca: 1; ac: 1 (retracted, still stored).
	if res.Nodes != 1 || res.Edges != 3 || res.Versions != 6 {
		t.Errorf("erase result %+v, want 1 node, 3 edges (ab, ca and the retracted ac), 6 versions (2+2+1+1)", res)
	}
	t.Run("every version gone", func(t *testing.T) {
		for _, at := range []time.Time{{}, old} {
			_, err := s.GetNode(ctx, tn, byID(a.ID), at)
			wantCode(t, err, fmt.Sprintf("get erased node as_at %v", at), telamentis.CodeNotFound)
			for _, e := range []telamentis.Edge{ab, ca, ac} {
				_, err := s.GetEdge(ctx, tn, byID(e.ID), e.TxStart)
				wantCode(t, err, "get of an edge touching the erased node as_at its creation", telamentis.CodeNotFound)
			}
		}
		if h := history(t, s, tn, true, a.ID); len(h.Nodes) != 0 {
			t.Errorf("history of an erased node must be empty or not_found: %d versions", len(h.Nodes))
		}
		for _, e := range []telamentis.Edge{ab, ca, ac} {
			if h := history(t, s, tn, false, e.ID); len(h.Edges) != 0 {
				t.Errorf("history of erased edge %s must be empty or not_found: %d versions", e.Alias, len(h.Edges))
			}
		}
		ch := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryChanges})
		for _, c := range ch.Changes {
			k := changeKey(c)
			for _, id := range []string{a.ID, ab.ID, ca.ID, ac.ID} {
				if (c.Node != nil && c.Node.ID == id) || (c.Edge != nil && c.Edge.ID == id) {
					t.Errorf("the changes feed still shows an erased record: %s", k)
				}
			}
		}
		edges := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryEdges, AsAt: ca.TxStart})
		if ids := edgeIDs(edges.Edges); len(ids) != 0 {
			t.Errorf("edges as_at before the erasure must not show erased edges: %v", ids)
		}
		nodes := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryNodes, AsAt: old})
		if ids := nodeIDs(nodes.Nodes); len(ids) != 0 {
			t.Errorf("nodes as_at the erased node's creation: %v, want none", ids)
		}
		for _, d := range []telamentis.Direction{telamentis.DirOut, telamentis.DirIn, telamentis.DirBoth} {
			p := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{ID: b.ID}, Direction: d, Depth: 4, AsAt: ca.TxStart})
			for _, n := range p.Neighbors {
				if n.Node.ID == a.ID || n.Via.ID == ab.ID || n.Via.ID == ca.ID {
					t.Errorf("paths %s from b as_at before the erasure reach the erased node or edges: %+v", d, n)
				}
			}
		}
	})
	t.Run("others untouched", func(t *testing.T) {
		for _, x := range []struct {
			got, want telamentis.Page
			what      string
		}{{history(t, s, tn, true, b.ID), hb, "b"}, {history(t, s, tn, true, c.ID), hc, "c"}, {history(t, s, tn, false, bc.ID), hbc, "b→c"}} {
			if fmt.Sprint(nodesKeys(x.got.Nodes), edgesKeys(x.got.Edges)) != fmt.Sprint(nodesKeys(x.want.Nodes), edgesKeys(x.want.Edges)) {
				t.Errorf("erasing a changed the history of %s", x.what)
			}
		}
		after := snapshot(t, s, tn)
		if after.Nodes != before.Nodes-1 || after.Edges != before.Edges-2 || after.NodeVersions != before.NodeVersions-2 || after.EdgeVersions != before.EdgeVersions-4 {
			t.Errorf("stats after erase: %+v, before %+v; want one live node, two live edges, 2 node and 4 edge versions fewer", after, before)
		}
	})
	t.Run("retracted node by id", func(t *testing.T) {
		if _, err := s.RetractNode(ctx, tn, byAlias("c")); err != nil {
			t.Fatal(err)
		}
		res, err := s.EraseNode(ctx, tn, byID(c.ID))
		if err != nil {
			t.Fatalf("erase of a retracted node by id: %v", err)
		}
		if res.Nodes != 1 || res.Edges != 1 || res.Versions != 2 {
			t.Errorf("erase retracted c: %+v, want 1 node, 1 edge (b→c), 2 versions", res)
		}
		_, err = s.EraseNode(ctx, tn, byID(c.ID))
		wantCode(t, err, "erase of an already erased node", telamentis.CodeNotFound)
		_, err = s.EraseNode(ctx, tn, byID(newUUID()))
		wantCode(t, err, "erase of a missing node", telamentis.CodeNotFound)
	})
	t.Run("alias free after erase", func(t *testing.T) {
		res := mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P", Props: props(`{"v":1}`)})
		if !res.Created || res.Node.ID == a.ID {
			t.Errorf("upsert of an erased node's alias creates a new node: %+v", res)
		}
	})
}

func nodesKeys(ns []telamentis.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = nodeKey(n)
	}
	return out
}

func edgesKeys(es []telamentis.Edge) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = edgeKey(e)
	}
	return out
}

func (r *runner) testBatch(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	old := mustNode(t, s, tn, telamentis.NodeInput{Alias: "old", Label: "P", Props: props(`{"x":1}`)}).Node

	t.Run("atomic on invalid items", func(t *testing.T) {
		before := snapshot(t, s, tn)
		_, err := s.ApplyBatch(ctx, tn, telamentis.Batch{
			Nodes: []telamentis.NodeInput{{Alias: "n1", Label: "P"}, {Alias: "n2", Label: "bad label"}, {Alias: "n3", Label: "P", Props: props(`[1]`)}},
			Edges: []telamentis.EdgeInput{
				{From: byAlias("n1"), To: byAlias("old"), Kind: "bad-kind"},
				{From: byAlias("n1"), To: byAlias("old"), Kind: "K"},
				{From: byAlias("n1"), To: byAlias("old"), Kind: "K", ValidFrom: day(3), ValidTo: day(2)},
			},
		})
		wantCode(t, err, "batch with bad items", telamentis.CodeInvalid)
		fields := map[string]bool{}
		for _, f := range telamentis.ErrorFields(err) {
			fields[f.Field] = true
		}
		for _, want := range []string{"nodes[1].label", "nodes[2].props", "edges[0].kind", "edges[2].valid_to"} {
			if !fields[want] {
				t.Errorf("batch error must report every bad item by position: %q missing from %v", want, telamentis.ErrorFields(err))
			}
		}
		if fields["nodes[0]"] || fields["edges[1]"] || fields["nodes[0].label"] {
			t.Errorf("batch error names good items: %v", telamentis.ErrorFields(err))
		}
		unchanged(t, s, tn, before, "batch with bad items")
	})
	t.Run("atomic on missing endpoint", func(t *testing.T) {
		before := snapshot(t, s, tn)
		_, err := s.ApplyBatch(ctx, tn, telamentis.Batch{
			Nodes: []telamentis.NodeInput{{Alias: "n1", Label: "P"}, {Alias: "old", Label: "P", Props: props(`{"x":2}`)}},
			Edges: []telamentis.EdgeInput{{From: byAlias("n1"), To: byAlias("old"), Kind: "K"}, {From: byAlias("n1"), To: byAlias("nobody"), Kind: "K"}},
		})
		wantCode(t, err, "batch with an edge to a missing node", telamentis.CodeNotFound)
		unchanged(t, s, tn, before, "batch with a missing endpoint")
	})
	// Items see the aliases earlier items gave and freed, in batches short
	// and long enough that a planner indexes its changes before, while and
	// after they move.
	for _, pad := range []int{0, 6, 20} {
		t.Run(fmt.Sprintf("aliases moved by earlier items, %d more items", pad), func(t *testing.T) {
			tn := newTenant(t, s)
			x := mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P"}).Node
			var b telamentis.Batch
			for i := range pad {
				b.Nodes = append(b.Nodes, telamentis.NodeInput{Alias: fmt.Sprintf("pad%d", i), Label: "P"})
			}
			b.Nodes = append(b.Nodes,
				telamentis.NodeInput{ID: x.ID, Alias: "b", Label: "P"}, // x gives up a for b
				telamentis.NodeInput{Alias: "a", Label: "Q"},           // a new node takes a
				telamentis.NodeInput{ID: x.ID, Alias: "c", Label: "P"}, // x moves on to c: b is free again
				telamentis.NodeInput{Alias: "b", Label: "R"},           // another new node takes b
				telamentis.NodeInput{Alias: "a", Label: "Q2"})          // updates the new node holding a
			b.Edges = []telamentis.EdgeInput{{Alias: "e", From: byAlias("a"), To: byAlias("c"), Kind: "K", ValidFrom: day(0)},
				{From: byAlias("b"), To: byAlias("e-not-a-node"), Kind: "K"}}
			_, err := s.ApplyBatch(ctx, tn, b)
			if f := telamentis.ErrorFields(err); len(f) != 1 || f[0].Field != "edges[1].to" {
				t.Fatalf("batch moving aliases with one bad edge: %v, want only edges[1].to", err)
			}
			b.Edges = b.Edges[:1]
			res, err := s.ApplyBatch(ctx, tn, b)
			if err != nil {
				t.Fatalf("batch moving aliases: %v", err)
			}
			n := res.Nodes[pad:]
			if n[0].Node.ID != x.ID || n[2].Node.ID != x.ID || n[2].Node.Alias != "c" || !n[1].Created || !n[3].Created ||
				n[4].Created || n[4].Node.ID != n[1].Node.ID || n[4].Node.Label != "Q2" {
				t.Errorf("batch items must see the aliases earlier items moved: %+v", n)
			}
			if e := res.Edges[0].Edge; e.From != n[1].Node.ID || e.To != x.ID {
				t.Errorf("edge a→c resolved to %s→%s, want the new node holding a → %s", e.From, e.To, x.ID)
			}
			for alias, want := range map[string]string{"a": n[1].Node.ID, "b": n[3].Node.ID, "c": x.ID} {
				if g, err := s.GetNode(ctx, tn, byAlias(alias), time.Time{}); err != nil || g.ID != want {
					t.Errorf("after the batch alias %s names %s (%v), want %s", alias, g.ID, err, want)
				}
			}
		})
	}
	t.Run("empty batch is invalid", func(t *testing.T) {
		_, err := s.ApplyBatch(ctx, tn, telamentis.Batch{})
		wantCode(t, err, "empty batch", telamentis.CodeInvalid)
	})
	t.Run("one tx time and aliases from the batch", func(t *testing.T) {
		res, err := s.ApplyBatch(ctx, tn, telamentis.Batch{
			Nodes: []telamentis.NodeInput{{Alias: "n1", Label: "P"}, {Alias: "n2", Label: "P"}, {Alias: "old", Label: "P", Props: props(`{"x":1}`)}},
			Edges: []telamentis.EdgeInput{
				{Alias: "e1", From: byAlias("n1"), To: byAlias("n2"), Kind: "K", ValidFrom: day(1)},
				{From: byAlias("n2"), To: byID(old.ID), Kind: "K", ValidFrom: day(1), ValidTo: day(2)},
			},
		})
		if err != nil {
			t.Fatalf("batch: %v", err)
		}
		if len(res.Nodes) != 3 || len(res.Edges) != 2 {
			t.Fatalf("batch result reports %d nodes and %d edges, want 3 and 2 in input order", len(res.Nodes), len(res.Edges))
		}
		T := res.TxTime
		for i, n := range res.Nodes[:2] {
			if !n.Created || !n.Node.TxStart.Equal(T) || n.Node.Alias != []string{"n1", "n2"}[i] {
				t.Errorf("batch nodes[%d]: %+v, want created with tx_start = batch tx time %v", i, n, T)
			}
		}
		if n := res.Nodes[2]; n.Created || n.Changed || !n.Node.TxStart.Equal(old.TxStart) {
			t.Errorf("batch nodes[2] changes nothing: %+v, want created=false changed=false and the old version", n)
		}
		for i, e := range res.Edges {
			if !e.Created || !e.Edge.TxStart.Equal(T) {
				t.Errorf("batch edges[%d]: %+v, want created with tx_start = batch tx time %v", i, e, T)
			}
		}
		if res.Edges[0].Edge.From != res.Nodes[0].Node.ID || res.Edges[0].Edge.To != res.Nodes[1].Node.ID || res.Edges[1].Edge.To != old.ID {
			t.Errorf("batch edges must resolve aliases of nodes created in the same batch: %s, %s", edgeKey(res.Edges[0].Edge), edgeKey(res.Edges[1].Edge))
		}
		ch := all(t, s, tn, telamentis.Query{Kind: telamentis.QueryChanges, Since: T})
		if len(ch.Changes) != 4 {
			t.Errorf("changes since the batch: %d, want 4 writes at one tx time", len(ch.Changes))
		}
		for _, c := range ch.Changes {
			if !c.TxTime.Equal(T) || c.Op != telamentis.ChangeWrite {
				t.Errorf("batch change %s: want a write at %v", changeKey(c), T)
			}
		}
		res2, err := s.ApplyBatch(ctx, tn, telamentis.Batch{Nodes: []telamentis.NodeInput{{Alias: "n1", Label: "Q"}},
			Edges: []telamentis.EdgeInput{{Alias: "e1", From: byAlias("n1"), To: byAlias("n2"), Kind: "K", ValidFrom: day(1), Props: props(`{"w":1}`)}}})
		if err != nil {
			t.Fatalf("update batch: %v", err)
		}
		if !res2.TxTime.After(T) || res2.Nodes[0].Created || !res2.Nodes[0].Changed || res2.Edges[0].Created || !res2.Edges[0].Changed {
			t.Errorf("update batch: %+v, want two updates at a later tx time than %v", res2, T)
		}
	})
}

func (r *runner) testQuotas(t *testing.T) {
	s := r.s
	ctx := t.Context()
	t.Run("max nodes and edges", func(t *testing.T) {
		tn := newTenant(t, s, func(tn *telamentis.Tenant) { tn.Quotas = telamentis.Quotas{MaxNodes: 3, MaxEdges: 2} })
		for _, a := range []string{"a", "b", "c"} {
			mustNode(t, s, tn, telamentis.NodeInput{Alias: a, Label: "P"})
		}
		before := snapshot(t, s, tn)
		_, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: "d", Label: "P"})
		wantCode(t, err, "creating a node beyond MaxNodes=3", telamentis.CodeQuota)
		_, err = s.ApplyBatch(ctx, tn, telamentis.Batch{Nodes: []telamentis.NodeInput{{Alias: "a", Label: "Q"}, {Alias: "d", Label: "P"}}})
		wantCode(t, err, "batch creating a node beyond MaxNodes=3", telamentis.CodeQuota)
		unchanged(t, s, tn, before, "node quota")
		mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "Q"}) // updates stay possible
		mustEdge(t, s, tn, telamentis.EdgeInput{From: byAlias("a"), To: byAlias("b"), Kind: "K"})
		mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "bc", From: byAlias("b"), To: byAlias("c"), Kind: "K"})
		before = snapshot(t, s, tn)
		_, err = s.UpsertEdge(ctx, tn, telamentis.EdgeInput{From: byAlias("c"), To: byAlias("a"), Kind: "K"})
		wantCode(t, err, "creating an edge beyond MaxEdges=2", telamentis.CodeQuota)
		_, err = s.ApplyBatch(ctx, tn, telamentis.Batch{Edges: []telamentis.EdgeInput{{From: byAlias("c"), To: byAlias("a"), Kind: "K"}}})
		wantCode(t, err, "batch creating an edge beyond MaxEdges=2", telamentis.CodeQuota)
		unchanged(t, s, tn, before, "edge quota")
		mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "bc", From: byAlias("b"), To: byAlias("c"), Kind: "K", Props: props(`{"w":1}`)})

		g, err := s.GetTenant(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		g.Quotas.MaxNodes = 4
		if _, err := s.UpdateTenant(ctx, g); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: "d", Label: "P"}); err != nil {
			t.Errorf("after raising MaxNodes to 4 a fourth node fits: %v", err)
		}
	})
	t.Run("retracted and erased nodes free their slot", func(t *testing.T) {
		tn := newTenant(t, s, func(tn *telamentis.Tenant) { tn.Quotas = telamentis.Quotas{MaxNodes: 2, MaxEdges: 1} })
		mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P"})
		mustNode(t, s, tn, telamentis.NodeInput{Alias: "b", Label: "P"})
		mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "ab", From: byAlias("a"), To: byAlias("b"), Kind: "K"})
		if _, err := s.RetractEdge(ctx, tn, byAlias("ab")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpsertEdge(ctx, tn, telamentis.EdgeInput{From: byAlias("b"), To: byAlias("a"), Kind: "K"}); err != nil {
			t.Errorf("quotas count live edges: after retracting the only edge a new one fits MaxEdges=1: %v", err)
		}
		if _, err := s.RetractNode(ctx, tn, byAlias("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: "c", Label: "P"}); err != nil {
			t.Errorf("quotas count live nodes: after retracting one of 2 nodes a new one fits MaxNodes=2: %v", err)
		}
		if _, err := s.EraseNode(ctx, tn, byAlias("c")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: "d", Label: "P"}); err != nil {
			t.Errorf("quotas count live nodes: after erasing one a new one fits: %v", err)
		}
		_, err := s.UpsertNode(ctx, tn, telamentis.NodeInput{Alias: "e", Label: "P"})
		wantCode(t, err, "a third live node beyond MaxNodes=2", telamentis.CodeQuota)
	})
	t.Run("concurrent writers never overshoot", func(t *testing.T) {
		const max = 10
		tn := newTenant(t, s, func(tn *telamentis.Tenant) { tn.Quotas = telamentis.Quotas{MaxNodes: max + 2, MaxEdges: max} })
		hub := mustNode(t, s, tn, telamentis.NodeInput{Alias: "hub", Label: "P"}).Node
		spoke := mustNode(t, s, tn, telamentis.NodeInput{Alias: "spoke", Label: "P"}).Node
		var wg sync.WaitGroup
		var mu sync.Mutex
		okNodes, okEdges := 0, 0
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 4 {
					var err error
					if (w+i)%2 == 0 {
						_, err = s.UpsertNode(ctx, tn, telamentis.NodeInput{Label: "P"})
					} else {
						_, err = s.ApplyBatch(ctx, tn, telamentis.Batch{Nodes: []telamentis.NodeInput{{Label: "P"}}})
					}
					_, err2 := s.UpsertEdge(ctx, tn, telamentis.EdgeInput{From: byID(hub.ID), To: byID(spoke.ID), Kind: "K"})
					mu.Lock()
					if err == nil {
						okNodes++
					} else if telamentis.ErrorCode(err) != telamentis.CodeQuota {
						t.Errorf("concurrent node create: %v, want success or quota", err)
					}
					if err2 == nil {
						okEdges++
					} else if telamentis.ErrorCode(err2) != telamentis.CodeQuota {
						t.Errorf("concurrent edge create: %v, want success or quota", err2)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		st, err := s.Stats(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		if okNodes != max || st.Nodes != max+2 {
			t.Errorf("24 concurrent creates against MaxNodes=%d with 2 nodes present: %d succeeded, stats say %d nodes; want exactly %d and %d", max+2, okNodes, st.Nodes, max, max+2)
		}
		if okEdges != max || st.Edges != max {
			t.Errorf("24 concurrent edge creates against MaxEdges=%d: %d succeeded, stats say %d edges; want exactly %d", max, okEdges, st.Edges, max)
		}
	})
}

func (r *runner) testStats(t *testing.T) {
	s := r.s
	ctx := t.Context()
	tn := newTenant(t, s)
	st, err := s.Stats(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	if st.Nodes != 0 || st.Edges != 0 || st.NodeVersions != 0 || st.EdgeVersions != 0 {
		t.Errorf("stats of an empty tenant: %+v, want zero counts", st)
	}
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P"})
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "a", Label: "P", Props: props(`{"v":2}`)})
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "b", Label: "P"})
	mustNode(t, s, tn, telamentis.NodeInput{Alias: "c", Label: "P"})
	mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "ab", From: byAlias("a"), To: byAlias("b"), Kind: "K"})
	mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "ab", From: byAlias("a"), To: byAlias("b"), Kind: "K", Props: props(`{"v":2}`)})
	mustEdge(t, s, tn, telamentis.EdgeInput{Alias: "bc", From: byAlias("b"), To: byAlias("c"), Kind: "K"})
	if _, err := s.RetractNode(ctx, tn, byAlias("c")); err != nil {
		t.Fatal(err)
	}
	st, err = s.Stats(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	want := telamentis.TenantStats{Nodes: 2, Edges: 1, NodeVersions: 4, EdgeVersions: 3, Bytes: st.Bytes}
	if st != want || st.Bytes <= 0 {
		t.Errorf("stats %+v, want %+v with bytes > 0 (live a, b; live a→b; versions a×2, b, c; a→b×2, b→c)", st, want)
	}
	if _, err := s.EraseNode(ctx, tn, byAlias("a")); err != nil {
		t.Fatal(err)
	}
	st, err = s.Stats(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	if st.Nodes != 1 || st.Edges != 0 || st.NodeVersions != 2 || st.EdgeVersions != 1 {
		t.Errorf("stats after erasing a: %+v, want 1 node, 0 edges, 2 node versions, 1 edge version", st)
	}
}
