package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchServer starts `telamentis serve` in memory with args and a tenant
// "bench" holding n nodes person/00000…; it returns the base URL, a
// client, the admin key, a writer key of "bench" and the API helper.
func benchServer(b *testing.B, args []string, n int) (base string, hc *http.Client, admin, writer string, a *api, stop func() error) {
	b.Helper()
	addr, logs, stop := startRun(b, append([]string{"--in-memory"}, args...), nil)
	admin = keyRe.FindString(logs.String())
	base = "http://" + addr
	hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	if slices.Contains(args, "--tls-cert-file") {
		base = "https://" + addr
		hc.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	a = &api{t: b, base: base, hc: hc}
	writer = a.tenantKey(admin, "bench", "writer", nil)
	for i := 0; i < n; i += 1000 {
		var nodes []map[string]any
		for j := i; j < i+1000 && j < n; j++ {
			nodes = append(nodes, map[string]any{"alias": fmt.Sprintf("person/%05d", j), "label": "Person",
				"props": map[string]any{"name": fmt.Sprint("Person ", j), "city": "Lisbon"}})
		}
		a.must(200, "POST", "/v1/graph/bench/batch", writer, map[string]any{"nodes": nodes})
	}
	return base, hc, admin, writer, a, stop
}

// latencies runs n sequential requests made by mk and returns their
// sorted latencies; a status other than ok fails the benchmark.
func latencies(b *testing.B, hc *http.Client, n int, mk func(i int) *http.Request, ok func(int) bool) []time.Duration {
	lat := make([]time.Duration, 0, n)
	for i := range n {
		req := mk(i)
		t0 := time.Now()
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		lat = append(lat, time.Since(t0))
		if !ok(res.StatusCode) {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
	slices.Sort(lat)
	return lat
}

func pct(lat []time.Duration, p int) float64 {
	if len(lat) == 0 {
		return 0
	}
	return float64(lat[min(len(lat)-1, len(lat)*p/100)].Microseconds())
}

// BenchmarkServeHardening measures the cost of the hardening on node
// lookup by alias and node upsert through the real serve path (in-memory
// store, one keep-alive client): bare (plaintext, no audit log, no
// limits), tls, and tls+audit+limits (audit log with throttled
// authentication-success records, tenant, key and IP buckets that never
// refuse).
//
//	go test ./cmd/telamentis -run '^$' -bench ServeHardening -benchtime 5000x
func BenchmarkServeHardening(b *testing.B) {
	dir := b.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(b, cert, key, "bench")
	tlsArgs := []string{"--tls-cert-file", cert, "--tls-key-file", key}
	limits := []string{"--audit-dir", filepath.Join(dir, "audit"), "--no-sync", "--audit-auth-success",
		"--ratelimit-tenant-rps", "1000000", "--ratelimit-key-rps", "1000000", "--ratelimit-ip-rps", "1000000"}
	for _, v := range []struct {
		name string
		args []string
	}{
		{"bare", nil},
		{"tls", tlsArgs},
		{"tls+audit+limits", append(append([]string{}, tlsArgs...), limits...)},
	} {
		base, hc, _, writer, _, stop := benchServer(b, v.args, 5000)
		var seq atomic.Int64
		ops := []struct {
			name string
			mk   func(int) *http.Request
			ok   func(int) bool
		}{
			{"lookup", func(i int) *http.Request {
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/graph/bench/nodes?alias=person/%05d", base, (i*7919)%5000), nil)
				req.Header.Set("Authorization", "Bearer "+writer)
				return req
			}, func(s int) bool { return s == 200 }},
			{"upsert", func(int) *http.Request {
				n := seq.Add(1)
				req, _ := http.NewRequest("POST", base+"/v1/graph/bench/nodes",
					strings.NewReader(fmt.Sprintf(`{"alias":"writer/%04d","label":"Person","props":{"n":%d}}`, n%2000, n)))
				req.Header.Set("Authorization", "Bearer "+writer)
				req.Header.Set("Content-Type", "application/json")
				return req
			}, func(s int) bool { return s == 200 || s == 201 }},
		}
		for _, op := range ops {
			b.Run(op.name+"/"+v.name, func(b *testing.B) {
				b.ResetTimer()
				start := time.Now()
				lat := latencies(b, hc, b.N, op.mk, op.ok)
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(pct(lat, 50), "p50-µs")
				b.ReportMetric(pct(lat, 99), "p99-µs")
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
			})
		}
		hc.CloseIdleConnections()
		stop()
	}
}

// BenchmarkNoisyNeighbour: tenant B runs a steady lookup load alone, then
// again while tenant A floods at ten times its rate limit (A: 100/s, burst
// 100; the flood is paced at 1000/s from 8 clients). It reports B's p50
// and p99 alone and under the flood, their ratio, and the share of A's
// requests refused with 429.
//
//	go test ./cmd/telamentis -run '^$' -bench NoisyNeighbour -benchtime 3000x
func BenchmarkNoisyNeighbour(b *testing.B) {
	base, hc, admin, _, a, stop := benchServer(b, nil, 0)
	defer stop()
	keyA := a.tenantKey(admin, "noisy", "reader", map[string]any{"requests_per_second": 100, "burst": 100})
	keyB := a.tenantKey(admin, "calm", "writer", map[string]any{"requests_per_second": 100000, "burst": 100000})
	for i := range 1000 {
		if i%250 == 0 {
			var nodes []map[string]any
			for j := i; j < i+250; j++ {
				nodes = append(nodes, map[string]any{"alias": fmt.Sprintf("p%04d", j), "label": "Person"})
			}
			a.must(200, "POST", "/v1/graph/calm/batch", keyB, map[string]any{"nodes": nodes})
		}
	}
	mkB := func(i int) *http.Request {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/graph/calm/nodes?alias=p%04d", base, (i*7919)%1000), nil)
		req.Header.Set("Authorization", "Bearer "+keyB)
		return req
	}
	ok := func(s int) bool { return s == 200 }
	latencies(b, hc, 200, mkB, ok) // warm up

	b.ResetTimer()
	alone := latencies(b, hc, b.N, mkB, ok)

	var sent, refused atomic.Int64
	stopFlood := make(chan struct{})
	work := make(chan struct{}, 64)
	var wg sync.WaitGroup
	floodClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				req, _ := http.NewRequest("GET", base+"/v1/graph/noisy/stats", nil)
				req.Header.Set("Authorization", "Bearer "+keyA)
				res, err := floodClient.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				sent.Add(1)
				if res.StatusCode == http.StatusTooManyRequests {
					refused.Add(1)
				}
			}
		}()
	}
	go func() {
		tick := time.NewTicker(time.Millisecond) // 1000/s = 10 × A's limit
		defer tick.Stop()
		defer close(work)
		for {
			select {
			case <-stopFlood:
				return
			case <-tick.C:
				select {
				case work <- struct{}{}:
				default:
				}
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // let the flood exhaust A's burst
	floodStart := time.Now()
	flood := latencies(b, hc, b.N, mkB, ok)
	floodTime := time.Since(floodStart)
	close(stopFlood)
	wg.Wait()
	b.StopTimer()

	b.ReportMetric(pct(alone, 50), "alone-p50-µs")
	b.ReportMetric(pct(alone, 99), "alone-p99-µs")
	b.ReportMetric(pct(flood, 50), "flood-p50-µs")
	b.ReportMetric(pct(flood, 99), "flood-p99-µs")
	b.ReportMetric(pct(flood, 99)/max(1, pct(alone, 99)), "p99-ratio")
	if n := sent.Load(); n > 0 {
		b.ReportMetric(float64(refused.Load())/float64(n), "A-429-share")
		b.ReportMetric(float64(n)/(floodTime.Seconds()+0.2), "A-req/s")
	}
}
