package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// libraryText are fragments of the error texts of encoding/json, strconv
// and time: none may reach a client.
var libraryText = []string{"json:", "Go value", "Go struct", "strconv", "unmarshal", "Unmarshal",
	"parsing time", "cannot parse", "invalid character", "looking for beginning", "of type "}

// TestNoLibraryErrorText sends bad bodies, lines and query strings to many
// routes, on every store: every answer is a problem (or an ingest summary)
// in the API's own words, naming the field, and never quotes a library's
// error text (issue 17: `1e400` answered "json: cannot unmarshal number
// 1e400 into Go value of type float64").
func TestNoLibraryErrorText(t *testing.T) {
	eachStore(t, func(t *testing.T, o envOptions) {
		e := newEnv(t, o)
		e.tenant("words")
		ta := e.key("words", telamentis.RoleTenantAdmin, false)
		e.node("words", ta, "a", "P", nil)
		e.node("words", ta, "b", "P", nil)
		edge := e.edge("words", ta, "k", "a", "b", "KNOWS", "")
		g := "/v1/graph/words"
		type call struct{ method, path, key, body, field string }
		var calls []call
		// Numbers that break the rule, in every numeric field of a body.
		for i, n := range []string{"1e400", "-1e400", "1e-400", "1e30", "9223372036854775808", "1e3", "1.0", "1.5"} {
			tq := fmt.Sprintf("tq%d", i) // a new tenant each time: a good value creates it
			calls = append(calls,
				call{"POST", g + "/nodes", ta, `{"label":"P","props":{"a":` + n + `}}`, ""},
				call{"POST", g + "/query", ta, `{"kind":"nodes","limit":` + n + `}`, "limit"},
				call{"POST", g + "/query", ta, `{"kind":"paths","start":{"alias":"a"},"depth":` + n + `}`, "depth"},
				call{"POST", g + "/query", ta, `{"kind":"nodes","props":{"a":` + n + `}}`, ""},
				call{"POST", "/v1/tenants", e.admin, `{"id":"` + tq + `a","quotas":{"max_nodes":` + n + `}}`, "quotas.max_nodes"},
				call{"POST", "/v1/tenants", e.admin, `{"id":"` + tq + `b","quotas":{"requests_per_second":` + n + `}}`, "quotas.requests_per_second"},
				call{"POST", "/v1/tenants", e.admin, `{"id":"` + tq + `c","retention_days":` + n + `}`, "retention_days"},
				call{"PATCH", "/v1/tenants/words", e.admin, `{"quotas":{"burst":` + n + `}}`, "quotas.burst"},
				call{"POST", "/v1/llm/words/extract", ta, `{"text":"x","min_confidence":` + n + `}`, "min_confidence"},
			)
		}
		// Wrong types and bad times.
		for _, c := range []struct{ path, body, field string }{
			{g + "/nodes", `{"label":5}`, "label"},
			{g + "/nodes", `{"label":"P","alias":["a"]}`, "alias"},
			{g + "/nodes", `{"label":"P","props":"x"}`, "props"},
			{g + "/nodes", `{"label":"P","props":[1]}`, "props"},
			{g + "/edges", `{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"2024-01-01"}`, "valid_from"},
			{g + "/edges", `{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"2024-13-01T00:00:00Z"}`, "valid_from"},
			{g + "/edges", `{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_to":5}`, "valid_to"},
			{g + "/edges", `{"from":"a","to":{"alias":"b"},"kind":"K"}`, "from"},
			{g + "/edges/" + edge + "/invalidate", `{"at":"yesterday"}`, "at"},
			{g + "/edges/" + edge + "/invalidate", `{"at":"0000-00-00T00:00:00Z"}`, "at"},
			{g + "/batch", `{"nodes":{"label":"P"}}`, "nodes"},
			{g + "/batch", `{"nodes":[{"label":"P","props":{"a":1e400}}]}`, ""},
			{g + "/query", `{"kind":"edges","valid_at":"2024-01-01T00:00:00"}`, "valid_at"},
			{g + "/query", `{"kind":"edges","kinds":"K"}`, "kinds"},
			{g + "/query", `{"kind":"edges","ids_only":"yes"}`, "ids_only"},
			{g + "/query", `{"kind":"edges","valid_between":{"start":"x"}}`, "valid_between.start"},
			{"/v1/tenants/words/keys", `{"role":"writer","expires_at":"soon"}`, "expires_at"},
			{"/v1/tenants/words/keys", `{"role":"writer","pii":"yes"}`, "pii"},
			{"/v1/llm/words/extract", `{"text":5}`, "text"},
			{"/v1/llm/words/extract", `{"messages":[{"role":"user","content":{}}]}`, "messages[0].content"},
			{"/v1/llm/words/extract", `{"text":"x","reference_time":"noon"}`, "reference_time"},
		} {
			key := ta
			if strings.HasPrefix(c.path, "/v1/tenants") {
				key = e.admin
			}
			calls = append(calls, call{"POST", c.path, key, c.body, c.field})
		}
		// Query strings.
		for _, q := range []string{"limit=1e400", "limit=99999999999999999999", "limit=x", "since=yesterday", "until=2024-01-01T00:00:00"} {
			calls = append(calls, call{"GET", g + "/changes?" + q, ta, "", ""})
		}
		calls = append(calls,
			call{"GET", "/v1/audit?after=-1", e.admin, "", ""},
			call{"GET", "/v1/audit?after=1e400", e.admin, "", ""},
			call{"GET", g + "/nodes/" + edge + "/neighbors?depth=1e400", ta, "", ""},
		)

		for _, c := range calls {
			var body any
			if c.body != "" {
				body = c.body
			}
			r := e.req(c.method, c.path, c.key, body)
			if r.status < 400 {
				continue // a value that is fine on this route (-1 as a props value)
			}
			p := checkProblem(t, r, r.status, slugOf(r.status))
			for _, frag := range libraryText {
				if strings.Contains(string(r.body), frag) {
					t.Errorf("%s %s %s: answer quotes a library (%q): %s", c.method, c.path, c.body, frag, r.body)
				}
			}
			if c.field != "" && r.status == 400 {
				errs, _ := p["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["field"] != c.field {
					t.Errorf("%s %s %s: errors %v, want field %s", c.method, c.path, c.body, p["errors"], c.field)
				}
			}
		}

		// Ingest and import lines answer per line, in the same words.
		lines := strings.Join([]string{
			`{"node":{"label":"P","props":{"a":1e400}}}`,
			`{"node":{"label":5}}`,
			`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"2024-01-01"}}`,
			`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_to":"2024-13-01T00:00:00Z"}}`,
			`{"node":{"label":"P","props":{"a":1}}`,
		}, "\n") + "\n"
		r := e.must(200, "POST", g+"/ingest", ta, lines)
		if !strings.Contains(string(r.body), `"rejected":5`) {
			t.Errorf("ingest: %s", r.body)
		}
		e.tenant("wordsimport")
		for _, line := range []string{
			`{"node":{"id":"01900000-0000-7000-8000-000000000001","label":"P","tx_start":"noon"}}`,
			`{"node":{"id":"01900000-0000-7000-8000-000000000001","label":5,"tx_start":"2024-01-01T00:00:00Z"}}`,
			`{"node":{"id":"01900000-0000-7000-8000-000000000001","label":"P","tx_start":"2024-01-01T00:00:00Z","props":{"a":1e400}}}`,
		} {
			r := e.req("POST", "/v1/tenants/wordsimport/import", e.admin, line+"\n")
			checkProblem(t, r, 400, "invalid")
			for _, frag := range libraryText {
				if strings.Contains(string(r.body), frag) {
					t.Errorf("import %s: answer quotes a library (%q): %s", line, frag, r.body)
				}
			}
		}
		for _, frag := range libraryText {
			if strings.Contains(string(r.body), frag) {
				t.Errorf("ingest: answer quotes a library (%q): %s", frag, r.body)
			}
		}
	})
}

// slugOf is the problem type of a status.
func slugOf(status int) string {
	switch status {
	case 400:
		return "invalid"
	case 403:
		return "forbidden"
	case 404:
		return "not-found"
	case 409:
		return "conflict"
	case 413:
		return "too-large"
	case 503:
		return "unavailable"
	}
	return ""
}
