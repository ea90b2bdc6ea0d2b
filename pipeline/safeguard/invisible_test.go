package safeguard_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/telamentis/telamentis/pipeline/safeguard"
)

func TestStripInvisible(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "Alice met Bob.", "Alice met Bob."},
		{"zero-width range", "a\u200Bb\u200Cc\u200Dd\u200Ee\u200Ff", "abcdef"},
		{"bidi embeddings and overrides", "\u202Aa\u202Bb\u202Cc\u202Dd\u202Ee", "abcde"},
		{"word joiner and invisible operators", "a\u2060b\u2061c\u2062d\u2063e\u2064f", "abcdef"},
		{"bidi isolates", "\u2066a\u2067b\u2068c\u2069", "abc"},
		{"byte order mark", "\uFEFFstart", "start"},
		{"tag characters", "hi\U000E0001\U000E0049\U000E0067\U000E006E\U000E007F!", "hi!"},
		{"variation selectors supplement", "\u263A\U000E0100\U000E01EF.", "\u263A."},
		// Neighbours of each range are visible text and stay.
		{"neighbours stay", "\u200A\u2010\u2011\u2029\u202F\u205F\u2065\u206A\uFEFE\uFE0F\U000DFFFF\U000E0080\U000E00FF\U000E01F0",
			"\u200A\u2010\u2011\u2029\u202F\u205F\u2065\u206A\uFEFE\uFE0F\U000DFFFF\U000E0080\U000E00FF\U000E01F0"},
		{"lead bytes of other characters", "\u2028 \u00E9 \uEFBB \U000F3000 €", "\u2028 \u00E9 \uEFBB \U000F3000 €"},
		{"invalid utf-8 kept byte for byte", "a\xe2\x80b\xf3\xa0\x80\u200Bc\xff", "a\xe2\x80b\xf3\xa0\x80c\xff"},
		{"fragments joined by the strip", "x\xf3\xa0\u200B\x81\x81y", "xy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := safeguard.StripInvisible(tt.in)
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if removed := utf8.RuneCountInString(tt.in) - utf8.RuneCountInString(got); utf8.ValidString(tt.in) && n != removed {
				t.Errorf("reported %d removed, %d were", n, removed)
			}
		})
	}
}

// TestRedactStripsInvisible: the strip runs under every policy, and before
// the scan, so a value split by zero-width characters is still found.
func TestRedactStripsInvisible(t *testing.T) {
	text := "mail ali\u200Bce@ex\u2060ample.com \U000E0041\U000E0042 now"
	for _, policy := range []string{"redact", "allow"} {
		r, err := safeguard.New().Redact(t.Context(), policy, []string{text, "clean"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"redact": "mail [EMAIL_1]  now", "allow": "mail alice@example.com  now"}[policy]
		if r.Texts[0] != want || r.Texts[1] != "clean" {
			t.Errorf("%s: texts %q", policy, r.Texts)
		}
		if r.Found[safeguard.Invisible] != 4 {
			t.Errorf("%s: found %v", policy, r.Found)
		}
	}
	if _, err := safeguard.New().Redact(t.Context(), "block", []string{text}); err == nil {
		t.Error("block: an e-mail split by invisible characters went through")
	}
}

func FuzzStripInvisible(f *testing.F) {
	f.Add("a\u200Bb")
	f.Add("\U000E0041\xf3\xa0")
	f.Add("\uFEFF\u202E")
	f.Add("\xf3\xa0\u200B\x81\x81")
	f.Fuzz(func(t *testing.T, s string) {
		got, n := safeguard.StripInvisible(s)
		again, m := safeguard.StripInvisible(got)
		if again != got || m != 0 {
			t.Fatalf("not idempotent: %q → %q → %q", s, got, again)
		}
		if len(got) > len(s) || (n == 0) != (got == s) {
			t.Fatalf("%q → %q, %d removed", s, got, n)
		}
		if utf8.ValidString(s) && strings.ContainsFunc(got, func(r rune) bool {
			_, k := safeguard.StripInvisible(string(r))
			return k > 0
		}) {
			t.Fatalf("%q kept an invisible character: %q", s, got)
		}
	})
}
