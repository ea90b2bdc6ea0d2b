package httpapi

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// TestIngestReadKeepsItems checks the reading side of an ingest stream,
// which reuses one line buffer, one decoder and per-batch slabs: every
// item of every batch must still hold its own line's values after the
// whole body has been read, across short, long, rejected and too-long
// lines.
func TestIngestReadKeepsItems(t *testing.T) {
	var body bytes.Buffer
	type want struct {
		line        int
		alias, prop string
		node        bool
	}
	var wants []want
	line := 0
	for i := range 3000 {
		pad := strings.Repeat("p", (i*37)%300)
		line++
		switch {
		case i%500 == 7:
			body.WriteString(`{"node":{"label":"P","props":{"a":1,"a":2}}}` + "\n") // rejected
		case i%1000 == 11:
			body.WriteString(`{"node":{"label":"P","alias":"` + strings.Repeat("x", MaxIngestLine) + `"}}` + "\n") // too long
		case i%250 == 3:
			body.WriteString("   \n") // blank
		case i%2 == 0:
			fmt.Fprintf(&body, `{"node":{"alias":"n%d","label":"L%d","props":{"pad":"%s"}}}`+"\n", i, i%5, pad)
			wants = append(wants, want{line, fmt.Sprintf("n%d", i), pad, true})
		default:
			fmt.Fprintf(&body, `{"edge":{"alias":"e%d","from":{"alias":"n%d"},"to":{"alias":"n%d"},"kind":"K","props":{"pad":"%s"}}}`+"\n", i, i-1, i+1, pad)
			wants = append(wants, want{line, fmt.Sprintf("e%d", i), pad, false})
		}
	}
	body.WriteString(`{"node":{"alias":"last","label":"P"}}`) // no final newline
	line++
	wants = append(wants, want{line, "last", "-", true})

	g := &ingester{size: 97}
	batches := make(chan []pendingItem, 100)
	var failed atomic.Bool
	if err := g.read(&body, batches, &failed); err != nil {
		t.Fatal(err)
	}
	close(batches)
	var got []pendingItem
	for b := range batches {
		if len(b) > 97 {
			t.Fatalf("batch of %d items", len(b))
		}
		got = append(got, b...)
	}
	if len(got) != len(wants) {
		t.Fatalf("%d items, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		it := got[i]
		alias, props := "", ""
		if it.node != nil {
			alias, props = it.node.Alias, string(it.node.Props)
		} else {
			alias, props = it.edge.Alias, string(it.edge.Props)
		}
		wantProps := `{"pad":"` + w.prop + `"}`
		if w.prop == "-" {
			wantProps = `{}`
		}
		if it.line != w.line || (it.node != nil) != w.node || alias != w.alias || props != wantProps {
			t.Fatalf("item %d = line %d %q %s, want line %d %q %s", i, it.line, alias, props, w.line, w.alias, wantProps)
		}
	}
	if g.sum.Rejected != 6+3 || g.sum.Lines != line {
		t.Fatalf("summary %+v, want 9 rejected of %d lines", g.sum, line)
	}
}
