package httpapi_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// benchNodes is the tenant size loaded before the benchmarks: a quarter of
// the medium workload (100K nodes over 4 tenants).
const benchNodes = 25_000

// BenchmarkHTTP measures node lookup by alias and node upsert through the
// whole stack — loopback HTTP, API-key authentication on every request,
// role and tenant checks, the pipeline (tenant guard, audit step), huma —
// on the badger store on disk (encrypted, synced commits), with 1 and 8
// keep-alive clients. It reports p50/p99 latency and requests/s.
//
//	go test ./httpapi -run '^$' -bench HTTP -benchtime 20000x
//
// TELAMENTIS_BENCH_NOSYNC=1 turns off fsync per commit, to separate the
// cost of the HTTP stack from the disk's.
func BenchmarkHTTP(b *testing.B) {
	master := make([]byte, 32)
	rand.Read(master)
	e := newEnv(b, envOptions{dir: b.TempDir(), masterKey: master, noSync: os.Getenv("TELAMENTIS_BENCH_NOSYNC") != ""})
	e.tenant("bench")
	key := e.key("bench", telamentis.RoleWriter, false)
	ctx := context.Background()
	for i := 0; i < benchNodes; i += 5000 {
		var batch telamentis.Batch
		for j := i; j < i+5000 && j < benchNodes; j++ {
			batch.Nodes = append(batch.Nodes, telamentis.NodeInput{Alias: fmt.Sprintf("person/%06d", j), Label: "Person",
				Props: []byte(fmt.Sprintf(`{"name":"Person %d","email":"p%d@example.com","age":%d,"city":"Lisbon"}`, j, j, 20+j%50))})
		}
		if _, err := e.store.ApplyBatch(ctx, "bench", batch); err != nil {
			b.Fatal(err)
		}
	}

	lookup := func(c *http.Client, i int) (*http.Request, error) {
		alias := fmt.Sprintf("person/%06d", (i*7919)%benchNodes)
		req, err := http.NewRequest("GET", e.url+"/v1/graph/bench/nodes?alias="+url.QueryEscape(alias), nil)
		req.Header.Set("Authorization", "Bearer "+key)
		return req, err
	}
	var seq atomic.Int64
	upsert := func(c *http.Client, i int) (*http.Request, error) {
		n := seq.Add(1)
		body := fmt.Sprintf(`{"alias":"writer/%04d","label":"Person","props":{"n":%d}}`, n%2000, n)
		req, err := http.NewRequest("POST", e.url+"/v1/graph/bench/nodes", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		return req, err
	}
	for _, op := range []struct {
		name string
		req  func(*http.Client, int) (*http.Request, error)
		ok   func(int) bool
	}{
		{"lookup", lookup, func(s int) bool { return s == 200 }},
		{"upsert", upsert, func(s int) bool { return s == 200 || s == 201 }},
	} {
		for _, clients := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/clients=%d", op.name, clients), func(b *testing.B) {
				runClients(b, clients, op.req, op.ok)
			})
		}
	}
}

// runClients sends b.N requests from n keep-alive clients and reports
// latency percentiles and throughput.
func runClients(b *testing.B, n int, mk func(*http.Client, int) (*http.Request, error), ok func(int) bool) {
	clients := make([]*http.Client, n)
	for i := range clients {
		clients[i] = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	}
	var next atomic.Int64
	lat := make([][]time.Duration, n)
	var failed atomic.Value
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := clients[c]
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				req, err := mk(cl, i)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				t0 := time.Now()
				res, err := cl.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat[c] = append(lat[c], time.Since(t0))
				if !ok(res.StatusCode) {
					failed.Store(fmt.Sprintf("status %d", res.StatusCode))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	for _, c := range clients {
		c.CloseIdleConnections()
	}
}

// BenchmarkIngest streams NDJSON nodes and then edges referring to them by
// alias through POST /ingest (on-disk store, synced commits) and reports
// lines per second.
func BenchmarkIngest(b *testing.B) {
	master := make([]byte, 32)
	rand.Read(master)
	e := newEnv(b, envOptions{dir: b.TempDir(), masterKey: master, noSync: os.Getenv("TELAMENTIS_BENCH_NOSYNC") != ""})
	key := ""
	const nodes = 20_000
	for i := 0; b.Loop(); i++ {
		tn := fmt.Sprintf("ing%d", i)
		e.tenant(tn)
		if key == "" || true {
			key = e.key(tn, telamentis.RoleWriter, false)
		}
		var body strings.Builder
		for j := range nodes {
			fmt.Fprintf(&body, `{"node":{"alias":"person/%06d","label":"Person","props":{"name":"Person %d","age":%d}}}`+"\n", j, j, j%90)
		}
		for j := range nodes * 4 {
			fmt.Fprintf(&body, `{"edge":{"from":{"alias":"person/%06d"},"to":{"alias":"person/%06d"},"kind":"KNOWS","valid_from":"2020-01-01T00:00:00Z","props":{"w":%d}}}`+"\n", j%nodes, (j*7919+1)%nodes, j)
		}
		t0 := time.Now()
		r := e.req("POST", "/v1/graph/"+tn+"/ingest?batch_size=5000", key, body.String())
		el := time.Since(t0)
		if r.status != 200 || !strings.Contains(r.String(), `"rejected":0`) {
			b.Fatalf("ingest: %d %.300s", r.status, r.body)
		}
		b.ReportMetric(float64(nodes*5)/el.Seconds(), "lines/s")
	}
}
