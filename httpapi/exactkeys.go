package httpapi

import (
	"strconv"

	"github.com/danielgtaylor/huma/v2"
)

// shape is what a request's schema says of a JSON value beyond the JSON
// rules, for the strict scanner (checkBody): the exact keys of its objects,
// whether a number must fit an integer field, whether the value is props.
// The scanner checks it as it reads, so a bad member is refused before
// anything is decoded. A nil *shape is free-form: any key, no rule below.
//
// Huma's validator, like encoding/json, matches property names
// case-insensitively ("LABEL" passes for "label"), takes 1e3 and 1.0 as
// integers that the decoder then cannot store, and sees a body only once
// it is decoded whole; the shape closes those gaps.
type shape struct {
	// members are the named members of an object. A key not in members
	// is refused, unless open, when extra is its shape, or members is nil
	// (any key, free-form).
	members map[string]*shape
	open    bool
	extra   *shape
	items   *shape // the elements of an array
	integer bool   // a number must be an int64 literal
	props   bool   // props: free-form under the props limits
}

// propsShape is the shape of every props member.
var propsShape = &shape{props: true}

// member returns the shape of the member key of an object of shape sh,
// and false if sh does not allow the key.
func (sh *shape) member(key []byte) (*shape, bool) {
	if sh == nil {
		return nil, true
	}
	if m, ok := sh.members[string(key)]; ok {
		return m, true
	}
	if sh.open {
		return sh.extra, true
	}
	return nil, sh.members == nil
}

// bodyShapes returns the shape of the JSON request body of every operation
// of api, by operation id.
func bodyShapes(api huma.API) map[string]*shape {
	reg := api.OpenAPI().Components.Schemas
	memo := map[*huma.Schema]*shape{}
	out := map[string]*shape{}
	for _, item := range api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op == nil || op.RequestBody == nil {
				continue
			}
			if mt := op.RequestBody.Content["application/json"]; mt != nil {
				out[op.OperationID] = shapeOf(mt.Schema, reg, memo)
			}
		}
	}
	return out
}

// shapeOf turns a schema into a shape. memo holds the shapes made so far,
// by resolved schema, so that a recursive schema ends.
func shapeOf(s *huma.Schema, reg huma.Registry, memo map[*huma.Schema]*shape) *shape {
	if s != nil && s.Ref != "" {
		s = reg.SchemaFromRef(s.Ref)
	}
	if s == nil {
		return nil
	}
	if sh, ok := memo[s]; ok {
		return sh
	}
	sh := &shape{integer: s.Type == huma.TypeInteger}
	memo[s] = sh
	extra, _ := s.AdditionalProperties.(*huma.Schema)
	if len(s.Properties) > 0 || extra != nil || s.AdditionalProperties == false {
		sh.members = make(map[string]*shape, len(s.Properties))
		for k, ps := range s.Properties {
			if k == "props" && freeForm(ps, reg) {
				sh.members[k] = propsShape
				continue
			}
			sh.members[k] = shapeOf(ps, reg, memo)
		}
		if extra != nil {
			sh.open, sh.extra = true, shapeOf(extra, reg, memo)
		}
	}
	sh.items = shapeOf(s.Items, reg, memo)
	return sh
}

// freeForm reports whether s takes any JSON value: the schema of a
// json.RawMessage, such as the props of nodes and edges.
func freeForm(s *huma.Schema, reg huma.Registry) bool {
	if s != nil && s.Ref != "" {
		s = reg.SchemaFromRef(s.Ref)
	}
	return s != nil && s.Type == "" && len(s.Properties) == 0 && s.AdditionalProperties == nil && s.Items == nil
}

// integerRule is the message of a number an integer field cannot hold.
const integerRule = "must be a whole number written without a fraction or exponent, " +
	"from -9223372036854775808 to 9223372036854775807"

// intLiteral reports whether a JSON number is what encoding/json decodes
// into an int64: huma's validator takes 1e3 and 1.0 as integers, the
// decoder does not, nor anything beyond 64 bits.
func intLiteral(n []byte) bool {
	_, err := strconv.ParseInt(string(n), 10, 64)
	return err == nil
}
