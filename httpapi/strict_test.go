package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

func TestCheckJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObj := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	for _, tc := range []struct {
		name, in  string
		ok        bool
		wantField string
	}{
		{"object", `{"a":1,"b":[true,false,null,"x",-1.5e+3]}`, true, ""},
		{"empty object", `{}`, true, ""},
		{"whitespace", " \t\n{ \"a\" : 1 }\r\n", true, ""},
		{"unicode", `{"name":"Zoë \u00e9 \ud83d\ude00"}`, true, ""},
		{"depth 32", deep(32), true, ""},
		{"depth 33", deep(33), false, ""},
		{"object depth 33", deepObj(33), false, ""},
		{"deep 10000", deep(10000), false, ""},
		{"duplicate key", `{"label":"A","label":"B"}`, false, "label"},
		{"duplicate escaped key", `{"a":1,"\u0061":2}`, false, "a"},
		{"duplicate nested", `{"props":{"x":1,"y":{"z":1,"z":2}}}`, false, "props.y.z"},
		{"duplicate among many", `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":0,"k11":0,"k12":0,"k13":0,"k14":0,"k15":0,"k16":0,"k17":0,"k3":1}`, false, "k3"},
		{"same key different objects", `{"a":{"x":1},"b":{"x":1}}`, true, ""},
		{"case variants are distinct keys", `{"tenant_id":1,"TENANT_ID":2}`, true, ""},
		{"NUL escape", `{"a":"x\u0000y"}`, false, "a"},
		{"NUL in key", `{"a\u0000":1}`, false, ""},
		{"raw control char", "{\"a\":\"x\x01\"}", false, "a"},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", false, "body"},
		{"lone surrogate", `{"a":"\ud800"}`, false, "a"},
		{"lone low surrogate", `{"a":"\udc00x"}`, false, "a"},
		{"trailing data", `{"a":1} {"b":2}`, false, "body"},
		{"trailing comma", `{"a":1,}`, false, ""},
		{"leading zero", `{"a":01}`, false, ""},
		{"bare word", `{"a":nul}`, false, "a"},
		{"unterminated", `{"a":"x`, false, "a"},
		{"empty", ``, false, "body"},
		{"single quotes", `{'a':1}`, false, ""},
		{"bad escape", `{"a":"\x"}`, false, "a"},
		{"array element path", `[1,{"a":1,"a":2}]`, false, "[1].a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckJSON([]byte(tc.in), MaxJSONDepth)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckJSON(%.60q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err == nil {
				if !json.Valid([]byte(tc.in)) {
					t.Fatalf("accepted invalid JSON")
				}
				return
			}
			if telamentis.ErrorCode(err) != telamentis.CodeInvalid {
				t.Fatalf("code = %s", telamentis.ErrorCode(err))
			}
			if tc.wantField != "" {
				f := telamentis.ErrorFields(err)
				if len(f) == 0 || f[0].Field != tc.wantField {
					t.Fatalf("fields = %+v, want %s", f, tc.wantField)
				}
			}
		})
	}
}

func TestParseIngestLine(t *testing.T) {
	for _, tc := range []struct {
		name, in  string
		ok        bool
		wantField string
	}{
		{"node", `{"node":{"alias":"alice","label":"Person","props":{"name":"Alice","Name":"x"}}}`, true, ""},
		{"edge", `{"edge":{"from":{"alias":"alice"},"to":{"alias":"acme"},"kind":"WORKS_AT","valid_from":"2021-01-01T00:00:00Z"}}`, true, ""},
		{"case variant top", `{"NODE":{"label":"Person"}}`, false, "NODE"},
		{"case variant inner", `{"node":{"Label":"Person"}}`, false, "node.Label"},
		{"case variant ref", `{"edge":{"from":{"ALIAS":"a"},"to":{"alias":"b"},"kind":"K"}}`, false, "edge.from.ALIAS"},
		{"unknown field", `{"node":{"label":"Person","tenant_id":"other"}}`, false, "node.tenant_id"},
		{"tenant planted", `{"tenant":"a","node":{"label":"Person"}}`, false, "tenant"},
		{"both", `{"node":{"label":"P"},"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K"}}`, false, "line"},
		{"neither", `{}`, false, "line"},
		{"duplicate", `{"node":{"label":"P","label":"Q"}}`, false, "node.label"},
		{"bad label", `{"node":{"label":"1bad"}}`, false, "node.label"},
		{"no zone", `{"edge":{"from":{"alias":"a"},"to":{"alias":"b"},"kind":"K","valid_from":"2021-01-01T00:00:00"}}`, false, ""},
		{"not object", `[1]`, false, "line"},
		{"NUL", `{"node":{"label":"P","props":{"a":"\u0000"}}}`, false, ""},
		{"props case free", `{"node":{"label":"P","props":{"TENANT_ID":"x"}}}`, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIngestLine([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("ParseIngestLine = %+v, %v; want ok=%v", got, err, tc.ok)
			}
			if err != nil && tc.wantField != "" {
				f := telamentis.ErrorFields(err)
				if len(f) == 0 || f[0].Field != tc.wantField {
					t.Fatalf("fields = %+v, want %s", f, tc.wantField)
				}
			}
			if err == nil && (got.Node == nil) == (got.Edge == nil) {
				t.Fatalf("exactly one of node and edge: %+v", got)
			}
		})
	}
}

// FuzzParseIngestLine checks that the ingest line parser never panics and
// that an accepted line holds exactly one valid item that round-trips.
func FuzzParseIngestLine(f *testing.F) {
	for _, s := range []string{
		`{"node":{"alias":"alice","label":"Person","props":{"name":"Alice"}}}`,
		`{"edge":{"from":{"alias":"alice"},"to":{"alias":"acme"},"kind":"WORKS_AT","valid_from":"2021-01-01T00:00:00Z"}}`,
		`{"node":{"label":"P","Label":"Q"}}`, `{"node":{}}`, `{"edge":null}`, `{"node":{"label":"P","props":[1]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		item, err := ParseIngestLine(data)
		if err != nil {
			if telamentis.ErrorCode(err) != telamentis.CodeInvalid {
				t.Fatalf("non-invalid error %v", err)
			}
			return
		}
		if (item.Node == nil) == (item.Edge == nil) {
			t.Fatalf("accepted %q as %+v", data, item)
		}
		b, err := json.Marshal(item)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseIngestLine(b)
		if err != nil {
			t.Fatalf("re-encoded %s rejected: %v", b, err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed %s to %s", b, b2)
		}
	})
}

// FuzzParseExportLine checks that the export line parser never panics and
// that what it accepts re-encodes to a line it accepts again.
func FuzzParseExportLine(f *testing.F) {
	for _, s := range []string{
		`{"node":{"id":"01a212e7-d1ee-7d9f-9c94-e21c55629a95","alias":"a","label":"P","props":{},"tx_start":"2026-01-01T00:00:00Z"}}`,
		`{"edge":{"id":"x","from":"a","to":"b","kind":"K","props":{"a":[1]},"valid_from":"2021-01-01T00:00:00Z","tx_start":"2026-01-01T00:00:00Z","tx_end":"2026-02-01T00:00:00Z"}}`,
		`{"node":{"ID":"x"}}`, `{"node":{},"edge":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseExportLine(data)
		if err != nil {
			if telamentis.ErrorCode(err) != telamentis.CodeInvalid {
				t.Fatalf("non-invalid error %v", err)
			}
			return
		}
		b, err := json.Marshal(l)
		if err != nil {
			return // e.g. props that are not JSON: Import validates them
		}
		if _, err := ParseExportLine(b); err != nil {
			t.Fatalf("re-encoded %s rejected: %v", b, err)
		}
	})
}

// TestCheckBodyShape checks the rules a body's shape adds to CheckJSON:
// exact keys, integers an int64 field holds, props under the props limits
// (with the store's messages, at the props field), and the array length.
func TestCheckBodyShape(t *testing.T) {
	ref := &shape{Members: map[string]*shape{"alias": nil}}
	item := &shape{Members: map[string]*shape{"label": nil, "props": propsShape, "from": ref, "n": {Integer: true}}}
	body := &shape{Members: map[string]*shape{"nodes": {Items: item}, "extra": {Open: true, Extra: item}}}
	items := func(n int) string { return `{"nodes":[` + strings.TrimSuffix(strings.Repeat(`{},`, n), ",") + `]}` }
	bigProps := `{"k":"` + strings.Repeat("x", telamentis.MaxPropsBytes) + `"}`
	deep := strings.Repeat(`{"a":`, telamentis.MaxPropsDepth) + "1" + strings.Repeat("}", telamentis.MaxPropsDepth)
	for _, tc := range []struct {
		name, in, field, msg string
	}{
		{"known keys", `{"nodes":[{"label":"P","props":{"LABEL":1},"from":{"alias":"a"},"n":-12}]}`, "", ""},
		{"open object", `{"extra":{"anything":{"label":"P"}}}`, "", ""},
		{"unknown key", `{"nodes":[{"label":"P","LABEL":"P"}]}`, "nodes[0].LABEL", unknownField},
		{"unknown nested key", `{"nodes":[{"from":{"Alias":"a"}}]}`, "nodes[0].from.Alias", unknownField},
		{"unknown key in open member", `{"extra":{"x":{"lbl":"P"}}}`, "extra.x.lbl", unknownField},
		{"integer with exponent", `{"nodes":[{"n":1e3}]}`, "nodes[0].n", integerRule},
		{"integer with fraction", `{"nodes":[{"n":1.0}]}`, "nodes[0].n", integerRule},
		{"integer beyond 64 bits", `{"nodes":[{"n":9223372036854775808}]}`, "nodes[0].n", integerRule},
		{"number beyond a double", `{"nodes":[{"label":1e400}]}`, "nodes[0].label", telamentis.NumberRule},
		{"props of 64 KiB", `{"nodes":[{"props":{"k":"` + strings.Repeat("x", telamentis.MaxPropsBytes-8) + `"}}]}`, "", ""},
		{"props over 64 KiB", `{"nodes":[{"props":` + bigProps + `}]}`, "nodes[0].props", telamentis.PropsSizeRule},
		{"props over 64 KiB, many keys", `{"nodes":[{"props":` + manyProps(20000) + `}]}`, "nodes[0].props", telamentis.PropsSizeRule},
		{"props nested 17", `{"nodes":[{"props":{"a":` + deep + `}}]}`, "nodes[0].props" + strings.Repeat(".a", telamentis.MaxPropsDepth), telamentis.PropsDepthRule},
		{"props nested 16", `{"nodes":[{"props":` + deep + `}]}`, "", ""},
		{"100000 items", items(maxArrayItems), "", ""},
		{"100001 items", items(maxArrayItems + 1), "nodes", tooManyItems},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBody([]byte(tc.in), body)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			fs := telamentis.ErrorFields(err)
			if telamentis.ErrorCode(err) != telamentis.CodeInvalid || len(fs) != 1 || fs[0].Field != tc.field || fs[0].Message != tc.msg {
				t.Fatalf("got %v, want %s: %s", err, tc.field, tc.msg)
			}
		})
	}
}

// manyProps returns a props object of n distinct keys.
func manyProps(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":1`, i)
	}
	return b.String() + "}"
}
