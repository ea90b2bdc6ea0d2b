package httpapi

import (
	"github.com/danielgtaylor/huma/v2"

	"github.com/telamentis/telamentis/internal/strictjson"
)

// shape is the strict scanner's Shape of a request body. Huma's
// validator, like encoding/json, matches property names case-insensitively
// ("LABEL" passes for "label"), takes 1e3 and 1.0 as integers that the
// decoder then cannot store, and sees a body only once it is decoded
// whole; the shape closes those gaps.
type shape = strictjson.Shape

// propsShape is the shape of every props member.
var propsShape = &shape{Props: true}

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
	sh := &shape{Integer: s.Type == huma.TypeInteger}
	memo[s] = sh
	extra, _ := s.AdditionalProperties.(*huma.Schema)
	if len(s.Properties) > 0 || extra != nil || s.AdditionalProperties == false {
		sh.Members = make(map[string]*shape, len(s.Properties))
		for k, ps := range s.Properties {
			if k == "props" && freeForm(ps, reg) {
				sh.Members[k] = propsShape
				continue
			}
			sh.Members[k] = shapeOf(ps, reg, memo)
		}
		if extra != nil {
			sh.Open, sh.Extra = true, shapeOf(extra, reg, memo)
		}
	}
	sh.Items = shapeOf(s.Items, reg, memo)
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
