package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// TestNodeMerge merges two nodes with kgctl node merge: by alias, into an
// alias, as JSON and as a table; the merged alias then names the target,
// and a missing --into is a usage error.
func TestNodeMerge(t *testing.T) {
	_, e := newTenant(t, "writer")
	f := writeFile(t, "dups.jsonl", `{"node":{"alias":"alice-dup","label":"Person","props":{"name":"ALICE"}}}`+"\n"+
		`{"node":{"alias":"alice","label":"Person","props":{"name":"Alice"}}}`+"\n"+
		`{"node":{"alias":"bob","label":"Person"}}`+"\n"+
		`{"edge":{"from":{"alias":"bob"},"to":{"alias":"alice-dup"},"kind":"KNOWS"}}`+"\n")
	run(t, e, "ingest", "jsonl", "--file", f)
	var alice telamentis.Node
	json.Unmarshal([]byte(run(t, e, "get", "node", "alice", "-o", "json").out), &alice)

	r := run(t, e, "node", "merge", "alice-dup", "--into", "alias:alice", "-o", "json")
	var res telamentis.MergeResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || res.Node.ID != alice.ID || len(res.Moved) != 1 || len(res.Aliases) != 1 {
		t.Fatalf("merge: %v %s", err, r.out)
	}
	var n telamentis.Node
	json.Unmarshal([]byte(run(t, e, "get", "node", "alice-dup", "-o", "json").out), &n)
	if n.ID != alice.ID {
		t.Errorf("after the merge alice-dup names the target: %+v", n)
	}

	run(t, e, "ingest", "jsonl", "--file", writeFile(t, "carol.jsonl", `{"node":{"alias":"carol-2","label":"Person"}}`+"\n"+`{"node":{"alias":"carol","label":"Person"}}`+"\n"))
	r = run(t, e, "node", "merge", "carol-2", "--into", "carol")
	for _, want := range []string{"merged:", "into:", "moved:    0", "aliases:  carol-2"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("table output lacks %q:\n%s", want, r.out)
		}
	}
	if r := kgctl(t, e, "", "node", "merge", "bob"); r.code != exitUsage {
		t.Errorf("merge without --into: exit %d, want %d: %s", r.code, exitUsage, r.err)
	}
	if r := kgctl(t, e, "", "node", "merge", "bob", "--into", "bob"); r.code != exitInvalid || !strings.Contains(r.err, "into: must name another node") {
		t.Errorf("merge into itself: exit %d: %s", r.code, r.err)
	}
}
