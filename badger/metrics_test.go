package badger_test

import (
	"fmt"
	"testing"

	"github.com/telamentis/telamentis"
)

// TestStoreMetrics reads the embedded store's own metrics: one database,
// value-log bytes once data is written, LSM tables and a rewrite after an
// erasure and Compact, nothing once closed.
func TestStoreMetrics(t *testing.T) {
	ctx := t.Context()
	s := openDisk(t, t.TempDir(), true)
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		in := telamentis.NodeInput{Alias: fmt.Sprintf("n%d", i), Label: "Person", Props: []byte(`{"name":"x"}`)}
		if _, err := s.UpsertNode(ctx, "acme", in); err != nil {
			t.Fatal(err)
		}
	}
	got := byName(s.StoreMetrics())
	if got["databases"] != 1 || got["vlog_size_bytes"] <= 0 || got["rewrites_total"] != 0 {
		t.Fatalf("after writes: %v", got)
	}
	if _, err := s.EraseNode(ctx, "acme", telamentis.Ref{Alias: "n1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	got = byName(s.StoreMetrics())
	if got["rewrites_total"] != 1 || got["lsm_size_bytes"] <= 0 || got["level_tables"] <= 0 {
		t.Fatalf("after compact: %v", got)
	}
	for _, m := range s.StoreMetrics() {
		if m.Name == "level_tables" && m.Labels["level"] == "" {
			t.Fatalf("level_tables without a level: %+v", m)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if m := s.StoreMetrics(); m != nil {
		t.Fatalf("closed store reports %v", m)
	}
}

// byName sums each metric's values over its labels.
func byName(ms []telamentis.StoreMetric) map[string]float64 {
	out := map[string]float64{}
	for _, m := range ms {
		out[m.Name] += m.Value
	}
	return out
}
