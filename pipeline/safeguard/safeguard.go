// Package safeguard finds personal data and credentials in text bound for
// an LLM and replaces each value with a stable placeholder, so that the
// provider never sees it and the extractor can put the real value back into
// the answer before writing. It implements telamentis.Redactor.
//
// Detection is one pass over the bytes: a table marks the few bytes that can
// start or anchor a value ('@', digits, '+', '(', ':', upper-case letters
// and the first letters of known key prefixes at a word start), and each
// candidate is checked by hand-written code, with checksums where the format
// has one (Luhn for cards, mod-97 for IBANs). No regular expression runs over
// the whole text.
package safeguard

import (
	"context"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/telamentis/telamentis"
)

// Kind names what a detected value is.
type Kind string

// The kinds of value the Safeguard detects. Placeholders are [KIND_n] with
// the kind in upper case.
const (
	Email  Kind = "email"
	Phone  Kind = "phone"
	Card   Kind = "card"
	IBAN   Kind = "iban"
	SSN    Kind = "ssn"
	IP     Kind = "ip"
	Secret Kind = "secret"
)

// Span is one detected value: text[Start:End].
type Span struct {
	Start, End int
	Kind       Kind
}

// Guard is the Safeguard. The zero value is ready to use.
type Guard struct{}

var _ telamentis.Redactor = Guard{}

// New returns a Guard.
func New() Guard { return Guard{} }

// Redact implements telamentis.Redactor. Under every policy it first
// removes invisible characters (StripInvisible), counted in Found under
// Invisible: they could hide instructions from anyone reviewing the text,
// and split a value so that the scan misses it while the model reads it
// whole.
func (Guard) Redact(ctx context.Context, policy string, texts []string) (telamentis.Redaction, error) {
	out := telamentis.Redaction{Texts: make([]string, len(texts)), Values: map[string]string{}, Found: map[string]int{}}
	switch policy {
	case "", "redact", "block", "allow":
	default:
		return out, telamentis.Invalid("pii.llm", "unknown policy %q", policy)
	}
	var stripped []string
	for i, t := range texts {
		if s, n := StripInvisible(t); n > 0 {
			if stripped == nil {
				stripped = append([]string(nil), texts...)
			}
			stripped[i] = s
			out.Found[Invisible] += n
		}
	}
	if stripped != nil {
		texts = stripped
	}
	if policy == "allow" {
		copy(out.Texts, texts)
		return out, nil
	}
	byValue := map[string]string{}
	counts := map[Kind]int{}
	// Placeholder-like text already in the input is never reused, so that
	// restoring the answer cannot turn a literal "[EMAIL_1]" into a value.
	taken := existingPlaceholders(texts)
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		spans := Scan(t)
		if len(spans) == 0 {
			out.Texts[i] = t
			continue
		}
		if policy == "block" {
			kinds := map[string]bool{}
			var names []string
			for _, s := range spans {
				if !kinds[string(s.Kind)] {
					kinds[string(s.Kind)] = true
					names = append(names, string(s.Kind))
				}
			}
			sort.Strings(names)
			return telamentis.Redaction{}, &telamentis.Error{Code: telamentis.CodeInvalid,
				Message: "text contains personal data or credentials (" + strings.Join(names, ", ") + ") and the tenant's llm policy is block",
				Fields:  []telamentis.FieldError{{Field: "text", Message: "contains " + strings.Join(names, ", ")}},
				Err:     telamentis.ErrUnprocessable}
		}
		var b strings.Builder
		b.Grow(len(t))
		last := 0
		for _, s := range spans {
			b.WriteString(t[last:s.Start])
			v := t[s.Start:s.End]
			ph, ok := byValue[string(s.Kind)+"\x00"+v]
			if !ok {
				for {
					counts[s.Kind]++
					ph = "[" + strings.ToUpper(string(s.Kind)) + "_" + strconv.Itoa(counts[s.Kind]) + "]"
					if !taken[ph] {
						break
					}
				}
				byValue[string(s.Kind)+"\x00"+v] = ph
				out.Values[ph] = v
			}
			out.Found[string(s.Kind)]++
			b.WriteString(ph)
			last = s.End
		}
		b.WriteString(t[last:])
		out.Texts[i] = b.String()
	}
	return out, nil
}

// existingPlaceholders returns the [KIND_n] tokens present in texts.
func existingPlaceholders(texts []string) map[string]bool {
	var taken map[string]bool
	for _, t := range texts {
		for i := strings.IndexByte(t, '['); i >= 0; {
			j := i + 1
			for j < len(t) && (class[t[j]]&(cUpper|cDigit) != 0 || t[j] == '_') {
				j++
			}
			if j < len(t) && t[j] == ']' && j > i+3 {
				if taken == nil {
					taken = map[string]bool{}
				}
				taken[t[i:j+1]] = true
			}
			k := strings.IndexByte(t[i+1:], '[')
			if k < 0 {
				break
			}
			i += 1 + k
		}
	}
	return taken
}

// byte classes
const (
	cDigit = 1 << iota
	cUpper
	cLower
	cHex
	cEmailLocal
	cDomain
	cKey // [A-Za-z0-9_-]

	cAlnum = cDigit | cUpper | cLower
)

var class [256]uint8

func init() {
	for c := 0; c < 256; c++ {
		var k uint8
		switch {
		case c >= '0' && c <= '9':
			k |= cDigit | cHex | cEmailLocal | cDomain | cKey
		case c >= 'A' && c <= 'Z':
			k |= cUpper | cEmailLocal | cDomain | cKey
			if c <= 'F' {
				k |= cHex
			}
		case c >= 'a' && c <= 'z':
			k |= cLower | cEmailLocal | cDomain | cKey
			if c <= 'f' {
				k |= cHex
			}
		}
		switch c {
		case '.', '_', '%', '+', '-':
			k |= cEmailLocal
		}
		switch c {
		case '-':
			k |= cDomain | cKey
		case '_':
			k |= cKey
		}
		class[c] = k
	}
}

func isAlnum(c byte) bool { return class[c]&(cDigit|cUpper|cLower) != 0 }

// Scan returns the values detected in text, ordered and not overlapping.
func Scan(text string) []Span {
	var spans []Span
	n := len(text)
	for i := 0; i < n; {
		c := text[i]
		k := class[c]
		var s Span
		var ok bool
		switch {
		case k&cAlnum != 0:
			// Words are skipped whole, so this is a word start unless a
			// span ended inside a word.
			if i == 0 || class[text[i-1]]&cAlnum == 0 {
				switch {
				case k&cDigit != 0:
					s, ok = scanNumber(text, i)
				case k&cUpper != 0:
					s, ok = scanUpper(text, i)
				}
				if !ok && len(keyFirst[c]) > 0 {
					s, ok = scanKey(text, i)
				}
			}
			if !ok {
				i++
				for i < n && class[text[i]]&cAlnum != 0 {
					i++
				}
				continue
			}
		case c == '@':
			s, ok = scanEmail(text, i)
		case c == ':':
			s, ok = scanIPv6(text, i)
		case c == '-':
			if strings.HasPrefix(text[i:], "-----BEGIN ") {
				s, ok = scanPEM(text, i)
			}
		case c == '+' || c == '(':
			if i == 0 || class[text[i-1]]&cAlnum == 0 {
				s, ok = scanNumber(text, i)
			}
		}
		if !ok || s.End <= i {
			i++
			continue
		}
		// A value found by looking back (email, IPv6) may overlap spans
		// already found; it wins over them.
		for len(spans) > 0 && spans[len(spans)-1].End > s.Start {
			if spans[len(spans)-1].Start < s.Start {
				s.Start = spans[len(spans)-1].Start
			}
			spans = spans[:len(spans)-1]
		}
		spans = append(spans, s)
		i = s.End
	}
	return spans
}

// scanEmail checks for local@domain.tld around the '@' at at.
func scanEmail(t string, at int) (Span, bool) {
	st := at
	for st > 0 && class[t[st-1]]&cEmailLocal != 0 && at-st < 64 {
		st--
	}
	for st < at && (t[st] == '.' || t[st] == '-' || t[st] == '+') {
		st++
	}
	if st == at {
		return Span{}, false
	}
	e := at + 1
	lastDot := -1
	for e < len(t) && class[t[e]]&cDomain != 0 || e < len(t) && t[e] == '.' {
		if t[e] == '.' {
			if e+1 >= len(t) || class[t[e+1]]&cDomain == 0 || t[e-1] == '.' || e == at+1 {
				break
			}
			lastDot = e
		}
		e++
	}
	if lastDot < 0 || e-lastDot-1 < 2 {
		return Span{}, false
	}
	for j := lastDot + 1; j < e; j++ {
		if class[t[j]]&(cUpper|cLower) == 0 {
			return Span{}, false
		}
	}
	return Span{st, e, Email}, true
}

// scanIPv6 checks for an IPv6 address containing the ':' at at.
func scanIPv6(t string, at int) (Span, bool) {
	st := at
	for st > 0 && (class[t[st-1]]&cHex != 0 || t[st-1] == ':') && at-st < 40 {
		st--
	}
	if st > 0 && (isAlnum(t[st-1]) || t[st-1] == '.') {
		return Span{}, false
	}
	e := at
	for e < len(t) && (class[t[e]]&cHex != 0 || t[e] == ':' || t[e] == '.') && e-st < 46 {
		e++
	}
	for e > at && (t[e-1] == '.' || t[e-1] == ':') && !strings.HasSuffix(t[st:e], "::") {
		e--
	}
	if e < len(t) && isAlnum(t[e]) {
		return Span{}, false
	}
	cand := t[st:e]
	if strings.Count(cand, ":") < 2 || len(cand) < 3 {
		return Span{}, false
	}
	a, err := netip.ParseAddr(cand)
	if err != nil || !a.Is6() || a.IsUnspecified() {
		return Span{}, false
	}
	return Span{st, e, IP}, true
}

// scanPEM takes a whole PEM block whose label mentions PRIVATE KEY, up to
// its END line, or to the end of the text if the END line is missing.
func scanPEM(t string, i int) (Span, bool) {
	line := t[i:]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	if !strings.Contains(line, "PRIVATE KEY") {
		return Span{}, false
	}
	rest := t[i+len(line):]
	j := strings.Index(rest, "-----END ")
	if j < 0 {
		return Span{i, len(t), Secret}, true
	}
	e := i + len(line) + j + len("-----END ")
	if k := strings.Index(t[e:], "-----"); k >= 0 && k < 80 {
		e += k + 5
	}
	return Span{i, e, Secret}, true
}

// keyPrefixes are credential formats recognised by prefix, with the least
// number of key characters that must follow.
var keyPrefixes = []struct {
	p   string
	min int
}{
	{"sk-", 20},           // OpenAI, Anthropic (sk-ant-), many others
	{"tm_", 16},           // TelaMentis API keys
	{"ghp_", 30},          // GitHub
	{"github_pat_", 30},   // GitHub fine-grained
	{"xoxb-", 20},         // Slack
	{"xoxp-", 20},         // Slack
	{"glpat-", 20},        // GitLab
	{"AKIA", 16},          // AWS access key id
	{"ASIA", 16},          // AWS temporary key id
	{"AIza", 30},          // Google API key
	{"eyJ", 0},            // JWT, checked below
	{"sk_live_", 20},      // Stripe
	{"rk_live_", 20},      // Stripe
	{"xapp-", 20},         // Slack
	{"hf_", 30},           // Hugging Face
	{"pk_live_", 20},      // Stripe publishable
	{"npm_", 30},          // npm
	{"SG.", 40},           // SendGrid
	{"glsa_", 30},         // Grafana
	{"dop_v1_", 40},       // DigitalOcean
	{"shpat_", 30},        // Shopify
	{"pypi-", 40},         // PyPI
	{"ya29.", 30},         // Google OAuth access token
	{"xoxa-", 20},         // Slack
	{"xoxr-", 20},         // Slack
	{"sq0atp-", 20},       // Square
	{"EAACEdEose0cBA", 0}, // Facebook
}

// keyFirst lists, per first byte, the indices of keyPrefixes starting with
// it, so that a word is checked only against the prefixes it could match.
var keyFirst [256][]int

func init() {
	for i, k := range keyPrefixes {
		keyFirst[k.p[0]] = append(keyFirst[k.p[0]], i)
	}
}

// scanKey checks for a credential with a known prefix at i.
func scanKey(t string, i int) (Span, bool) {
	rest := t[i:]
	for _, ki := range keyFirst[t[i]] {
		k := keyPrefixes[ki]
		if !strings.HasPrefix(rest, k.p) {
			continue
		}
		if k.p == "eyJ" {
			return scanJWT(t, i)
		}
		e := i + len(k.p)
		for e < len(t) && (class[t[e]]&cKey != 0 || t[e] == '.' && e+1 < len(t) && class[t[e+1]]&cKey != 0) {
			e++
		}
		if e-i-len(k.p) < k.min || k.min == 0 && e-i-len(k.p) < 20 {
			continue
		}
		if k.p == "AKIA" || k.p == "ASIA" {
			// exactly 16 upper-case letters or digits
			if e-i != 20 {
				return Span{}, false
			}
			for j := i + 4; j < e; j++ {
				if class[t[j]]&(cUpper|cDigit) == 0 {
					return Span{}, false
				}
			}
		}
		return Span{i, e, Secret}, true
	}
	return Span{}, false
}

// scanJWT checks for header.payload[.signature] in base64url, the header
// starting with eyJ ('{"').
func scanJWT(t string, i int) (Span, bool) {
	e := i
	parts, plen := 0, 0
	for e < len(t) {
		c := t[e]
		if class[c]&cKey != 0 || c == '=' {
			plen++
			e++
			continue
		}
		if c == '.' && plen > 0 && e+1 < len(t) && class[t[e+1]]&cKey != 0 {
			parts++
			plen = 0
			e++
			continue
		}
		break
	}
	if plen > 0 {
		parts++
	}
	if parts < 2 || e-i < 30 {
		return Span{}, false
	}
	return Span{i, e, Secret}, true
}

// scanUpper checks for an IBAN at a word start: two letters, two check
// digits, then letters and digits (in groups of four separated by single
// spaces, or unspaced), verified with mod-97.
func scanUpper(t string, i int) (Span, bool) {
	if i+15 > len(t) || class[t[i+1]]&cUpper == 0 || class[t[i+2]]&cDigit == 0 || class[t[i+3]]&cDigit == 0 {
		return Span{}, false
	}
	var ends []int // candidate ends at group boundaries, longest last
	e, nch := i, 0
	for e < len(t) && nch < 34 {
		c := t[e]
		if class[c]&(cUpper|cDigit) != 0 {
			e++
			nch++
			continue
		}
		if c == ' ' && e+1 < len(t) && class[t[e+1]]&(cUpper|cDigit) != 0 {
			ends = append(ends, e)
			e++
			continue
		}
		break
	}
	if e < len(t) && isAlnum(t[e]) {
		// the run ends inside a word
		if len(ends) == 0 {
			return Span{}, false
		}
	} else {
		ends = append(ends, e)
	}
	for j := len(ends) - 1; j >= 0; j-- {
		if validIBAN(t[i:ends[j]]) {
			return Span{i, ends[j], IBAN}, true
		}
	}
	return Span{}, false
}

// validIBAN verifies length and the ISO 13616 mod-97 check of s (spaces
// ignored).
func validIBAN(s string) bool {
	var buf [40]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			continue
		}
		if n == len(buf) {
			return false
		}
		buf[n] = s[i]
		n++
	}
	if n < 15 || n > 34 {
		return false
	}
	rem := 0
	add := func(c byte) {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		default:
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		}
	}
	for _, c := range buf[4:n] {
		add(c)
	}
	for _, c := range buf[:4] {
		add(c)
	}
	return rem == 1
}

// scanNumber reads a run of digits and separators starting at i and
// classifies it (IPv4, SSN, card, phone), trying shorter prefixes cut at
// separators when the whole run is none of them.
func scanNumber(t string, i int) (Span, bool) {
	var cuts []int // ends of digit groups
	e := i
	if t[e] == '+' || t[e] == '(' {
		e++
	}
	prevSep := true
	for e < len(t) && e-i < 64 {
		c := t[e]
		switch {
		case class[c]&cDigit != 0:
			prevSep = false
			e++
			if e == len(t) || class[t[e]]&cDigit == 0 {
				cuts = append(cuts, e)
			}
			continue
		case c == ' ' || c == '-' || c == '.' || c == ')' || c == '(':
			if prevSep && !(c == ' ' && t[e-1] == ')') && !(c == '(' && t[e-1] == ' ') {
				break
			}
			prevSep = true
			e++
			continue
		}
		break
	}
	if len(cuts) == 0 {
		return Span{}, false
	}
	for j := len(cuts) - 1; j >= 0; j-- {
		end := cuts[j]
		if end < len(t) && isAlnum(t[end]) {
			continue // a digit group running into letters: "3rd", "10am"
		}
		if k, ok := classify(t[i:end]); ok {
			return Span{i, end, k}, true
		}
	}
	return Span{}, false
}

// classify says what a run of digits and separators is, if anything.
func classify(s string) (Kind, bool) {
	var digits [24]byte
	nd, seps := 0, 0
	var sepSet uint8 // 1 space, 2 dash, 4 dot, 8 parens
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			if nd == len(digits) {
				return "", false
			}
			digits[nd] = c
			nd++
			continue
		}
		switch c {
		case ' ':
			sepSet |= 1
		case '-':
			sepSet |= 2
		case '.':
			sepSet |= 4
		case '(', ')':
			sepSet |= 8
		}
		if c != '+' {
			seps++
		}
	}
	plus := s[0] == '+'
	d := digits[:nd]
	if sepSet == 4 && !plus && strings.Count(s, ".") == 3 {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return IP, true
		}
	}
	if nd == 9 && !plus && (sepSet == 2 || sepSet == 1) && len(s) == 11 && s[3] == s[6] && (s[3] == '-' || s[3] == ' ') {
		area := string(d[:3])
		if area != "000" && area != "666" && d[0] != '9' && string(d[3:5]) != "00" && string(d[5:]) != "0000" {
			return SSN, true
		}
	}
	if nd >= 13 && nd <= 19 && !plus && sepSet&^3 == 0 && luhn(d) {
		return Card, true
	}
	if plus {
		return Phone, nd >= 8 && nd <= 15
	}
	if nd >= 10 && nd <= 15 && seps > 0 && phoneGroups(s) {
		return Phone, true
	}
	return "", false
}

// phoneGroups checks the digit groups of a separated number look like a
// phone number rather than a date or a version: groups of 2 to 5 digits
// (a leading 1 alone allowed), the last at least 3, and not yyyy-mm-dd.
func phoneGroups(s string) bool {
	var groups [8]int
	ng, cur := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			cur++
			continue
		}
		if cur > 0 {
			if ng == len(groups) {
				return false
			}
			groups[ng] = cur
			ng++
			cur = 0
		}
	}
	if ng < 2 || groups[ng-1] < 3 {
		return false
	}
	if ng >= 3 && groups[0] == 4 && groups[1] == 2 && groups[2] == 2 {
		return false
	}
	if ng >= 3 && groups[0] == 4 && groups[1] == 4 && groups[2] == 4 {
		return false // card-like grouping that failed the Luhn check
	}
	for i, g := range groups[:ng] {
		if g > 5 || g < 2 && !(i == 0 && s[strings.IndexAny(s, "0123456789")] == '1') {
			return false
		}
	}
	return true
}

// luhn reports whether the digits pass the Luhn check.
func luhn(d []byte) bool {
	sum, alt := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if alt {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		alt = !alt
	}
	return sum%10 == 0
}
