package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestQuickstart runs the example end to end on the real embedded store and
// checks the answers it prints.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("quickstart: %v\noutput so far:\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"as of 2022-06-01: Alice works at Acme\n",
		"as of 2025-06-01: Alice works at Globex\n",
		"(before the move was recorded), as of 2025-06-01: Alice works at Acme\n",
		"history of the Acme edge, version 1: valid [2021-01-01T00:00:00Z, open), recorded [",
		"history of the Acme edge, version 2: valid [2021-01-01T00:00:00Z, 2024-03-01T00:00:00Z), recorded [",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q\noutput:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "history of the Acme edge"); n != 2 {
		t.Errorf("the Acme edge has %d versions in its history, want 2\noutput:\n%s", n, got)
	}
	// Version 1 was closed exactly when version 2 was recorded.
	lines := strings.Split(got, "\n")
	var v1, v2 string
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, "version 1: "); ok {
			v1 = rest
		}
		if _, rest, ok := strings.Cut(l, "version 2: "); ok {
			v2 = rest
		}
	}
	_, rec1, _ := strings.Cut(v1, "recorded [")
	_, rec2, _ := strings.Cut(v2, "recorded [")
	start2, _, _ := strings.Cut(rec2, ",")
	if !strings.Contains(rec1, ", "+start2+")") || !strings.HasSuffix(rec2, ", open)") {
		t.Errorf("version 1 recorded %q should end where version 2 (%q) starts, and version 2 be current", rec1, rec2)
	}
}
