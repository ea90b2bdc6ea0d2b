package telamentis

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// nested returns an object nested n deep: {"a":{"a":…1…}}.
func nested(n int) string {
	return strings.Repeat(`{"a":`, n-1) + `{"a":1}` + strings.Repeat("}", n-1)
}

func TestCanonicalProps(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{``, `{}`},
		{`null`, `{}`},
		{"  \n null \t", `{}`},
		{`{}`, `{}`},
		{` { "b" : 1 , "a" : [ 2 , { "d" : null , "c" : true } ] } `, `{"a":[2,{"c":true,"d":null}],"b":1}`},
		{`{"n":1.50,"m":1e3,"k":-0,"j":12345678901234567890}`, `{"j":12345678901234567890,"k":-0,"m":1e3,"n":1.50}`},
		{`{"h":"<a href=\"x\">&amp;</a>"}`, `{"h":"<a href=\"x\">&amp;</a>"}`},
		{`{"u":"\u00e9t\u00e9","e":"été","s":"a\/b"}`, `{"e":"été","s":"a/b","u":"été"}`},
		{`{"z":"","y":[],"x":{}}`, `{"x":{},"y":[],"z":""}`},
		{`{"B":1,"a":2,"_":3}`, `{"B":1,"_":3,"a":2}`},
	} {
		got, err := CanonicalProps(json.RawMessage(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("CanonicalProps(%s) = %s, %v; want %s", c.in, got, err, c.want)
			continue
		}
		again, err := CanonicalProps(got)
		if err != nil || string(again) != string(got) {
			t.Errorf("canonical form of %s is not a fixed point: %s, %v", c.in, again, err)
		}
	}
}

func TestCanonicalPropsLimits(t *testing.T) {
	pad := func(n int) string { // an object of exactly n bytes
		return `{"x":"` + strings.Repeat("y", n-8) + `"}`
	}
	if len(pad(MaxPropsBytes)) != MaxPropsBytes {
		t.Fatal("pad is wrong")
	}
	key := func(n int) string { return `{"` + strings.Repeat("k", n) + `":1}` }
	ok := []string{pad(MaxPropsBytes), nested(MaxPropsDepth), key(256), `{"a":[[[1]]]}`,
		`{"a":` + strings.Repeat("[", MaxPropsDepth-1) + strings.Repeat("]", MaxPropsDepth-1) + `}`}
	for _, in := range ok {
		if _, err := CanonicalProps(json.RawMessage(in)); err != nil {
			t.Errorf("CanonicalProps(%.60s…) rejected within the limits: %v", in, err)
		}
	}
	for _, c := range []struct{ name, in, field string }{
		{"larger than 64 KiB", pad(MaxPropsBytes + 1), ""},
		{"whitespace counts", " " + pad(MaxPropsBytes) + strings.Repeat(" ", 10) + "x", ""},
		{"nested 17 objects", nested(MaxPropsDepth + 1), strings.Repeat("a.", MaxPropsDepth-1) + "a"},
		{"nested 17 with arrays", `{"a":` + strings.Repeat("[", MaxPropsDepth) + strings.Repeat("]", MaxPropsDepth) + `}`, "a" + strings.Repeat("[0]", MaxPropsDepth-1)},
		{"key of 257 bytes", key(257), strings.Repeat("k", 257)},
		{"empty key", `{"":1}`, ""},
		{"invalid UTF-8 in a value", "{\"a\":\"\xc3\x28\"}", ""},
		{"invalid UTF-8 in a key", "{\"\xff\":1}", ""},
		{"NUL in a value", `{"a":"x\u0000"}`, "a"},
		{"NUL in a nested key", `{"a":{"b\u0000":1}}`, "a.b\x00"},
		{"lone surrogate", `{"a":"\ud800"}`, "a"},
		{"duplicate key", `{"a":1,"b":2,"a":3}`, "a"},
		{"duplicate nested key", `{"a":{"b":1,"b":1}}`, "a.b"},
		{"array", `[1]`, ""},
		{"string", `"x"`, ""},
		{"number", `1`, ""},
		{"true", `true`, ""},
		{"trailing data", `{"a":1}{"b":2}`, ""},
		{"trailing garbage", `{"a":1} x`, ""},
		{"truncated", `{"a":[1,2`, ""},
		{"bad literal", `{"a":tru}`, ""},
		{"single quotes", `{'a':1}`, ""},
		{"trailing comma", `{"a":1,}`, ""},
		{"NaN", `{"a":NaN}`, ""},
	} {
		_, err := CanonicalProps(json.RawMessage(c.in))
		fs := ErrorFields(err)
		if ErrorCode(err) != CodeInvalid || len(fs) != 1 {
			t.Errorf("%s: CanonicalProps = %v, want one invalid field", c.name, err)
			continue
		}
		if c.field != "" && fs[0].Field != c.field {
			t.Errorf("%s: field %q, want %q", c.name, fs[0].Field, c.field)
		}
		if strings.HasPrefix(fs[0].Field, ".") {
			t.Errorf("%s: field path %q starts with a dot", c.name, fs[0].Field)
		}
	}
}

func TestPropEquals(t *testing.T) {
	p := json.RawMessage(`{"a":1,"b":"x","c":{"d":[1,2]},"e":null}`)
	for _, c := range []struct {
		k, v string
		want bool
	}{{"a", `1`, true}, {"a", `2`, false}, {"b", `"x"`, true}, {"c", `{"d":[1,2]}`, true}, {"e", `null`, true}, {"f", `null`, false}, {"d", `[1,2]`, false}} {
		if got := PropEquals(p, c.k, json.RawMessage(c.v)); got != c.want {
			t.Errorf("PropEquals(%s, %s) = %v", c.k, c.v, got)
		}
	}
	if PropEquals(json.RawMessage(`not json`), "a", json.RawMessage(`1`)) {
		t.Error("PropEquals on malformed props")
	}
}

// TestNumberRule checks the one rule of numbers, through CanonicalProps's
// fast and slow paths (an escape in a string sends a document down the
// slow one).
func TestNumberRule(t *testing.T) {
	ok := []string{"0", "-0", "1", "12345678901234567890", "1.50", "1e3", "-2.5E-7", "0e999", "0e-999",
		"1.7976931348623157e308", "-1.7976931348623157e308", "5e-324", "3e-324", "0.000000000000000000001",
		"1" + strings.Repeat("0", 63), "1e+308", "1e0000000000000000000000000001"}
	bad := []string{"1e400", "-1e400", "1e1000000", "1.8e308", "1e-400", "2e-324", "0e-20000", "0e1000",
		"1" + strings.Repeat("0", 64), "0." + strings.Repeat("0", 400) + "1"}
	for _, n := range ok {
		if !ValidNumber([]byte(n)) {
			t.Errorf("ValidNumber(%s) = false", n)
		}
		for _, doc := range []string{`{"n":` + n + `}`, `{"s":"\n","n":[` + n + `]}`} {
			if _, err := CanonicalProps(json.RawMessage(doc)); err != nil {
				t.Errorf("CanonicalProps(%s): %v", doc, err)
			}
		}
	}
	for _, n := range bad {
		if ValidNumber([]byte(n)) {
			t.Errorf("ValidNumber(%s) = true", n)
		}
		for _, c := range []struct{ doc, field string }{{`{"n":` + n + `}`, "n"}, {`{"s":"\n","a":{"n":[1,` + n + `]}}`, "a.n[1]"}} {
			_, err := CanonicalProps(json.RawMessage(c.doc))
			fs := ErrorFields(err)
			if len(fs) != 1 || fs[0].Field != c.field || fs[0].Message != NumberRule {
				t.Errorf("CanonicalProps(%.80s) = %v, want %s: %s", c.doc, err, c.field, NumberRule)
			}
		}
	}
}

func TestPropsRuleMessages(t *testing.T) {
	if PropsSizeRule != fmt.Sprintf("props larger than %d bytes", MaxPropsBytes) ||
		PropsDepthRule != fmt.Sprintf("nested deeper than %d", MaxPropsDepth) {
		t.Fatalf("messages disagree with the limits: %q, %q", PropsSizeRule, PropsDepthRule)
	}
}
