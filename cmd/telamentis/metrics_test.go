package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

var adminRe = regexp.MustCompile(`"admin_addr":"([^"]+)"`)

// TestOperatorMetrics scrapes a running server: the build, the embedded
// store's own metrics, and the plain routes (/healthz, /readyz,
// /openapi.json, /docs) under their own names in the metrics and the
// access log instead of "unmatched".
func TestOperatorMetrics(t *testing.T) {
	addr, logs, stop := startRun(t, []string{"--data", filepath.Join(t.TempDir(), "data")}, nil)
	defer stop()
	admin := waitFor(t, logs, adminRe, nil)
	routes := []string{"/healthz", "/readyz", "/openapi.json", "/docs"}
	for _, p := range routes {
		if c := get(t, "http://"+addr+p, ""); c != 200 {
			t.Fatalf("GET %s: %d", p, c)
		}
	}
	res, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	body := string(b)
	want := []string{
		`telamentis_build_info{goversion="` + runtime.Version() + `",revision="unknown",version="dev"} 1`,
		`telamentis_store_databases{backend="badger"} 1`,
		`telamentis_store_vlog_size_bytes{backend="badger"}`,
		`telamentis_store_level_tables{backend="badger",level="0"}`,
	}
	for _, p := range routes {
		want = append(want, `telamentis_http_requests_total{method="GET",route="GET `+p+`",status="200",tenant="none"} 1`)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	if strings.Contains(body, `route="unmatched"`) {
		t.Error("a plain route was counted as unmatched")
	}
	for _, p := range routes {
		if !strings.Contains(logs.String(), `"route":"GET `+p+`"`) {
			t.Errorf("access log does not name GET %s", p)
		}
	}
	if strings.Contains(logs.String(), "(unmatched)") {
		t.Errorf("access log has an unmatched route:\n%s", logs)
	}
}
