package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/telamentis/telamentis"
)

// CSVMapping maps CSV columns to nodes or edges, with the flags of the
// original kgctl. Columns are named by header name or, without a header
// (or when no header cell has that name), by 0-based index.
type CSVMapping struct {
	Type        string // node, or edge (relationship is the original kgctl's name for it)
	IDCol       string // alias of the node or edge
	Label       string
	LabelCol    string
	PropsCols   []string
	PropsJSON   string // a column holding a JSON object merged into props
	FromCol     string
	ToCol       string
	RelTypeVal  string
	RelTypeCol  string
	ValidFrom   string
	ValidTo     string
	OpenValues  []string // cell values meaning "no end" (besides empty)
	DateFormat  string
	Timezone    string
	parser      *dateParser
	propsIdx    []int
	propsNames  []string
	openValues  map[string]bool
	needColumns int
	// names remembers labels and kinds already found valid: a file has
	// few distinct ones, and the check is a regular expression.
	names map[string]bool
	// scratch holds a props cell while it is checked.
	scratch []byte
}

// maxNames bounds CSVMapping.names.
const maxNames = 256

// validName reports whether s is a valid label or kind
// (telamentis.ValidIdentifier), remembering the valid ones.
func (m *CSVMapping) validName(s string) bool {
	if m.names[s] {
		return true
	}
	if !telamentis.ValidIdentifier(s) {
		return false
	}
	if len(m.names) < maxNames {
		if m.names == nil {
			m.names = make(map[string]bool)
		}
		m.names[s] = true
	}
	return true
}

// compiledCol is a resolved column index, -1 when unused.
type colIdx struct {
	id, label, propsJSON, from, to, relType, validFrom, validTo int
}

// checkType checks --type: node, or edge (relationship, the original
// kgctl's word, is the same).
func (m *CSVMapping) checkType() error {
	switch m.Type {
	case "node", "edge", "relationship":
		return nil
	}
	return usagef("--type %q: must be node or edge (relationship is the same as edge)", m.Type)
}

// compile checks the mapping against the header (nil without one).
func (m *CSVMapping) compile(header []string) (colIdx, error) {
	ci := colIdx{-1, -1, -1, -1, -1, -1, -1, -1}
	if err := m.checkType(); err != nil {
		return ci, err
	}
	var loc *time.Location
	if m.Timezone != "" {
		l, err := time.LoadLocation(m.Timezone)
		if err != nil {
			return ci, usagef("--timezone %q: %v", m.Timezone, err)
		}
		loc = l
	}
	p, err := newDateParser(m.DateFormat, loc)
	if err != nil {
		return ci, usagef("--date-format: %v", err)
	}
	m.parser = p
	m.openValues = map[string]bool{}
	for _, v := range m.OpenValues {
		m.openValues[v] = true
	}
	names := map[string]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		if _, dup := names[h]; !dup {
			names[h] = i
		}
	}
	resolve := func(flag, v string) (int, error) {
		if v == "" {
			return -1, nil
		}
		if i, ok := names[v]; ok {
			return i, nil
		}
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n < 10000 {
			if header != nil && n >= len(header) {
				return -1, usagef("--%s %q: the header has %d columns", flag, v, len(header))
			}
			return n, nil
		}
		if header == nil {
			return -1, usagef("--%s %q: without --header, name columns by 0-based index", flag, v)
		}
		return -1, usagef("--%s %q: no such column in the header", flag, v)
	}
	var errs []error
	set := func(dst *int, flag, v string) {
		i, err := resolve(flag, v)
		if err != nil {
			errs = append(errs, err)
		}
		*dst = i
		if i+1 > m.needColumns {
			m.needColumns = i + 1
		}
	}
	set(&ci.id, "id-col", m.IDCol)
	set(&ci.label, "label-col", m.LabelCol)
	set(&ci.propsJSON, "props-json-col", m.PropsJSON)
	set(&ci.from, "from-col", m.FromCol)
	set(&ci.to, "to-col", m.ToCol)
	set(&ci.relType, "rel-type-col", m.RelTypeCol)
	set(&ci.validFrom, "valid-from-col", m.ValidFrom)
	set(&ci.validTo, "valid-to-col", m.ValidTo)
	m.propsIdx, m.propsNames = nil, nil
	for _, pc := range m.PropsCols {
		var i int
		set(&i, "props-cols", pc)
		m.propsIdx = append(m.propsIdx, i)
		name := pc
		if header != nil && i >= 0 && i < len(header) {
			name = header[i]
		}
		m.propsNames = append(m.propsNames, name)
	}
	if len(errs) > 0 {
		return ci, errs[0]
	}
	if m.Type == "node" {
		if (m.Label == "") == (ci.label < 0) {
			return ci, usagef("nodes need exactly one of --label and --label-col")
		}
		if m.Label != "" && !telamentis.ValidIdentifier(m.Label) {
			return ci, usagef("--label %q: must match ^[A-Za-z][A-Za-z0-9_]{0,63}$", m.Label)
		}
		if ci.from >= 0 || ci.to >= 0 || ci.relType >= 0 || m.RelTypeVal != "" || ci.validFrom >= 0 || ci.validTo >= 0 {
			return ci, usagef("--from-col, --to-col, --rel-type-*, --valid-*-col are for --type edge")
		}
	} else {
		if ci.from < 0 || ci.to < 0 {
			return ci, usagef("edges need --from-col and --to-col")
		}
		if (m.RelTypeVal == "") == (ci.relType < 0) {
			return ci, usagef("edges need exactly one of --rel-type-val and --rel-type-col")
		}
		if m.RelTypeVal != "" && !telamentis.ValidIdentifier(m.RelTypeVal) {
			return ci, usagef("--rel-type-val %q: must match ^[A-Za-z][A-Za-z0-9_]{0,63}$", m.RelTypeVal)
		}
		if m.Label != "" || ci.label >= 0 {
			return ci, usagef("--label and --label-col are for --type node")
		}
		if (ci.validFrom >= 0 || ci.validTo >= 0) && m.DateFormat != "" && !p.hasZone() && loc == nil {
			return ci, usagef("--date-format %q has no zone (%%z): give --timezone", m.DateFormat)
		}
	}
	return ci, nil
}

// rowError is a bad row: the field and why.
type rowError struct {
	field string
	msg   string
}

func (e *rowError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + ": " + e.msg
}

// mapRow appends the NDJSON ingest line of one record to dst. The line is
// checked client-side (labels, kinds, times, props) so that a bad row is
// reported with its file and line.
func (m *CSVMapping) mapRow(dst []byte, ci colIdx, rec []string) ([]byte, error) {
	if len(rec) < m.needColumns {
		return dst, &rowError{"", fmt.Sprintf("has %d columns, the mapping needs %d", len(rec), m.needColumns)}
	}
	for _, c := range rec {
		if !utf8.ValidString(c) || strings.IndexByte(c, 0) >= 0 {
			return dst, &rowError{"", "not valid UTF-8 or contains NUL"}
		}
	}
	get := func(i int) string {
		if i < 0 {
			return ""
		}
		return rec[i]
	}
	props, err := m.props(rec, ci)
	if err != nil {
		return dst, err
	}
	id := get(ci.id)
	if ci.id >= 0 && id == "" {
		return dst, &rowError{m.IDCol, "empty id"}
	}
	if len(id) > 256 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return dst, &rowError{m.IDCol, "id must be at most 256 bytes without control characters"}
	}
	if m.Type == "node" {
		label := m.Label
		if ci.label >= 0 {
			label = rec[ci.label]
		}
		if !m.validName(label) {
			return dst, &rowError{"label", fmt.Sprintf("%q must match ^[A-Za-z][A-Za-z0-9_]{0,63}$", label)}
		}
		dst = append(dst, `{"node":{`...)
		if id != "" {
			dst = append(dst, `"alias":`...)
			dst = appendJSONString(dst, id)
			dst = append(dst, ',')
		}
		dst = append(dst, `"label":`...)
		dst = appendJSONString(dst, label)
		if len(props) > 0 {
			dst = append(dst, `,"props":`...)
			dst = append(dst, props...)
		}
		return append(dst, "}}\n"...), nil
	}
	from, to := rec[ci.from], rec[ci.to]
	if from == "" || to == "" {
		return dst, &rowError{"from/to", "empty endpoint"}
	}
	for _, a := range []string{from, to} {
		if len(a) > 256 || strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return dst, &rowError{"from/to", "endpoint alias must be at most 256 bytes without control characters"}
		}
	}
	kind := m.RelTypeVal
	if ci.relType >= 0 {
		kind = rec[ci.relType]
	}
	if !m.validName(kind) {
		return dst, &rowError{"kind", fmt.Sprintf("%q must match ^[A-Za-z][A-Za-z0-9_]{0,63}$", kind)}
	}
	vf, err := m.date(m.ValidFrom, get(ci.validFrom))
	if err != nil {
		return dst, err
	}
	vt, err := m.date(m.ValidTo, get(ci.validTo))
	if err != nil {
		return dst, err
	}
	if !vf.IsZero() && !vt.IsZero() && !vt.After(vf) {
		return dst, &rowError{m.ValidTo, "valid_to must be after valid_from"}
	}
	dst = append(dst, `{"edge":{`...)
	if id != "" {
		dst = append(dst, `"alias":`...)
		dst = appendJSONString(dst, id)
		dst = append(dst, ',')
	}
	dst = append(dst, `"from":{"alias":`...)
	dst = appendJSONString(dst, from)
	dst = append(dst, `},"to":{"alias":`...)
	dst = appendJSONString(dst, to)
	dst = append(dst, `},"kind":`...)
	dst = appendJSONString(dst, kind)
	if !vf.IsZero() {
		dst = append(dst, `,"valid_from":"`...)
		dst = vf.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	if !vt.IsZero() {
		dst = append(dst, `,"valid_to":"`...)
		dst = vt.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	if len(props) > 0 {
		dst = append(dst, `,"props":`...)
		dst = append(dst, props...)
	}
	return append(dst, "}}\n"...), nil
}

var (
	minDate = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)
	maxDate = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// date parses a valid-time cell; empty (or an --open-value) is no time.
func (m *CSVMapping) date(col, v string) (time.Time, error) {
	if v == "" || m.openValues[v] {
		return time.Time{}, nil
	}
	var t time.Time
	var err error
	if m.DateFormat == "" {
		t, err = telamentis.ParseTime(v)
		if err != nil {
			return t, &rowError{col, telamentis.ErrorMessage(err)}
		}
	} else if t, err = m.parser.Parse(v); err != nil {
		return t, &rowError{col, err.Error()}
	}
	t = t.UTC().Truncate(time.Microsecond)
	if t.Before(minDate) || t.After(maxDate) {
		return t, &rowError{col, fmt.Sprintf("date %q out of range", v)}
	}
	return t, nil
}

// props builds the props object: --props-json-col merged with the
// --props-cols string values (which win).
func (m *CSVMapping) props(rec []string, ci colIdx) (string, error) {
	if ci.propsJSON < 0 && len(m.propsIdx) == 0 {
		return "", nil
	}
	if ci.propsJSON >= 0 && len(m.propsIdx) == 0 {
		v := strings.TrimSpace(rec[ci.propsJSON])
		if v == "" {
			return "", nil
		}
		m.scratch = append(m.scratch[:0], v...) // json.Valid takes bytes; no copy per row
		if len(v) < 2 || v[0] != '{' || !json.Valid(m.scratch) {
			return "", &rowError{m.PropsJSON, "not a JSON object"}
		}
		return v, nil
	}
	obj := map[string]json.RawMessage{}
	if ci.propsJSON >= 0 {
		if v := strings.TrimSpace(rec[ci.propsJSON]); v != "" {
			if err := json.Unmarshal([]byte(v), &obj); err != nil {
				return "", &rowError{m.PropsJSON, "not a JSON object"}
			}
		}
	}
	for i, c := range m.propsIdx {
		obj[m.propsNames[i]] = appendJSONString(nil, rec[c])
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return "", &rowError{"props", err.Error()}
	}
	return string(b), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; s must be valid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
