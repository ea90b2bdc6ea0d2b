package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/telamentis/telamentis"
)

// specNodeMerge is sensitive: a merge is recorded in the audit trail
// before it runs (and refused if that record cannot be written), like a
// retraction.
var specNodeMerge = opSpec{name: "node.merge", allowed: writers, write: true, sensitive: true}

type mergeBody struct {
	Into telamentis.Ref `json:"into" doc:"The node to merge into: {\"id\": …} or {\"alias\": …} (an alias may be an extra alias)."`
}

// registerMergeRoute registers POST /v1/graph/{tenant}/nodes/{id}/merge.
func (s *Server) registerMergeRoute() {
	huma.Register(s.api, s.operation(specNodeMerge, huma.Operation{
		OperationID: "node.merge", Method: http.MethodPost, Path: "/v1/graph/{tenant}/nodes/{id}/merge",
		Summary: "Merge a node into another: its edges and aliases move to the target; both histories stay",
		Tags:    []string{"graph"},
	}), func(ctx context.Context, in *struct {
		TenantParam
		IDParam
		Body mergeBody
	}) (*struct{ Body telamentis.MergeResult }, error) {
		return doBody(ctx, s, specNodeMerge, in.Tenant, in.ID+" into "+in.Body.Into.String(), func(ctx context.Context, c *call) (telamentis.MergeResult, error) {
			r, err := s.store.MergeNode(ctx, in.Tenant, telamentis.Ref{ID: in.ID}, in.Body.Into)
			if err != nil {
				return r, err
			}
			s.maskerFor(c).node(&r.Node)
			return r, nil
		})
	})
}
