package badger_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
)

// benchGraph loads nodes nodes and ~8 edges per node into tenant "bench".
func benchGraph(b *testing.B, s *badger.Store, nodes int) {
	b.Helper()
	ctx := b.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "bench"}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for lo := 0; lo < nodes; lo += 500 {
		var batch telamentis.Batch
		for i := lo; i < min(lo+500, nodes); i++ {
			batch.Nodes = append(batch.Nodes, telamentis.NodeInput{Alias: fmt.Sprintf("n%d", i), Label: "Person",
				Props: json.RawMessage(fmt.Sprintf(`{"name":"person %d","score":0.5}`, i))})
		}
		if _, err := s.ApplyBatch(ctx, "bench", batch); err != nil {
			b.Fatal(err)
		}
	}
	for lo := 0; lo < nodes; lo += 200 {
		var batch telamentis.Batch
		for i := lo; i < min(lo+200, nodes); i++ {
			for range 8 {
				batch.Edges = append(batch.Edges, telamentis.EdgeInput{
					From: telamentis.Ref{Alias: fmt.Sprintf("n%d", i)}, To: telamentis.Ref{Alias: fmt.Sprintf("n%d", r.IntN(nodes))},
					Kind:      []string{"KNOWS", "WORKS_AT", "LIKES"}[r.IntN(3)],
					ValidFrom: time.Date(2015+r.IntN(9), 1, 1, 0, 0, 0, 0, time.UTC),
					Props:     json.RawMessage(`{"w":0.5}`),
				})
			}
		}
		if _, err := s.ApplyBatch(ctx, "bench", batch); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuMeter reports the process's CPU time per operation (user + system,
// including the garbage collector's), which on a shared machine is steadier
// than wall time.
type cpuMeter struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuMeter {
	runtime.GC()
	return cpuMeter{processCPU()}
}

func (m cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-m.start)/float64(b.N), "cpu-ns/op")
}

func benchStores(b *testing.B) map[string]func(b *testing.B) *badger.Store {
	return map[string]func(b *testing.B) *badger.Store{
		"memory": func(b *testing.B) *badger.Store { return newMem(b) },
		"disk-encrypted": func(b *testing.B) *badger.Store {
			s := openDisk(b, b.TempDir(), true)
			b.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// BenchmarkUpsert measures single-node upserts that change the node by
// concurrent writers (goroutines; at least GOMAXPROCS of them). On disk
// every commit syncs and concurrent writers share the syncs.
func BenchmarkUpsert(b *testing.B) {
	for _, name := range []string{"memory", "disk-encrypted"} {
		for _, writers := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("store=%s/writers=%d", name, writers), func(b *testing.B) {
				s := benchStores(b)[name](b)
				if _, err := s.CreateTenant(b.Context(), telamentis.Tenant{ID: "bench"}); err != nil {
					b.Fatal(err)
				}
				var seq atomic.Int64
				b.ReportAllocs()
				cpu := startCPU()
				g0, c0 := s.CommitCounts()
				defer func() {
					cpu.report(b)
					if g, c := s.CommitCounts(); g > g0 {
						b.ReportMetric(float64(c-c0)/float64(g-g0), "writes/commit")
					}
				}()
				// RunParallel starts parallelism × GOMAXPROCS goroutines.
				par := max(1, writers/runtime.GOMAXPROCS(0))
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := seq.Add(1)
						_, err := s.UpsertNode(b.Context(), "bench", telamentis.NodeInput{
							Alias: fmt.Sprintf("n%d", i%1000), Label: "Person", Props: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkGetByAlias measures a current lookup by alias.
func BenchmarkGetByAlias(b *testing.B) {
	s := newMem(b)
	benchGraph(b, s, 10_000)
	r := rand.New(rand.NewPCG(3, 4))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetNode(b.Context(), "bench", telamentis.Ref{Alias: fmt.Sprintf("n%d", r.IntN(10_000))}, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHop1 measures the out-neighbourhood of a node valid at a time,
// now and as at a past transaction time.
func BenchmarkHop1(b *testing.B) {
	s := newMem(b)
	benchGraph(b, s, 10_000)
	past := time.Now()
	// Later versions, so that as-at reads skip over them.
	for i := range 2000 {
		if _, err := s.UpsertNode(b.Context(), "bench", telamentis.NodeInput{Alias: fmt.Sprintf("n%d", i*5), Label: "Person"}); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		asAt time.Time
	}{{"now", time.Time{}}, {"as-at", past}} {
		b.Run(tc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(5, 6))
			b.ReportAllocs()
			for b.Loop() {
				_, err := s.Query(b.Context(), "bench", telamentis.Query{
					Kind: telamentis.QueryPaths, Start: &telamentis.Ref{Alias: fmt.Sprintf("n%d", r.IntN(10_000))},
					ValidAt: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), AsAt: tc.asAt,
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOverlap measures an interval-overlap query by kind, paged to the
// end in pages of 1000 (about 27K edges of the kind, ~40% matching), on
// the index as writes built it and as reopening a disk store rebuilds it.
func BenchmarkOverlap(b *testing.B) {
	b.Run("written", func(b *testing.B) {
		s := newMem(b)
		benchGraph(b, s, 10_000)
		benchOverlap(b, s)
	})
	b.Run("reopened", func(b *testing.B) {
		dir := b.TempDir()
		s := openDisk(b, dir, true)
		benchGraph(b, s, 10_000)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		s = openDisk(b, dir, true)
		b.Cleanup(func() { s.Close() })
		benchOverlap(b, s)
	})
}

// BenchmarkOverlapLarge is BenchmarkOverlap on a reopened store with
// 300,000 imported edges of 10 kinds, large enough that the index does not
// fit in the CPU caches (like the medium workload's tenants).
func BenchmarkOverlapLarge(b *testing.B) {
	dir := b.TempDir()
	s := openDisk(b, dir, true)
	ctx := b.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "bench"}); err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	uid := func(kind, i int) string {
		return fmt.Sprintf("%08x-0000-4000-8000-%012x", kind, (i*0x9E3779B1)&(1<<48-1))
	}
	const nodes = 30_000
	ns := make([]telamentis.Node, nodes)
	for i := range ns {
		ns[i] = telamentis.Node{ID: uid(1, i), Label: "Person", Props: json.RawMessage(`{"name":"x"}`), TxStart: t0}
	}
	if err := s.Import(ctx, "bench", ns, nil); err != nil {
		b.Fatal(err)
	}
	kinds := []string{"KNOWS", "WORKS_AT", "LIKES", "MEMBER_OF", "OWNS", "ABOUT", "MENTIONS", "LOCATED_IN", "CITES", "FOLLOWS"}
	r := rand.New(rand.NewPCG(9, 10))
	for lo := 0; lo < 300_000; lo += 20_000 {
		es := make([]telamentis.Edge, 0, 20_000)
		for i := lo; i < lo+20_000; i++ {
			es = append(es, telamentis.Edge{ID: uid(2, i), From: uid(1, r.IntN(nodes)), To: uid(1, r.IntN(nodes)),
				Kind: kinds[r.IntN(len(kinds))], ValidFrom: time.Date(2015+r.IntN(9), 1, 1, 0, 0, 0, 0, time.UTC), TxStart: t0,
				Props: json.RawMessage(fmt.Sprintf(`{"w":0.%03d,"conf":0.86,"src":"doc"}`, r.IntN(1000)))})
		}
		if err := s.Import(ctx, "bench", nil, es); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	s = openDisk(b, dir, true)
	b.Cleanup(func() { s.Close() })
	benchOverlap(b, s)
}

func benchOverlap(b *testing.B, s *badger.Store) {
	b.ReportAllocs()
	rows := 0
	cpu := startCPU()
	for b.Loop() {
		q := telamentis.Query{Kind: telamentis.QueryEdges, Kinds: []string{"KNOWS"}, Limit: telamentis.MaxLimit,
			ValidBetween: &telamentis.Interval{Start: time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)}}
		rows = 0
		for {
			p, err := s.Query(b.Context(), "bench", q)
			if err != nil {
				b.Fatal(err)
			}
			rows += len(p.Edges)
			if p.NextCursor == "" {
				break
			}
			q.Cursor = p.NextCursor
		}
	}
	cpu.report(b)
	b.ReportMetric(float64(rows), "rows/op")
}

// BenchmarkImport measures Import on disk with encryption and syncing: an
// op is one call with 20,000 edge rows (a fifth of them a second version)
// between 10,000 nodes imported first, like the workload runner's load.
// Edge IDs come in random order.
func BenchmarkImport(b *testing.B) {
	s := openDisk(b, b.TempDir(), true)
	b.Cleanup(func() { s.Close() })
	ctx := b.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: "bench"}); err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	uid := func(kind, i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", kind, i) }
	const nodes = 10_000
	ns := make([]telamentis.Node, nodes)
	for i := range ns {
		ns[i] = telamentis.Node{ID: uid(1, i), Label: "Person", Props: json.RawMessage(`{"name":"x"}`), TxStart: t0}
	}
	if err := s.Import(ctx, "bench", ns, nil); err != nil {
		b.Fatal(err)
	}
	kinds := []string{"KNOWS", "WORKS_AT", "LIKES", "MEMBER_OF"}
	r := rand.New(rand.NewPCG(7, 8))
	next := 0
	batch := func() []telamentis.Edge {
		var es []telamentis.Edge
		for len(es) < 20_000 {
			id := uid(2, (next*0x9E3779B1)&(1<<48-1)) // IDs in random order, like UUIDs
			next++
			e := telamentis.Edge{ID: id, From: uid(1, r.IntN(nodes)), To: uid(1, r.IntN(nodes)), Kind: kinds[r.IntN(len(kinds))],
				ValidFrom: t0.Add(time.Duration(r.IntN(1000)) * time.Hour), TxStart: t0,
				Props: json.RawMessage(`{"w":0.544,"conf":0.86,"src":"doc"}`)}
			if r.IntN(5) == 0 {
				e2 := e
				e.TxEnd = t0.Add(time.Hour)
				e2.TxStart = e.TxEnd
				e2.Props = json.RawMessage(`{"w":0.678,"conf":0.87,"src":"doc"}`)
				es = append(es, e, e2)
				continue
			}
			es = append(es, e)
		}
		return es
	}
	b.ReportAllocs()
	var cpu time.Duration
	rows := 0
	for b.Loop() {
		b.StopTimer()
		es := batch()
		runtime.GC()
		b.StartTimer()
		c0 := processCPU()
		if err := s.Import(ctx, "bench", nil, es); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - c0
		rows += len(es)
	}
	b.ReportMetric(float64(cpu)/float64(rows), "cpu-ns/row")
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkApplyBatch measures the write path of ingest in memory: an op
// is one batch of 1000 items by alias, as the ingest endpoint sends them —
// new nodes, or edges between 10,000 existing nodes of which a fifth
// update an edge of an earlier batch (new props). It reports the process's
// CPU time per item.
func BenchmarkApplyBatch(b *testing.B) {
	const size = 1000
	for _, items := range []string{"nodes", "edges"} {
		b.Run("items="+items, func(b *testing.B) {
			s := newMem(b)
			benchGraph(b, s, 10_000)
			ctx := b.Context()
			r := rand.New(rand.NewPCG(9, 10))
			edge := func(j int, props string) telamentis.EdgeInput {
				k := j % 10_000
				return telamentis.EdgeInput{Alias: fmt.Sprintf("e%d", j),
					From: telamentis.Ref{Alias: fmt.Sprintf("n%d", k)}, To: telamentis.Ref{Alias: fmt.Sprintf("n%d", (k*7919)%10_000)},
					Kind: "KNOWS", ValidFrom: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Props: json.RawMessage(props)}
			}
			created, ops := 0, 0
			batch := func() telamentis.Batch {
				var bt telamentis.Batch
				ops++
				for range size {
					switch {
					case items == "nodes":
						bt.Nodes = append(bt.Nodes, telamentis.NodeInput{Alias: fmt.Sprintf("new%d", created), Label: "Person",
							Props: json.RawMessage(fmt.Sprintf(`{"name":"person %d","score":0.5}`, created))})
						created++
					case created >= size && r.IntN(5) == 0:
						bt.Edges = append(bt.Edges, edge(r.IntN(created-size), fmt.Sprintf(`{"w":%d}`, ops)))
					default:
						bt.Edges = append(bt.Edges, edge(created, `{"w":0}`))
						created++
					}
				}
				return bt
			}
			b.ReportAllocs()
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				bt := batch()
				b.StartTimer()
				c0 := processCPU()
				if _, err := s.ApplyBatch(ctx, "bench", bt); err != nil {
					b.Fatal(err)
				}
				cpu += processCPU() - c0
			}
			b.ReportMetric(float64(cpu)/float64(b.N*size), "cpu-ns/item")
		})
	}
}
