package httpapi

import (
	"bytes"
	"encoding/json"

	"github.com/telamentis/telamentis"
)

// IngestLine is one line of an ingest stream (NDJSON): exactly one of Node
// and Edge. Edges name their endpoints by alias (or id) and may refer to
// nodes given earlier in the stream.
type IngestLine struct {
	Node *telamentis.NodeInput `json:"node,omitempty"`
	Edge *telamentis.EdgeInput `json:"edge,omitempty"`
}

// ingestKeys are the exact keys an ingest line may hold, by object path.
// Props objects are free-form.
var ingestKeys = map[string]map[string]bool{
	"":          {"node": true, "edge": true},
	"node":      {"id": true, "alias": true, "label": true, "props": true},
	"edge":      {"id": true, "alias": true, "from": true, "to": true, "kind": true, "props": true, "valid_from": true, "valid_to": true},
	"edge.from": {"id": true, "alias": true},
	"edge.to":   {"id": true, "alias": true},
}

func ingestKeyOK(path []string, key string) bool {
	var p string
	switch len(path) {
	case 0:
	case 1:
		p = path[0]
	case 2:
		if path[1] == "props" {
			return true
		}
		p = path[0] + "." + path[1]
	default:
		return true // inside props
	}
	if p == "node.props" || p == "edge.props" {
		return true
	}
	allowed, ok := ingestKeys[p]
	return ok && allowed[key]
}

// ParseIngestLine decodes and validates one ingest line with the same strict
// rules as request bodies (CheckJSON, exact keys) and normalises the item.
// Errors are CodeInvalid with field paths such as "edge.valid_to".
func ParseIngestLine(line []byte) (IngestLine, error) {
	var out IngestLine
	line = bytes.TrimSpace(line)
	if len(line) > MaxIngestLine {
		return out, telamentis.Invalid("line", "longer than %d bytes", MaxIngestLine)
	}
	if len(line) == 0 || line[0] != '{' {
		return out, telamentis.Invalid("line", "must be a JSON object")
	}
	if err := checkJSONKeys(line, MaxJSONDepth, ingestKeyOK); err != nil {
		return out, err
	}
	if err := json.Unmarshal(line, &out); err != nil {
		return out, telamentis.Invalid("line", "%s", safeHumaMessage(err))
	}
	switch {
	case out.Node != nil && out.Edge != nil:
		return IngestLine{}, telamentis.Invalid("line", "give node or edge, not both")
	case out.Node != nil:
		n, err := out.Node.Normalize()
		if err != nil {
			return IngestLine{}, prefixField(err, "node")
		}
		out.Node = &n
	case out.Edge != nil:
		e, err := out.Edge.Normalize()
		if err != nil {
			return IngestLine{}, prefixField(err, "edge")
		}
		out.Edge = &e
	default:
		return IngestLine{}, telamentis.Invalid("line", "node or edge required")
	}
	return out, nil
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
