package graph

import (
	"encoding/json"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// DefaultNameProperty is the node property whose string value entity
// resolution indexes besides aliases, unless a store is configured with
// another.
const DefaultNameProperty = "name"

// NameKeyVersion names the rules of NormalizeName. A store that keeps
// name keys on disk records it with the name property, and recomputes
// its keys when either differs from what it was built with.
const NameKeyVersion = "1"

// folders are case folders; a cases.Caser keeps state, so each call takes
// its own.
var folders = sync.Pool{New: func() any { c := cases.Fold(); return &c }}

// NormalizeName returns the key under which entity resolution compares
// names and aliases, so that renderings of one name that differ only in
// form meet:
//
//   - invisible format characters (soft hyphens, zero-width spaces) and
//     the trademark signs are dropped, then the text is put in NFKC
//     (full-width and circled forms, ligatures, non-breaking spaces
//     become their plain forms), and symbols (©, emoji, currency signs)
//     and spacing diacritics (ˇ, ˆ) are dropped;
//   - it is case-folded (ß becomes ss, final sigma σ);
//   - diacritics are removed (NFD, then every nonspacing mark dropped),
//     and the letters whose diacritic or ligature does not decompose are
//     spelt plainly: ø o, ł l, đ and ð d, ħ h, ı i, ŧ t, þ th, æ ae, œ oe;
//   - apostrophes (' ’ ‘ ʼ ʻ) are dropped, so O'Brien meets OBrien;
//     every other punctuation mark separates words, like white space;
//   - words are separated by one space, and runs of one-letter words are
//     joined, so that J. R. R. Tolkien, J.R.R. Tolkien and JRR Tolkien
//     meet.
//
// It does not transliterate between scripts (Müller and Mueller do not
// meet), expand abbreviations (Corp and Corporation) or drop legal
// suffixes (Acme Inc and Acme GmbH are different companies): precision
// comes first, since merging two different entities is worse than
// missing a duplicate. docs/benchmarks.md gives its measured precision
// and recall. The result is "" for a name with no letters or digits.
func NormalizeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '™' || r == '℠' || unicode.Is(unicode.Cf, r) {
			return -1 // NFKC would spell out ™ as TM
		}
		return r
	}, s)
	s = norm.NFKC.String(s)
	c := folders.Get().(*cases.Caser)
	s = c.String(s)
	folders.Put(c)
	s = norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r) || isApostrophe(r) || unicode.In(r, unicode.S, unicode.Cf) || isModifierMark(r):
		case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			if p, ok := plainLetters[r]; ok {
				b.WriteString(p)
			} else {
				b.WriteRune(r)
			}
		default:
			b.WriteByte(' ')
		}
	}
	return joinWords(norm.NFC.String(b.String()))
}

// plainLetters spells the letters whose diacritic or ligature NFD does not
// take apart (after case folding).
var plainLetters = map[rune]string{
	'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d", 'ħ': "h", 'ı': "i", 'ŧ': "t", 'þ': "th", 'æ': "ae", 'œ': "oe",
}

// isModifierMark reports whether r is a spacing modifier letter (ˇ, ˆ, ˈ,
// ː…): a diacritic written beside its letter. Those with a plain form
// (ʰ, ʲ) were replaced by NFKC before.
func isModifierMark(r rune) bool { return 0x02b0 <= r && r <= 0x02ff }

func isApostrophe(r rune) bool {
	switch r {
	case '\'', '\u2019', '\u2018', '\u02bc', '\u02bb':
		return true
	}
	return false
}

// joinWords collapses white space to single spaces and joins runs of
// one-letter words ("j r r tolkien" → "jrr tolkien").
func joinWords(s string) string {
	words := strings.Fields(s)
	var b strings.Builder
	b.Grow(len(s))
	prevSingle := false
	for i, w := range words {
		single := utf8.RuneCountInString(w) == 1 && unicode.IsLetter([]rune(w)[0])
		if i > 0 && !(single && prevSingle) {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		prevSingle = single
	}
	return b.String()
}

// NameKeys returns the normalised keys a node version is found by in
// entity resolution: its alias's and, if props has a string value under
// prop, that value's. Empty keys are left out; the two may be equal.
func NameKeys(alias, props, prop string) []string {
	var keys []string
	a, n := AliasNameKeys(alias, props, prop)
	if a != "" {
		keys = append(keys, a)
	}
	if n != "" && n != a {
		keys = append(keys, n)
	}
	return keys
}

// AliasNameKeys returns the two name keys of NameKeys apart: the
// normalised alias and the normalised name ("" for none).
func AliasNameKeys(alias, props, prop string) (aliasKey, nameKey string) {
	return NormalizeName(alias), NormalizeName(nameValue(props, prop))
}

// nameValue returns the string value of the top-level property prop of
// canonical props, or "". It decodes only props that mention the key.
func nameValue(props, prop string) string {
	if prop == "" || plainKey(prop) && !strings.Contains(props, `"`+prop+`"`) {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(props), &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[prop], &s) != nil {
		return ""
	}
	return s
}

// plainKey reports whether a property name appears in canonical props as
// it is (no escapes), so that a substring test can rule it out.
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
