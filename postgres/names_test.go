package postgres_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/postgres"
)

// TestNameKeysFollowTheSettings checks that name keys follow the name
// property (a store opened with another recomputes them on its first
// lookup) and an import (whose versions carry none).
func TestNameKeysFollowTheSettings(t *testing.T) {
	d := database(t)
	schema := d.newSchema(t)
	ctx := t.Context()
	byName := d.open(t, schema, nil)
	if _, err := byName.CreateTenant(ctx, telamentis.Tenant{ID: "names"}); err != nil {
		t.Fatal(err)
	}
	up := func(s *postgres.Store, props string, resolve string) telamentis.NodeResult {
		t.Helper()
		r, err := s.UpsertNode(ctx, "names", telamentis.NodeInput{Label: "Person", Props: json.RawMessage(props), Resolve: resolve})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ann := up(byName, `{"name":"Ann Lee","title":"Chief Engineer"}`, "").Node
	if r := up(byName, `{"name":"ANN LEE"}`, telamentis.ResolveNormalized); r.Node.ID != ann.ID {
		t.Fatalf("by name: %+v", r)
	}
	byTitle := d.open(t, schema, func(c *postgres.Config) { c.NameProperty = "title" })
	if r := up(byTitle, `{"title":"chief-engineer"}`, telamentis.ResolveNormalized); r.Node.ID != ann.ID {
		t.Errorf("a store with another name property matches by it: %+v", r)
	}
	if r := up(byTitle, `{"name":"ann lee"}`, telamentis.ResolveNormalized); !r.Created {
		t.Errorf("and no longer by the old one: %+v", r)
	}

	// An import's versions are found by name after it.
	id := "0190a000-0000-7000-8000-0000000000aa"
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := byTitle.Import(ctx, "names", []telamentis.Node{{ID: id, Label: "Person", Props: json.RawMessage(`{"title":"Imported Person"}`),
		TxStart: now.Add(-time.Hour)}}, nil); err != nil {
		t.Fatal(err)
	}
	if r := up(byTitle, `{"title":"IMPORTED  PERSON"}`, telamentis.ResolveNormalized); r.Node.ID != id {
		t.Errorf("an imported node is found by name: %+v", r)
	}
}
