package telamentis

import (
	"bytes"
	"encoding/json"
	"testing"
)

var canonCases = []string{
	`{}`, `{"a":1}`, `{"a":1,"b":[1,2,{"c":null}]}`, `{"b":1,"a":2}`, `{"a": 1}`, `{"a":1,"a":2}`,
	`{"a":"x\"y"}`, `{"a":"<&>"}`, `{"a":1.5e+3}`, `{"a":-0.0}`, `{"a":01}`, `{"a":1.}`, `{"a":tru}`,
	`{"a":[]}`, `{"a":{}}`, `{"":1}`, `{"a":1}x`, `{"é":"ü"}`, `{"a":"\u0000"}`, `{"A":1,"a":2}`,
	`{"a":[1,]}`, `{"a":1,}`, `[1]`, `{"a":true,"b":false}`, ` { "w" : 0.431 , "conf":0.09,"src":"chat" } `,
	`{"z":{"y":[{"b":2,"a":1}],"x":"s"},"a":[ ]}`, `{"a":nul}`, `{"a":"` + "\t" + `"}`,
}

// TestFastCanonical checks the one-pass scanner against the decoder: it
// may give up, but when it answers it must produce exactly CanonicalProps'
// output.
func TestFastCanonical(t *testing.T) {
	fast := 0
	for _, s := range canonCases {
		got, ok := fastCanonical(bytes.TrimSpace([]byte(s)), nil)
		if !ok {
			continue
		}
		fast++
		want, err := canonicalSlow(bytes.TrimSpace(json.RawMessage(s)))
		if err != nil || string(got) != string(want) {
			t.Errorf("fastCanonical(%s) = %s, CanonicalProps = %s, %v", s, got, want, err)
		}
	}
	if fast < 10 {
		t.Errorf("fast path taken for only %d inputs", fast)
	}
}

func FuzzFastCanonical(f *testing.F) {
	for _, s := range canonCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := fastCanonical(bytes.TrimSpace([]byte(s)), nil)
		if !ok {
			return
		}
		want, err := canonicalSlow(bytes.TrimSpace(json.RawMessage(s)))
		if err != nil || string(got) != string(want) {
			t.Fatalf("fastCanonical(%q) = %q, CanonicalProps = %q, %v", s, got, want, err)
		}
	})
}
