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

// registerGraphRoutes registers the graph routes of a tenant: nodes,
// edges, and the batch, query, changes and stats routes here; export and
// ingest are in stream.go.
func (s *Server) registerGraphRoutes() {
	s.registerNodeRoutes()
	s.registerEdgeRoutes()
	s.registerQueryRoutes()
}

// registerQueryRoutes registers the batch, query, changes and stats
// routes.
func (s *Server) registerQueryRoutes() {
	tags := []string{"graph"}

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
