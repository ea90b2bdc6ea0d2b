package telamentis

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/telamentis/telamentis/internal/strictjson"
)

// fastCanonical returns the form CanonicalProps produces for p, with ok
// false when it is not sure: p must be one compact-or-spaced JSON object
// whose strings have no escapes (so their bytes are their content), valid
// UTF-8 without NUL, U+FFFD, U+2028 or U+2029, no duplicate keys, within
// the size, depth and key limits.
func fastCanonical(p, dst []byte) (json.RawMessage, bool) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || len(p) > MaxPropsBytes || p[0] != '{' || !utf8.Valid(p) ||
		bytes.IndexByte(p, '\\') >= 0 || bytes.Contains(p, []byte("\uFFFD")) ||
		bytes.Contains(p, []byte("\u2028")) || bytes.Contains(p, []byte("\u2029")) {
		return nil, false
	}
	c := canonScanner{p: p}
	out, ok := c.canon(1, dst)
	c.ws()
	if !ok || c.i != len(p) || len(out)-len(dst) > MaxPropsBytes {
		return nil, false
	}
	return out[len(dst):], true
}

type canonScanner struct {
	p []byte
	i int
}

func (c *canonScanner) ws() { c.i = strictjson.SkipSpace(c.p, c.i) }

func (c *canonScanner) peek() byte {
	c.ws()
	if c.i < len(c.p) {
		return c.p[c.i]
	}
	return 0
}

type member struct{ k, v []byte }

// canon appends the canonical form of the next value to out.
func (c *canonScanner) canon(depth int, out []byte) ([]byte, bool) {
	switch b := c.peek(); {
	case b == '{':
		if depth > MaxPropsDepth {
			return nil, false
		}
		c.i++
		var buf [8]member
		ms := buf[:0]
		if c.peek() == '}' {
			c.i++
			return append(out, "{}"...), true
		}
		for {
			c.ws()
			k, ok := c.str()
			if !ok || len(k) == 0 || len(k) > 256 {
				return nil, false
			}
			if c.peek() != ':' {
				return nil, false
			}
			c.i++
			var v []byte
			if b := c.peek(); b == '{' || b == '[' {
				v, ok = c.canon(depth+1, nil)
			} else {
				// A scalar's canonical form is its text: no copy.
				start := c.i
				ok = c.scalar()
				v = c.p[start:c.i]
			}
			if !ok {
				return nil, false
			}
			ms = append(ms, member{k, v})
			switch c.peek() {
			case ',':
				c.i++
				continue
			case '}':
				c.i++
			default:
				return nil, false
			}
			break
		}
		for i := 1; i < len(ms); i++ {
			for j := i; j > 0 && bytes.Compare(ms[j-1].k, ms[j].k) > 0; j-- {
				ms[j-1], ms[j] = ms[j], ms[j-1]
			}
		}
		out = append(out, '{')
		for i, m := range ms {
			if i > 0 {
				if bytes.Equal(ms[i-1].k, m.k) {
					return nil, false
				}
				out = append(out, ',')
			}
			out = append(out, '"')
			out = append(out, m.k...)
			out = append(out, '"', ':')
			out = append(out, m.v...)
		}
		return append(out, '}'), true
	case b == '[':
		if depth > MaxPropsDepth {
			return nil, false
		}
		c.i++
		out = append(out, '[')
		if c.peek() == ']' {
			c.i++
			return append(out, ']'), true
		}
		for first := true; ; first = false {
			if !first {
				out = append(out, ',')
			}
			var ok bool
			if out, ok = c.canon(depth+1, out); !ok {
				return nil, false
			}
			switch c.peek() {
			case ',':
				c.i++
				continue
			case ']':
				c.i++
				return append(out, ']'), true
			}
			return nil, false
		}
	case b == '"':
		start := c.i
		if _, ok := c.str(); !ok {
			return nil, false
		}
		return append(out, c.p[start:c.i]...), true
	case b == 't', b == 'f', b == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if c.lit(lit) {
				return append(out, lit...), true
			}
		}
		return nil, false
	case b == '-' || ('0' <= b && b <= '9'):
		start := c.i
		if !c.number() {
			return nil, false
		}
		return append(out, c.p[start:c.i]...), true
	}
	return nil, false
}

// scalar scans a string, number or literal, whose canonical form is its
// text.
func (c *canonScanner) scalar() bool {
	switch b := c.peek(); {
	case b == '"':
		_, ok := c.str()
		return ok
	case b == 't', b == 'f', b == 'n':
		return c.lit("true") || c.lit("false") || c.lit("null")
	case b == '-' || ('0' <= b && b <= '9'):
		return c.number()
	}
	return false
}

func (c *canonScanner) lit(s string) bool {
	if bytes.HasPrefix(c.p[c.i:], []byte(s)) {
		c.i += len(s)
		return true
	}
	return false
}

// str scans a string without escapes or control characters and returns its
// content.
func (c *canonScanner) str() ([]byte, bool) {
	if c.i >= len(c.p) || c.p[c.i] != '"' {
		return nil, false
	}
	start := c.i + 1
	for j := start; j < len(c.p); j++ {
		switch b := c.p[j]; {
		case b == '"':
			c.i = j + 1
			return c.p[start:j], true
		case b < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// number scans a JSON number: the grammar and the number rule of the
// strict scanner of request bodies.
func (c *canonScanner) number() bool {
	end := strictjson.NumberEnd(c.p, c.i)
	if end < 0 || !ValidNumber(c.p[c.i:end]) {
		return false // the slow path names the error
	}
	c.i = end
	return true
}
