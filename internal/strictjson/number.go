package strictjson

import (
	"bytes"
	"strconv"
)

// The number rule's limits (ValidNumber).
const (
	MaxNumberBytes = 64  // text of one number
	MaxExponent    = 999 // magnitude of a number's written exponent
)

// SkipSpace returns the index of the first byte at or after i in data that
// is not JSON whitespace.
func SkipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// NumberEnd returns the index just past the number that starts at data[i]
// in JSON's grammar (RFC 8259), or -1 if none does.
func NumberEnd(data []byte, i int) int {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		i = digits(data, i)
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		i++
		if d := digits(data, i); d > i {
			i = d
		} else {
			return -1
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if d := digits(data, i); d > i {
			i = d
		} else {
			return -1
		}
	}
	return i
}

func digits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// ValidNumber reports whether text, a number in JSON's grammar, is at most
// MaxNumberBytes long, has a written exponent of at most MaxExponent in
// magnitude, and a value within an IEEE 754 double: finite, and not a
// nonzero value so small that it rounds to zero. telamentis.ValidNumber
// states why.
func ValidNumber(text []byte) bool {
	if len(text) > MaxNumberBytes {
		return false
	}
	exp := bytes.IndexAny(text, "eE")
	if exp < 0 && len(text) <= 15 {
		return true // at most 15 digits and no exponent: always a double
	}
	if exp >= 0 {
		e := 0
		for _, c := range text[exp+1:] {
			if '0' <= c && c <= '9' {
				if e = e*10 + int(c-'0'); e > MaxExponent {
					return false
				}
			}
		}
	} else {
		exp = len(text)
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return false // out of range
	}
	if f == 0 && bytes.ContainsAny(text[:exp], "123456789") {
		return false // underflow: nonzero as written, zero as a double
	}
	return true
}
