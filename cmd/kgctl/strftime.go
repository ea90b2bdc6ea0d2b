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
//
// Each directive has its own reader in the directives table. A dateParser
// keeps the fields of the date being read, so that Parse allocates
// nothing: like the CSVMapping that holds it, it is not safe for
// concurrent use.
type dateParser struct {
	format string
	loc    *time.Location
	d      dateFields
}

// dateFields are what a date's directives have read so far.
type dateFields struct {
	year, month, day, yday int
	hour, min, sec, nsec   int
	pm, hasPM, hour12      bool
	// zoned is set by %z and %Z: the date is at offset seconds east of
	// UTC.
	zoned  bool
	offset int
	unix   int64
	isUnix bool
}

// directive reads one directive's text from the start of in into d and
// returns the rest of in, or what it failed to read ("year", "month", …).
type directive func(in string, d *dateFields) (rest, failed string)

// directives are the readers of the directives, by their letter. %F and
// %T are expanded before parsing.
var directives = [...]directive{
	'Y': readYear, 'y': readYear2, 'm': readMonth, 'd': readDay, 'e': readDaySpace, 'j': readYearDay,
	'H': readHour, 'I': readHour12, 'M': readMinute, 'S': readSecond, 'f': readFraction, 'p': readAMPM,
	'b': readMonthName, 'B': readMonthName, 'z': readOffset, 'Z': readZoneName, 's': readUnix, '%': readPercent,
}

// expansions are the directives that stand for others. "%%" maps to
// itself so that a literal %F stays literal.
var expansions = strings.NewReplacer("%%", "%%", "%F", "%Y-%m-%d", "%T", "%H:%M:%S")

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
	expanded := expansions.Replace(format)
	for i := 0; i < len(expanded); i++ {
		if expanded[i] != '%' {
			continue
		}
		i++
		if i >= len(expanded) || lookupDirective(expanded[i]) == nil {
			return nil, fmt.Errorf("date format %q: unsupported directive %s", format, expanded[i-1:min(i+1, len(expanded))])
		}
	}
	return &dateParser{format: expanded, loc: loc}, nil
}

func lookupDirective(c byte) directive {
	if int(c) >= len(directives) {
		return nil
	}
	return directives[c]
}

// hasZone reports whether the format carries a zone.
func (p *dateParser) hasZone() bool {
	return strings.Contains(p.format, "%z") || strings.Contains(p.format, "%Z") || strings.Contains(p.format, "%s")
}

// Parse reads s, which must match the whole format.
func (p *dateParser) Parse(s string) (time.Time, error) {
	d := &p.d
	*d = dateFields{month: 1, day: 1}
	in, f := s, p.format
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			if len(in) == 0 || in[0] != f[i] {
				return p.fail(s, fmt.Sprintf("expected %q", f[i]))
			}
			in = in[1:]
			continue
		}
		i++
		var failed string
		if in, failed = directives[f[i]](in, d); failed != "" {
			return p.fail(s, failed)
		}
	}
	if in != "" {
		return p.fail(s, "trailing text")
	}
	return p.assemble(s)
}

func (p *dateParser) fail(s, what string) (time.Time, error) {
	return time.Time{}, fmt.Errorf("date %q does not match %q: %s", s, p.format, what)
}

// assemble turns the fields read from s into a UTC time.
func (p *dateParser) assemble(s string) (time.Time, error) {
	d := &p.d
	if d.isUnix {
		return time.Unix(d.unix, int64(d.nsec)).UTC(), nil
	}
	hour := d.hour
	if d.hour12 || d.hasPM {
		if hour == 12 {
			hour = 0
		}
		if d.pm {
			hour += 12
		}
	}
	// A zoned date is read as UTC wall-clock time and moved by its offset
	// (a fixed zone would allocate for every offset not a whole hour).
	loc := time.UTC
	if !d.zoned {
		if loc = p.loc; loc == nil {
			return time.Time{}, fmt.Errorf("date %q has no zone: give --timezone (e.g. UTC or Europe/Paris)", s)
		}
	}
	var t time.Time
	if d.yday > 0 {
		t = time.Date(d.year, 1, 1, hour, d.min, d.sec, d.nsec, loc).AddDate(0, 0, d.yday-1)
		if t.Year() != d.year {
			return p.fail(s, "day of year")
		}
	} else {
		t = time.Date(d.year, time.Month(d.month), d.day, hour, d.min, d.sec, d.nsec, loc)
		if t.Day() != d.day || t.Month() != time.Month(d.month) {
			return p.fail(s, "no such day")
		}
	}
	return t.Add(-time.Duration(d.offset) * time.Second).UTC(), nil
}

// digits reads between min and max decimal digits from the start of in.
func digits(in string, min, max int) (v int, rest string, ok bool) {
	n := 0
	for n < max && n < len(in) && in[n] >= '0' && in[n] <= '9' {
		v = v*10 + int(in[n]-'0')
		n++
	}
	if n < min {
		return 0, in, false
	}
	return v, in[n:], true
}

// number reads 1 or 2 digits (maxDigits 3: 1 to 3) within [lo, hi].
func number(in string, maxDigits, lo, hi int) (int, string, bool) {
	v, rest, ok := digits(in, 1, maxDigits)
	return v, rest, ok && v >= lo && v <= hi
}

func readYear(in string, d *dateFields) (string, string) {
	neg := false
	if len(in) > 0 && (in[0] == '-' || in[0] == '+') {
		neg, in = in[0] == '-', in[1:]
	}
	v, rest, ok := digits(in, 4, 4)
	if !ok {
		return in, "year"
	}
	if neg {
		v = -v
	}
	d.year = v
	return rest, ""
}

// readYear2 reads %y: 69-99 are 1969-1999, 00-68 are 2000-2068 (POSIX).
func readYear2(in string, d *dateFields) (string, string) {
	v, rest, ok := digits(in, 2, 2)
	if !ok {
		return in, "year"
	}
	if v < 69 {
		d.year = 2000 + v
	} else {
		d.year = 1900 + v
	}
	return rest, ""
}

func readMonth(in string, d *dateFields) (string, string) {
	v, rest, ok := number(in, 2, 1, 12)
	if !ok {
		return in, "month"
	}
	d.month = v
	return rest, ""
}

func readDay(in string, d *dateFields) (string, string) {
	v, rest, ok := number(in, 2, 1, 31)
	if !ok {
		return in, "day"
	}
	d.day = v
	return rest, ""
}

// readDaySpace reads %e: a day that may be padded with a space.
func readDaySpace(in string, d *dateFields) (string, string) {
	return readDay(strings.TrimPrefix(in, " "), d)
}

func readYearDay(in string, d *dateFields) (string, string) {
	v, rest, ok := number(in, 3, 1, 366)
	if !ok {
		return in, "day of year"
	}
	d.yday = v
	return rest, ""
}

func readHour(in string, d *dateFields) (string, string) {
	v, rest, ok := number(in, 2, 0, 23)
	if !ok {
		return in, "hour"
	}
	d.hour = v
	return rest, ""
}

func readHour12(in string, d *dateFields) (string, string) {
	v, rest, ok := number(in, 2, 1, 12)
	if !ok {
		return in, "hour"
	}
	d.hour, d.hour12 = v, true
	return rest, ""
}

func readMinute(in string, d *dateFields) (string, string) {
	v, rest, ok := number(in, 2, 0, 59)
	if !ok {
		return in, "minute"
	}
	d.min = v
	return rest, ""
}

// readSecond reads %S; a leap second (60) reads as the second before it.
func readSecond(in string, d *dateFields) (string, string) {
	v, rest, ok := number(in, 2, 0, 60)
	if !ok {
		return in, "second"
	}
	d.sec = min(v, 59)
	return rest, ""
}

// readFraction reads %f: any number of digits, of which the first nine
// (nanoseconds) count.
func readFraction(in string, d *dateFields) (string, string) {
	n, v := 0, 0
	for n < len(in) && in[n] >= '0' && in[n] <= '9' {
		if n < 9 {
			v = v*10 + int(in[n]-'0')
		}
		n++
	}
	if n == 0 {
		return in, "fraction"
	}
	for k := min(n, 9); k < 9; k++ {
		v *= 10
	}
	d.nsec = v
	return in[n:], ""
}

func readAMPM(in string, d *dateFields) (string, string) {
	if len(in) < 2 {
		return in, "AM/PM"
	}
	switch {
	case strings.EqualFold(in[:2], "AM"):
	case strings.EqualFold(in[:2], "PM"):
		d.pm = true
	default:
		return in, "AM/PM"
	}
	d.hasPM = true
	return in[2:], ""
}

var monthNames = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}

// readMonthName reads %b or %B: a month's full or three-letter name, in
// any case.
func readMonthName(in string, d *dateFields) (string, string) {
	for i, name := range monthNames {
		for _, cand := range [2]string{name, name[:3]} {
			if len(in) >= len(cand) && strings.EqualFold(in[:len(cand)], cand) {
				d.month = i + 1
				return in[len(cand):], ""
			}
		}
	}
	return in, "month name"
}

// readOffset reads %z: Z, or ±hh, ±hhmm or ±hh:mm.
func readOffset(in string, d *dateFields) (string, string) {
	if len(in) > 0 && (in[0] == 'Z' || in[0] == 'z') {
		d.zoned, d.offset = true, 0
		return in[1:], ""
	}
	off, rest, ok := offsetSeconds(in)
	if !ok {
		return in, "zone offset"
	}
	d.zoned, d.offset = true, off
	return rest, ""
}

// offsetSeconds reads ±hh, ±hhmm or ±hh:mm as seconds east of UTC.
func offsetSeconds(in string) (int, string, bool) {
	if len(in) == 0 || (in[0] != '+' && in[0] != '-') {
		return 0, in, false
	}
	sign := 1
	if in[0] == '-' {
		sign = -1
	}
	hh, rest, ok := digits(in[1:], 2, 2)
	if !ok || hh > 23 {
		return 0, in, false
	}
	mm := 0
	if tail, colon := strings.CutPrefix(rest, ":"); colon || (len(rest) >= 2 && rest[0] >= '0' && rest[0] <= '9') {
		if mm, rest, ok = digits(tail, 2, 2); !ok || mm > 59 {
			return 0, in, false
		}
	}
	return sign * (hh*3600 + mm*60), rest, true
}

// readZoneName reads %Z: only UTC, GMT and Z, which mean one thing
// everywhere.
func readZoneName(in string, d *dateFields) (string, string) {
	for _, name := range [...]string{"UTC", "GMT", "Z"} {
		if rest, ok := strings.CutPrefix(in, name); ok {
			d.zoned, d.offset = true, 0
			return rest, ""
		}
	}
	return in, "zone name (only UTC, GMT, Z)"
}

// readUnix reads %s: seconds since 1970 (up to 12 digits, maybe
// negative).
func readUnix(in string, d *dateFields) (string, string) {
	rest, neg := strings.CutPrefix(in, "-")
	n := 0
	var v int64
	for n < len(rest) && n < 12 && rest[n] >= '0' && rest[n] <= '9' {
		v = v*10 + int64(rest[n]-'0')
		n++
	}
	if n == 0 {
		return in, "unix seconds"
	}
	if neg {
		v = -v
	}
	d.unix, d.isUnix = v, true
	return rest[n:], ""
}

func readPercent(in string, _ *dateFields) (string, string) {
	if rest, ok := strings.CutPrefix(in, "%"); ok {
		return rest, ""
	}
	return in, "expected '%'"
}
