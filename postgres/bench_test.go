package postgres_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/postgres"
)

// benchGraph imports a graph of n nodes and about 5n edges (20 % of them
// with a superseded version), with skewed degrees (the first IDs are hubs),
// into a fresh tenant and returns the node IDs. Benchmarks start from IDs
// spread over the whole range.
func benchGraph(b testing.TB, s *postgres.Store, tenant string, n int) []string {
	b.Helper()
	ctx := b.Context()
	if _, err := s.CreateTenant(ctx, telamentis.Tenant{ID: tenant}); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, 1))
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	nodes := make([]telamentis.Node, n)
	ids := make([]string, n)
	for i := range nodes {
		id, _ := uuid.NewV7()
		ids[i] = id.String()
		nodes[i] = telamentis.Node{ID: ids[i], Alias: fmt.Sprintf("person/%d", i), Label: "Person",
			Props: json.RawMessage(fmt.Sprintf(`{"name":"p%d","score":%d}`, i, rng.IntN(1000))), TxStart: t0}
	}
	var edges []telamentis.Edge
	kinds := []string{"KNOWS", "WORKS_AT", "ABOUT"}
	for i := range n * 5 {
		id, _ := uuid.NewV7()
		vf := time.Date(2015+rng.IntN(9), 1, 1, 0, 0, 0, 0, time.UTC)
		// Skewed endpoints (a few hubs), like the standard workload's
		// power-law degrees.
		skew := func() string { f := rng.Float64(); return ids[int(f*f*f*float64(n))] }
		e := telamentis.Edge{ID: id.String(), From: skew(), To: skew(), Kind: kinds[i%3],
			Props: json.RawMessage(`{"w":1}`), ValidFrom: vf, TxStart: t0}
		if i%5 == 0 {
			old := e
			old.TxEnd = t0.Add(time.Hour)
			old.Props = json.RawMessage(`{"w":0}`)
			e.TxStart = old.TxEnd
			edges = append(edges, old)
		}
		edges = append(edges, e)
	}
	if err := s.Import(ctx, tenant, nodes, edges); err != nil {
		b.Fatal(err)
	}
	return ids
}

func BenchmarkStore(b *testing.B) {
	d := database(b)
	s := d.open(b, d.newSchema(b), nil)
	ids := benchGraph(b, s, "bench", 10_000)
	ctx := b.Context()
	vt := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)

	b.Run("upsert", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := s.UpsertNode(ctx, "bench", telamentis.NodeInput{Alias: fmt.Sprintf("person/%d", i%len(ids)), Label: "Person",
				Props: json.RawMessage(fmt.Sprintf(`{"name":"p","v":%d}`, i))}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lookup", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := s.GetNode(ctx, "bench", telamentis.Ref{Alias: fmt.Sprintf("person/%d", i%len(ids))}, time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for depth := 1; depth <= 2; depth++ {
		b.Run(fmt.Sprintf("hop%d", depth), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := s.Query(ctx, "bench", telamentis.Query{Kind: telamentis.QueryPaths, Depth: depth,
					Start: &telamentis.Ref{ID: ids[(i*7919)%len(ids)]}, ValidAt: vt, Limit: telamentis.MaxLimit}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("out-edges", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := s.Query(ctx, "bench", telamentis.Query{Kind: telamentis.QueryEdges,
				From: &telamentis.Ref{ID: ids[(i*7919)%len(ids)]}, ValidAt: vt}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("out-edges-nodes", func(b *testing.B) { // the standard workload's hop1
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := s.Query(ctx, "bench", telamentis.Query{Kind: telamentis.QueryEdges, IncludeNodes: true, Limit: telamentis.MaxLimit,
				From: &telamentis.Ref{ID: ids[(i*7919)%len(ids)]}, ValidAt: vt}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("asat", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		at := time.Date(2024, 1, 1, 0, 30, 0, 0, time.UTC)
		for b.Loop() {
			i++
			if _, err := s.Query(ctx, "bench", telamentis.Query{Kind: telamentis.QueryEdges, AsAt: at,
				From: &telamentis.Ref{ID: ids[(i*7919)%len(ids)]}, ValidAt: vt}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("overlap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Query(ctx, "bench", telamentis.Query{Kind: telamentis.QueryEdges, Kinds: []string{"KNOWS"},
				ValidBetween: &telamentis.Interval{Start: vt, End: vt.AddDate(0, 1, 0)}, Limit: telamentis.MaxLimit}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkImport measures the COPY path: rows (node and edge versions)
// per second, indexes included.
func BenchmarkImport(b *testing.B) {
	d := database(b)
	s := d.open(b, d.newSchema(b), func(c *postgres.Config) {
		if os.Getenv("TM_DEBUG") != "" {
			c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	})
	n := 0
	for b.Loop() {
		n++
		benchGraph(b, s, fmt.Sprintf("imp-%d", n), 10_000)
	}
	b.ReportMetric(float64(n)*(10_000+60_000)/b.Elapsed().Seconds(), "rows/s")
}

func benchGraphT(t testing.TB, s *postgres.Store, tenant string, n int) []string {
	return benchGraph(t, s, tenant, n)
}
