package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/telamentis/telamentis"
)

// IDParam is the {id} path parameter of nodes and edges.
type IDParam struct {
	ID string `path:"id" pattern:"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$" maxLength:"36" doc:"System id (UUID)."`
}

// AsAtParam is the as_at query parameter.
type AsAtParam struct {
	AsAt string `query:"as_at" maxLength:"64" doc:"Transaction time (RFC 3339 with zone): answer as the database knew it then. Default now."`
}

// PageParams are the paging query parameters.
type PageParams struct {
	Limit  int    `query:"limit" minimum:"0" maximum:"1000" doc:"Page size (default 100, at most 1000)."`
	Cursor string `query:"cursor" maxLength:"4096" doc:"next_cursor of the previous page of the same query."`
}

type nodeOut struct{ Body telamentis.Node }
type edgeOut struct{ Body telamentis.Edge }
type pageOut struct{ Body telamentis.Page }

type nodeResultOut struct {
	Status int
	Body   telamentis.NodeResult
}

type edgeResultOut struct {
	Status int
	Body   telamentis.EdgeResult
}

type invalidateBody struct {
	At time.Time `json:"at" doc:"When the fact stopped being true (RFC 3339 with zone)."`
}

var (
	specNodeUpsert     = opSpec{name: "node.upsert", allowed: writers, write: true}
	specNodeGet        = opSpec{name: "node.get", allowed: anyTenantRole}
	specNodeRetract    = opSpec{name: "node.retract", allowed: writers, write: true, sensitive: true}
	specNodeErase      = opSpec{name: "node.erase", allowed: rTenantAdmin, write: true, sensitive: true}
	specNodeHistory    = opSpec{name: "node.history", allowed: anyTenantRole}
	specNodeNeighbors  = opSpec{name: "node.neighbors", allowed: anyTenantRole}
	specEdgeUpsert     = opSpec{name: "edge.upsert", allowed: writers, write: true}
	specEdgeGet        = opSpec{name: "edge.get", allowed: anyTenantRole}
	specEdgeRetract    = opSpec{name: "edge.retract", allowed: writers, write: true, sensitive: true}
	specEdgeInvalidate = opSpec{name: "edge.invalidate", allowed: writers, write: true}
	specEdgeHistory    = opSpec{name: "edge.history", allowed: anyTenantRole}
	specBatch          = opSpec{name: "graph.batch", allowed: writers, write: true}
	specQuery          = opSpec{name: "graph.query", allowed: anyTenantRole}
	specChanges        = opSpec{name: "graph.changes", allowed: anyTenantRole}
	specStats          = opSpec{name: "graph.stats", allowed: anyTenantRole}
	specExport         = opSpec{name: "graph.export", allowed: rTenantAdmin}
	specIngest         = opSpec{name: "graph.ingest", allowed: writers, write: true}
)

// parseTime parses an optional time query parameter.
func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := telamentis.ParseTime(v)
	if err != nil {
		return t, telamentis.Invalid(field, "%s", telamentis.ErrorMessage(err))
	}
	return t, nil
}

func status(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (s *Server) registerGraphRoutes() {
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

	huma.Register(s.api, s.operation(specBatch, huma.Operation{
		OperationID: "graph.batch", Method: http.MethodPost, Path: "/v1/graph/{tenant}/batch",
		Summary: "Apply nodes then edges atomically with one transaction time", Tags: tags,
		MaxBodyBytes: MaxBatchBodyBytes,
	}), func(ctx context.Context, in *struct {
		TenantParam
		Body telamentis.Batch
	}) (*struct{ Body telamentis.BatchResult }, error) {
		return doBody(ctx, s, specBatch, in.Tenant, "", func(ctx context.Context, c *call) (telamentis.BatchResult, error) {
			r, err := s.store.ApplyBatch(ctx, in.Tenant, in.Body)
			if err != nil {
				return telamentis.BatchResult{}, err
			}
			m := s.maskerFor(c)
			for i := range r.Nodes {
				m.node(&r.Nodes[i].Node)
			}
			for i := range r.Edges {
				m.edge(&r.Edges[i].Edge)
			}
			return r, nil
		})
	})

	huma.Register(s.api, s.operation(specQuery, huma.Operation{
		OperationID: "graph.query", Method: http.MethodPost, Path: "/v1/graph/{tenant}/query",
		Summary: "Run a query: nodes, edges, paths, history or changes", Tags: tags,
		Description: "The body is a telamentis.Query. An edges query with include_nodes also returns, in nodes, " +
			"every distinct endpoint of the page's edges at the page's as_at, ordered by id. A paths query with " +
			"ids_only returns the same neighbours with identifiers only: {\"node\":{\"id\"},\"depth\",\"via\":{\"id\",\"from\",\"to\"}}.",
	}), func(ctx context.Context, in *struct {
		TenantParam
		Body telamentis.Query
	}) (*pageOut, error) {
		return s.query(ctx, specQuery, in.Tenant, in.Body, nil)
	})

	huma.Register(s.api, s.operation(specChanges, huma.Operation{
		OperationID: "graph.changes", Method: http.MethodGet, Path: "/v1/graph/{tenant}/changes",
		Summary: "Everything written or closed in a transaction-time window", Tags: tags,
	}), func(ctx context.Context, in *struct {
		TenantParam
		PageParams
		Since string `query:"since" maxLength:"64"`
		Until string `query:"until" maxLength:"64"`
	}) (*pageOut, error) {
		q := telamentis.Query{Kind: telamentis.QueryChanges, Limit: in.Limit, Cursor: in.Cursor}
		return s.query(ctx, specChanges, in.Tenant, q, timeParams{"since": in.Since, "until": in.Until})
	})

	huma.Register(s.api, s.operation(specStats, huma.Operation{
		OperationID: "graph.stats", Method: http.MethodGet, Path: "/v1/graph/{tenant}/stats",
		Summary: "Count the tenant's nodes, edges and versions", Tags: tags,
	}), func(ctx context.Context, in *TenantParam) (*struct{ Body telamentis.TenantStats }, error) {
		return doBody(ctx, s, specStats, in.Tenant, "", func(ctx context.Context, c *call) (telamentis.TenantStats, error) {
			return s.store.Stats(ctx, in.Tenant)
		})
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

// timeParams are time query parameters by name, parsed into a Query.
type timeParams map[string]string

func (tp timeParams) apply(q *telamentis.Query) error {
	for name, v := range tp {
		t, err := parseTime(name, v)
		if err != nil {
			return err
		}
		switch name {
		case "as_at":
			q.AsAt = t
		case "valid_at":
			q.ValidAt = t
		case "since":
			q.Since = t
		case "until":
			q.Until = t
		}
	}
	return nil
}

func (s *Server) query(ctx context.Context, spec opSpec, tenant string, q telamentis.Query, tp timeParams) (*pageOut, error) {
	out := &pageOut{}
	err := s.do(ctx, spec, tenant, "", func(ctx context.Context, c *call) error {
		if err := tp.apply(&q); err != nil {
			return err
		}
		p, err := s.store.Query(ctx, tenant, q)
		if err != nil {
			return err
		}
		s.maskerFor(c).page(&p)
		out.Body = p
		return nil
	})
	return out, err
}
