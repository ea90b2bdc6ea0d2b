package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var testLimits = Limits{Depth: 8, Items: 100, PropsBytes: 64, PropsDepth: 3}

// TestCheckRules checks the rule, path and offset of each kind of refusal.
func TestCheckRules(t *testing.T) {
	props := &Shape{Props: true}
	sh := &Shape{Members: map[string]*Shape{"n": {Integer: true}, "props": props, "list": {Items: &Shape{Members: map[string]*Shape{}}}}}
	for _, tc := range []struct {
		in     string
		rule   Rule
		field  string
		offset int
	}{
		{`{"n":1.5}`, Integer, "n", 0},
		{`{"n":1e400}`, Number, "n", 0},
		{`{"x":1}`, UnknownKey, "x", 0},
		{`{"list":[{"a":1}]}`, UnknownKey, "list[0].a", 0},
		{`{"list":[` + strings.TrimSuffix(strings.Repeat(`{},`, 101), ",") + `]}`, TooManyItems, "list", 0},
		{`{"props":{"a":"` + strings.Repeat("x", 64) + `"}}`, PropsSize, "props", 0},
		{`{"props":{"a":{"b":{"c":{}}}}}`, PropsDepth, "props.a.b.c", 0},
		{`{"n":1,"n":2}`, Syntax, "n", 10},
		{`{"n":01}`, Syntax, "", -2},
		{"\"\xff\"", Syntax, "body", -1},
		{`{"props":{}} x`, Syntax, "body", 13},
	} {
		err := Check([]byte(tc.in), testLimits, sh)
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("Check(%.40q) = %v, want an *Error", tc.in, err)
			continue
		}
		if e.Rule != tc.rule || (tc.field != "" && e.Field != tc.field) || (tc.rule == Syntax && tc.offset != -2 && e.Offset != tc.offset) {
			t.Errorf("Check(%.40q) = %+v, want rule %d at %q offset %d", tc.in, e, tc.rule, tc.field, tc.offset)
		}
	}
	if err := Check([]byte(`{"n":-12,"props":{"A":[1,{"b":null}]},"list":[{},{}]}`), testLimits, sh); err != nil {
		t.Errorf("refused a good document: %v", err)
	}
}

// TestNumberEnd checks the grammar against encoding/json's.
func TestNumberEnd(t *testing.T) {
	for _, n := range []string{"0", "-0", "12", "-1.5", "1e5", "1E+5", "2.5e-3", "01", "1.", ".5", "-", "1e", "+1", "1.e3", "--1"} {
		end := NumberEnd([]byte(n), 0)
		if got, want := end == len(n), json.Valid([]byte(n)); got != want {
			t.Errorf("NumberEnd(%q) = %d; valid JSON number: %v", n, end, want)
		}
	}
}

// FuzzCheck checks that the strict checker never panics, never accepts
// what encoding/json refuses, honours the depth limit, and accepts again
// what it accepted once re-encoded.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `[[[[]]]]`, `{"a":"\u0000"}`, `"\ud800"`,
		`{"a":{"b":[1,2,{"c":null}]}}`, `1e5`, `-0.5`, "\"\xff\"", `{"\u0061":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := Check(data, testLimits, nil); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if !json.Valid(data) || !utf8.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("accepted JSON that does not decode: %v", err)
		}
		if d := depth(v); d > testLimits.Depth {
			t.Fatalf("accepted depth %d", d)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(b, testLimits, nil); err != nil && !strings.Contains(string(b), `\u0000`) {
			t.Fatalf("re-encoded %q rejected: %v", b, err)
		}
	})
}

func depth(v any) int {
	switch x := v.(type) {
	case map[string]any:
		m := 0
		for _, e := range x {
			m = max(m, depth(e))
		}
		return m + 1
	case []any:
		m := 0
		for _, e := range x {
			m = max(m, depth(e))
		}
		return m + 1
	}
	return 0
}
