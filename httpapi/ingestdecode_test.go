package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

// The two-pass ingest line parser that lineDecoder replaced: the strict
// scan with exact keys, then encoding/json, then Normalize. It is the
// reference the single-pass decoder must agree with, errors included.

// ingestShape is the shape of an ingest line: exact keys, props under
// their limits; an object where a string or a time belongs (two levels
// down) may hold no key at all.
var ingestShape = func() *shape {
	closed := &shape{Members: map[string]*shape{}}
	ref := &shape{Members: map[string]*shape{"id": nil, "alias": nil}}
	return &shape{Members: map[string]*shape{
		"node": {Members: map[string]*shape{"id": closed, "alias": closed, "label": closed, "props": propsShape},
			Items: closed},
		"edge": {Members: map[string]*shape{"id": closed, "alias": closed, "from": ref, "to": ref, "kind": closed,
			"props": propsShape, "valid_from": closed, "valid_to": closed}, Items: closed},
	}}
}()

func parseIngestLineReference(line []byte) (IngestLine, error) {
	var out IngestLine
	line = bytes.TrimSpace(line)
	if len(line) > MaxIngestLine {
		return out, telamentis.Invalid("line", "longer than %d bytes", MaxIngestLine)
	}
	if len(line) == 0 || line[0] != '{' {
		return out, telamentis.Invalid("line", "must be a JSON object")
	}
	if err := checkBody(line, ingestShape); err != nil {
		return out, err
	}
	if err := json.Unmarshal(line, &out); err != nil {
		return out, telamentis.Invalid("line", "%s", safeHumaMessage(err))
	}
	switch {
	case out.Node != nil && out.Edge != nil:
		return IngestLine{}, telamentis.Invalid("line", "give node or edge, not both")
	case out.Node != nil:
		n, err := out.Node.Normalize()
		if err != nil {
			return IngestLine{}, prefixField(err, "node")
		}
		out.Node = &n
	case out.Edge != nil:
		e, err := out.Edge.Normalize()
		if err != nil {
			return IngestLine{}, prefixField(err, "edge")
		}
		out.Edge = &e
	default:
		return IngestLine{}, telamentis.Invalid("line", "node or edge required")
	}
	return out, nil
}

// sameAsReference fails unless the decoder and the reference agree on
// line: the same item, or the same error (code, message and fields).
func sameAsReference(t testing.TB, d *lineDecoder, line []byte) {
	t.Helper()
	want, werr := parseIngestLineReference(line)
	n, e, err := d.decode(line)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%q: decoder error %v, reference error %v", line, err, werr)
	}
	if err != nil {
		if !reflect.DeepEqual(err, werr) {
			t.Fatalf("%q: decoder error\n  %#v\nreference error\n  %#v", line, err, werr)
		}
		return
	}
	got := IngestLine{Node: n, Edge: e}
	if !reflect.DeepEqual(jsonOf(t, got), jsonOf(t, want)) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: decoder %s, reference %s", line, jsonOf(t, got), jsonOf(t, want))
	}
}

func jsonOf(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ingestLineCases are lines on every path of the decoder: each key and
// type, null, escapes, every strict rule, and the order in which the
// errors are found.
var ingestLineCases = []string{
	benchLines["edge"], benchLines["node"],
	`{"node":{"alias":"alice","label":"Person","props":{"name":"Alice","Name":"x"}}}`,
	`{"edge":{"from":{"alias":"alice"},"to":{"alias":"acme"},"kind":"WORKS_AT","valid_from":"2021-01-01T00:00:00Z"}}`,
	`{"edge":{"id":"01a212e7-d1ee-7d9f-9c94-e21c55629a95","from":{"id":"01a212e7-d1ee-7d9f-9c94-e21c55629a96"},"to":{"alias":"b"},"kind":"K","valid_from":"2021-01-01T01:00:00+01:00","valid_to":"2022-01-01T00:00:00.1234567Z"}}`,
	`{"node":{"id":"01a212e7-d1ee-7d9f-9c94-e21c55629a95","label":"P"}}`,
	`{"node":{"id":"01A212E7-d1ee-7d9f-9c94-e21c55629a95","label":"P"}}`,
	` { "node" : { "label" : "P" , "props" : { "b" : [ 1 , 2 ] , "a" : { } } } } `,
	"\t{\"node\":{\"label\":\"P\"}}\r\n",
	`{"\u006eode":{"l\u0061bel":"P","alias":"\u00e9t\u00e9 \ud83d\ude00"}}`,
	`{"node":{"label":"P\u0041"}}`,
	`{"node":{"label":"P","alias":"a\nb"}}`,
	`{"node":{"label":"P","alias":""}}`,
	`{"node":{"label":"P","alias":null,"id":null,"props":null}}`,
	`{"node":{"label":null}}`,
	`{"node":null}`, `{"edge":null}`, `{"node":null,"edge":null}`, `{}`,
	`{"node":null,"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K"}}`,
	`{"node":{"label":"P"},"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K"}}`,
	`{"node":{"label":"P"},"edge":null}`,
	`{"node":1}`, `{"node":"x"}`, `{"node":[1,{"a":1}]}`, `{"node":true}`, `{"edge":false}`,
	`{"node":{"label":1}}`, `{"node":{"label":{"a":1}}}`, `{"node":{"label":[]}}`, `{"node":{"alias":7,"label":"P"}}`,
	`{"node":{"label":1,"alias":2}}`,
	`{"node":{"label":1,"alias":"\u0000"}}`,
	`{"node":{"label":1,"bad":2}}`,
	`{"node":{"label":"P","props":1}}`, `{"node":{"label":"P","props":"x"}}`, `{"node":{"label":"P","props":[1]}}`,
	`{"node":{"label":"P","props":{"a":1,"a":2}}}`,
	`{"node":{"label":"P","props":{"":1}}}`,
	`{"node":{"label":"P","props":{"a":"\u2028"}}}`,
	`{"node":{"label":"P","props":{"a":"\ufffd"}}}`,
	`{"node":{"label":"P","props":{"a":"x\u0041"}}}`,
	`{"node":{"label":"P","props":{"a":"<&>"}}}`,
	`{"node":{"label":"P","props":{"k":1e400}}}`,
	`{"node":{"label":"P","props":{"k":-0.0e-0}}}`,
	`{"node":{"label":"P","props":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":{"l":{"m":{"n":{"o":{"p":{"q":1}}}}}}}}}}}}}}}}}}}`,
	`{"node":{"label":"P","props":{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}`,
	`{"node":{"label":"P","props":{"` + strings.Repeat("k", 257) + `":1}}}`,
	`{"node":{"label":"P","props":{"big":"` + strings.Repeat("x", 70000) + `"}}}`,
	`{"node":{"label":"1bad"}}`, `{"node":{"label":"` + strings.Repeat("A", 65) + `"}}`,
	`{"node":{"label":"P","alias":"` + strings.Repeat("a", 300) + `"}}`,
	`{"NODE":{"label":"Person"}}`, `{"node":{"Label":"Person"}}`, `{"tenant":"a","node":{"label":"Person"}}`,
	`{"node":{"label":"Person","tenant_id":"other"}}`,
	`{"edge":{"from":{"ALIAS":"a"},"to":{"alias":"b"},"kind":"K"}}`,
	`{"edge":{"from":{"alias":"a","tenant":"x"},"to":{"alias":"b"},"kind":"K"}}`,
	`{"node":{"label":"P","label":"Q"}}`, `{"node":{"label":"P","l\u0061bel":"Q"}}`,
	`{"node":{"label":"P"},"node":{"label":"Q"}}`,
	`{"edge":{"from":{"alias":"a","alias":"b"},"to":{"alias":"b"},"kind":"K"}}`,
	`{"edge":{"from":"a","to":{"alias":"b"},"kind":"K"}}`, `{"edge":{"from":["a"],"to":{"alias":"b"},"kind":"K"}}`,
	`{"edge":{"from":null,"to":{"alias":"b"},"kind":"K"}}`, `{"edge":{"from":{},"to":{"alias":"b"},"kind":"K"}}`,
	`{"edge":{"from":{"alias":"a","id":"01a212e7-d1ee-7d9f-9c94-e21c55629a95"},"to":{"alias":"b"},"kind":"K"}}`,
	`{"edge":{"from":{"alias":1},"to":{"alias":"b"},"kind":"K"}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"2021-01-01T00:00:00"}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"2021-01-01"}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":1}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":{"a":1}}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":null,"valid_to":null}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"2021-01-01T00:00:00\u005a"}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":1,"valid_from":"bad"}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"bad","x":1}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"2022-01-01T00:00:00Z","valid_to":"2021-01-01T00:00:00Z"}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"0000-01-01T00:00:00Z"}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"9999-12-31T23:59:59.9999999Z"}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","props":{"w":1},"props":{}}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"}}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K"}} x`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K"}}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K",}}`,
	`{"edge":{"from":{"alias":"a"} "to":{"alias":"b"},"kind":"K"}}`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K"`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind"`, `{"edge"`, `{"edge":`, `{`, `{"`, `{"node":{"label":"P"`,
	`{"node":{"label":"P", }}`, `{"node":{"label":"P"} , }`, `{"node" {"label":"P"}}`, `{1:2}`, `{"node":{1:2}}`,
	`{"node":{"label":"P","props":{"a":nul}}}`, `{"node":{"label":"P","props":{"a":01}}}`, `{"node":nul}`, `{"node":n}`,
	`{"node":{"label":"P","props":{"a":"x` + "\x01" + `"}}}`, "{\"node\":{\"label\":\"P\xff\"}}",
	`{"node":{"label":"P","props":{"a":"\ud800"}}}`, `{"node":{"label":"\udc00"}}`, `{"node":{"label":"P\x"}}`,
	`{"node":{"label":"P","props":{"a\u0000":1}}}`, `{"node":{"alias":"\u0000","label":"P"}}`,
	`{"node":{"label":"P","alias":"a` + "\x7f" + `"}}`,
	`[1]`, `"x"`, ``, `   `, `null`,
	`{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","props":{"a":{"b":1,"b":2}}}}`,
	`{"k0":0,"k1":1}`,
}

func TestLineDecoderMatchesReference(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	cases := append(ingestLineCases,
		`{"node":{"label":"P","props":`+deep+`}}`,
		`{"node":`+deep+`}`,
		`{"edge":{"from":`+deep+`}}`,
		`{"node":{"label":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}}`,
		`{"node":{"label":"P","props":{`+manyKeys(40, false)+`}}}`,
		`{"node":{"label":"P","props":{`+manyKeys(40, true)+`}}}`,
	)
	for _, chunk := range []int{0, 64 << 10} {
		d := newLineDecoder(chunk)
		for i, c := range cases {
			t.Run(fmt.Sprintf("chunk%d/%d", chunk, i), func(t *testing.T) {
				sameAsReference(t, d, []byte(c))
				sameAsReference(t, newLineDecoder(chunk), []byte(c))
			})
		}
	}
}

// manyKeys returns n members "k0":0,…, with the last repeating the first
// when dup is set.
func manyKeys(n int, dup bool) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if dup && i == n-1 {
			i = 0
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	return b.String()
}

// TestLineDecoderKeepsItems checks that what one call returned survives
// later calls: props share an arena and strings are built per line.
func TestLineDecoderKeepsItems(t *testing.T) {
	d := newLineDecoder(256) // small chunks: many arenas
	var nodes []telamentis.NodeInput
	var edges []telamentis.EdgeInput
	for i := range 500 {
		ln := fmt.Sprintf(`{"node":{"alias":"n%d","label":"L%d","props":{"z":%d,"a":"%s"}}}`, i, i%3, i, strings.Repeat("x", i%40))
		n, _, err := d.decode([]byte(ln))
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, *n)
		le := fmt.Sprintf(`{"edge":{"alias":"e%d","from":{"alias":"n%d"},"to":{"alias":"n%d"},"kind":"K%d","props":{"w":%d}}}`, i, i, i+1, i%2, i)
		_, e, err := d.decode([]byte(le))
		if err != nil {
			t.Fatal(err)
		}
		edges = append(edges, *e)
		// A rejected line in between must not disturb anything either.
		if _, _, err := d.decode([]byte(`{"node":{"label":"P","props":{"a":1,"a":2}}}`)); err == nil {
			t.Fatal("duplicate props key accepted")
		}
	}
	for i := range 500 {
		n, e := nodes[i], edges[i]
		wantN := fmt.Sprintf(`{"a":"%s","z":%d}`, strings.Repeat("x", i%40), i)
		if n.Alias != fmt.Sprintf("n%d", i) || n.Label != fmt.Sprintf("L%d", i%3) || string(n.Props) != wantN {
			t.Fatalf("node %d = %+v (props %s)", i, n, n.Props)
		}
		if e.Alias != fmt.Sprintf("e%d", i) || e.From.Alias != fmt.Sprintf("n%d", i) || e.To.Alias != fmt.Sprintf("n%d", i+1) ||
			e.Kind != fmt.Sprintf("K%d", i%2) || string(e.Props) != fmt.Sprintf(`{"w":%d}`, i) {
			t.Fatalf("edge %d = %+v (props %s)", i, e, e.Props)
		}
		if cap(n.Props) != len(n.Props) || cap(e.Props) != len(e.Props) {
			t.Fatalf("item %d: props can grow into the arena", i)
		}
	}
}

// TestLineDecoderInternBounded checks that hostile labels cannot grow the
// intern table without bound, in entries or in bytes.
func TestLineDecoderInternBounded(t *testing.T) {
	d := newLineDecoder(0)
	long := strings.Repeat("A", 1000)
	for i := range 3 * maxInterned {
		d.decode([]byte(fmt.Sprintf(`{"node":{"label":"L%d"}}`, i)))
		d.decode([]byte(fmt.Sprintf(`{"node":{"label":"%s%d"}}`, long, i)))
	}
	if len(d.names) > maxInterned {
		t.Fatalf("%d names interned", len(d.names))
	}
	for k := range d.names {
		if len(k) > 64 {
			t.Fatalf("interned a %d-byte name", len(k))
		}
	}
}

// FuzzLineDecoder checks that the single-pass decoder agrees with the
// two-pass reference on every input: the same item or the same error.
func FuzzLineDecoder(f *testing.F) {
	for _, c := range ingestLineCases {
		f.Add([]byte(c))
	}
	d := newLineDecoder(4 << 10)
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsReference(t, d, data)
	})
}
