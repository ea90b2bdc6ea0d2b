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
// string, and nesting of objects and arrays at most maxDepth deep. Go's
// encoding/json accepts each of these; the API rejects them before any
// decoder sees the body. The error is CodeInvalid and names the JSON path of
// the problem.
//
// Case-variant keys ("TENANT_ID" for "tenant_id") are well-formed JSON; they
// are caught by the schema check that follows, which matches keys exactly.
func CheckJSON(data []byte, maxDepth int) error {
	return checkJSONKeys(data, maxDepth, nil)
}

// checkJSONKeys is CheckJSON that also approves every object key with keyFn
// (nil approves all), for decoders that need exact key matching.
func checkJSONKeys(data []byte, maxDepth int, keyFn func([]string, string) bool) error {
	if !utf8.Valid(data) {
		return telamentis.Invalid("body", "not valid UTF-8")
	}
	s := scanner{data: data, maxDepth: maxDepth, keyFn: keyFn}
	s.skipSpace()
	if err := s.value(0); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return s.fail("trailing data after the JSON value")
	}
	return nil
}

type scanner struct {
	data     []byte
	pos      int
	maxDepth int
	// path holds the segments of the current position. It is turned into
	// text only for an error, so a document that passes costs no strings.
	path []pathSeg
	// keyFn, if set, approves each object key given the path of its
	// object; keyPath is that path as text, kept only while keyFn is set.
	keyFn   func(path []string, key string) bool
	keyPath []string
	// keys is scratch for duplicate detection, reused across objects.
	keys [][]byte
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
func (s *scanner) field() string {
	if len(s.path) == 0 {
		return "body"
	}
	var b strings.Builder
	for i, p := range s.path {
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
// props limits) at the current path, with the rule's own message and no
// offset: the error a store gives for the same value.
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

func (s *scanner) value(depth int) error {
	if s.pos >= len(s.data) {
		return s.fail("unexpected end of JSON")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, err := s.str(false)
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.fail("malformed JSON")
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.fail("malformed JSON")
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) object(depth int) error {
	if depth > s.maxDepth {
		return s.fail("nested deeper than " + strconv.Itoa(s.maxDepth))
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
		if s.keyFn != nil {
			ks := string(k)
			if !s.keyFn(s.keyPath, ks) {
				s.pushKey(k)
				return s.fail("unknown field")
			}
			s.keyPath = append(s.keyPath, ks)
		}
		s.pushKey(k)
		if dup {
			return s.fail("duplicate key")
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.fail("expected ':' after an object key")
		}
		s.pos++
		s.skipSpace()
		if err := s.value(depth); err != nil {
			return err
		}
		s.pop()
		if s.keyFn != nil {
			s.keyPath = s.keyPath[:len(s.keyPath)-1]
		}
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

func (s *scanner) array(depth int) error { return s.elements(depth, s.value) }

// elements scans the array at s.pos, depth levels down (the array
// included), calling elem for each element with its index on the path.
func (s *scanner) elements(depth int, elem func(depth int) error) error {
	if depth > s.maxDepth {
		return s.fail("nested deeper than " + strconv.Itoa(s.maxDepth))
	}
	s.pos++ // [
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		s.path = append(s.path, pathSeg{idx: i})
		if s.keyFn != nil {
			s.keyPath = append(s.keyPath, "["+strconv.Itoa(i)+"]")
		}
		s.skipSpace()
		if err := elem(depth); err != nil {
			return err
		}
		s.pop()
		if s.keyFn != nil {
			s.keyPath = s.keyPath[:len(s.keyPath)-1]
		}
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

func (s *scanner) number() error {
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
	s.pos = i
	return nil
}

func (s *scanner) put(decode bool, b []byte, c byte) []byte {
	if decode {
		return append(b, c)
	}
	return b
}
