package httpapi

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
)

// benchLines are ingest lines of the kgbench medium shape, as kgctl
// ingest csv writes them.
var benchLines = map[string]string{
	"edge": `{"edge":{"alias":"1234567","from":{"alias":"14594"},"to":{"alias":"14159"},"kind":"WORKS_AT","valid_from":"2018-01-24T13:16:12Z","valid_to":"2018-02-10T10:49:30Z","props":{"w":0.544,"conf":0.86,"src":"doc"}}}`,
	"node": `{"node":{"alias":"12345","label":"Project","props":{"name":"Nokaki 0","score":0.960,"tags":["t26","t38"],"since":"2017-02-08"}}}`,
}

// BenchmarkIngestLine measures decoding one ingest line with every strict
// rule and normalising its item, as the ingest stream does.
func BenchmarkIngestLine(b *testing.B) {
	for _, kind := range []string{"edge", "node"} {
		b.Run(kind, func(b *testing.B) {
			line := []byte(benchLines[kind])
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				benchParse(b, line)
			}
		})
	}
}

// BenchmarkIngestRead measures the reading side of an ingest stream:
// splitting the body into lines, decoding each and forming batches, with
// a committer that drops them.
func BenchmarkIngestRead(b *testing.B) {
	var body bytes.Buffer
	const n = 20000
	for i := range n {
		fmt.Fprintf(&body, `{"edge":{"alias":"%d","from":{"alias":"%d"},"to":{"alias":"%d"},"kind":"KNOWS","valid_from":"2018-01-24T13:16:12Z","props":{"w":0.544,"conf":0.86,"src":"api"}}}`+"\n", i, i*7%100000, i*13%100000)
	}
	data := body.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		g := &ingester{size: 5000}
		batches := make(chan []pendingItem, 1)
		done := make(chan int)
		go func() {
			items := 0
			for p := range batches {
				items += len(p)
			}
			done <- items
		}()
		var failed atomic.Bool
		if err := g.read(bytes.NewReader(data), batches, &failed); err != nil {
			b.Fatal(err)
		}
		close(batches)
		if got := <-done; got != n || g.sum.Rejected != 0 {
			b.Fatalf("%d items, %d rejected", got, g.sum.Rejected)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "lines/s")
}

// benchDecoder is the decoder of BenchmarkIngestLine, reused as the
// ingest stream reuses its own.
var benchDecoder = newLineDecoder(64 << 10)

func benchParse(b *testing.B, line []byte) {
	if _, _, err := benchDecoder.decode(line); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBatchOf measures turning a full batch of pending items (the
// default 5000 edges of kgctl) into the batch given to the store.
func BenchmarkBatchOf(b *testing.B) {
	d := newLineDecoder(64 << 10)
	var sl slabs
	items := make([]pendingItem, 0, 5000)
	for i := range 5000 {
		_, e, err := d.decode([]byte(benchLines["edge"]))
		if err != nil {
			b.Fatal(err)
		}
		items = append(items, pendingItem{line: i + 1, edge: sl.edge(*e, 5000)})
	}
	b.ReportAllocs()
	for b.Loop() {
		batch, _, edgeAt := batchOf(items)
		if len(batch.Edges) != 5000 || len(edgeAt) != 5000 {
			b.Fatal("wrong batch")
		}
	}
}
