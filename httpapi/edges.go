package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/telamentis/telamentis"
)

// registerEdgeRoutes registers /v1/graph/{tenant}/edges….
func (s *Server) registerEdgeRoutes() {
	s.registerEdgeWrites()
	s.registerEdgeReads()
}

// registerEdgeWrites registers the edge writes: upsert, retract, invalidate.
func (s *Server) registerEdgeWrites() {
	tags := []string{"graph"}

	huma.Register(s.api, s.operation(specEdgeUpsert, huma.Operation{
		OperationID: "edge.upsert", Method: http.MethodPost, Path: "/v1/graph/{tenant}/edges",
		Summary: "Upsert an edge by id or alias (201 if created)", Tags: tags,
		Responses: s.createdResponse(reflectType[telamentis.EdgeResult](), "EdgeResult"),
	}), func(ctx context.Context, in *struct {
		TenantParam
		Body telamentis.EdgeInput
	}) (*edgeResultOut, error) {
		out := &edgeResultOut{}
		err := s.do(ctx, specEdgeUpsert, in.Tenant, refTarget(in.Body.ID, in.Body.Alias), func(ctx context.Context, c *call) error {
			r, err := s.store.UpsertEdge(ctx, in.Tenant, in.Body)
			if err != nil {
				return err
			}
			s.maskerFor(c).edge(&r.Edge)
			out.Status, out.Body = status(r.Created), r
			return nil
		})
		return out, err
	})

	huma.Register(s.api, s.operation(specEdgeRetract, huma.Operation{
		OperationID: "edge.retract", Method: http.MethodDelete, Path: "/v1/graph/{tenant}/edges/{id}",
		Summary: "Retract an edge (history stays)", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		IDParam
	}) (*struct{ Body telamentis.RetractResult }, error) {
		return doBody(ctx, s, specEdgeRetract, in.Tenant, in.ID, func(ctx context.Context, c *call) (telamentis.RetractResult, error) {
			return s.store.RetractEdge(ctx, in.Tenant, telamentis.Ref{ID: in.ID})
		})
	})

	huma.Register(s.api, s.operation(specEdgeInvalidate, huma.Operation{
		OperationID: "edge.invalidate", Method: http.MethodPost, Path: "/v1/graph/{tenant}/edges/{id}/invalidate",
		Summary: "Record that an edge stopped being true at a time", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		IDParam
		Body invalidateBody
	}) (*struct{ Body telamentis.EdgeResult }, error) {
		return doBody(ctx, s, specEdgeInvalidate, in.Tenant, in.ID, func(ctx context.Context, c *call) (telamentis.EdgeResult, error) {
			r, err := s.store.InvalidateEdge(ctx, in.Tenant, telamentis.Ref{ID: in.ID}, in.Body.At)
			if err != nil {
				return telamentis.EdgeResult{}, err
			}
			s.maskerFor(c).edge(&r.Edge)
			return r, nil
		})
	})
}

// registerEdgeReads registers the edge reads: by alias, by id, history.
func (s *Server) registerEdgeReads() {
	tags := []string{"graph"}

	huma.Register(s.api, s.operation(specEdgeGet, huma.Operation{
		OperationID: "edge.get_by_alias", Method: http.MethodGet, Path: "/v1/graph/{tenant}/edges",
		Summary: "Get an edge by alias, as of as_at", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		Alias string `query:"alias" required:"true" minLength:"1" maxLength:"256"`
		AsAtParam
	}) (*edgeOut, error) {
		return s.getEdge(ctx, in.Tenant, telamentis.Ref{Alias: in.Alias}, in.AsAt)
	})

	huma.Register(s.api, s.operation(specEdgeGet, huma.Operation{
		OperationID: "edge.get", Method: http.MethodGet, Path: "/v1/graph/{tenant}/edges/{id}",
		Summary: "Get an edge by id, as of as_at", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		IDParam
		AsAtParam
	}) (*edgeOut, error) {
		return s.getEdge(ctx, in.Tenant, telamentis.Ref{ID: in.ID}, in.AsAt)
	})

	huma.Register(s.api, s.operation(specEdgeHistory, huma.Operation{
		OperationID: "edge.history", Method: http.MethodGet, Path: "/v1/graph/{tenant}/edges/{id}/history",
		Summary: "Every stored version of an edge", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		IDParam
		AsAtParam
		PageParams
	}) (*pageOut, error) {
		q := telamentis.Query{Kind: telamentis.QueryHistory, Edge: &telamentis.Ref{ID: in.ID}, Limit: in.Limit, Cursor: in.Cursor}
		return s.query(ctx, specEdgeHistory, in.Tenant, q, timeParams{"as_at": in.AsAt})
	})
}

func (s *Server) getEdge(ctx context.Context, tenant string, ref telamentis.Ref, asAt string) (*edgeOut, error) {
	out := &edgeOut{}
	err := s.do(ctx, specEdgeGet, tenant, ref.String(), func(ctx context.Context, c *call) error {
		at, err := parseTime("as_at", asAt)
		if err != nil {
			return err
		}
		if err := ref.Validate("query"); err != nil {
			return err
		}
		e, err := s.store.GetEdge(ctx, tenant, ref, at)
		if err != nil {
			return err
		}
		s.maskerFor(c).edge(&e)
		out.Body = e
		return nil
	})
	return out, err
}
