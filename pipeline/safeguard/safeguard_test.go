package safeguard_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/pipeline/safeguard"
)

func TestScan(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // "kind:value" in order; nil means nothing found
	}{
		{"email", "write to alice.smith+tag@example.co.uk today", []string{"email:alice.smith+tag@example.co.uk"}},
		{"email at end of sentence", "mail bob@corp.io.", []string{"email:bob@corp.io"}},
		{"not an email handle", "ping @alice on chat", nil},
		{"not an email without tld", "user@localhost is local", nil},
		{"phone us", "call (555) 123-4567 now", []string{"phone:(555) 123-4567"}},
		{"phone dashes", "call 555-123-4567", []string{"phone:555-123-4567"}},
		{"phone intl", "call +44 20 7946 0958 please", []string{"phone:+44 20 7946 0958"}},
		{"phone intl compact", "tel:+4915112345678", []string{"phone:+4915112345678"}},
		{"date is not a phone", "on 2024-01-02 10:30 we met", nil},
		{"version is not a phone", "release 1.2.3 and 10.4.15", nil},
		{"card visa spaced", "card 4111 1111 1111 1111 exp 12/29", []string{"card:4111 1111 1111 1111"}},
		{"card compact", "pan=5500005555555559;", []string{"card:5500005555555559"}},
		{"card dashed amex", "amex 3782-822463-10005", []string{"card:3782-822463-10005"}},
		{"luhn invalid is not a card", "order 4111 1111 1111 1112 shipped", nil},
		{"long id luhn invalid", "id 1234567890123456", nil},
		{"iban spaced", "IBAN DE89 3704 0044 0532 0130 00 ok", []string{"iban:DE89 3704 0044 0532 0130 00"}},
		{"iban compact", "to GB82WEST12345698765432.", []string{"iban:GB82WEST12345698765432"}},
		{"iban bad checksum", "to GB82WEST12345698765433 ok", nil},
		{"ssn", "ssn 123-45-6789.", []string{"ssn:123-45-6789"}},
		{"ssn invalid area", "ref 000-12-3456", nil},
		{"ssn 666", "ref 666-12-3456", nil},
		{"ipv4", "host 192.168.1.20 is up", []string{"ip:192.168.1.20"}},
		{"ipv4 out of range", "value 300.1.1.1", nil},
		{"ipv6", "addr 2001:db8::8a2e:370:7334 ok", []string{"ip:2001:db8::8a2e:370:7334"}},
		{"ipv6 loopback", "bind [::1]:80", []string{"ip:::1"}},
		{"time is not ipv6", "at 10:30:15 sharp", nil},
		{"openai key", "key sk-proj-abcDEF1234567890abcdef1234 here", []string{"secret:sk-proj-abcDEF1234567890abcdef1234"}},
		{"anthropic key", "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAA", []string{"secret:sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
		{"short sk is a word", "the sk-rating is high", nil},
		{"telamentis key", "use tm_0123456789abcdef_SECRETsecretSECRET1", []string{"secret:tm_0123456789abcdef_SECRETsecretSECRET1"}},
		{"aws key", "AKIAIOSFODNN7EXAMPLE in config", []string{"secret:AKIAIOSFODNN7EXAMPLE"}},
		{"aws prefix wrong length", "AKIAIOSFODNN7EXAMPL", nil},
		{"jwt", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlc2ln ok", []string{"secret:eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlc2ln"}},
		{"pem", "x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----\ny", []string{"secret:-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----"}},
		{"pem without end", "-----BEGIN PRIVATE KEY-----\nMIIE", []string{"secret:-----BEGIN PRIVATE KEY-----\nMIIE"}},
		{"public cert is not secret", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", nil},
		{"plain prose", "Alice met Bob at Acme in 2021 and they shipped 3 products.", nil},
		{"mixed", "Alice <alice@acme.com>, 555-123-4567, card 4242424242424242",
			[]string{"email:alice@acme.com", "phone:555-123-4567", "card:4242424242424242"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range safeguard.Scan(tt.text) {
				got = append(got, string(s.Kind)+":"+tt.text[s.Start:s.End])
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Scan(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestRedactStablePlaceholders(t *testing.T) {
	g := safeguard.New()
	texts := []string{
		"Alice (alice@acme.com) called 555-123-4567.",
		"Reply to alice@acme.com and bob@acme.com.",
	}
	r, err := g.Redact(t.Context(), "redact", texts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Alice ([EMAIL_1]) called [PHONE_1].",
		"Reply to [EMAIL_1] and [EMAIL_2].",
	}
	for i := range want {
		if r.Texts[i] != want[i] {
			t.Errorf("text %d = %q, want %q", i, r.Texts[i], want[i])
		}
	}
	if r.Values["[EMAIL_1]"] != "alice@acme.com" || r.Values["[EMAIL_2]"] != "bob@acme.com" || r.Values["[PHONE_1]"] != "555-123-4567" {
		t.Errorf("values = %v", r.Values)
	}
	if r.Found["email"] != 3 || r.Found["phone"] != 1 {
		t.Errorf("found = %v", r.Found)
	}
}

func TestRedactPolicies(t *testing.T) {
	g := safeguard.New()
	pii := []string{"my card is 4111111111111111"}
	_, err := g.Redact(t.Context(), "block", pii)
	if telamentis.ErrorCode(err) != telamentis.CodeInvalid || !errors.Is(err, telamentis.ErrUnprocessable) {
		t.Fatalf("block: err = %v, want invalid/unprocessable", err)
	}
	if strings.Contains(telamentis.ErrorMessage(err), "4111") {
		t.Errorf("block message leaks the value: %q", telamentis.ErrorMessage(err))
	}
	r, err := g.Redact(t.Context(), "block", []string{"no personal data here"})
	if err != nil || r.Texts[0] != "no personal data here" {
		t.Fatalf("block clean text: %v %q", err, r.Texts)
	}
	r, err = g.Redact(t.Context(), "allow", pii)
	if err != nil || r.Texts[0] != pii[0] || len(r.Values) != 0 {
		t.Fatalf("allow: %v %v", err, r)
	}
	r, err = g.Redact(t.Context(), "", pii)
	if err != nil || r.Texts[0] != "my card is [CARD_1]" {
		t.Fatalf("default policy: %v %q", err, r.Texts)
	}
	if _, err := g.Redact(t.Context(), "bogus", pii); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		t.Fatalf("unknown policy: %v", err)
	}
}

func FuzzScan(f *testing.F) {
	f.Add("alice@acme.com 4111 1111 1111 1111 +44 20 7946 0958")
	f.Add("2001:db8::1 192.168.0.1 DE89 3704 0044 0532 0130 00")
	f.Add("-----BEGIN PRIVATE KEY-----\nabc")
	f.Add("eyJa.eyJb.c sk-aaaaaaaaaaaaaaaaaaaaaaaa @@..::")
	f.Fuzz(func(t *testing.T, s string) {
		last := 0
		for _, sp := range safeguard.Scan(s) {
			if sp.Start < last || sp.End <= sp.Start || sp.End > len(s) {
				t.Fatalf("bad span %+v after %d in %q", sp, last, s)
			}
			last = sp.End
		}
		// Redaction round-trips: restoring the placeholders gives the
		// text back, placeholder-like input included.
		r, err := safeguard.New().Redact(t.Context(), "redact", []string{s})
		if err != nil {
			t.Fatal(err)
		}
		for ph := range r.Values {
			if strings.Contains(s, ph) {
				t.Fatalf("placeholder %s already in the input %q", ph, s)
			}
		}
		if got := restore(r.Texts[0], r.Values); got != s {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}

// restore maps placeholders back the way the extractor does.
func restore(s string, values map[string]string) string {
	var pairs []string
	for ph, v := range values {
		pairs = append(pairs, ph, v)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func TestRedactSkipsPlaceholdersInInput(t *testing.T) {
	in := "literal [EMAIL_1] and [EMAIL_2] then bob@example.com"
	r, err := safeguard.New().Redact(t.Context(), "redact", []string{in})
	if err != nil {
		t.Fatal(err)
	}
	if r.Texts[0] != "literal [EMAIL_1] and [EMAIL_2] then [EMAIL_3]" || r.Values["[EMAIL_3]"] != "bob@example.com" || len(r.Values) != 1 {
		t.Errorf("redacted %q values %v", r.Texts[0], r.Values)
	}
	if restore(r.Texts[0], r.Values) != in {
		t.Error("round trip")
	}
}
