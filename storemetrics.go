package telamentis

// StoreMetricKind says how a StoreMetric's value behaves over time.
type StoreMetricKind int

// The kinds of StoreMetric.
const (
	// StoreGauge is a level that goes up and down (a size, open
	// connections).
	StoreGauge StoreMetricKind = iota
	// StoreCounter is a total that only grows while the store is open
	// (acquisitions, compactions).
	StoreCounter
)

// StoreMetric is one value a store reports about itself. Name is
// lowercase snake case ending in its unit ("lsm_size_bytes",
// "pool_acquire_wait_seconds"); Help is one sentence; Labels, if any, come
// from a small fixed set of names and values ({"level": "2"},
// {"pool": "owner"}) and never hold a tenant's data. A name always comes
// with the same label names and kind.
type StoreMetric struct {
	Name   string
	Help   string
	Kind   StoreMetricKind
	Labels map[string]string
	Value  float64
}

// StoreMetrics is an optional Store ability: StoreMetrics returns the
// store's own current values — file sizes, compactions, connection pool
// use — which the metrics endpoint reads on every scrape. It is safe for
// concurrent use with every other method, cheap (memory, or at most a
// directory listing), and returns nil once the store is closed.
type StoreMetrics interface {
	StoreMetrics() []StoreMetric
}
