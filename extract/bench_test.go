package extract_test

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/extract"
)

// instant is a Connector that answers at once, so that a benchmark measures
// the pipeline's own overhead: redaction, prompt, decoding, validation,
// resolution and the batch write. Each answer uses fresh aliases, so every
// iteration creates 50 nodes and 100 edges.
type instant struct{ n atomic.Int64 }

func (c *instant) Name() string  { return "instant" }
func (c *instant) Model() string { return "instant-1" }
func (c *instant) Complete(_ context.Context, req telamentis.LLMRequest) (telamentis.LLMResponse, error) {
	i := c.n.Add(1)
	return telamentis.LLMResponse{Provider: "instant", Model: "instant-1", Content: bigEnvelope(50, 100, strconv.FormatInt(i, 10)),
		Usage: telamentis.LLMUsage{InputTokens: 1000, OutputTokens: 4000}}, nil
}

func BenchmarkExtract(b *testing.B) {
	text := "Alice Smith (alice@example.com, +44 20 7946 0958) met Bob at Acme on 2024-01-02. " +
		"They discussed the migration, the budget and the Q3 roadmap with the platform team."
	for _, mode := range []string{"write", "dry_run"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b, extract.Config{Routes: []telamentis.Connector{&instant{}}})
			req := telamentis.ExtractRequest{Text: text, DryRun: mode == "dry_run"}
			var lat []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				res, err := e.svc.Extract(b.Context(), "acme", req)
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Created) != 150 {
					b.Fatalf("created %d", len(res.Created))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
