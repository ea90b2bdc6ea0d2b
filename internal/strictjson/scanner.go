// Package strictjson is the strict JSON scanner of TelaMentis's inputs:
// one pass over a document that refuses what Go's encoding/json would let
// through — invalid UTF-8, duplicate keys, NUL and lone surrogates in
// strings, nesting beyond a limit, trailing data, numbers beyond the
// number rule — and, given the document's Shape, unknown keys, numbers an
// integer field cannot hold and props beyond their limits, each as soon as
// the scan reaches it, before anything is decoded.
//
// It imports only the standard library, so the root package can use its
// grammar (NumberEnd, ValidNumber) for props. Its errors are *Error,
// naming the JSON path and the rule; callers word them for their users.
package strictjson

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits bounds a document.
type Limits struct {
	Depth int // nesting of objects and arrays
	Items int // elements of one array
	// The props limits (Shape.Props): encoded size, and nesting with the
	// props value being 1.
	PropsBytes, PropsDepth int
}

// Rule names what an Error breaks.
type Rule int

const (
	Syntax       Rule = iota // not strict JSON; Error.Msg says what, Offset where
	Number                   // a number ValidNumber refuses
	Integer                  // a number an integer member cannot hold
	UnknownKey               // a key the shape does not allow
	TooManyItems             // an array longer than Limits.Items
	PropsSize                // props larger than Limits.PropsBytes; Field is the props member
	PropsDepth               // props nested deeper than Limits.PropsDepth
)

// Error is a refusal: the JSON path of the problem ("body" at the top,
// "nodes[3].props.a"), the rule, and for Syntax a message and the offset
// (-1 when the problem has none, such as invalid UTF-8).
type Error struct {
	Field  string
	Rule   Rule
	Msg    string
	Offset int
}

func (e *Error) Error() string {
	switch {
	case e.Rule == Syntax && e.Offset < 0:
		return e.Field + ": " + e.Msg
	case e.Rule == Syntax:
		return e.Field + ": " + e.Msg + " (offset " + strconv.Itoa(e.Offset) + ")"
	}
	return e.Field + ": rule " + strconv.Itoa(int(e.Rule))
}

// Check reports whether data is one strict JSON document of shape sh (nil:
// free-form) within lim. The error is an *Error.
func Check(data []byte, lim Limits, sh *Shape) error {
	if !utf8.Valid(data) {
		return &Error{Field: "body", Msg: "not valid UTF-8", Offset: -1}
	}
	s := Scanner{data: data, lim: lim}
	s.SkipSpace()
	if err := s.Shaped(0, sh); err != nil {
		return err
	}
	return s.End()
}

// Scanner walks one document. Typed decoders (an ingest line's) drive it
// value by value; Check drives it by a Shape. A Scanner is not safe for
// concurrent use; Reset reuses its memory for another document.
type Scanner struct {
	data []byte
	pos  int
	lim  Limits
	// path holds the segments of the current position. It is turned into
	// text only for an error, so a document that passes costs no strings.
	path []pathSeg
	// keys is scratch for duplicate detection, reused across objects.
	keys [][]byte
	// While a props value is scanned (propsEnd > 0): the position past
	// which it is too large, the depth it starts at and the length of
	// path at its start (the path of the props field).
	propsEnd, propsDepth, propsPath int
}

// NewScanner returns a scanner with the limits lim.
func NewScanner(lim Limits) *Scanner { return &Scanner{lim: lim} }

// Reset starts the scan of data, which the caller has checked is valid
// UTF-8.
func (s *Scanner) Reset(data []byte) {
	s.data, s.pos, s.path, s.keys, s.propsEnd = data, 0, s.path[:0], s.keys[:0], 0
}

// Pos is the offset of the scan.
func (s *Scanner) Pos() int { return s.pos }

// Since returns the document's bytes from start to the scan.
func (s *Scanner) Since(start int) []byte { return s.data[start:s.pos] }

// Peek returns the byte at the scan (0 at the end).
func (s *Scanner) Peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// Null consumes a null literal at the scan, if there is one.
func (s *Scanner) Null() bool {
	if bytes.HasPrefix(s.data[s.pos:], []byte("null")) {
		s.pos += 4
		return true
	}
	return false
}

// End refuses anything but whitespace after the scan.
func (s *Scanner) End() error {
	s.SkipSpace()
	if s.pos != len(s.data) {
		return s.Fail("trailing data after the JSON value")
	}
	return nil
}

// pathSeg is one segment of a JSON path: an object key (key != nil) or an
// array index. key may point into the document.
type pathSeg struct {
	key []byte
	idx int
}

// PushKey enters the member k on the path.
func (s *Scanner) PushKey(k []byte) {
	if k == nil {
		k = []byte{}
	}
	s.path = append(s.path, pathSeg{key: k})
}

// Pop leaves the last segment of the path.
func (s *Scanner) Pop() { s.path = s.path[:len(s.path)-1] }

// Level is the number of segments of the current path.
func (s *Scanner) Level() int { return len(s.path) }

// Field renders the current path ("edge.from.alias", "props.tags[2]"), or
// "body" at the top.
func (s *Scanner) Field() string { return fieldOf(s.path) }

func fieldOf(path []pathSeg) string {
	if len(path) == 0 {
		return "body"
	}
	var b strings.Builder
	for i, p := range path {
		if p.key == nil {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(p.idx))
			b.WriteByte(']')
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.Write(p.key)
	}
	return b.String()
}

// Fail reports a Syntax error at the current path and offset.
func (s *Scanner) Fail(msg string) error {
	return &Error{Field: s.Field(), Msg: msg, Offset: s.pos}
}

// Refuse reports a value that breaks rule at the current path.
func (s *Scanner) Refuse(rule Rule) error {
	return &Error{Field: s.Field(), Rule: rule}
}

// SkipSpace skips whitespace at the scan.
func (s *Scanner) SkipSpace() { s.pos = SkipSpace(s.data, s.pos) }

// Value scans any value at the scan, depth levels down, with the JSON
// rules only.
func (s *Scanner) Value(depth int) error { return s.Shaped(depth, nil) }

// Shaped scans the value at the scan against its shape (nil: free-form).
func (s *Scanner) Shaped(depth int, sh *Shape) error {
	if s.pos >= len(s.data) {
		return s.Fail("unexpected end of JSON")
	}
	if sh != nil && sh.Props && s.propsEnd == 0 {
		return s.Props(depth)
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth+1, sh)
	case c == '[':
		if sh == nil || sh.Items == nil {
			return s.Elements(depth+1, s.Value)
		}
		return s.Elements(depth+1, func(depth int) error { return s.Shaped(depth, sh.Items) })
	case c == '"':
		_, err := s.String(false)
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number(sh != nil && sh.Integer)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.Fail("malformed JSON")
}

// Props scans a props value: free-form, under the props limits, checked as
// the scan goes so that an oversized value costs the scan of its first
// Limits.PropsBytes and no more — its text at most PropsBytes, its
// containers nested at most PropsDepth deep, the props object being 1.
// The key count is bounded by the size.
func (s *Scanner) Props(depth int) error {
	start := s.pos
	s.propsEnd, s.propsDepth, s.propsPath = start+s.lim.PropsBytes, depth, len(s.path)
	err := s.Value(depth)
	if err == nil && s.pos > s.propsEnd {
		err = s.propsTooLarge()
	}
	s.propsEnd = 0
	return err
}

// inProps checks the props limits, if a props value is being scanned, at a
// container of the given depth.
func (s *Scanner) inProps(depth int) error {
	switch {
	case s.propsEnd == 0:
		return nil
	case s.pos > s.propsEnd:
		return s.propsTooLarge()
	case depth-s.propsDepth > s.lim.PropsDepth:
		return s.Refuse(PropsDepth)
	}
	return nil
}

func (s *Scanner) propsTooLarge() error {
	return &Error{Field: fieldOf(s.path[:s.propsPath]), Rule: PropsSize}
}

func (s *Scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.Fail("malformed JSON")
	}
	s.pos += len(lit)
	return nil
}

// nested refuses a container depth levels down beyond the limit.
func (s *Scanner) nested(depth int) error {
	if depth > s.lim.Depth {
		return s.Fail("nested deeper than " + strconv.Itoa(s.lim.Depth))
	}
	return nil
}

// object scans the object at the scan, depth levels down (the object
// included), against its shape.
func (s *Scanner) object(depth int, sh *Shape) error {
	if err := s.nested(depth); err != nil {
		return err
	}
	if err := s.inProps(depth); err != nil {
		return err
	}
	s.pos++ // {
	s.SkipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	mark := len(s.keys) // this object's keys are s.keys[mark:]
	defer func() { s.keys = s.keys[:mark] }()
	var set map[string]struct{}
	for {
		if err := s.inProps(depth); err != nil {
			return err
		}
		k, err := s.memberKey()
		if err != nil {
			return err
		}
		dup := false
		if set != nil {
			_, dup = set[string(k)]
			set[string(k)] = struct{}{}
		} else {
			for _, o := range s.keys[mark:] {
				if bytes.Equal(o, k) {
					dup = true
					break
				}
			}
			s.keys = append(s.keys, k)
			if len(s.keys)-mark > 16 {
				set = make(map[string]struct{}, 32)
				for _, o := range s.keys[mark:] {
					set[string(o)] = struct{}{}
				}
			}
		}
		s.PushKey(k)
		member, known := sh.member(k)
		if !known {
			return s.Refuse(UnknownKey)
		}
		if dup {
			return s.Fail("duplicate key")
		}
		if err := s.colon(); err != nil {
			return err
		}
		if err := s.Shaped(depth, member); err != nil {
			return err
		}
		s.Pop()
		if done, err := s.afterMember('}'); done || err != nil {
			return err
		}
	}
}

// Object scans the object at the scan, depth levels down (the object
// included), whose keys must be among keys (at most 64 of them), calling
// value with the index of each member's key once the scan is at the
// member's value. A key not in keys is refused as UnknownKey, a repeated
// one as a duplicate, with the checks and errors of Check.
func (s *Scanner) Object(depth int, keys []string, value func(i int) error) error {
	if err := s.nested(depth); err != nil {
		return err
	}
	s.pos++ // {
	s.SkipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	var seen uint64
	for {
		k, err := s.memberKey()
		if err != nil {
			return err
		}
		i := 0
		for i < len(keys) && string(k) != keys[i] {
			i++
		}
		s.PushKey(k)
		if i == len(keys) {
			return s.Refuse(UnknownKey)
		}
		if seen&(1<<i) != 0 {
			return s.Fail("duplicate key")
		}
		seen |= 1 << i
		if err := s.colon(); err != nil {
			return err
		}
		if err := value(i); err != nil {
			return err
		}
		s.Pop()
		if done, err := s.afterMember('}'); done || err != nil {
			return err
		}
	}
}

// Keyless scans the object at the scan, depth levels down, which may hold
// no member: its first key, if any, is refused as UnknownKey.
func (s *Scanner) Keyless(depth int) error {
	if err := s.nested(depth); err != nil {
		return err
	}
	s.pos++ // {
	s.SkipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	k, err := s.memberKey()
	if err != nil {
		return err
	}
	s.PushKey(k)
	return s.Refuse(UnknownKey)
}

// memberKey scans an object's next key, after whitespace.
func (s *Scanner) memberKey() ([]byte, error) {
	s.SkipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return nil, s.Fail("expected an object key")
	}
	return s.String(true)
}

// colon consumes the ':' after a key and the whitespace around it.
func (s *Scanner) colon() error {
	s.SkipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return s.Fail("expected ':' after an object key")
	}
	s.pos++
	s.SkipSpace()
	return nil
}

// afterMember consumes what follows an object member or an array element:
// a comma (more follow) or the container's closing byte (done).
func (s *Scanner) afterMember(closing byte) (done bool, err error) {
	s.SkipSpace()
	if s.pos >= len(s.data) {
		return false, s.Fail("unexpected end of JSON")
	}
	switch s.data[s.pos] {
	case ',':
		s.pos++
		return false, nil
	case closing:
		s.pos++
		return true, nil
	}
	return false, s.Fail("expected ',' or '" + string(closing) + "'")
}

// simpleEscapes maps the byte after a backslash to the byte it stands for,
// for every escape but \u (0: not one of them).
var simpleEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// Elements scans the array at the scan, depth levels down (the array
// included), calling elem for each element with its index on the path. An
// array holds at most Limits.Items elements, checked before the elements
// are decoded.
func (s *Scanner) Elements(depth int, elem func(depth int) error) error {
	if err := s.nested(depth); err != nil {
		return err
	}
	if err := s.inProps(depth); err != nil {
		return err
	}
	s.pos++ // [
	s.SkipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		if i == s.lim.Items {
			return s.Refuse(TooManyItems)
		}
		if err := s.inProps(depth); err != nil {
			return err
		}
		s.path = append(s.path, pathSeg{idx: i})
		s.SkipSpace()
		if err := elem(depth); err != nil {
			return err
		}
		s.Pop()
		if done, err := s.afterMember(']'); done || err != nil {
			return err
		}
	}
}

// String scans a string starting at the opening quote. With decode it
// returns the unescaped value (never nil; it points into the document when
// the string has no escapes); otherwise it only validates and returns nil.
func (s *Scanner) String(decode bool) ([]byte, error) {
	s.pos++ // "
	start := s.pos
	var b []byte
	plain := true
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			var out []byte
			if decode {
				if plain {
					out = s.data[start:s.pos:s.pos]
				} else {
					out = b
					if out == nil {
						out = []byte{}
					}
				}
			}
			s.pos++
			return out, nil
		case c < 0x20:
			return nil, s.Fail("control character in string")
		case c == '\\':
			if decode && plain {
				b = append(b, s.data[start:s.pos]...)
				plain = false
			}
			s.pos++
			if s.pos >= len(s.data) {
				return nil, s.Fail("unexpected end of JSON")
			}
			e := s.data[s.pos]
			switch {
			case simpleEscapes[e] != 0:
				if decode {
					b = append(b, simpleEscapes[e])
				}
				s.pos++
			case e == 'u':
				r, err := s.unicodeEscape()
				if err != nil {
					return nil, err
				}
				if decode {
					b = utf8.AppendRune(b, r)
				}
			default:
				return nil, s.Fail("malformed escape")
			}
		default:
			if decode && !plain {
				b = append(b, c)
			}
			s.pos++
		}
	}
	return nil, s.Fail("unterminated string")
}

// unicodeEscape scans the \u escape at the scan (at its 'u'), with its low
// surrogate when it is a high one, and returns the rune.
func (s *Scanner) unicodeEscape() (rune, error) {
	r, ok := s.hex4(s.pos + 1)
	if !ok {
		return 0, s.Fail("malformed \\u escape")
	}
	s.pos += 5
	if r == 0 {
		return 0, s.Fail("NUL character in string")
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	r2 := rune(-1)
	if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
		r2, ok = s.hex4(s.pos + 2)
		if !ok {
			return 0, s.Fail("malformed \\u escape")
		}
	}
	dec := utf16.DecodeRune(r, r2)
	if dec == utf8.RuneError {
		return 0, s.Fail("lone surrogate in string")
	}
	s.pos += 6
	return dec, nil
}

func (s *Scanner) hex4(at int) (rune, bool) {
	if at+4 > len(s.data) {
		return 0, false
	}
	var r rune
	for _, c := range s.data[at : at+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number scans a number; integer asks for one an int64 field can hold.
func (s *Scanner) number(integer bool) error {
	end := NumberEnd(s.data, s.pos)
	if end < 0 {
		return s.Fail("malformed number")
	}
	if !ValidNumber(s.data[s.pos:end]) {
		return s.Refuse(Number)
	}
	if integer && !intLiteral(s.data[s.pos:end]) {
		return s.Refuse(Integer)
	}
	s.pos = end
	return nil
}

// intLiteral reports whether a JSON number is what encoding/json decodes
// into an int64: no fraction, no exponent, within 64 bits.
func intLiteral(n []byte) bool {
	_, err := strconv.ParseInt(string(n), 10, 64)
	return err == nil
}
