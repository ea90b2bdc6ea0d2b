package auth

import (
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	_, tok := newKeyToken()
	tests := []struct {
		in     string
		scheme string
		cred   string
		ok     bool
	}{
		{"Bearer " + tok, "Bearer", tok, true},
		{"bearer " + tok, "Bearer", tok, true},
		{"BEARER   " + tok, "Bearer", tok, true},
		{"ApiKey " + tok, "ApiKey", tok, true},
		{"apikey " + tok, "ApiKey", tok, true},
		{"Basic dXNlcjpwYXNz", "", "", false},
		{"Bearer", "", "", false},
		{"Bearer ", "", "", false},
		{" Bearer " + tok, "", "", false},
		{"Bearer " + tok + " extra", "", "", false},
		{"Bearer " + tok + "\x00", "", "", false},
		{"Bearer " + tok + "\t", "", "", false},
		{"Bearer tm_é", "", "", false},
		{"", "", "", false},
		{"Bearer " + strings.Repeat("a", 9000), "", "", false},
	}
	for _, tt := range tests {
		s, c, ok := ParseAuthorization(tt.in)
		if s != tt.scheme || c != tt.cred || ok != tt.ok {
			t.Errorf("ParseAuthorization(%q) = %q, %q, %v; want %q, %q, %v", tt.in, s, c, ok, tt.scheme, tt.cred, tt.ok)
		}
	}
}

func TestKeyTokenShape(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, tok := newKeyToken()
		if len(tok) != tokenLen || !strings.HasPrefix(tok, "tm_"+id+"_") {
			t.Fatalf("token %q", tok)
		}
		got, ok := parseKeyToken(tok)
		if !ok || got != id {
			t.Fatalf("parse %q = %q %v", tok, got, ok)
		}
		if seen[tok] {
			t.Fatal("repeated token")
		}
		seen[tok] = true
	}
	_, tok := newKeyToken()
	bad := []string{
		"", "tm_", tok[:len(tok)-1], tok + "a", strings.ToUpper(tok),
		"xx" + tok[2:], tok[:19] + "-" + tok[20:], tok[:30] + "1" + tok[31:],
		tok[:30] + "=" + tok[31:],
	}
	for _, b := range bad {
		if _, ok := parseKeyToken(b); ok {
			t.Errorf("parsed bad token %q", b)
		}
	}
}

// FuzzCredentialParsers checks that the header and token parsers never
// panic, that what parses as an API key re-parses to the same id, and that
// a parsed credential is printable ASCII.
func FuzzCredentialParsers(f *testing.F) {
	_, tok := newKeyToken()
	f.Add("Bearer " + tok)
	f.Add("ApiKey " + tok)
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("Bearer eyJhbGciOiJSUzI1NiIsImp3ayI6e319.e30.c2ln")
	f.Add("bearer    tm___")
	f.Add("access_token=" + tok)
	j, _ := NewJWT(JWTConfig{Issuer: "https://issuer.invalid", Audience: "a"}, nil)
	f.Fuzz(func(t *testing.T, s string) {
		scheme, cred, ok := ParseAuthorization(s)
		if ok {
			if scheme != "Bearer" && scheme != "ApiKey" {
				t.Fatalf("scheme %q", scheme)
			}
			for i := 0; i < len(cred); i++ {
				if cred[i] <= ' ' || cred[i] >= 0x7f {
					t.Fatalf("credential holds %q", cred[i])
				}
			}
		}
		for _, c := range []string{s, cred} {
			if id, ok := parseKeyToken(c); ok {
				if len(id) != idLen || c[3:3+idLen] != id || !IsAPIKey(c) {
					t.Fatalf("token %q id %q", c, id)
				}
			}
			if IsJWT(c) {
				_, _, _ = j.parseHeader(c)
			}
		}
	})
}

func TestCredentialKind(t *testing.T) {
	id, tok := newKeyToken()
	tests := []struct{ in, kind, id string }{
		{"", KindMissing, ""},
		{"Bearer " + tok, KindAPIKey, id},
		{"ApiKey " + tok, KindAPIKey, id},
		{"Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", KindJWT, ""},
		{"Basic abc", KindMalformed, ""},
		{"Bearer tm_short", KindMalformed, ""},
	}
	for _, tt := range tests {
		kind, gotID := CredentialKind(tt.in)
		if kind != tt.kind || gotID != tt.id {
			t.Errorf("CredentialKind(%q) = %q, %q; want %q, %q", tt.in, kind, gotID, tt.kind, tt.id)
		}
	}
}
