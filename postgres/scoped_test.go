package postgres_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/postgres"
)

// TestTenantScopedReads runs every kind of read, each set_config'ing the
// tenant inside its own single statement, under forced custom and forced
// generic plans (PostgreSQL switches prepared statements to generic plans
// after five executions), several times each. If any plan evaluated a
// policy before the statement's set_config, that read would see no rows
// (or a missing tenant or node); the test requires every result non-empty
// and identical across plan modes and repetitions.
func TestTenantScopedReads(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	ref := d.open(t, schema, nil)
	ids := benchGraphT(t, ref, "scoped", 300)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	vt := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
	ctx := t.Context()
	reads := map[string]func(s *postgres.Store) (any, error){
		"node by id": func(s *postgres.Store) (any, error) {
			return s.GetNode(ctx, "scoped", telamentis.Ref{ID: ids[5]}, time.Time{})
		},
		"node by alias as at": func(s *postgres.Store) (any, error) {
			return s.GetNode(ctx, "scoped", telamentis.Ref{Alias: "person/5"}, t0.Add(time.Minute))
		},
		"nodes by label": func(s *postgres.Store) (any, error) {
			return s.Query(ctx, "scoped", telamentis.Query{Kind: telamentis.QueryNodes, Labels: []string{"Person"}, Limit: 50})
		},
		"edges from": func(s *postgres.Store) (any, error) {
			return s.Query(ctx, "scoped", telamentis.Query{Kind: telamentis.QueryEdges, From: &telamentis.Ref{ID: ids[0]}, ValidAt: vt})
		},
		"edges from with their nodes": func(s *postgres.Store) (any, error) {
			return s.Query(ctx, "scoped", telamentis.Query{Kind: telamentis.QueryEdges, From: &telamentis.Ref{ID: ids[0]}, ValidAt: vt, IncludeNodes: true})
		},
		"edges of a kind as at with their nodes": func(s *postgres.Store) (any, error) {
			return s.Query(ctx, "scoped", telamentis.Query{Kind: telamentis.QueryEdges, Kinds: []string{"KNOWS"},
				AsAt: t0.Add(30 * time.Minute), Limit: 20, IncludeNodes: true})
		},
		"edges of a kind as at": func(s *postgres.Store) (any, error) {
			return s.Query(ctx, "scoped", telamentis.Query{Kind: telamentis.QueryEdges, Kinds: []string{"KNOWS"},
				AsAt: t0.Add(30 * time.Minute), Limit: 20})
		},
		"paths": func(s *postgres.Store) (any, error) {
			return s.Query(ctx, "scoped", telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "person/0"},
				Depth: 2, ValidAt: vt, Limit: 100})
		},
		"paths ids only": func(s *postgres.Store) (any, error) {
			return s.Query(ctx, "scoped", telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: "person/0"},
				Depth: 2, ValidAt: vt, Limit: 100, IDsOnly: true})
		},
		"history": func(s *postgres.Store) (any, error) {
			return s.Query(ctx, "scoped", telamentis.Query{Kind: telamentis.QueryHistory, Node: &telamentis.Ref{ID: ids[1]}})
		},
		"changes": func(s *postgres.Store) (any, error) {
			return s.Query(ctx, "scoped", telamentis.Query{Kind: telamentis.QueryChanges, Limit: 30})
		},
		"stats": func(s *postgres.Store) (any, error) { return s.Stats(ctx, "scoped") },
	}
	want := map[string]string{}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		s := d.open(t, schema, func(c *postgres.Config) {
			u, _ := url.Parse(d.svcURL)
			v := u.Query()
			v.Set("plan_cache_mode", mode)
			u.RawQuery = v.Encode()
			c.DSN = telamentis.NewSecret(u.String())
		})
		for name, read := range reads {
			for i := range 7 {
				got, err := read(s)
				if err != nil {
					t.Fatalf("%s, %s, run %d: %v", mode, name, i, err)
				}
				if p, ok := got.(telamentis.Page); ok {
					p.NextCursor = "" // carries "now"
					got = p
				}
				b, _ := json.Marshal(got)
				if reflect.ValueOf(got).IsZero() || len(b) < 40 {
					t.Fatalf("%s, %s, run %d: empty result %s", mode, name, i, b)
				}
				if w, ok := want[name]; ok && w != string(b) {
					t.Fatalf("%s, %s, run %d: the result differs from the first run's", mode, name, i)
				}
				want[name] = string(b)
			}
		}
	}
}

// TestEmptyReadsTellTheTenantExists checks the existence answer that
// travels with every read: an empty result is an empty page while the
// tenant exists, and CodeNotFound once another replica (a second store on
// the same schema, whose schema cache still knows the tenant) dropped it.
func TestEmptyReadsTellTheTenantExists(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	a, b := d.open(t, schema, nil), d.open(t, schema, nil)
	ctx := t.Context()
	if _, err := a.CreateTenant(ctx, telamentis.Tenant{ID: "gone"}); err != nil {
		t.Fatal(err)
	}
	qs := []telamentis.Query{
		{Kind: telamentis.QueryEdges, Kinds: []string{"KNOWS"}},
		{Kind: telamentis.QueryEdges, Kinds: []string{"KNOWS"}, AsAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Kind: telamentis.QueryNodes, Labels: []string{"Person"}},
		{Kind: telamentis.QueryChanges},
	}
	for i := range 7 { // past the switch to generic plans
		for _, q := range qs {
			p, err := b.Query(ctx, "gone", q)
			if err != nil || len(p.Edges)+len(p.Nodes)+len(p.Changes) != 0 {
				t.Fatalf("run %d, %s of an empty tenant: %+v, %v", i, q.Kind, p, err)
			}
		}
	}
	if err := a.DropTenant(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if _, err := b.Query(ctx, "gone", q); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
			t.Fatalf("%s of a tenant dropped through another store: %v, want not found", q.Kind, err)
		}
	}
}
