package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

func TestExtract(t *testing.T) {
	_, e := newTenant(t, "writer")
	notes := writeFile(t, "notes.txt", "Alice (alice.kgctl@example.org) joined Acme in 2021.\n")
	// A dry run shows the envelope and writes nothing.
	r := run(t, e, "extract", "--file", notes, "--dry-run", "-o", "json")
	var res telamentis.ExtractResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || !res.DryRun || res.Envelope == nil || len(res.Envelope.Nodes) != 3 {
		t.Fatalf("dry run: %v %s", err, r.out)
	}
	if r := kgctl(t, e, "", "get", "node", "person:alice"); r.code != exitNotFound {
		t.Fatalf("a dry run wrote: exit %d", r.code)
	}
	r = run(t, e, "extract", "--file", notes, "--dry-run")
	if !strings.Contains(r.out, "would write") {
		t.Fatalf("dry run table: %q", r.out)
	}
	// For real: written, the low-confidence topic skipped.
	r = run(t, e, "extract", "--file", notes)
	for _, want := range []string{"created", "person:alice", "WORKS_AT", "skipped"} {
		if !strings.Contains(r.out, want) {
			t.Fatalf("extract table lacks %q:\n%s", want, r.out)
		}
	}
	if !strings.Contains(r.err, "fake/fake-model") {
		t.Fatalf("meta: %q", r.err)
	}
	r = run(t, e, "get", "node", "person:alice", "-o", "json")
	if !strings.Contains(r.out, `"Alice"`) {
		t.Fatalf("read back: %s", r.out)
	}
	if got := edgeAliases(t, e, "--valid-at", "2022-01-01T00:00:00Z"); len(got) != 1 {
		t.Fatalf("extracted edge: %v", got)
	}
	// The e-mail address never reached the provider.
	llmSent.Lock()
	sent := strings.Join(llmSent.text, "\n")
	llmSent.Unlock()
	if !strings.Contains(sent, "joined Acme") || strings.Contains(sent, "alice.kgctl@example.org") {
		t.Fatalf("the provider got %q", sent)
	}
	// Usage and role errors.
	if r := kgctl(t, e, "", "extract"); r.code != exitUsage {
		t.Fatalf("no file: exit %d", r.code)
	}
	if r := kgctl(t, e, "", "extract", "--file", writeFile(t, "empty.txt", " \n")); r.code != exitUsage {
		t.Fatalf("empty text: exit %d", r.code)
	}
	_, reader := newTenant(t, "reader")
	if r := kgctl(t, reader, "", "extract", "--file", notes); r.code != exitAuth {
		t.Fatalf("reader: exit %d %s", r.code, r.err)
	}
}
