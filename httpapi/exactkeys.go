package httpapi

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
	"github.com/telamentis/telamentis"
)

// checkExactKeys walks a decoded JSON body against the operation's request
// schema and rejects every object key that the schema does not name
// exactly. Huma's validator, like encoding/json, matches property names
// case-insensitively ("LABEL" passes for "label"); the API does not.
// Free-form objects (props: no properties, additional properties allowed)
// are not walked. It also rejects a number in an integer field that the
// decoder could not store (1e3, 1.0, 2^63), which huma would let through.
func checkExactKeys(body []byte, schema *huma.Schema, reg huma.Registry) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return telamentis.Invalid("body", "malformed JSON")
	}
	return walkKeys(v, schema, reg, "", 0)
}

func walkKeys(v any, s *huma.Schema, reg huma.Registry, path string, depth int) error {
	if s == nil || depth > MaxJSONDepth {
		return nil
	}
	if s.Ref != "" {
		if s = reg.SchemaFromRef(s.Ref); s == nil {
			return nil
		}
	}
	switch x := v.(type) {
	case map[string]any:
		closed := s.AdditionalProperties == false
		extra, _ := s.AdditionalProperties.(*huma.Schema)
		if len(s.Properties) == 0 && !closed && extra == nil {
			return nil // free-form
		}
		for k, e := range x {
			field := k
			if path != "" {
				field = path + "." + k
			}
			if ps, ok := s.Properties[k]; ok {
				if err := walkKeys(e, ps, reg, field, depth+1); err != nil {
					return err
				}
				continue
			}
			if extra != nil {
				if err := walkKeys(e, extra, reg, field, depth+1); err != nil {
					return err
				}
				continue
			}
			if closed || len(s.Properties) > 0 {
				return telamentis.Invalid(orBody(field), "unknown field (names are case-sensitive)")
			}
		}
	case json.Number:
		if s.Type == huma.TypeInteger && !intLiteral(string(x)) {
			return telamentis.Invalid(orBody(path), "%s", integerRule)
		}
	case []any:
		for i, e := range x {
			if err := walkKeys(e, s.Items, reg, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// integerRule is the message of a number an integer field cannot hold.
const integerRule = "must be a whole number written without a fraction or exponent, " +
	"from -9223372036854775808 to 9223372036854775807"

// intLiteral reports whether a JSON number is what encoding/json decodes
// into an int64: huma's validator takes 1e3 and 1.0 as integers, the
// decoder does not, nor anything beyond 64 bits.
func intLiteral(n string) bool {
	_, err := strconv.ParseInt(n, 10, 64)
	return err == nil
}

func orBody(f string) string {
	if f == "" {
		return "body"
	}
	return f
}
