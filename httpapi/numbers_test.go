package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/httpapi"
)

// TestNumberRuleEveryPath writes numbers through every write path — node,
// edge, batch, ingest and import — on every store: each path refuses the
// same numbers with the same field and message (telamentis.NumberRule) and
// writes nothing, and each stores the same good numbers as written. Ingest
// used to store 1e1000000 on badger (which the node route then refused to
// take back) and fail with a 500 on PostgreSQL, whose jsonb cannot hold it
// (issue 17).
func TestNumberRuleEveryPath(t *testing.T) {
	eachStore(t, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		e.tenant("num")
		w := e.key("num", telamentis.RoleWriter, false)
		e.node("num", w, "a", "P", nil)
		e.node("num", w, "b", "P", nil)
		g := "/v1/graph/num"
		node := func(n string) string { return `{"alias":"x","label":"P","props":{"n":` + n + `}}` }
		edge := func(n string) string {
			return `{"alias":"y","from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","props":{"n":` + n + `}}`
		}
		// exportLine is one line of an export stream, the format import takes.
		exportLine := func(n string) string {
			return `{"node":{"id":"01900000-0000-7000-8000-000000000001","label":"P","props":{"n":` + n +
				`},"tx_start":"2024-01-01T00:00:00Z"}}` + "\n"
		}
		e.tenant("numimport")

		for _, n := range []string{"1e1000000", "1e400", "-1.8e308", "1e-400", "0e-20000", "1" + strings.Repeat("0", 70)} {
			t.Run(n[:min(len(n), 12)], func(t *testing.T) {
				for _, c := range []struct {
					name, path, body, field string
				}{
					{"node", g + "/nodes", node(n), "props.n"},
					{"edge", g + "/edges", edge(n), "props.n"},
					{"batch node", g + "/batch", `{"nodes":[` + node(n) + `]}`, "nodes[0].props.n"},
					{"batch edge", g + "/batch", `{"nodes":[` + node("1") + `],"edges":[` + edge(n) + `]}`, "edges[0].props.n"},
				} {
					p := checkProblem(t, e.req("POST", c.path, w, c.body), 400, "invalid")
					checkFields(t, c.name, p, c.field)
				}
				var sum httpapi.IngestSummary
				e.must(200, "POST", g+"/ingest", w, `{"node":`+node(n)+"}\n"+`{"edge":`+edge(n)+"}\n").json(t, &sum)
				if sum.Rejected != 2 || len(sum.Errors) != 2 ||
					sum.Errors[0].Field != "node.props.n" || sum.Errors[0].Message != telamentis.NumberRule ||
					sum.Errors[1].Field != "edge.props.n" || sum.Errors[1].Message != telamentis.NumberRule {
					t.Errorf("ingest: %+v", sum)
				}
				p := checkProblem(t, e.req("POST", "/v1/tenants/numimport/import", e.admin, exportLine(n)), 400, "invalid")
				checkFields(t, "import", p, "line 1.node.props.n")
				var st telamentis.TenantStats
				e.must(200, "GET", g+"/stats", w, nil).json(t, &st)
				if st.Nodes != 2 || st.Edges != 0 {
					t.Fatalf("a refused number was written: %+v", st)
				}
			})
		}

		// Good numbers are kept as written on every path and every store.
		good := `{"big":1.7976931348623157e308,"tiny":5e-324,"long":123456789012345678901234567890,"exp":-2.50E-7,"zero":0e-999}`
		e.must(201, "POST", g+"/nodes", w, `{"alias":"n1","label":"P","props":`+good+`}`)
		e.must(200, "POST", g+"/batch", w, `{"nodes":[{"alias":"n2","label":"P","props":`+good+`}]}`)
		e.must(200, "POST", g+"/ingest", w, `{"node":{"alias":"n3","label":"P","props":`+good+`}}`+"\n")
		for _, a := range []string{"n1", "n2", "n3"} {
			var got telamentis.Node
			e.must(200, "GET", g+"/nodes?alias="+a, w, nil).json(t, &got)
			want, _ := telamentis.CanonicalProps(json.RawMessage(good))
			if string(got.Props) != string(want) {
				t.Errorf("%s: props %s, want %s", a, got.Props, want)
			}
		}
	})
}

// checkFields checks that a problem names exactly one field, with the
// number rule's message.
func checkFields(t *testing.T, name string, p map[string]any, field string) {
	t.Helper()
	errs, _ := p["errors"].([]any)
	if len(errs) != 1 {
		t.Errorf("%s: errors %v, want one on %s", name, p["errors"], field)
		return
	}
	f := errs[0].(map[string]any)
	if f["field"] != field || f["message"] != telamentis.NumberRule {
		t.Errorf("%s: error %v, want %s: %s", name, f, field, telamentis.NumberRule)
	}
}
