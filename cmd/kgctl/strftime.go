package main

import (
	"fmt"
	"strings"
	"time"
)

// dateParser parses dates in a strftime-style format. Supported: %Y %m %d
// %e %H %I %M %S %f (fraction, 1-9 digits) %p %z (Z, +hh, +hhmm, +hh:mm)
// %Z (a zone name; UTC/GMT/Z only) %b %B %j %y %F (%Y-%m-%d) %T (%H:%M:%S)
// %s (Unix seconds) %%. Dates without a zone are read in loc; with loc nil
// they are refused, so that a fact's time never depends on the machine's
// zone.
type dateParser struct {
	format string
	loc    *time.Location
}

// newDateParser checks format and returns its parser. An empty format
// means RFC 3339.
func newDateParser(format string, loc *time.Location) (*dateParser, error) {
	if format == "" {
		format = "%Y-%m-%dT%H:%M:%S%z"
	}
	if !strings.Contains(format, "%") {
		// A format without a directive matches one fixed string only: most
		// likely a Go layout such as 2006-01-02, which would fail every row.
		return nil, fmt.Errorf("date format %q has no %% directive: it is strftime-style, e.g. %%Y-%%m-%%d for 2024-01-31 (not a Go layout like 2006-01-02)", format)
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i >= len(format) || !strings.ContainsRune("YmdeHIMSfpzZbBjyFTs%", rune(format[i])) {
			return nil, fmt.Errorf("date format %q: unsupported directive at byte %d", format, i-1)
		}
	}
	format = strings.NewReplacer("%F", "%Y-%m-%d", "%T", "%H:%M:%S").Replace(format)
	return &dateParser{format: format, loc: loc}, nil
}

// hasZone reports whether the format carries a zone.
func (p *dateParser) hasZone() bool {
	return strings.Contains(p.format, "%z") || strings.Contains(p.format, "%Z") || strings.Contains(p.format, "%s")
}

var monthNames = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}

// Parse reads s, which must match the whole format.
func (p *dateParser) Parse(s string) (time.Time, error) {
	year, month, day, hour, min, sec, nsec, yday := 0, 1, 1, 0, 0, 0, 0, 0
	pm, hasPM, hour12 := false, false, false
	var loc *time.Location
	unix, hasUnix := int64(0), false
	in := s
	fail := func(what string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("date %q does not match %q: %s", s, p.format, what)
	}
	digits := func(min, max int) (int, bool) {
		n, v := 0, 0
		for n < max && n < len(in) && in[n] >= '0' && in[n] <= '9' {
			v = v*10 + int(in[n]-'0')
			n++
		}
		if n < min {
			return 0, false
		}
		in = in[n:]
		return v, true
	}
	f := p.format
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			if len(in) == 0 || in[0] != c {
				return fail(fmt.Sprintf("expected %q", c))
			}
			in = in[1:]
			continue
		}
		i++
		var ok bool
		switch f[i] {
		case 'Y':
			neg := false
			if len(in) > 0 && (in[0] == '-' || in[0] == '+') {
				neg = in[0] == '-'
				in = in[1:]
			}
			if year, ok = digits(4, 4); !ok {
				return fail("year")
			}
			if neg {
				year = -year
			}
		case 'y':
			if year, ok = digits(2, 2); !ok {
				return fail("year")
			}
			if year < 69 {
				year += 2000
			} else {
				year += 1900
			}
		case 'm':
			if month, ok = digits(1, 2); !ok || month < 1 || month > 12 {
				return fail("month")
			}
		case 'd', 'e':
			if f[i] == 'e' && len(in) > 0 && in[0] == ' ' {
				in = in[1:]
			}
			if day, ok = digits(1, 2); !ok || day < 1 || day > 31 {
				return fail("day")
			}
		case 'j':
			if yday, ok = digits(1, 3); !ok || yday < 1 || yday > 366 {
				return fail("day of year")
			}
		case 'H':
			if hour, ok = digits(1, 2); !ok || hour > 23 {
				return fail("hour")
			}
		case 'I':
			if hour, ok = digits(1, 2); !ok || hour < 1 || hour > 12 {
				return fail("hour")
			}
			hour12 = true
		case 'M':
			if min, ok = digits(1, 2); !ok || min > 59 {
				return fail("minute")
			}
		case 'S':
			if sec, ok = digits(1, 2); !ok || sec > 60 {
				return fail("second")
			}
			if sec == 60 {
				sec = 59 // a leap second reads as the second before it
			}
		case 'f':
			n := 0
			v := 0
			for n < len(in) && in[n] >= '0' && in[n] <= '9' {
				if n < 9 {
					v = v*10 + int(in[n]-'0')
				}
				n++
			}
			if n == 0 {
				return fail("fraction")
			}
			for k := min2(n, 9); k < 9; k++ {
				v *= 10
			}
			nsec, in = v, in[n:]
		case 'p':
			if len(in) < 2 {
				return fail("AM/PM")
			}
			switch strings.ToUpper(in[:2]) {
			case "AM":
			case "PM":
				pm = true
			default:
				return fail("AM/PM")
			}
			hasPM, in = true, in[2:]
		case 'b', 'B':
			found := false
			for mi, name := range monthNames {
				for _, cand := range []string{name, name[:3]} {
					if len(in) >= len(cand) && strings.EqualFold(in[:len(cand)], cand) {
						month, in, found = mi+1, in[len(cand):], true
						break
					}
				}
				if found {
					break
				}
			}
			if !found {
				return fail("month name")
			}
		case 'z':
			if len(in) > 0 && (in[0] == 'Z' || in[0] == 'z') {
				loc, in = time.UTC, in[1:]
				break
			}
			if len(in) == 0 || (in[0] != '+' && in[0] != '-') {
				return fail("zone offset")
			}
			sign := 1
			if in[0] == '-' {
				sign = -1
			}
			in = in[1:]
			hh, ok := digits(2, 2)
			if !ok || hh > 23 {
				return fail("zone offset")
			}
			mm := 0
			if len(in) > 0 && in[0] == ':' {
				in = in[1:]
				if mm, ok = digits(2, 2); !ok {
					return fail("zone offset")
				}
			} else if len(in) >= 2 && in[0] >= '0' && in[0] <= '9' {
				if mm, ok = digits(2, 2); !ok {
					return fail("zone offset")
				}
			}
			if mm > 59 {
				return fail("zone offset")
			}
			loc = time.FixedZone("", sign*(hh*3600+mm*60))
		case 'Z':
			switch {
			case strings.HasPrefix(in, "UTC"), strings.HasPrefix(in, "GMT"):
				loc, in = time.UTC, in[3:]
			case strings.HasPrefix(in, "Z"):
				loc, in = time.UTC, in[1:]
			default:
				return fail("zone name (only UTC, GMT, Z)")
			}
		case 's':
			neg := false
			if len(in) > 0 && in[0] == '-' {
				neg, in = true, in[1:]
			}
			n := 0
			for n < len(in) && n < 12 && in[n] >= '0' && in[n] <= '9' {
				unix = unix*10 + int64(in[n]-'0')
				n++
			}
			if n == 0 {
				return fail("unix seconds")
			}
			if neg {
				unix = -unix
			}
			in, hasUnix = in[n:], true
		case '%':
			if len(in) == 0 || in[0] != '%' {
				return fail("expected '%'")
			}
			in = in[1:]
		}
	}
	if in != "" {
		return fail("trailing text")
	}
	if hasUnix {
		return time.Unix(unix, int64(nsec)).UTC(), nil
	}
	if hour12 || hasPM {
		if hour == 12 {
			hour = 0
		}
		if pm {
			hour += 12
		}
	}
	if loc == nil {
		loc = p.loc
	}
	if loc == nil {
		return time.Time{}, fmt.Errorf("date %q has no zone: give --timezone (e.g. UTC or Europe/Paris)", s)
	}
	var t time.Time
	if yday > 0 {
		t = time.Date(year, 1, 1, hour, min, sec, nsec, loc).AddDate(0, 0, yday-1)
		if t.Year() != year {
			return fail("day of year")
		}
	} else {
		t = time.Date(year, time.Month(month), day, hour, min, sec, nsec, loc)
		if t.Day() != day || t.Month() != time.Month(month) {
			return fail("no such day")
		}
	}
	return t.UTC(), nil
}

func min2(a, b int) int {
	if a < b {
		return a
	}
	return b
}
