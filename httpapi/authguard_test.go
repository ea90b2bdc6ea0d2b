package httpapi_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/pipeline/ratelimit"
)

// TestFailedAuthGuardSparesValidKeys: a client IP that sends 30+ bad
// credentials uses up its failed-authentication budget, and its further
// failures get 429 with Retry-After; but valid keys of every tenant from
// that same IP (behind one proxy, say) still get through, held only to
// their own key limit.
func TestFailedAuthGuardSparesValidKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, o envOptions) {
		lim, err := ratelimit.New(ratelimit.Config{
			FailedAuth: ratelimit.Limits{RPS: 0.001, Burst: 10},
			Key:        ratelimit.Limits{RPS: 0.001, Burst: 5},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lim.Close() })
		o.guard = lim
		o.extraSteps = []telamentis.Step{lim}
		e := newEnv(t, o)
		e.tenant("acme")
		e.tenant("globex")
		acme := e.key("acme", telamentis.RoleReader, false)
		globex := e.key("globex", telamentis.RoleWriter, false)

		unknown := "tm_" + strings.Repeat("a", 16) + "_" + strings.Repeat("b", 52)
		wrongSecret := acme[:len(acme)-52] + strings.Repeat("c", 52)
		statuses := map[int]int{}
		for i := range 32 {
			var r resp
			switch i % 3 {
			case 0:
				r = e.req("GET", "/v1/whoami", unknown, nil)
			case 1:
				r = e.req("GET", "/v1/whoami", wrongSecret, nil)
			default:
				r = e.req("GET", "/v1/graph/acme/nodes", "", nil) // no credential
			}
			statuses[r.status]++
			if r.status == 429 {
				wantRetryAfter(t, r)
			}
		}
		if statuses[401] != 10 || statuses[429] != 22 {
			t.Fatalf("bad credentials: statuses %v, want 10 × 401 then 429s", statuses)
		}

		// Valid keys from the same IP: through, for every tenant.
		for range 2 {
			e.must(200, "GET", "/v1/whoami", acme, nil)
			e.must(200, "POST", "/v1/graph/acme/query", acme, map[string]any{"kind": "nodes"})
			e.must(200, "GET", "/v1/whoami", globex, nil)
		}
		// Bad credentials are still throttled.
		for _, bad := range []string{unknown, wrongSecret, ""} {
			r := e.req("GET", "/v1/whoami", bad, nil)
			if r.status != 429 {
				t.Fatalf("bad credential %q after the flood: %d", bad, r.status)
			}
			wantRetryAfter(t, r)
		}
		// A valid key still meets its own limit (burst 5).
		e.must(200, "GET", "/v1/whoami", acme, nil)
		r := e.req("GET", "/v1/whoami", acme, nil)
		checkProblem(t, r, 429, "rate-limited")
		wantRetryAfter(t, r)
		if st := lim.Stats(); st.Refused[ratelimit.ScopeKey] != 1 {
			t.Fatalf("refusals %v, want the last one by the key bucket", st.Refused)
		}
	})
}

func wantRetryAfter(t *testing.T, r resp) {
	t.Helper()
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("429 with Retry-After %q: %s", r.header.Get("Retry-After"), r.body)
	}
}
