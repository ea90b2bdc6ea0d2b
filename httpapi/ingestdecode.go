package httpapi

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/internal/strictjson"
)

// lineDecoder decodes ingest lines in one strict pass: the scanner that
// enforces the rules of request bodies (UTF-8, no NUL or lone surrogate,
// no duplicate keys, depth) walks the line once while the known keys are
// matched exactly and their values stored, instead of a strict pre-scan
// followed by encoding/json. It answers exactly what the two passes
// answered, errors included; the props of a line are canonicalised into
// an arena shared by the lines of a batch, and the strings of a line are
// one allocation, so a line costs a handful of allocations.
//
// A lineDecoder is not safe for concurrent use; an ingest stream owns one.
type lineDecoder struct {
	s *strictjson.Scanner
	// chunk is the size of a props arena (0: no arena, each line's props
	// are allocated alone).
	chunk int
	arena []byte
	// strs collects the string values of the line; spans index it.
	strs  []byte
	spans [nStrs]strSpan
	// names interns labels and kinds (few distinct values); bounded in
	// entries and in the length of each.
	names map[string]string

	node  telamentis.NodeInput
	edge  telamentis.EdgeInput
	props json.RawMessage // raw props of the line, pointing into it
	// typeErr is the path of the first value of the wrong type and
	// timeErr the message of the first time that did not parse:
	// encoding/json reported them
	// only when the strict scan found nothing, so they are kept until
	// the scan ends.
	typeErr string
	timeErr string
}

// The string fields of an ingest line.
const (
	strID = iota
	strAlias
	strFromID
	strFromAlias
	strToID
	strToAlias
	nStrs
)

type strSpan struct{ off, end int }

const maxInterned = 1024

func newLineDecoder(chunk int) *lineDecoder {
	return &lineDecoder{chunk: chunk, s: strictjson.NewScanner(bodyLimits)}
}

// decode decodes and normalises one line. Exactly one of the results is
// non-nil on success; it points into d and is valid until the next call.
// Nothing returned refers to line.
func (d *lineDecoder) decode(line []byte) (*telamentis.NodeInput, *telamentis.EdgeInput, error) {
	line = bytes.TrimSpace(line)
	if len(line) > MaxIngestLine {
		return nil, nil, telamentis.Invalid("line", "longer than %d bytes", MaxIngestLine)
	}
	if len(line) == 0 || line[0] != '{' {
		return nil, nil, telamentis.Invalid("line", "must be a JSON object")
	}
	if !utf8.Valid(line) {
		return nil, nil, telamentis.Invalid("body", "not valid UTF-8")
	}
	d.reset(line)
	hasNode, hasEdge, err := d.top()
	if err != nil {
		return nil, nil, jsonError(err)
	}
	switch {
	case d.timeErr != "":
		return nil, nil, telamentis.Invalid("line", "%s", d.timeErr)
	case d.typeErr != "":
		return nil, nil, telamentis.Invalid("line", "wrong type for %s", d.typeErr)
	case hasNode && hasEdge:
		return nil, nil, telamentis.Invalid("line", "give node or edge, not both")
	case hasNode:
		return d.finishNode()
	case hasEdge:
		return d.finishEdge()
	}
	return nil, nil, telamentis.Invalid("line", "node or edge required")
}

func (d *lineDecoder) reset(line []byte) {
	d.s.Reset(line)
	d.strs = d.strs[:0]
	d.spans = [nStrs]strSpan{}
	d.node, d.edge, d.props = telamentis.NodeInput{}, telamentis.EdgeInput{}, nil
	d.typeErr, d.timeErr = "", ""
}

// Keys of each object of an ingest line, matched exactly.
var (
	lineKeys = []string{"node", "edge"}
	nodeKeys = []string{"id", "alias", "label", "props"}
	edgeKeys = []string{"id", "alias", "from", "to", "kind", "props", "valid_from", "valid_to"}
	refKeys  = []string{"id", "alias"}
)

// wrongType notes a value of the wrong type at the current path (the
// first one counts) and scans it with the strict rules.
func (d *lineDecoder) wrongType(depth int) error {
	if d.typeErr == "" {
		d.typeErr = d.s.Field()
	}
	return d.other(depth)
}

// other scans a value that is not one of the line's known objects, with
// the exact-keys rule of the two-pass parser: an object two levels down
// (at "node.label", "edge.valid_from", "node[0]") may hold no key at all;
// deeper values, like props, are free-form.
func (d *lineDecoder) other(depth int) error {
	switch s := d.s; {
	case s.Level() == 1 && s.Peek() == '[':
		// {"node":[…]}: its elements are two levels down.
		return s.Elements(depth+1, d.other)
	case s.Level() == 2 && s.Peek() == '{':
		return s.Keyless(depth + 1)
	default:
		return s.Value(depth)
	}
}

// str decodes a string member into d.strs for the field f; null leaves
// the field empty.
func (d *lineDecoder) str(depth, f int) error {
	if d.s.Peek() != '"' {
		if d.s.Null() {
			return nil
		}
		return d.wrongType(depth)
	}
	v, err := d.s.String(true)
	if err != nil {
		return err
	}
	d.spans[f] = strSpan{len(d.strs), len(d.strs) + len(v)}
	d.strs = append(d.strs, v...)
	return nil
}

// name decodes a label or kind, interned.
func (d *lineDecoder) name(depth int, dst *string) error {
	if d.s.Peek() != '"' {
		if d.s.Null() {
			return nil
		}
		return d.wrongType(depth)
	}
	v, err := d.s.String(true)
	if err != nil {
		return err
	}
	if n, ok := d.names[string(v)]; ok {
		*dst = n
		return nil
	}
	*dst = string(v)
	if len(v) <= 64 && len(d.names) < maxInterned { // valid names are short
		if d.names == nil {
			d.names = make(map[string]string)
		}
		d.names[*dst] = *dst
	}
	return nil
}

// propsRaw scans a props value under the props limits and returns its
// text.
func (d *lineDecoder) propsRaw(depth int) ([]byte, error) {
	start := d.s.Pos()
	if err := d.s.Props(depth); err != nil {
		return nil, err
	}
	return d.s.Since(start), nil
}

// time decodes a time member as encoding/json did (time.Time's
// UnmarshalJSON on the value's text).
func (d *lineDecoder) time(depth int, dst *time.Time) error {
	start := d.s.Pos()
	if err := d.other(depth); err != nil {
		return err
	}
	v := d.s.Since(start)
	if err := dst.UnmarshalJSON(v); err != nil && d.timeErr == "" {
		d.timeErr = safeHumaMessage(err)
	}
	return nil
}

// ref decodes the from or to member of an edge.
func (d *lineDecoder) ref(depth, idField int) error {
	switch d.s.Peek() {
	case '{':
		return d.s.Object(depth+1, refKeys, func(i int) error {
			return d.str(depth+1, idField+i) // id, alias
		})
	case 'n':
		if d.s.Null() {
			return nil
		}
	}
	return d.wrongType(depth)
}

// top walks the line's object.
func (d *lineDecoder) top() (hasNode, hasEdge bool, err error) {
	err = d.s.Object(1, lineKeys, func(i int) error {
		switch d.s.Peek() {
		case '{':
		case 'n':
			if d.s.Null() {
				return nil
			}
		}
		if d.s.Peek() != '{' {
			return d.wrongType(1)
		}
		if i == 0 {
			hasNode = true
			return d.s.Object(2, nodeKeys, func(i int) error {
				switch i {
				case 0:
					return d.str(2, strID)
				case 1:
					return d.str(2, strAlias)
				case 2:
					return d.name(2, &d.node.Label)
				}
				p, err := d.propsRaw(2)
				d.props = p
				return err
			})
		}
		hasEdge = true
		return d.s.Object(2, edgeKeys, func(i int) error {
			switch i {
			case 0:
				return d.str(2, strID)
			case 1:
				return d.str(2, strAlias)
			case 2:
				return d.ref(2, strFromID)
			case 3:
				return d.ref(2, strToID)
			case 4:
				return d.name(2, &d.edge.Kind)
			case 5:
				p, err := d.propsRaw(2)
				d.props = p
				return err
			case 6:
				return d.time(2, &d.edge.ValidFrom)
			}
			return d.time(2, &d.edge.ValidTo)
		})
	})
	if err != nil {
		return false, false, err
	}
	if err := d.s.End(); err != nil {
		return false, false, err
	}
	return hasNode, hasEdge, nil
}

// strings turns the collected string values into Go strings, one
// allocation for all of them.
func (d *lineDecoder) strings() (out [nStrs]string) {
	if len(d.strs) == 0 {
		return out
	}
	all := string(d.strs)
	for i, sp := range d.spans {
		out[i] = all[sp.off:sp.end]
	}
	return out
}

// canonicalProps canonicalises the line's props into the arena.
func (d *lineDecoder) canonicalProps() (json.RawMessage, error) {
	if d.chunk == 0 {
		return telamentis.CanonicalProps(d.props)
	}
	if cap(d.arena)-len(d.arena) < len(d.props)+64 {
		d.arena = make([]byte, 0, max(d.chunk, 2*len(d.props)+64))
	}
	c, err := telamentis.AppendCanonicalProps(d.arena, d.props)
	if err != nil {
		return nil, err
	}
	if n := len(d.arena); len(c) > 0 && n < cap(d.arena) && &d.arena[:n+1][n] == &c[0] {
		// Written in place: keep it, and keep later lines off it.
		d.arena = d.arena[:n+len(c)]
		c = c[:len(c):len(c)]
	}
	return c, nil
}

func (d *lineDecoder) finishNode() (*telamentis.NodeInput, *telamentis.EdgeInput, error) {
	strs := d.strings()
	in := telamentis.NodeInput{ID: strs[strID], Alias: strs[strAlias], Label: d.node.Label}
	// Everything but the props first (props are Normalize's last check),
	// then the props into the arena; on a props error the full Normalize
	// gives the exact error.
	n, err := in.Normalize()
	if err != nil {
		return nil, nil, prefixField(err, "node")
	}
	if n.Props, err = d.canonicalProps(); err != nil {
		in.Props = d.props
		_, err = in.Normalize()
		return nil, nil, prefixField(err, "node")
	}
	d.node = n
	return &d.node, nil, nil
}

func (d *lineDecoder) finishEdge() (*telamentis.NodeInput, *telamentis.EdgeInput, error) {
	strs := d.strings()
	in := telamentis.EdgeInput{ID: strs[strID], Alias: strs[strAlias],
		From: telamentis.Ref{ID: strs[strFromID], Alias: strs[strFromAlias]},
		To:   telamentis.Ref{ID: strs[strToID], Alias: strs[strToAlias]},
		Kind: d.edge.Kind, ValidFrom: d.edge.ValidFrom, ValidTo: d.edge.ValidTo}
	e, err := in.Normalize()
	if err != nil {
		return nil, nil, prefixField(err, "edge")
	}
	if e.Props, err = d.canonicalProps(); err != nil {
		in.Props = d.props
		_, err = in.Normalize()
		return nil, nil, prefixField(err, "edge")
	}
	d.edge = e
	return nil, &d.edge, nil
}
