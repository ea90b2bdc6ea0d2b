package safeguard

import (
	"strings"
	"unicode/utf8"
)

// Invisible is the Found kind counting invisible characters removed.
const Invisible = "invisible"

// invisible reports whether r is a character that renders as nothing (or
// reorders what is around it) and so can carry text a person reviewing
// the input does not see, while a model reads it: Unicode tag characters
// (U+E0000–E007F, which spell ASCII invisibly: "ASCII smuggling"), the
// variation selectors supplement (U+E0100–E01EF, used to hide bytes
// behind an emoji), zero-width characters and marks (U+200B–U+200F,
// U+2060–U+2064, U+FEFF) and bidirectional controls (U+202A–U+202E,
// U+2066–U+2069).
func invisible(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F,
		r >= 0x202A && r <= 0x202E,
		r >= 0x2060 && r <= 0x2064,
		r >= 0x2066 && r <= 0x2069,
		r == 0xFEFF,
		r >= 0xE0000 && r <= 0xE007F,
		r >= 0xE0100 && r <= 0xE01EF:
		return true
	}
	return false
}

// StripInvisible returns s without its invisible characters (see
// invisible) and how many it removed. Text without any of their UTF-8
// lead bytes (0xE2, 0xEF, 0xF3) is returned as is, without a decode.
// Invalid UTF-8 stays byte for byte, but fragments that join into an
// invisible character once what lay between them is gone are removed too.
func StripInvisible(s string) (string, int) {
	total := 0
	for {
		out, n := stripOnce(s)
		total += n
		// Removing whole characters from valid UTF-8 cannot form new ones.
		if n == 0 || utf8.ValidString(s) {
			return out, total
		}
		s = out
	}
}

func stripOnce(s string) (string, int) {
	if strings.IndexByte(s, 0xE2) < 0 && strings.IndexByte(s, 0xEF) < 0 && strings.IndexByte(s, 0xF3) < 0 {
		return s, 0
	}
	var b strings.Builder
	n, last := 0, 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if invisible(r) {
			if n == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[last:i])
			last = i + size
			n++
		}
		i += size
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}
