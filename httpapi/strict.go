package httpapi

import (
	"errors"
	"strconv"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/internal/strictjson"
)

// Body limits.
const (
	MaxBodyBytes      = 1 << 20  // a request body
	MaxBatchBodyBytes = 16 << 20 // a batch request body
	MaxIngestLine     = 1 << 20  // one line of an ingest stream
	MaxJSONDepth      = 32       // nesting of objects and arrays
)

// bodyLimits are the limits of every request body, ingest line and import
// line: the batch limit bounds every array (no other array of a request
// comes near it), the root's props limits every props value.
var bodyLimits = strictjson.Limits{Depth: MaxJSONDepth, Items: telamentis.MaxBatchItems,
	PropsBytes: telamentis.MaxPropsBytes, PropsDepth: telamentis.MaxPropsDepth}

// CheckJSON reports whether data is one strict JSON document: valid UTF-8,
// well-formed JSON with nothing after the value, no duplicate object keys
// (compared after unescaping), no NUL character and no lone surrogate in any
// string, nesting of objects and arrays at most maxDepth deep, and numbers
// that follow telamentis.ValidNumber. Go's encoding/json accepts most of
// these; the API rejects them before any decoder sees the body. The error
// is CodeInvalid and names the JSON path of the problem.
//
// Case-variant keys ("TENANT_ID" for "tenant_id") are well-formed JSON; they
// are caught by the shape of a request body (checkBody), which matches keys
// exactly.
func CheckJSON(data []byte, maxDepth int) error {
	lim := bodyLimits
	lim.Depth = maxDepth
	return jsonError(strictjson.Check(data, lim, nil))
}

// checkBody is CheckJSON of a request body, a line of an ingest or import
// stream, against its shape: exact keys, integers that fit, and props
// under their limits, each refused as soon as the scan reaches it.
func checkBody(data []byte, sh *strictjson.Shape) error {
	return jsonError(strictjson.Check(data, bodyLimits, sh))
}

// Messages of the scanner's refusals that name no offset.
const (
	unknownField  = "unknown field (names are case-sensitive)"
	tooManyItems  = "more than 100000 items" // telamentis.MaxBatchItems
	maxArrayItems = telamentis.MaxBatchItems
)

// integerRule is the message of a number an integer field cannot hold.
const integerRule = "must be a whole number written without a fraction or exponent, " +
	"from -9223372036854775808 to 9223372036854775807"

// ruleMessages word the scanner's rules as the API does: the root's rules
// in the root's words, the error a store gives for the same value.
var ruleMessages = map[strictjson.Rule]string{
	strictjson.Number:       telamentis.NumberRule,
	strictjson.Integer:      integerRule,
	strictjson.UnknownKey:   unknownField,
	strictjson.TooManyItems: tooManyItems,
	strictjson.PropsSize:    telamentis.PropsSizeRule,
	strictjson.PropsDepth:   telamentis.PropsDepthRule,
}

// jsonError turns a refusal of the strict scanner into the API's
// CodeInvalid error naming the field: a syntax problem with its offset, a
// broken rule with the rule's message.
func jsonError(err error) error {
	var e *strictjson.Error
	if !errors.As(err, &e) {
		return err
	}
	switch {
	case e.Rule != strictjson.Syntax:
		return telamentis.Invalid(e.Field, "%s", ruleMessages[e.Rule])
	case e.Offset < 0:
		return telamentis.Invalid(e.Field, "%s", e.Msg)
	}
	return telamentis.Invalid(e.Field, "%s", e.Msg+" (offset "+strconv.Itoa(e.Offset)+")")
}
