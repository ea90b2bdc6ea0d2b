package httpapi

import (
	"github.com/telamentis/telamentis"
)

// IngestLine is one line of an ingest stream (NDJSON): exactly one of Node
// and Edge. Edges name their endpoints by alias (or id) and may refer to
// nodes given earlier in the stream.
type IngestLine struct {
	Node *telamentis.NodeInput `json:"node,omitempty"`
	Edge *telamentis.EdgeInput `json:"edge,omitempty"`
}

// ParseIngestLine decodes and validates one ingest line with the same strict
// rules as request bodies (CheckJSON, exact keys) and normalises the item.
// Errors are CodeInvalid with field paths such as "edge.valid_to".
func ParseIngestLine(line []byte) (IngestLine, error) {
	n, e, err := newLineDecoder(0).decode(line)
	switch {
	case err != nil:
		return IngestLine{}, err
	case n != nil:
		return IngestLine{Node: n}, nil
	}
	return IngestLine{Edge: e}, nil
}

// prefixField returns err with every field path prefixed.
func prefixField(err error, prefix string) error {
	fields := telamentis.ErrorFields(err)
	if telamentis.ErrorCode(err) != telamentis.CodeInvalid || len(fields) == 0 {
		return err
	}
	out := make([]telamentis.FieldError, len(fields))
	for i, f := range fields {
		name := prefix
		if f.Field != "" {
			if f.Field[0] == '[' {
				name += f.Field
			} else {
				name += "." + f.Field
			}
		}
		out[i] = telamentis.FieldError{Field: name, Message: f.Message}
	}
	return &telamentis.Error{Code: telamentis.CodeInvalid, Message: "invalid " + out[0].Field, Fields: out}
}
