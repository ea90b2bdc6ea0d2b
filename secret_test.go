package telamentis

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"testing"
)

const secretValue = "tm_abc_SUPERSECRETVALUE"

type withSecret struct {
	Name string
	Key  Secret
	Ptr  *Secret
}

func TestSecretRedaction(t *testing.T) {
	s := NewSecret(secretValue)
	if s.Reveal() != secretValue || s.IsZero() || !NewSecret("").IsZero() {
		t.Fatal("Reveal and IsZero")
	}
	w := withSecret{Name: "n", Key: s, Ptr: &s}
	var outs []string
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%X", "%d", "%10s", "%-8v", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, w), fmt.Sprintf(verb, &w),
			fmt.Sprintf(verb, []Secret{s}), fmt.Sprintf(verb, map[string]Secret{"k": s}), fmt.Sprintf(verb, any(s)))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(s, w), s.String(), s.GoString(),
		fmt.Errorf("wrap: %v", s).Error(), errors.New(fmt.Sprint(w)).Error())

	var logBuf bytes.Buffer
	log.New(&logBuf, "", 0).Printf("key=%v struct=%+v", s, w)
	outs = append(outs, logBuf.String())

	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var b bytes.Buffer
		l := slog.New(h(&b))
		l.Info("login", "key", s, "ptr", &s, "struct", w, slog.Any("any", s), slog.Group("g", "key", s))
		l.With("key", s).Info("with")
		outs = append(outs, b.String())
	}

	for _, v := range []any{s, &s, w, map[string]Secret{"k": s}, map[Secret]int{s: 1}, []Secret{s}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		outs = append(outs, string(b))
	}
	if b, err := xml.Marshal(struct{ Key Secret }{s}); err == nil {
		outs = append(outs, string(b))
	}
	tb, _ := s.MarshalText()
	outs = append(outs, string(tb))

	for _, o := range outs {
		if strings.Contains(o, "SUPERSECRET") || strings.Contains(o, fmt.Sprintf("%x", secretValue)[:16]) {
			t.Errorf("the secret leaks: %q", o)
		}
	}
	if fmt.Sprint(s) != "[redacted]" || fmt.Sprintf("%#v", s) != "[redacted]" {
		t.Errorf("prints as [redacted]: %v %#v", s, s)
	}
	if b, _ := json.Marshal(s); string(b) != `"[redacted]"` {
		t.Errorf("JSON: %s", b)
	}
}

func TestRedactCredentials(t *testing.T) {
	id := "abcdefghijklmnop"
	key := "tm_" + id + "_" + strings.Repeat("q", 52)
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"GET /v1/graph/alpha/nodes", "GET /v1/graph/alpha/nodes"},
		{"GET /v1/graph/alpha/nodes/" + key, "GET /v1/graph/alpha/nodes/tm_" + id + "_[redacted]"},
		{"GET /v1/graph/alpha/nodes/" + key + "/history", "GET /v1/graph/alpha/nodes/tm_" + id + "_[redacted]/history"},
		{"alias:" + key[:40], "alias:tm_" + id + "_[redacted]"},                            // truncated: still a secret
		{"x/tm_" + strings.Repeat("Z", 30) + "/y", "x/tm_[redacted]/y"},                    // no key id
		{"a " + jwt + " b " + jwt, "a [redacted] b [redacted]"},                            // every one
		{"eyJhbGciOiJub25lIn0.eyJ0ZW5hbnQiOiJ4In0.", "[redacted]"},                         // alg none
		{"alias:tm_team", "alias:tm_team"},                                                 // too short for a key
		{"utm_source", "utm_source"},                                                       //
		{"cursor eyJ0IjoxNzk2NjgxNTM0NjkxOTkxfQ", "cursor eyJ0IjoxNzk2NjgxNTM0NjkxOTkxfQ"}, // no dot: not a JWT
		{"tm_", "tm_"},
	} {
		if got := RedactCredentials(tt.in); got != tt.want {
			t.Errorf("RedactCredentials(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { RedactCredentials("GET /v1/graph/alpha/nodes/0190-aa/history") }); n != 0 {
		t.Errorf("clean text: %v allocations", n)
	}
}
