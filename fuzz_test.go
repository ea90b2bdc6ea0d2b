package telamentis

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzCanonicalProps(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `{"a":1}`, ` {"b":[1,{"c":null}],"a":"x"} `, `{"a":1,"a":2}`,
		`{"n":1.50e+3,"m":-0}`, `{"h":"<&>\u2028"}`, `[1]`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", nested(16), nested(17),
		`{"a":{}}{}`, `{"` + strings.Repeat("k", 257) + `":1}`, `{"n":1e400,"m":0e-20000}`, `{"s":"\n","n":[1e-400]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := CanonicalProps(in)
		if err != nil {
			if ErrorCode(err) != CodeInvalid {
				t.Fatalf("CanonicalProps(%q): error code %q, want invalid", in, ErrorCode(err))
			}
			return
		}
		if len(out) > MaxPropsBytes || !utf8.Valid(out) || bytes.ContainsRune(out, 0) {
			t.Fatalf("canonical output breaks a limit: %q", out)
		}
		again, err := CanonicalProps(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("canonical form is not idempotent:\n in    %q\n out   %q\n again %q (%v)", in, out, again, err)
		}
		// The canonical form means the same as the input.
		decode := func(b []byte) any {
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			var v any
			if err := d.Decode(&v); err != nil {
				t.Fatalf("decode %q: %v", b, err)
			}
			return v
		}
		a := decode(out)
		if _, ok := a.(map[string]any); !ok {
			t.Fatalf("canonical props are not an object: %q", out)
		}
		if trimmed := bytes.TrimSpace(in); len(trimmed) > 0 && string(trimmed) != "null" && !reflect.DeepEqual(a, decode(in)) {
			t.Fatalf("canonical form changes the value:\n in  %q\n out %q", in, out)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456789+02:00", "2024-01-02T03:04:05",
		"0001-01-01T00:00:01Z", "9999-12-31T23:59:59.9999999Z", "9999-12-31T23:00:00-02:00", "2024-13-01T00:00:00Z", "t", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseTime(s)
		if err != nil {
			if ErrorCode(err) != CodeInvalid || !v.IsZero() {
				t.Fatalf("ParseTime(%q) = %v, %v; want the zero time and invalid", s, v, err)
			}
			return
		}
		if v.IsZero() || v.Location() != time.UTC || v.Nanosecond()%1000 != 0 || v.Before(minTime) || v.After(maxTime) {
			t.Fatalf("ParseTime(%q) = %v: want a UTC time in range at microsecond precision", s, v)
		}
		if !strings.ContainsAny(s, "Zz+-") {
			t.Fatalf("ParseTime(%q) accepted a time without a zone", s)
		}
		back, err := ParseTime(v.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(v) {
			t.Fatalf("ParseTime does not round-trip %v: %v, %v", v, back, err)
		}
	})
}

func FuzzQueryNormalize(f *testing.F) {
	for _, s := range []string{
		`{"kind":"nodes","labels":["P"],"props":{"a":1}}`,
		`{"kind":"edges","valid_between":{"start":"2024-01-01T00:00:00Z"},"kinds":["K"],"from":{"alias":"a"}}`,
		`{"kind":"edges","allen":{"relation":"during","interval":{"start":"2024-01-01T00:00:00Z","end":"2025-01-01T00:00:00+02:00"}}}`,
		`{"kind":"paths","start":{"id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},"direction":"both","depth":4,"min_depth":2}`,
		`{"kind":"history","node":{"alias":"a"},"limit":1000}`,
		`{"kind":"changes","since":"2024-01-01T00:00:00Z","until":"2024-01-01T00:00:01Z","cursor":"abc"}`,
		`{"kind":"nodes","props":{"a":{"y":1,"x":[2]}}}`,
		`{"kind":"paths"}`, `{}`, `{"kind":"edges","valid_at":"2024-01-01T00:00:00Z","as_at":"2024-01-01T00:00:00.1234567Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var q Query
		if json.Unmarshal(in, &q) != nil {
			return
		}
		n, err := q.Normalize()
		if err != nil {
			if ErrorCode(err) != CodeInvalid || len(ErrorFields(err)) == 0 {
				t.Fatalf("Normalize(%s): %v, want invalid naming a field", in, err)
			}
			return
		}
		if n.Limit < 1 || n.Limit > MaxLimit {
			t.Fatalf("Normalize(%s): limit %d", in, n.Limit)
		}
		if n.Kind == QueryPaths && (n.Depth < 1 || n.Depth > MaxDepth || n.MinDepth < 1 || n.MinDepth > n.Depth || n.Start == nil) {
			t.Fatalf("Normalize(%s): paths depth %d min %d", in, n.Depth, n.MinDepth)
		}
		b1, _ := json.Marshal(n)
		n2, err := n.Normalize()
		if err != nil {
			t.Fatalf("Normalize is not idempotent: %s then %v", b1, err)
		}
		b2, _ := json.Marshal(n2)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("Normalize is not idempotent:\n %s\n %s", b1, b2)
		}
		// A normalised query survives JSON, as cursors bind it that way.
		var back Query
		if err := json.Unmarshal(b1, &back); err != nil {
			t.Fatalf("normalised query does not decode: %s: %v", b1, err)
		}
		if n3, err := back.Normalize(); err != nil {
			t.Fatalf("normalised query fails after a JSON round trip: %s: %v", b1, err)
		} else if b3, _ := json.Marshal(n3); !bytes.Equal(b1, b3) {
			t.Fatalf("normalised query changes through JSON:\n %s\n %s", b1, b3)
		}
	})
}

func FuzzCursorOpen(f *testing.F) {
	c := NewCursorCodec(bytes.Repeat([]byte{42}, 32))
	q := Query{Kind: QueryNodes, Labels: []string{"P"}}
	f.Add("acme", c.Seal("acme", q, []byte("pos")))
	f.Add("acme", c.Seal("acme", q, nil))
	f.Add("globex", c.Seal("acme", q, []byte("pos")))
	f.Add("acme", "")
	f.Add("acme", "AAAA")
	f.Add("acme", "!!")
	f.Add("acme", strings.Repeat("A", 2000))
	f.Fuzz(func(t *testing.T, tenant, cursor string) {
		pos, err := c.Open(tenant, q, cursor)
		if err != nil {
			if fs := ErrorFields(err); ErrorCode(err) != CodeInvalid || len(fs) != 1 || fs[0].Field != "cursor" {
				t.Fatalf("Open(%q): %v, want invalid naming cursor", cursor, err)
			}
			return
		}
		// Only a cursor the codec sealed opens, and it has one spelling.
		if again := c.Seal(tenant, q, pos); again != cursor {
			t.Fatalf("Open accepted %q, which is not the sealed %q of its position", cursor, again)
		}
		if len(pos) > MaxCursorPosition {
			t.Fatalf("position of %d bytes", len(pos))
		}
	})
}

// FuzzIdentifiers checks the hand-written validators against the regular
// expressions they document.
func FuzzIdentifiers(f *testing.F) {
	tenantRe := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,62}$`)
	identRe := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	for _, s := range []string{"", "a", "ab", "a-", "-a", "_x", "A", "Person", "WORKS_AT", "9x", "x9",
		"acme-corp_1", "Acme", "a\n", "é", strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("A", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidTenantID(s), tenantRe.MatchString(s); got != want {
			t.Fatalf("ValidTenantID(%q) = %v, the expression says %v", s, got, want)
		}
		if got, want := ValidIdentifier(s), identRe.MatchString(s); got != want {
			t.Fatalf("ValidIdentifier(%q) = %v, the expression says %v", s, got, want)
		}
	})
}
