package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// typeResult is one measured pass of one query type, in the JSON form of
// the shared kgbench runners (field names and units are theirs).
type typeResult struct {
	Type       string  `json:"type"`
	Clients    int     `json:"clients"`
	N          int     `json:"n"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	MeanUs     float64 `json:"mean_us"`
	QPS        float64 `json:"qps"`
	Rows       int     `json:"rows"`
	Expected   int     `json:"expected_rows"`
	Mismatches int     `json:"mismatches"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
}

// report is results/<engine>-<size>.json in the kgbench format, which
// summarize.py reads.
type report struct {
	Engine  string             `json:"engine"`
	Size    string             `json:"size"`
	Date    string             `json:"date"`
	Machine string             `json:"machine"`
	Ingest  map[string]float64 `json:"ingest"`
	Notes   []string           `json:"notes,omitempty"`
	Queries []typeResult       `json:"queries"`
}

// write stores the report as dir/<engine>-<size>.json and returns the path.
func (r *report) write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, r.Engine+"-"+r.Size+".json")
	return p, os.WriteFile(p, append(b, '\n'), 0o644)
}

// valid reports whether every query returned its expected row count
// without error.
func (r *report) valid() bool {
	for _, q := range r.Queries {
		if q.Mismatches > 0 || q.Errors > 0 {
			return false
		}
	}
	return true
}

// execFunc runs one query as client worker and returns the rows it read.
type execFunc func(worker int, q *benchQuery) (int, error)

// mismatch records a query whose row count differed from its expectation.
type mismatch struct {
	Q   benchQuery
	Got int
}

// runType runs qs with `clients` workers, each taking every clients-th
// query (the kgbench method): latency per query is execute plus consume
// every row; throughput is queries over wall time.
func runType(typ string, qs []benchQuery, clients int, exec execFunc) (typeResult, []mismatch) {
	lat := make([]time.Duration, len(qs))
	rows := make([]int, len(qs))
	errs := make([]error, len(qs))
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			for i := w; i < len(qs); i += clients {
				t0 := time.Now()
				n, err := exec(w, &qs[i])
				lat[i] = time.Since(t0)
				rows[i], errs[i] = n, err
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	res := typeResult{Type: typ, Clients: clients, N: len(qs)}
	var bad []mismatch
	var sum time.Duration
	for i := range qs {
		sum += lat[i]
		res.Rows += rows[i]
		res.Expected += qs[i].Expect
		switch {
		case errs[i] != nil:
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprintf("qid %d: %v", qs[i].QID, errs[i])
			}
		case rows[i] != qs[i].Expect:
			res.Mismatches++
			bad = append(bad, mismatch{qs[i], rows[i]})
		}
	}
	if len(qs) > 0 {
		s := slices.Clone(lat)
		slices.Sort(s)
		res.P50us = micros(percentile(s, 0.50))
		res.P99us = micros(percentile(s, 0.99))
		res.MeanUs = micros(sum / time.Duration(len(s)))
		res.QPS = float64(len(qs)) / wall.Seconds()
	}
	return res, bad
}

// percentile picks the nearest-rank value of sorted s, as the shared runner.
func percentile(s []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// runAll runs, for each client count and each type in order, a warm-up on
// the first 10 % of the type's queries and then the measured pass over all
// of them. It prints a table row per pass and returns the results and the
// mismatched queries.
func runAll(qs []benchQuery, types []string, clients []int, exec execFunc) ([]typeResult, []mismatch) {
	byType := map[string][]benchQuery{}
	for _, q := range qs {
		byType[q.Type] = append(byType[q.Type], q)
	}
	fmt.Println("| type    | c | n      | p50 µs    | p99 µs    | qps       | rows      | expected  | mism | err |")
	fmt.Println("|---------|---|--------|-----------|-----------|-----------|-----------|-----------|------|-----|")
	var out []typeResult
	var bad []mismatch
	for _, c := range clients {
		for _, typ := range types {
			list := byType[typ]
			if len(list) == 0 {
				continue
			}
			runType(typ, list[:max(1, len(list)/10)], c, exec)
			r, m := runType(typ, list, c, exec)
			out = append(out, r)
			if c == clients[0] {
				bad = append(bad, m...)
			}
			fmt.Printf("| %-7s | %d | %6d | %9.1f | %9.1f | %9.0f | %9d | %9d | %4d | %3d |\n",
				r.Type, r.Clients, r.N, r.P50us, r.P99us, r.QPS, r.Rows, r.Expected, r.Mismatches, r.Errors)
			if r.FirstError != "" {
				fmt.Printf("   first error: %s\n", r.FirstError)
			}
		}
	}
	return out, bad
}

// parseClients parses "1,8".
func parseClients(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad client count %q", p)
		}
		out = append(out, n)
	}
	return out, nil
}

// machine describes the host like the shared runners do.
func machine() string {
	cpu := "unknown cpu"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if kb := procField("/proc/meminfo", "MemTotal"); kb > 0 {
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/1024/1024)
	}
	return fmt.Sprintf("%s, %d vCPU%s, %s/%s", cpu, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH)
}

// procField returns a "Name:  123 kB" field of a /proc file in KiB, or 0.
func procField(path, name string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	return 0
}

// rssMiB returns the process's resident set (VmRSS) and its peak (VmHWM)
// in MiB.
func rssMiB() (rss, hwm float64) {
	return float64(procField("/proc/self/status", "VmRSS")) / 1024,
		float64(procField("/proc/self/status", "VmHWM")) / 1024
}

// resetPeakRSS resets the process's VmHWM to its current RSS (Linux ≥ 4.0,
// "5" to /proc/self/clear_refs), so a later reading is the peak since now.
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
