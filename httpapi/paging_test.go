package httpapi_test

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/telamentis/telamentis"
)

// TestChangesPagingHTTP pages the changes feed one record at a time over
// HTTP to its end, on every store, and checks that the pages add up to the
// one-page answer. PostgreSQL cursors are base64 of JSON ("eyJ…"); a query
// string filter that judged values by their shape took them for JWTs and
// answered 401, counted as a failed login (issue 17).
func TestChangesPagingHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		e.tenant("pg1")
		w := e.key("pg1", telamentis.RoleWriter, false)
		for _, a := range []string{"tm_team", "eyJ", "bob", "carol"} {
			e.node("pg1", w, a, "Team", map[string]any{"n": a})
		}
		e.edge("pg1", w, "k1", "tm_team", "bob", "KNOWS", "2020-01-01T00:00:00Z")
		e.edge("pg1", w, "k2", "bob", "carol", "KNOWS", "2020-01-01T00:00:00Z")

		all := pageOf(t, e.must(200, "GET", "/v1/graph/pg1/changes?limit=1000", w, nil))
		if len(all.Changes) != 6 || all.NextCursor != "" {
			t.Fatalf("one page: %d changes, cursor %q", len(all.Changes), all.NextCursor)
		}
		var paged []telamentis.Change
		cursor := ""
		for i := 0; ; i++ {
			if i > len(all.Changes) {
				t.Fatalf("more pages than changes")
			}
			path := "/v1/graph/pg1/changes?limit=1"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			p := pageOf(t, e.must(200, "GET", path, w, nil))
			paged = append(paged, p.Changes...)
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		if !reflect.DeepEqual(paged, all.Changes) {
			t.Fatalf("paged changes differ from one page:\n%+v\n%+v", paged, all.Changes)
		}

		// Values shaped like a key prefix, a JWT header, a whole key or a
		// whole JWT are data: only parameter names are judged.
		jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
		checkProblem(t, e.req("GET", "/v1/graph/pg1/nodes?alias="+url.QueryEscape(w), w, nil), 404, "not-found")
		checkProblem(t, e.req("GET", "/v1/graph/pg1/nodes?alias="+jwt, w, nil), 404, "not-found")
		for _, alias := range []string{"tm_team", "eyJ"} {
			var n telamentis.Node
			e.must(200, "GET", "/v1/graph/pg1/nodes?alias="+alias, w, nil).json(t, &n)
			if n.Alias != alias {
				t.Fatalf("alias %s: got %+v", alias, n)
			}
		}
		// A parameter named like a credential is still refused.
		for _, q := range []string{"?alias=bob&token=x", "?alias=bob&Access_Token=x", "?alias=bob&api_key=" + w} {
			checkProblem(t, e.req("GET", "/v1/graph/pg1/nodes"+q, w, nil), 401, "unauthenticated")
		}
		// None of the good requests counted as a failed login.
		var out struct {
			Records []telamentis.AuditRecord `json:"records"`
		}
		e.must(200, "GET", "/v1/audit?action=auth.failure&limit=1000", e.admin, nil).json(t, &out)
		if len(out.Records) != 3 {
			t.Fatalf("auth.failure records: %d, want the 3 refused ones: %+v", len(out.Records), out.Records)
		}
	})
}
