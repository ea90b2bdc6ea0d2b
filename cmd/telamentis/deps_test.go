package main

import (
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"testing"
)

// TestServerDependencies keeps out of the server what docs/decisions.md
// ("What each heavy dependency costs") took out, for the reasons given
// there: the provider SDKs and grpc. grpc brings
// golang.org/x/net/trace, which registers /debug/requests and
// /debug/events on http.DefaultServeMux and, through html/template, turns
// off the linker's removal of unused methods for the whole binary.
func TestServerDependencies(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok || len(bi.Deps) == 0 {
		t.Fatal("no build information")
	}
	banned := map[string]string{
		"github.com/openai/openai-go/v3":                                  "provider SDK",
		"github.com/anthropics/anthropic-sdk-go":                          "provider SDK",
		"google.golang.org/genai":                                         "provider SDK",
		"google.golang.org/grpc":                                          "grpc",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp": "imports grpc",
	}
	for _, d := range bi.Deps {
		if why, bad := banned[d.Path]; bad {
			t.Errorf("the server links %s (%s)", d.Path, why)
		}
	}
	// (expvar's /debug/vars is there: prometheus and badger import it.)
	for _, p := range []string{"/debug/requests", "/debug/events", "/debug/pprof/"} {
		if _, pattern := http.DefaultServeMux.Handler(httptest.NewRequest(http.MethodGet, p, nil)); pattern != "" {
			t.Errorf("http.DefaultServeMux serves %s via %q", p, pattern)
		}
	}
}
