package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/telamentis/telamentis"
)

// registerNodeRoutes registers /v1/graph/{tenant}/nodes….
func (s *Server) registerNodeRoutes() {
	s.registerNodeWrites()
	s.registerNodeReads()
}

// registerNodeWrites registers the node writes: upsert, retract, erase.
func (s *Server) registerNodeWrites() {
	tags := []string{"graph"}

	huma.Register(s.api, s.operation(specNodeUpsert, huma.Operation{
		OperationID: "node.upsert", Method: http.MethodPost, Path: "/v1/graph/{tenant}/nodes",
		Summary: "Upsert a node by id or alias (201 if created)", Tags: tags,
		Responses: s.createdResponse(reflectType[telamentis.NodeResult](), "NodeResult"),
	}), func(ctx context.Context, in *struct {
		TenantParam
		Body telamentis.NodeInput
	}) (*nodeResultOut, error) {
		out := &nodeResultOut{}
		err := s.do(ctx, specNodeUpsert, in.Tenant, refTarget(in.Body.ID, in.Body.Alias), func(ctx context.Context, c *call) error {
			r, err := s.store.UpsertNode(ctx, in.Tenant, in.Body)
			if err != nil {
				return err
			}
			s.maskerFor(c).node(&r.Node)
			out.Status, out.Body = status(r.Created), r
			return nil
		})
		return out, err
	})

	huma.Register(s.api, s.operation(specNodeRetract, huma.Operation{
		OperationID: "node.retract", Method: http.MethodDelete, Path: "/v1/graph/{tenant}/nodes/{id}",
		Summary: "Retract a node and its live edges (history stays)", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		IDParam
	}) (*struct{ Body telamentis.RetractResult }, error) {
		return doBody(ctx, s, specNodeRetract, in.Tenant, in.ID, func(ctx context.Context, c *call) (telamentis.RetractResult, error) {
			return s.store.RetractNode(ctx, in.Tenant, telamentis.Ref{ID: in.ID})
		})
	})

	huma.Register(s.api, s.operation(specNodeErase, huma.Operation{
		OperationID: "node.erase", Method: http.MethodPost, Path: "/v1/graph/{tenant}/nodes/{id}/erase",
		Summary: "Erase a node physically: every version and every edge touching it", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		IDParam
	}) (*struct{ Body telamentis.EraseResult }, error) {
		return doBody(ctx, s, specNodeErase, in.Tenant, in.ID, func(ctx context.Context, c *call) (telamentis.EraseResult, error) {
			return s.store.EraseNode(ctx, in.Tenant, telamentis.Ref{ID: in.ID})
		})
	})
}

// registerNodeReads registers the node reads: by alias, by id, history, neighbours.
func (s *Server) registerNodeReads() {
	tags := []string{"graph"}

	huma.Register(s.api, s.operation(specNodeGet, huma.Operation{
		OperationID: "node.get_by_alias", Method: http.MethodGet, Path: "/v1/graph/{tenant}/nodes",
		Summary: "Get a node by alias, as of as_at", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		Alias string `query:"alias" required:"true" minLength:"1" maxLength:"256" doc:"The node's alias."`
		AsAtParam
	}) (*nodeOut, error) {
		return s.getNode(ctx, in.Tenant, telamentis.Ref{Alias: in.Alias}, in.AsAt)
	})

	huma.Register(s.api, s.operation(specNodeGet, huma.Operation{
		OperationID: "node.get", Method: http.MethodGet, Path: "/v1/graph/{tenant}/nodes/{id}",
		Summary: "Get a node by id, as of as_at", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		IDParam
		AsAtParam
	}) (*nodeOut, error) {
		return s.getNode(ctx, in.Tenant, telamentis.Ref{ID: in.ID}, in.AsAt)
	})

	huma.Register(s.api, s.operation(specNodeHistory, huma.Operation{
		OperationID: "node.history", Method: http.MethodGet, Path: "/v1/graph/{tenant}/nodes/{id}/history",
		Summary: "Every stored version of a node", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		IDParam
		AsAtParam
		PageParams
	}) (*pageOut, error) {
		q := telamentis.Query{Kind: telamentis.QueryHistory, Node: &telamentis.Ref{ID: in.ID}, Limit: in.Limit, Cursor: in.Cursor}
		return s.query(ctx, specNodeHistory, in.Tenant, q, timeParams{"as_at": in.AsAt})
	})

	huma.Register(s.api, s.operation(specNodeNeighbors, huma.Operation{
		OperationID: "node.neighbors", Method: http.MethodGet, Path: "/v1/graph/{tenant}/nodes/{id}/neighbors",
		Summary: "Nodes reachable from a node within depth hops", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		IDParam
		AsAtParam
		PageParams
		ValidAt   string   `query:"valid_at" maxLength:"64" doc:"Only edges valid at this time."`
		Direction string   `query:"direction" enum:"out,in,both" doc:"Default out."`
		Depth     int      `query:"depth" minimum:"0" maximum:"4"`
		MinDepth  int      `query:"min_depth" minimum:"0" maximum:"4"`
		Kinds     []string `query:"kind" maxItems:"32" doc:"Edge kinds (repeat or comma-separate)."`
	}) (*pageOut, error) {
		q := telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{ID: in.ID},
			Direction: telamentis.Direction(in.Direction), Depth: in.Depth, MinDepth: in.MinDepth,
			Kinds: in.Kinds, Limit: in.Limit, Cursor: in.Cursor}
		return s.query(ctx, specNodeNeighbors, in.Tenant, q, timeParams{"as_at": in.AsAt, "valid_at": in.ValidAt})
	})
}

func refTarget(id, alias string) string {
	if id != "" {
		return id
	}
	if alias != "" {
		return "alias:" + alias
	}
	return ""
}

func (s *Server) getNode(ctx context.Context, tenant string, ref telamentis.Ref, asAt string) (*nodeOut, error) {
	out := &nodeOut{}
	err := s.do(ctx, specNodeGet, tenant, ref.String(), func(ctx context.Context, c *call) error {
		at, err := parseTime("as_at", asAt)
		if err != nil {
			return err
		}
		if err := ref.Validate("query"); err != nil {
			return err
		}
		n, err := s.store.GetNode(ctx, tenant, ref, at)
		if err != nil {
			return err
		}
		s.maskerFor(c).node(&n)
		out.Body = n
		return nil
	})
	return out, err
}
