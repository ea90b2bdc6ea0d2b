package telamentis

import (
	"fmt"
	"log/slog"
	"strings"
)

// Secret holds a credential or key. It prints as [redacted] everywhere: fmt
// verbs, slog, JSON and text marshalling. Only Reveal returns the value.
//
// The value sits behind a pointer so that a Secret in an unexported struct
// field, which fmt prints by reflection without calling its methods, shows
// as an address and never as the value. Compare secrets with Reveal, not ==.
type Secret struct{ p *string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{p: &s} }

const redacted = "[redacted]"

// Reveal returns the secret value. Call it only where the value is used.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb prints [redacted].
func (s Secret) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// RedactCredentials returns s with everything shaped like a credential
// replaced by [redacted], for text that is logged or audited but comes from
// a request (a path, an alias): an API key — "tm_" followed by 20 or more
// characters of [A-Za-z0-9_-], which keeps its 16-character key id when it
// has one, so an operator knows which key to rotate — and a JWT — "eyJ"
// followed by base64url characters holding at least one dot. The shapes are
// looser than the ones auth accepts on purpose: a key with a typo is still
// a secret. s comes back unchanged, and unallocated, when nothing matches.
func RedactCredentials(s string) string {
	var b strings.Builder
	done := 0 // s[:done] is in b
	for i := 0; i+3 <= len(s); {
		end, keep := credentialAt(s, i)
		if end < 0 {
			i++
			continue
		}
		b.WriteString(s[done:i])
		b.WriteString(s[i:keep])
		b.WriteString(redacted)
		done, i = end, end
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// credentialAt reports whether a credential starts at s[i]: its end, and
// the end of the part that may be shown (the key id), or -1.
func credentialAt(s string, i int) (end, keep int) {
	switch {
	case strings.HasPrefix(s[i:], "tm_"):
		end = i + 3
		for end < len(s) && keyChar(s[end]) {
			end++
		}
		if end-i-3 < 20 {
			return -1, 0
		}
		keep = i + 3
		if id := s[i+3:]; len(id) > 17 && id[16] == '_' && strings.Trim(id[:16], base32Lower) == "" {
			keep += 17 // "tm_<id>_"
		}
		return end, keep
	case strings.HasPrefix(s[i:], "eyJ"):
		end = i + 3
		dot := false
		for end < len(s) && (keyChar(s[end]) || s[end] == '.') { // base64url and dots
			dot = dot || s[end] == '.'
			end++
		}
		if !dot {
			return -1, 0
		}
		return end, i
	}
	return -1, 0
}

const base32Lower = "abcdefghijklmnopqrstuvwxyz234567"

// keyChar reports whether c is one of [A-Za-z0-9_-], the base64url
// alphabet.
func keyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}
