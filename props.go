package telamentis

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/telamentis/telamentis/internal/strictjson"
)

// Limits on props, checked by CanonicalProps.
const (
	MaxPropsBytes  = 64 << 10                  // encoded size of a props object
	MaxPropsDepth  = 16                        // nesting of objects and arrays, the props object being 1
	MaxNumberBytes = strictjson.MaxNumberBytes // text of one number (64)
	maxKeyBytes    = 256                       // bytes of one object key
)

// The field messages of the props limits. Scanners that enforce the limits
// while they read a request, before CanonicalProps sees it, answer with
// these, as a store would.
const (
	PropsSizeRule  = "props larger than 65536 bytes" // MaxPropsBytes
	PropsDepthRule = "nested deeper than 16"         // MaxPropsDepth
)

// NumberRule is the field message of a number ValidNumber refuses.
const NumberRule = "number out of range: at most 64 characters, an exponent from -999 to 999, " +
	"and a value a 64-bit float holds (magnitude at most 1.7976931348623157e308; a nonzero value not below 5e-324)"

// ValidNumber reports whether text, a number in JSON's grammar, follows the
// rule of every number the API takes in (props and request bodies alike):
// at most MaxNumberBytes long, a written exponent of at most 999 in
// magnitude, and a value within an IEEE 754 double — finite, and not a
// nonzero value so small that it rounds to zero. Props keep numbers as
// written; this rule keeps them readable by every JSON decoder that uses
// doubles (I-JSON, RFC 7493) and storable as PostgreSQL jsonb, whose
// numeric refuses 1e1000000 and 0e-20000.
func ValidNumber(text []byte) bool { return strictjson.ValidNumber(text) }

var emptyProps = json.RawMessage("{}")

// CanonicalProps validates a props document and returns it in canonical
// form: compact JSON, object keys sorted, numbers as written, no HTML
// escaping. Two props documents are equal iff their canonical forms are
// byte-equal, which is how upserts detect that nothing changed.
//
// Empty input and null become {}. The document must be a JSON object of at
// most MaxPropsBytes, nested at most MaxPropsDepth deep, with keys of at most
// 256 bytes, valid UTF-8, no NUL in any key or string, and no duplicate keys.
func CanonicalProps(raw json.RawMessage) (json.RawMessage, error) {
	return AppendCanonicalProps(nil, raw)
}

// AppendCanonicalProps is CanonicalProps writing the result after dst's
// contents: it returns only the canonical props, which may share dst's
// memory, so a caller can reuse one scratch buffer across many documents.
// The common case (strings without escapes) takes a one-pass scanner; any
// input it is unsure of goes through the full decoder, which also produces
// the field errors.
func AppendCanonicalProps(dst []byte, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return emptyProps, nil
	}
	if c, ok := fastCanonical(raw, dst); ok {
		return c, nil
	}
	return canonicalSlow(raw)
}

// canonicalSlow canonicalises trimmed, non-empty props with encoding/json.
func canonicalSlow(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) > MaxPropsBytes {
		return nil, Invalid("", "%s", PropsSizeRule)
	}
	if !utf8.Valid(raw) {
		return nil, Invalid("", "not valid UTF-8")
	}
	if raw[0] != '{' {
		return nil, Invalid("", "must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec, 1, "")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Invalid("", "trailing data after the object")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, Invalid("", "cannot encode")
	}
	out := bytes.TrimRight(buf.Bytes(), "\n")
	if len(out) > MaxPropsBytes {
		return nil, Invalid("", "%s", PropsSizeRule)
	}
	return json.RawMessage(out), nil
}

// decodeValue reads one JSON value from dec, enforcing depth, key and string
// rules, and returns it as map[string]any, []any, string, json.Number, bool
// or nil.
func decodeValue(dec *json.Decoder, depth int, path string) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, Invalid(path, "malformed JSON: %s", jsonErrText(err))
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth > MaxPropsDepth {
			return nil, Invalid(path, "%s", PropsDepthRule)
		}
		switch t {
		case '{':
			m := make(map[string]any)
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, Invalid(path, "malformed JSON: %s", jsonErrText(err))
				}
				k, ok := kt.(string)
				if !ok {
					return nil, Invalid(path, "malformed JSON object")
				}
				if k == "" || len(k) > maxKeyBytes || !validText(k) {
					return nil, Invalid(joinField(path, k), "keys must be 1 to %d bytes of valid UTF-8 without NUL", maxKeyBytes)
				}
				if _, dup := m[k]; dup {
					return nil, Invalid(joinField(path, k), "duplicate key")
				}
				v, err := decodeValue(dec, depth+1, joinField(path, k))
				if err != nil {
					return nil, err
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, Invalid(path, "malformed JSON: %s", jsonErrText(err))
			}
			return m, nil
		case '[':
			a := []any{}
			for i := 0; dec.More(); i++ {
				v, err := decodeValue(dec, depth+1, path+"["+strconv.Itoa(i)+"]")
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, Invalid(path, "malformed JSON: %s", jsonErrText(err))
			}
			return a, nil
		}
		return nil, Invalid(path, "malformed JSON")
	case string:
		if !validText(t) {
			return nil, Invalid(path, "strings must be valid UTF-8 without NUL")
		}
		return t, nil
	case json.Number:
		if !ValidNumber([]byte(t)) {
			return nil, Invalid(path, "%s", NumberRule)
		}
		return t, nil
	default:
		return t, nil
	}
}

// jsonErrText words a decoding error for a client: where, not the
// decoder's own text.
func jsonErrText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at offset " + strconv.FormatInt(se.Offset, 10)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end"
	}
	return "syntax error"
}

// validText reports whether s is valid UTF-8 without NUL. Decoded JSON
// strings replace invalid bytes with U+FFFD, so the raw input is checked for
// validity before decoding as well.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0) && !strings.ContainsRune(s, utf8.RuneError)
}
