package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/telamentis/telamentis"
)

// TestFitTable checks that a table too wide for the terminal is cut down
// to its width, widest columns first, with an ellipsis where a cell was
// shortened, and that a table that fits is left alone.
func TestFitTable(t *testing.T) {
	long := strings.Repeat("x", 36)
	rows := func() [][]string {
		return [][]string{
			{"ID", "ALIAS", "KIND", "PROPS"},
			{long, "job-1", "WORKS_AT", `{"note":"` + strings.Repeat("é", 40) + `"}`},
			{long[:10], "job-2", "WORKS_AT", ""},
		}
	}
	render := func(rs [][]string) []string {
		var b bytes.Buffer
		for _, r := range rs {
			b.WriteString(strings.Join(r, "  ") + "\n")
		}
		return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	}
	wide := rows()
	fitTable(wide, 200)
	if got, want := render(wide), render(rows()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("a table that fits was changed:\n%s", strings.Join(got, "\n"))
	}
	for _, width := range []int{80, 60, 45} {
		rs := rows()
		fitTable(rs, width)
		// Columns are as wide as their widest cell, so the first data
		// row, holding the widest cells, has the table's width.
		widths := make([]int, 4)
		for _, r := range rs {
			for i, c := range r {
				widths[i] = max(widths[i], utf8.RuneCountInString(c))
			}
		}
		total := 3 * tableGap
		for _, w := range widths {
			total += w
		}
		if total > width {
			t.Errorf("width %d: table is %d wide: %q", width, total, rs)
		}
		if rs[0][1] != "ALIAS" || rs[1][1] != "job-1" || rs[1][2] != "WORKS_AT" {
			t.Errorf("width %d: narrow columns were cut: %q", width, rs)
		}
		if !strings.HasSuffix(rs[1][3], "…") || !strings.HasSuffix(rs[1][0], "…") {
			t.Errorf("width %d: long cells not shortened with an ellipsis: %q", width, rs[1])
		}
		if !utf8.ValidString(rs[1][3]) {
			t.Errorf("width %d: a cut split a character: %q", width, rs[1][3])
		}
	}
	// Too narrow for the floors: the columns stop at their headers' width
	// (at least minColumn).
	rs := rows()
	fitTable(rs, 10)
	if rs[1][0] != "xx…" || rs[1][1] != "job-1" || rs[1][2] != "WOR…" || utf8.RuneCountInString(rs[1][3]) != 5 {
		t.Errorf("floors: %q", rs[1])
	}
}

// TestQueryEdgesTable checks the edges table a person sees: endpoints by
// alias, fitted to the terminal with ellipses; and that -o json is never
// cut and keeps the API's page.
func TestQueryEdgesTable(t *testing.T) {
	_, e := newTenant(t, "tenant_admin")
	seed(t, e)
	args := []string{"query", "edges", "--from", "alice", "--valid-at", "2022-06-01T00:00:00Z"}
	r := must(t, kgctlIO(t, e, &IOStreams{In: strings.NewReader("")}, args...), args...)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 3 { // header, j1, k1
		t.Fatalf("table:\n%s", r.out)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 5 || uuidRe.MatchString(f[2]) || uuidRe.MatchString(f[4]) || f[2] != "alice" {
			t.Errorf("endpoints not by alias: %q", l)
		}
	}
	if !strings.Contains(r.out, "j1") || !strings.Contains(r.out, "acme") || !strings.Contains(r.out, "bob") {
		t.Fatalf("table lacks j1 → acme or k1 → bob:\n%s", r.out)
	}
	// On an 80-column terminal every line fits; long cells end in "…".
	tty := &IOStreams{In: strings.NewReader(""), StdoutTTY: true, Width: 80}
	r = must(t, kgctlIO(t, e, tty, args...), args...)
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("line of %d columns on an 80-column terminal: %q", n, l)
		}
	}
	if !strings.Contains(r.out, "…") || !strings.Contains(r.out, "alice") || !strings.Contains(r.out, "acme") {
		t.Fatalf("fitted table:\n%s", r.out)
	}
	// -o json: the API's page, uncut, whatever the terminal.
	tty = &IOStreams{In: strings.NewReader(""), StdoutTTY: true, Width: 40}
	r = must(t, kgctlIO(t, e, tty, append(args, "-o", "json")...), args...)
	var p telamentis.Page
	if err := json.Unmarshal([]byte(r.out), &p); err != nil || strings.Contains(r.out, "…") {
		t.Fatalf("json: %v\n%s", err, r.out)
	}
	if len(p.Edges) != 2 || !telamentis.ValidID(p.Edges[0].From) || len(p.Nodes) != 0 {
		t.Fatalf("json page changed: %s", r.out)
	}
}
