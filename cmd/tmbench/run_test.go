package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestRunTiny runs the whole benchmark on the hand-written fixture against
// the real embedded store (encrypted, on disk) and checks that every query
// returns the row count worked out by hand in testdata/tiny/queries.csv and
// that the report has the shared kgbench shape.
func TestRunTiny(t *testing.T) {
	runTiny(t, "embedded", "telamentis-embedded-tiny.json")
}

// TestRunTinyPostgres does the same against the postgres store, in a fresh
// database with its own roles on the server of TELAMENTIS_TEST_POSTGRES_URL.
func TestRunTinyPostgres(t *testing.T) {
	u := os.Getenv("TELAMENTIS_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("TELAMENTIS_TEST_POSTGRES_URL not set")
	}
	runTiny(t, u, "telamentis-postgres-tiny.json")
}

func runTiny(t *testing.T, store, file string) {
	results := t.TempDir()
	cfg, err := parseFlags([]string{"-data", tiny, "-results", results, "-workdir", t.TempDir(),
		"-clients", "1,2", "-batch", "2", "-check", "-store", store})
	if err != nil {
		t.Fatal(err)
	}
	valid, err := run(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !valid {
		t.Fatal("some query returned the wrong number of rows (see the table above)")
	}
	b, err := os.ReadFile(filepath.Join(results, file))
	if err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"engine", "size", "date", "machine", "ingest", "notes", "queries"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	qs := rep["queries"].([]any)
	if len(qs) != 2*len(queryTypes) {
		t.Fatalf("report has %d query results, want %d", len(qs), 2*len(queryTypes))
	}
	for _, q := range qs {
		m := q.(map[string]any)
		if m["rows"] != m["expected_rows"] || m["n"] != 1.0 {
			t.Errorf("result %v", m)
		}
		for _, k := range []string{"type", "clients", "p50_us", "p99_us", "mean_us", "qps", "mismatches", "errors"} {
			if _, ok := m[k]; !ok {
				t.Errorf("query result lacks %q", k)
			}
		}
	}
	ing := rep["ingest"].(map[string]any)
	if ing["node_rows"] != 5.0 || ing["edge_rows"] != 7.0 {
		t.Errorf("ingest = %v", ing)
	}
	if entries, _ := filepath.Glob(filepath.Join(cfg.WorkDir, "tmbench-store-*")); len(entries) != 0 {
		t.Errorf("store directories left behind: %v", entries)
	}
}

// TestMemoryLimitFlag checks -memory-limit parses like the server's
// setting and refuses what the server refuses.
func TestMemoryLimitFlag(t *testing.T) {
	cfg, err := parseFlags([]string{"-memory-limit", "1GiB"})
	if err != nil || cfg.MemoryLimit.String() != "1.0 GiB" {
		t.Fatalf("1GiB: %v %v", cfg.MemoryLimit, err)
	}
	for _, bad := range []string{"lots", "1KiB"} {
		if _, err := parseFlags([]string{"-memory-limit", bad}); err == nil {
			t.Errorf("-memory-limit %s accepted", bad)
		}
	}
}
