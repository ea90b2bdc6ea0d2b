package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// benchData is the kgbench medium workload (/work/shared/bench/run-gen.sh
// medium); benchmarks skip without it.
func benchData(b *testing.B) string {
	dir := os.Getenv("KGBENCH_DIR")
	if dir == "" {
		dir = "/tmp/kgbench"
	}
	d := filepath.Join(dir, "data", "medium")
	if _, err := os.Stat(filepath.Join(d, "edges.csv")); err != nil {
		b.Skipf("no kgbench medium data in %s (run /work/shared/bench/run-gen.sh medium)", d)
	}
	return d
}

var edgeMapping = []string{"--type", "relationship", "--id-col", "edge_id", "--from-col", "from_id", "--to-col", "to_id",
	"--rel-type-col", "kind", "--valid-from-col", "valid_from", "--valid-to-col", "valid_to",
	"--open-value", "9999-12-31 23:59:59+00", "--date-format", "%Y-%m-%d %H:%M:%S%z", "--props-json-col", "props"}

// BenchmarkIngestCSV runs kgctl ingest csv of the medium workload (100K
// nodes, then 1.4M edge rows = 1M logical edges with history) against
// the real server, end to end. Each iteration uses a new tenant.
func BenchmarkIngestCSV(b *testing.B) {
	d := benchData(b)
	b.ReportAllocs()
	var rows int64
	for b.Loop() {
		_, e := newTenant(b, "tenant_admin")
		r := run(b, e, "ingest", "csv", "--type", "node", "--file", filepath.Join(d, "nodes.csv"), "--id-col", "node_id",
			"--label-col", "label", "--props-json-col", "props", "-o", "json")
		var s1, s2 ingestTotals
		json.Unmarshal([]byte(r.out), &s1)
		r = run(b, e, append([]string{"ingest", "csv", "--file", filepath.Join(d, "edges.csv"), "-o", "json"}, edgeMapping...)...)
		json.Unmarshal([]byte(r.out), &s2)
		if s1.Rejected+s2.Rejected != 0 {
			b.Fatalf("rejected rows: %+v %+v", s1, s2)
		}
		rows += int64(s1.Rows + s2.Rows)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkMapCSV measures kgctl's own side of ingest: reading the medium
// edges CSV and producing the NDJSON stream, without a server.
func BenchmarkMapCSV(b *testing.B) {
	d := benchData(b)
	b.ReportAllocs()
	var rows atomic.Int64
	for b.Loop() {
		fh, err := os.Open(filepath.Join(d, "edges.csv"))
		if err != nil {
			b.Fatal(err)
		}
		o := &IngestOptions{Header: true, Mapping: CSVMapping{Type: "relationship", IDCol: "edge_id", FromCol: "from_id", ToCol: "to_id",
			RelTypeCol: "kind", ValidFrom: "valid_from", ValidTo: "valid_to", OpenValues: []string{"9999-12-31 23:59:59+00"},
			DateFormat: "%Y-%m-%d %H:%M:%S%z", PropsJSON: "props"}}
		rejected := 0
		w := bufio.NewWriterSize(io.Discard, 256<<10)
		emit := func(_ string, line []byte, _ int) error { _, err := w.Write(line); return err }
		if err := produceCSV(fh, emit, o, ',', &rows, &rejected, func(int, string) { rejected++ }); err != nil {
			b.Fatal(err)
		}
		fh.Close()
		if rejected != 0 {
			b.Fatalf("%d rejected", rejected)
		}
	}
	b.ReportMetric(float64(rows.Load())/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkExportJSONL exports a tenant loaded with the medium nodes and
// the first 500K edge rows as JSON lines, end to end.
func BenchmarkExportJSONL(b *testing.B) {
	d := benchData(b)
	_, e := newTenant(b, "tenant_admin")
	run(b, e, "ingest", "csv", "--type", "node", "--file", filepath.Join(d, "nodes.csv"), "--id-col", "node_id",
		"--label-col", "label", "--props-json-col", "props")
	src, _ := os.Open(filepath.Join(d, "edges.csv"))
	part := filepath.Join(b.TempDir(), "edges.csv")
	dst, _ := os.Create(part)
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; i <= 500_000 && sc.Scan(); i++ {
		dst.WriteString(sc.Text() + "\n")
	}
	src.Close()
	dst.Close()
	run(b, e, append([]string{"ingest", "csv", "--file", part}, edgeMapping...)...)
	out := filepath.Join(b.TempDir(), "out.jsonl")
	var records int64
	b.ReportAllocs()
	for b.Loop() {
		r := run(b, e, "export", "--format", "jsonl", "--all-versions", "--output", out)
		var n int64
		if i := strings.Index(r.err, "exported "); i >= 0 {
			var rest string
			n = atoi64(r.err[i+len("exported "):], &rest)
		}
		records += n
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

func atoi64(s string, rest *string) int64 {
	var n int64
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	*rest = s[i:]
	return n
}

// BenchmarkDateParser parses one date per iteration in the formats of the
// workload and of the docs' examples.
func BenchmarkDateParser(b *testing.B) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, format, value string }{
		{"kgbench", "%Y-%m-%d %H:%M:%S%z", "2018-01-24 13:16:12+00"},
		{"fraction", "%Y-%m-%dT%H:%M:%S.%f%z", "2024-01-02T03:04:05.123456+05:30"},
		{"local12h", "%d %b %Y %I:%M %p", "01 Feb 2024 12:15 PM"},
		{"unix", "%s", "1700000000"},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, err := newDateParser(c.format, paris)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Parse(c.value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
