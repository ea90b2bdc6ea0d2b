package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/telamentis/telamentis"
)

// Envelope limits.
const (
	MaxNodes     = 200
	MaxRelations = 500
)

// EnvelopeSchema is the JSON Schema an envelope must satisfy. It is sent to
// providers with a structured-output mode and enforced on every answer.
// Unknown fields are refused everywhere except inside props.
var EnvelopeSchema = json.RawMessage(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["nodes", "relations"],
  "properties": {
    "nodes": {
      "type": "array",
      "maxItems": ` + strconv.Itoa(MaxNodes) + `,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["alias", "label", "confidence"],
        "properties": {
          "alias": {"type": "string", "minLength": 1, "maxLength": 256},
          "label": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$"},
          "props": {"type": "object"},
          "confidence": {"type": "number", "minimum": 0, "maximum": 1}
        }
      }
    },
    "relations": {
      "type": "array",
      "maxItems": ` + strconv.Itoa(MaxRelations) + `,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["from", "to", "kind", "confidence"],
        "properties": {
          "from": {"type": "string", "minLength": 1, "maxLength": 256},
          "to": {"type": "string", "minLength": 1, "maxLength": 256},
          "kind": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$"},
          "props": {"type": "object"},
          "valid_from": {"type": "string"},
          "valid_to": {"type": "string"},
          "confidence": {"type": "number", "minimum": 0, "maximum": 1}
        }
      }
    }
  }
}`)

var compiledSchema = func() *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(EnvelopeSchema))
	if err != nil {
		panic(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("envelope.json", doc); err != nil {
		panic(err)
	}
	return c.MustCompile("envelope.json")
}()

// maxEnvelopeBytes bounds the model output accepted for decoding.
const maxEnvelopeBytes = 4 << 20

// DecodeEnvelope parses a model's answer: the JSON object, optionally in a
// Markdown code fence, checked against EnvelopeSchema. An answer that is
// not one JSON document, or is larger than the cap, is a provider that
// misbehaved: CodeUnavailable wrapping a *telamentis.ProviderError of kind
// ProviderMalformed, whose Provider the caller fills in. A JSON document
// that fails the schema is CodeInvalid wrapping
// telamentis.ErrUnprocessable, with reasons in Fields.
func DecodeEnvelope(content string) (telamentis.Envelope, error) {
	var env telamentis.Envelope
	s := strings.TrimSpace(content)
	if strings.HasPrefix(s, "```") {
		s = strings.TrimPrefix(s, "```json")
		s = strings.TrimPrefix(s, "```")
		s = strings.TrimSuffix(strings.TrimSpace(s), "```")
		s = strings.TrimSpace(s)
	}
	if len(s) > maxEnvelopeBytes {
		return env, malformed(fmt.Sprintf("answer larger than %d bytes", maxEnvelopeBytes))
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		return env, malformed("answer is not a JSON document")
	}
	if err := compiledSchema.Validate(doc); err != nil {
		return env, rejected(schemaFields(err)...)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return env, rejected(telamentis.FieldError{Field: "envelope", Message: "does not decode: " + err.Error()})
	}
	return env, nil
}

// schemaFields flattens a jsonschema validation error into field errors.
func schemaFields(err error) []telamentis.FieldError {
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []telamentis.FieldError{{Field: "envelope", Message: "does not match the schema"}}
	}
	var out []telamentis.FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(out) >= maxReasons {
			return
		}
		if len(e.Causes) == 0 {
			out = append(out, telamentis.FieldError{Field: fieldPath(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	if len(out) == 0 {
		out = append(out, telamentis.FieldError{Field: "envelope", Message: "does not match the schema"})
	}
	return out
}

func fieldPath(loc []string) string {
	var b strings.Builder
	for _, p := range loc {
		if _, err := strconv.Atoi(p); err == nil {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	if b.Len() == 0 {
		return "envelope"
	}
	return b.String()
}

var printer = message.NewPrinter(language.English)

// maxReasons bounds the field errors of one rejection.
const maxReasons = 50

// malformed is the error of an answer that is not an envelope at all.
func malformed(detail string) error {
	return &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "the model's answer is not a JSON document; nothing was written",
		Err: &telamentis.ProviderError{Kind: telamentis.ProviderMalformed, Detail: detail}}
}

func rejected(fields ...telamentis.FieldError) error {
	if len(fields) > maxReasons {
		fields = fields[:maxReasons]
	}
	return &telamentis.Error{Code: telamentis.CodeInvalid, Message: "the model's answer failed validation; nothing was written",
		Fields: fields, Err: telamentis.ErrUnprocessable}
}
