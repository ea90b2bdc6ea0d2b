package metrics

import (
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// reporter is a store's metrics as fixed values, to check how they are
// exported; badger and postgres test their own values.
type reporter []telamentis.StoreMetric

func (r reporter) StoreMetrics() []telamentis.StoreMetric { return r }

func TestBuildInfo(t *testing.T) {
	m := New()
	m.SetBuildInfo("1.2.3", "abc123")
	body := exposition(t, m)
	want := `telamentis_build_info{goversion="` + runtime.Version() + `",revision="abc123",version="1.2.3"} 1`
	if !strings.Contains(body, want) {
		t.Fatalf("exposition lacks %s:\n%s", want, grepLines(body, "build_info"))
	}
	// Without a revision the binary's own VCS stamp is used; a test binary
	// has none.
	m = New()
	m.SetBuildInfo("dev", "")
	if !strings.Contains(exposition(t, m), `revision="unknown"`) {
		t.Fatalf("no unknown revision:\n%s", grepLines(exposition(t, m), "build_info"))
	}
}

func TestWatchStore(t *testing.T) {
	m := New()
	m.WatchStore("badger", reporter{
		{Name: "lsm_size_bytes", Help: "LSM size.", Value: 4096},
		{Name: "level_tables", Help: "Tables per level.", Labels: map[string]string{"level": "0"}, Value: 3},
		{Name: "level_tables", Help: "Tables per level.", Labels: map[string]string{"level": "1"}, Value: 5},
		{Name: "compactions_total", Help: "Compactions.", Kind: telamentis.StoreCounter, Value: 7},
		// Broken names and labels are dropped, never exported.
		{Name: "Bad-Name", Help: "x", Value: 1},
		{Name: "no_help", Value: 1},
		{Name: "tenant_bytes", Help: "x", Labels: map[string]string{"tenant": "Acme Corp " + canary}, Value: 1},
		{Name: "shadow", Help: "x", Labels: map[string]string{"backend": "postgres"}, Value: 1},
	})
	body := exposition(t, m)
	for _, want := range []string{
		`telamentis_store_lsm_size_bytes{backend="badger"} 4096`,
		`telamentis_store_level_tables{backend="badger",level="0"} 3`,
		`telamentis_store_level_tables{backend="badger",level="1"} 5`,
		"# TYPE telamentis_store_compactions_total counter",
		`telamentis_store_compactions_total{backend="badger"} 7`,
		"# TYPE telamentis_store_lsm_size_bytes gauge",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
	for _, bad := range []string{"Bad-Name", "no_help", "tenant_bytes", "shadow", canary} {
		if strings.Contains(body, bad) {
			t.Errorf("exposition holds %q", bad)
		}
	}
	if t.Failed() {
		t.Log(grepLines(body, "telamentis_store_"))
	}
}

func exposition(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	code, body := scrape(t, srv.URL, "")
	if code != 200 {
		t.Fatalf("scrape: %d %s", code, body)
	}
	return body
}

func grepLines(body, substr string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
