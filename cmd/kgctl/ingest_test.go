package main

import (
	"bytes"
	"strings"
	"testing"
)

// kgctlOffline runs kgctl in process against an endpoint where nothing
// listens, with a key set: a command that gets as far as a request fails
// with "cannot reach", so any other error proves that none was sent.
func kgctlOffline(t testing.TB, args ...string) result {
	t.Helper()
	return kgctlOfflineEnv(t, env{"TELAMENTIS_API_KEY": newToken()}, args...)
}

// kgctlOfflineEnv is kgctlOffline with the environment e (and no key
// unless e sets one).
func kgctlOfflineEnv(t testing.TB, e env, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	home := t.TempDir()
	vars := map[string]string{"HOME": home, "XDG_CONFIG_HOME": home, "TELAMENTIS_ENDPOINT": "http://127.0.0.1:1"}
	for k, v := range e {
		vars[k] = v
	}
	code := Main(t.Context(), args, func(k string) string { return vars[k] },
		&IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb})
	return result{out.String(), errb.String(), code}
}

// TestIngestRefusesUpFront checks the ingest flags that are refused before
// kgctl contacts the server.
func TestIngestRefusesUpFront(t *testing.T) {
	f := writeFile(t, "jobs.csv", "id,from,to,start\nj1,a,b,2024-01-31\n")
	edge := []string{"ingest", "csv", "--file", f, "--id-col", "id", "--from-col", "from", "--to-col", "to",
		"--rel-type-val", "WORKS_AT", "--valid-from-col", "start", "--timezone", "UTC"}
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"go layout", append(edge, "--type", "edge", "--date-format", "2006-01-02"), "not a Go layout"},
		{"no directive", append(edge, "--type", "edge", "--date-format", "YYYY-MM-DD"), "has no % directive"},
		{"unknown type", append(edge, "--type", "edges"), "must be node or edge"},
		{"negative max-errors", append(edge, "--type", "edge", "--max-errors", "-1"), "--max-errors"},
		{"strict and max-errors", append(edge, "--type", "edge", "--strict", "--max-errors", "3"), "does not go with --max-errors"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := kgctlOffline(t, c.args...)
			if r.code != exitUsage || !strings.Contains(r.err, c.msg) || strings.Contains(r.err, "cannot reach") {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", r.code, exitUsage, r.err, c.msg)
			}
		})
	}
}

// TestCSVMappingEdgeType checks that --type edge and its older name
// relationship map a row to the same edge line.
func TestCSVMappingEdgeType(t *testing.T) {
	var lines []string
	for _, typ := range []string{"edge", "relationship"} {
		m := CSVMapping{Type: typ, IDCol: "id", FromCol: "from", ToCol: "to", RelTypeVal: "WORKS_AT"}
		ci, err := m.compile([]string{"id", "from", "to"})
		if err != nil {
			t.Fatalf("--type %s: %v", typ, err)
		}
		line, err := m.mapRow(nil, ci, []string{"j1", "alice", "acme"})
		if err != nil {
			t.Fatalf("--type %s: %v", typ, err)
		}
		lines = append(lines, string(line))
	}
	want := `{"edge":{"alias":"j1","from":{"alias":"alice"},"to":{"alias":"acme"},"kind":"WORKS_AT"}}` + "\n"
	if lines[0] != want || lines[1] != want {
		t.Fatalf("edge lines %q, want %q twice", lines, want)
	}
}
