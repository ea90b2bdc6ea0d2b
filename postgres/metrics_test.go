package postgres_test

import (
	"testing"

	"github.com/telamentis/telamentis"
)

// TestStoreMetrics reads the pools' statistics: the service pool has
// acquired connections for the writes, the owner pool is reported apart,
// and a closed store reports nothing.
func TestStoreMetrics(t *testing.T) {
	d := database(t)
	s := d.open(t, d.newSchema(t), nil)
	ctx := t.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertNode(ctx, "acme", telamentis.NodeInput{Alias: "a", Label: "Person"}); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, m := range s.StoreMetrics() {
		got[m.Labels["pool"]+"/"+m.Name] = m.Value
	}
	if got["service/pool_acquires_total"] < 2 || got["service/pool_total_conns"] < 1 || got["service/pool_new_conns_total"] < 1 ||
		got["service/pool_max_conns"] < 1 || got["service/pool_acquired_conns"] != 0 {
		t.Fatalf("service pool: %v", got)
	}
	if _, ok := got["owner/pool_max_conns"]; !ok {
		t.Fatalf("no owner pool: %v", got)
	}
	s.Close()
	if m := s.StoreMetrics(); m != nil {
		t.Fatalf("closed store reports %v", m)
	}
}
