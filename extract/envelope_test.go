package extract_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/extract"
)

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // substring of a field path; "" = valid; "malformed" = not JSON (503)
	}{
		{"minimal", `{"nodes":[],"relations":[]}`, ""},
		{"fenced", "```json\n{\"nodes\":[],\"relations\":[]}\n```", ""},
		{"full", `{"nodes":[{"alias":"person:alice","label":"Person","props":{"name":"Alice"},"confidence":0.9}],
			"relations":[{"from":"person:alice","to":"org:acme","kind":"WORKS_AT","valid_from":"2020-01-01T00:00:00Z","confidence":0.8}]}`, ""},
		{"not json", `nodes: []`, "malformed"},
		{"prose", `Sure! Alice works at Acme.`, "malformed"},
		{"trailing garbage", `{"nodes":[],"relations":[]} extra`, "malformed"},
		{"truncated", `{"nodes":[{"alias":"a"`, "malformed"},
		{"missing relations", `{"nodes":[]}`, "envelope"},
		{"tenant field refused", `{"tenant":"other","nodes":[],"relations":[]}`, "envelope"},
		{"unknown node field", `{"nodes":[{"alias":"a","label":"A","confidence":1,"tenant":"x"}],"relations":[]}`, "nodes[0]"},
		{"bad label", `{"nodes":[{"alias":"a","label":"admin role","confidence":1}],"relations":[]}`, "nodes[0].label"},
		{"confidence above 1", `{"nodes":[{"alias":"a","label":"A","confidence":1.5}],"relations":[]}`, "nodes[0].confidence"},
		{"confidence negative", `{"nodes":[],"relations":[{"from":"a","to":"b","kind":"K","confidence":-0.1}]}`, "relations[0].confidence"},
		{"props not object", `{"nodes":[{"alias":"a","label":"A","props":[1],"confidence":1}],"relations":[]}`, "nodes[0].props"},
		{"empty alias", `{"nodes":[{"alias":"","label":"A","confidence":1}],"relations":[]}`, "nodes[0].alias"},
		{"too many nodes", `{"nodes":[` + strings.TrimSuffix(strings.Repeat(`{"alias":"a","label":"A","confidence":1},`, extract.MaxNodes+1), ",") + `],"relations":[]}`, "nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := extract.DecodeEnvelope(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if tt.wantErr == "malformed" {
				var pe *telamentis.ProviderError
				if telamentis.ErrorCode(err) != telamentis.CodeUnavailable || !errors.As(err, &pe) || pe.Kind != telamentis.ProviderMalformed || errors.Is(err, telamentis.ErrUnprocessable) {
					t.Fatalf("err = %v, want unavailable/malformed", err)
				}
				return
			}
			if telamentis.ErrorCode(err) != telamentis.CodeInvalid || !errors.Is(err, telamentis.ErrUnprocessable) {
				t.Fatalf("err = %v, want invalid/unprocessable", err)
			}
			found := false
			for _, f := range telamentis.ErrorFields(err) {
				if strings.HasPrefix(f.Field, tt.wantErr) {
					found = true
				}
			}
			if !found {
				t.Errorf("fields = %v, want one under %q", telamentis.ErrorFields(err), tt.wantErr)
			}
		})
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(`{"nodes":[],"relations":[]}`)
	f.Add(`{"nodes":[{"alias":"person:alice","label":"Person","props":{"name":"Alice","n":[1,{"x":null}]},"confidence":0.9}],"relations":[{"from":"person:alice","to":"org:acme","kind":"WORKS_AT","valid_from":"2020-01-01T00:00:00Z","valid_to":"2021-01-01T00:00:00+02:00","confidence":0.8}]}`)
	f.Add("```json\n{\"nodes\":[],\"relations\":[]}```")
	f.Add(`{"nodes":[{"alias":"a","label":"A","confidence":1e400}],"relations":[]}`)
	f.Fuzz(func(t *testing.T, s string) {
		env, err := extract.DecodeEnvelope(s)
		if err != nil {
			var pe *telamentis.ProviderError
			malformed := telamentis.ErrorCode(err) == telamentis.CodeUnavailable && errors.As(err, &pe) && pe.Kind == telamentis.ProviderMalformed
			if telamentis.ErrorCode(err) != telamentis.CodeInvalid && !malformed {
				t.Fatalf("error code %q: %v", telamentis.ErrorCode(err), err)
			}
			return
		}
		// A decoded envelope re-encodes and decodes to the same value.
		b, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		env2, err := extract.DecodeEnvelope(string(b))
		if err != nil {
			t.Fatalf("round trip of %s: %v", b, err)
		}
		b2, _ := json.Marshal(env2)
		if string(b) != string(b2) {
			t.Fatalf("round trip differs:\n%s\n%s", b, b2)
		}
		if len(env.Nodes) > extract.MaxNodes || len(env.Relations) > extract.MaxRelations {
			t.Fatal("caps not enforced")
		}
		for _, n := range env.Nodes {
			if !(n.Confidence >= 0 && n.Confidence <= 1) || !telamentis.ValidIdentifier(n.Label) {
				t.Fatalf("schema not enforced: %+v", n)
			}
		}
	})
}
