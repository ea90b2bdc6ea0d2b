package httpapi

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/telamentis/telamentis"
)

// Body limits.
const (
	MaxBodyBytes      = 1 << 20  // a request body
	MaxBatchBodyBytes = 16 << 20 // a batch request body
	MaxIngestLine     = 1 << 20  // one line of an ingest stream
	MaxJSONDepth      = 32       // nesting of objects and arrays
)

// CheckJSON reports whether data is one strict JSON document: valid UTF-8,
// well-formed JSON with nothing after the value, no duplicate object keys
// (compared after unescaping), no NUL character and no lone surrogate in any
// string, nesting of objects and arrays at most maxDepth deep, and numbers
// that follow telamentis.ValidNumber. Go's encoding/json accepts most of
// these; the API rejects them before any decoder sees the body. The error
// is CodeInvalid and names the JSON path of the problem.
//
// Case-variant keys ("TENANT_ID" for "tenant_id") are well-formed JSON; they
// are caught by the shape of a request body (checkBody), which matches keys
// exactly.
func CheckJSON(data []byte, maxDepth int) error {
	return scanJSON(data, maxDepth, nil)
}

// checkBody is CheckJSON of a request body, a line of an ingest or import
// stream, against its shape: exact keys, integers that fit, and props
// under their limits, each refused as soon as the scan reaches it.
func checkBody(data []byte, sh *shape) error {
	return scanJSON(data, MaxJSONDepth, sh)
}

func scanJSON(data []byte, maxDepth int, sh *shape) error {
	if !utf8.Valid(data) {
		return telamentis.Invalid("body", "not valid UTF-8")
	}
	s := scanner{data: data, maxDepth: maxDepth}
	s.skipSpace()
	if err := s.shaped(0, sh); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return s.fail("trailing data after the JSON value")
	}
	return nil
}

// Messages of the scanner's refusals that name no offset.
const (
	unknownField  = "unknown field (names are case-sensitive)"
	tooManyItems  = "more than 100000 items" // telamentis.MaxBatchItems
	maxArrayItems = telamentis.MaxBatchItems
)

type scanner struct {
	data     []byte
	pos      int
	maxDepth int
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

// pathSeg is one segment of a JSON path: an object key (key != nil) or an
// array index. key may point into the document.
type pathSeg struct {
	key []byte
	idx int
}

func (s *scanner) pushKey(k []byte) {
	if k == nil {
		k = []byte{}
	}
	s.path = append(s.path, pathSeg{key: k})
}

func (s *scanner) pop() { s.path = s.path[:len(s.path)-1] }

// field renders the current path ("edge.from.alias", "props.tags[2]"), or
// "body" at the top.
func (s *scanner) field() string { return fieldOf(s.path) }

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

func (s *scanner) fail(msg string) error {
	field := s.field()
	return &telamentis.Error{Code: telamentis.CodeInvalid, Message: "invalid " + field,
		Fields: []telamentis.FieldError{{Field: field, Message: msg + " (offset " + strconv.Itoa(s.pos) + ")"}}}
}

// refuse reports a value that breaks a rule of the root package (numbers,
// props limits) or of the body's shape at the current path, with the rule's
// own message and no offset: the error a store gives for the same value.
func (s *scanner) refuse(msg string) error {
	return telamentis.Invalid(s.field(), "%s", msg)
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value scans any value at s.pos, depth levels down, with the JSON rules
// only.
func (s *scanner) value(depth int) error { return s.shaped(depth, nil) }

// shaped scans the value at s.pos against its shape (nil: free-form).
func (s *scanner) shaped(depth int, sh *shape) error {
	if s.pos >= len(s.data) {
		return s.fail("unexpected end of JSON")
	}
	if sh != nil && sh.props && s.propsEnd == 0 {
		return s.props(depth)
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth+1, sh)
	case c == '[':
		if sh == nil || sh.items == nil {
			return s.elements(depth+1, s.value)
		}
		return s.elements(depth+1, func(depth int) error { return s.shaped(depth, sh.items) })
	case c == '"':
		_, err := s.str(false)
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number(sh != nil && sh.integer)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.fail("malformed JSON")
}

// props scans a props value: free-form, under the props limits of the root
// package (telamentis.CanonicalProps), checked as the scan goes so that an
// oversized value costs the scan of its first MaxPropsBytes and no more —
// its text at most MaxPropsBytes, its containers nested at most
// MaxPropsDepth deep, the props object being 1. The key count is bounded
// by the size. The errors are the ones CanonicalProps gives.
func (s *scanner) props(depth int) error {
	start := s.pos
	s.propsEnd, s.propsDepth, s.propsPath = start+telamentis.MaxPropsBytes, depth, len(s.path)
	err := s.value(depth)
	if err == nil && s.pos > s.propsEnd {
		err = s.propsTooLarge()
	}
	s.propsEnd = 0
	return err
}

// inProps checks the props limits, if a props value is being scanned, at a
// container of the given depth.
func (s *scanner) inProps(depth int) error {
	switch {
	case s.propsEnd == 0:
		return nil
	case s.pos > s.propsEnd:
		return s.propsTooLarge()
	case depth-s.propsDepth > telamentis.MaxPropsDepth:
		return s.refuse(telamentis.PropsDepthRule)
	}
	return nil
}

func (s *scanner) propsTooLarge() error {
	return telamentis.Invalid(fieldOf(s.path[:s.propsPath]), "%s", telamentis.PropsSizeRule)
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.fail("malformed JSON")
	}
	s.pos += len(lit)
	return nil
}

// object scans the object at s.pos, depth levels down (the object
// included), against its shape.
func (s *scanner) object(depth int, sh *shape) error {
	if depth > s.maxDepth {
		return s.fail("nested deeper than " + strconv.Itoa(s.maxDepth))
	}
	if err := s.inProps(depth); err != nil {
		return err
	}
	s.pos++ // {
	s.skipSpace()
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
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.fail("expected an object key")
		}
		k, err := s.key()
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
		s.pushKey(k)
		member, known := sh.member(k)
		if !known {
			return s.refuse(unknownField)
		}
		if dup {
			return s.fail("duplicate key")
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.fail("expected ':' after an object key")
		}
		s.pos++
		s.skipSpace()
		if err := s.shaped(depth, member); err != nil {
			return err
		}
		s.pop()
		if done, err := s.afterMember('}'); done || err != nil {
			return err
		}
	}
}

// afterMember consumes what follows an object member or an array element:
// a comma (more follow) or the container's closing byte (done).
func (s *scanner) afterMember(closing byte) (done bool, err error) {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return false, s.fail("unexpected end of JSON")
	}
	switch s.data[s.pos] {
	case ',':
		s.pos++
		return false, nil
	case closing:
		s.pos++
		return true, nil
	}
	return false, s.fail("expected ',' or '" + string(closing) + "'")
}

// simpleEscapes maps the byte after a backslash to the byte it stands for,
// for every escape but \u (0: not one of them).
var simpleEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// elements scans the array at s.pos, depth levels down (the array
// included), calling elem for each element with its index on the path. An
// array holds at most maxArrayItems elements: the batch limit, which no
// other array of a request comes near, checked before the elements are
// decoded.
func (s *scanner) elements(depth int, elem func(depth int) error) error {
	if depth > s.maxDepth {
		return s.fail("nested deeper than " + strconv.Itoa(s.maxDepth))
	}
	if err := s.inProps(depth); err != nil {
		return err
	}
	s.pos++ // [
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		if i == maxArrayItems {
			return s.refuse(tooManyItems)
		}
		if err := s.inProps(depth); err != nil {
			return err
		}
		s.path = append(s.path, pathSeg{idx: i})
		s.skipSpace()
		if err := elem(depth); err != nil {
			return err
		}
		s.pop()
		if done, err := s.afterMember(']'); done || err != nil {
			return err
		}
	}
}

// key scans an object key starting at its opening quote and returns its
// unescaped bytes, which point into the document unless the key has
// escapes. The result is never nil.
func (s *scanner) key() ([]byte, error) {
	return s.str(true)
}

// str scans a string starting at the opening quote. With decode it returns
// the unescaped value (never nil; it points into the document when the
// string has no escapes); otherwise it only validates and returns nil.
func (s *scanner) str(decode bool) ([]byte, error) {
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
			return nil, s.fail("control character in string")
		case c == '\\':
			if decode && plain {
				b = append(b, s.data[start:s.pos]...)
				plain = false
			}
			s.pos++
			if s.pos >= len(s.data) {
				return nil, s.fail("unexpected end of JSON")
			}
			e := s.data[s.pos]
			switch {
			case simpleEscapes[e] != 0:
				b = s.put(decode, b, simpleEscapes[e])
				s.pos++
			case e == 'u':
				r, ok := s.hex4(s.pos + 1)
				if !ok {
					return nil, s.fail("malformed \\u escape")
				}
				s.pos += 5
				if r == 0 {
					return nil, s.fail("NUL character in string")
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
						r2, ok = s.hex4(s.pos + 2)
						if !ok {
							return nil, s.fail("malformed \\u escape")
						}
					}
					dec := utf16.DecodeRune(r, r2)
					if dec == utf8.RuneError {
						return nil, s.fail("lone surrogate in string")
					}
					s.pos += 6
					r = dec
				}
				if decode {
					b = utf8.AppendRune(b, r)
				}
			default:
				return nil, s.fail("malformed escape")
			}
		default:
			if decode && !plain {
				b = append(b, c)
			}
			s.pos++
		}
	}
	return nil, s.fail("unterminated string")
}

func (s *scanner) hex4(at int) (rune, bool) {
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
func (s *scanner) number(integer bool) error {
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		return s.fail("malformed number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return s.fail("malformed number")
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return s.fail("malformed number")
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	if !telamentis.ValidNumber(d[s.pos:i]) {
		return s.refuse(telamentis.NumberRule)
	}
	if integer && !intLiteral(d[s.pos:i]) {
		return s.refuse(integerRule)
	}
	s.pos = i
	return nil
}

func (s *scanner) put(decode bool, b []byte, c byte) []byte {
	if decode {
		return append(b, c)
	}
	return b
}
