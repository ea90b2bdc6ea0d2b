package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/telamentis/telamentis"
)

func graphPath(tenant string, parts ...string) string {
	p := "/v1/graph/" + seg(tenant)
	for _, s := range parts {
		p += "/" + s
	}
	return p
}

// CreateTenant creates a tenant (system admin).
func (c *Client) CreateTenant(ctx context.Context, t telamentis.Tenant) (telamentis.Tenant, error) {
	body := map[string]any{"id": t.ID}
	if t.Name != "" {
		body["name"] = t.Name
	}
	if t.Isolation != "" {
		body["isolation"] = t.Isolation
	}
	if t.Status != "" {
		body["status"] = t.Status
	}
	if t.Quotas != (telamentis.Quotas{}) {
		body["quotas"] = t.Quotas
	}
	if t.RetentionDays != 0 {
		body["retention_days"] = t.RetentionDays
	}
	if len(t.PII.Fields) > 0 || t.PII.Mode != "" || t.PII.LLM != "" {
		body["pii"] = t.PII
	}
	var out telamentis.Tenant
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/tenants", body: body}, &out)
	return out, err
}

// GetTenant returns a tenant.
func (c *Client) GetTenant(ctx context.Context, id string) (telamentis.Tenant, error) {
	var out telamentis.Tenant
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/tenants/" + seg(id)}, &out)
	return out, err
}

// ListTenants returns every tenant ordered by ID (system admin).
func (c *Client) ListTenants(ctx context.Context) ([]telamentis.Tenant, error) {
	var out struct {
		Tenants []telamentis.Tenant `json:"tenants"`
	}
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/tenants"}, &out)
	return out.Tenants, err
}

// UpdateTenant replaces the tenant's mutable settings: name, status,
// quotas, retention and PII policy.
func (c *Client) UpdateTenant(ctx context.Context, t telamentis.Tenant) (telamentis.Tenant, error) {
	status := t.Status
	if status == "" {
		status = telamentis.TenantActive
	}
	body := map[string]any{"name": t.Name, "status": status, "quotas": t.Quotas,
		"retention_days": t.RetentionDays, "pii": t.PII}
	var out telamentis.Tenant
	err := c.call(ctx, request{method: http.MethodPatch, path: "/v1/tenants/" + seg(t.ID), body: body}, &out)
	return out, err
}

// PatchTenant changes only the given settings; nil fields stay.
func (c *Client) PatchTenant(ctx context.Context, id string, p TenantPatch) (telamentis.Tenant, error) {
	var out telamentis.Tenant
	err := c.call(ctx, request{method: http.MethodPatch, path: "/v1/tenants/" + seg(id), body: p}, &out)
	return out, err
}

// TenantPatch is a partial tenant update.
type TenantPatch struct {
	Name          *string                  `json:"name,omitempty"`
	Status        *telamentis.TenantStatus `json:"status,omitempty"`
	Quotas        *telamentis.Quotas       `json:"quotas,omitempty"`
	RetentionDays *int                     `json:"retention_days,omitempty"`
	PII           *telamentis.PIIPolicy    `json:"pii,omitempty"`
}

// DropTenant revokes the tenant's keys and removes it with all its data.
func (c *Client) DropTenant(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/v1/tenants/" + seg(id)}, nil)
}

// Whoami returns the caller's principal.
func (c *Client) Whoami(ctx context.Context) (telamentis.Principal, error) {
	var out telamentis.Principal
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/whoami"}, &out)
	return out, err
}

// UpsertNode creates or updates a node.
func (c *Client) UpsertNode(ctx context.Context, tenant string, in telamentis.NodeInput) (telamentis.NodeResult, error) {
	var out telamentis.NodeResult
	err := c.call(ctx, request{method: http.MethodPost, path: graphPath(tenant, "nodes"), body: in}, &out)
	return out, err
}

// UpsertEdge creates or updates an edge.
func (c *Client) UpsertEdge(ctx context.Context, tenant string, in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	var out telamentis.EdgeResult
	err := c.call(ctx, request{method: http.MethodPost, path: graphPath(tenant, "edges"), body: in}, &out)
	return out, err
}

// ApplyBatch applies a batch atomically.
func (c *Client) ApplyBatch(ctx context.Context, tenant string, b telamentis.Batch) (telamentis.BatchResult, error) {
	var out telamentis.BatchResult
	err := c.call(ctx, request{method: http.MethodPost, path: graphPath(tenant, "batch"), body: b}, &out)
	return out, err
}

// edgeID resolves a ref to an edge ID (routes that change an edge take IDs).
func (c *Client) edgeID(ctx context.Context, tenant string, ref telamentis.Ref) (string, error) {
	if ref.ID != "" || ref.Alias == "" {
		if err := ref.Validate("ref"); err != nil {
			return "", err
		}
		return ref.ID, nil
	}
	e, err := c.GetEdge(ctx, tenant, ref, time.Time{})
	return e.ID, err
}

func (c *Client) nodeID(ctx context.Context, tenant string, ref telamentis.Ref) (string, error) {
	if ref.ID != "" || ref.Alias == "" {
		if err := ref.Validate("ref"); err != nil {
			return "", err
		}
		return ref.ID, nil
	}
	n, err := c.GetNode(ctx, tenant, ref, time.Time{})
	return n.ID, err
}

// InvalidateEdge records that a live edge stopped being true at at.
func (c *Client) InvalidateEdge(ctx context.Context, tenant string, ref telamentis.Ref, at time.Time) (telamentis.EdgeResult, error) {
	id, err := c.edgeID(ctx, tenant, ref)
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	var out telamentis.EdgeResult
	err = c.call(ctx, request{method: http.MethodPost, path: graphPath(tenant, "edges", seg(id), "invalidate"),
		body: map[string]time.Time{"at": at.UTC()}}, &out)
	return out, err
}

// RetractNode closes a live node and its live edges.
func (c *Client) RetractNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	id, err := c.nodeID(ctx, tenant, ref)
	if err != nil {
		return telamentis.RetractResult{}, err
	}
	var out telamentis.RetractResult
	err = c.call(ctx, request{method: http.MethodDelete, path: graphPath(tenant, "nodes", seg(id))}, &out)
	return out, err
}

// RetractEdge closes a live edge.
func (c *Client) RetractEdge(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	id, err := c.edgeID(ctx, tenant, ref)
	if err != nil {
		return telamentis.RetractResult{}, err
	}
	var out telamentis.RetractResult
	err = c.call(ctx, request{method: http.MethodDelete, path: graphPath(tenant, "edges", seg(id))}, &out)
	return out, err
}

// EraseNode physically removes a node, its versions and its edges.
func (c *Client) EraseNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.EraseResult, error) {
	id, err := c.nodeID(ctx, tenant, ref)
	if err != nil {
		return telamentis.EraseResult{}, err
	}
	var out telamentis.EraseResult
	err = c.call(ctx, request{method: http.MethodPost, path: graphPath(tenant, "nodes", seg(id), "erase")}, &out)
	return out, err
}

// GetNode returns the version of a node visible at asAt (zero = now).
func (c *Client) GetNode(ctx context.Context, tenant string, ref telamentis.Ref, asAt time.Time) (telamentis.Node, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.Node{}, err
	}
	q := url.Values{}
	timeParam(q, "as_at", asAt)
	path := graphPath(tenant, "nodes", seg(ref.ID))
	if ref.ID == "" {
		path = graphPath(tenant, "nodes")
		q.Set("alias", ref.Alias)
	}
	var out telamentis.Node
	err := c.call(ctx, request{method: http.MethodGet, path: path, query: q}, &out)
	return out, err
}

// GetEdge returns the version of an edge visible at asAt (zero = now).
func (c *Client) GetEdge(ctx context.Context, tenant string, ref telamentis.Ref, asAt time.Time) (telamentis.Edge, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.Edge{}, err
	}
	q := url.Values{}
	timeParam(q, "as_at", asAt)
	path := graphPath(tenant, "edges", seg(ref.ID))
	if ref.ID == "" {
		path = graphPath(tenant, "edges")
		q.Set("alias", ref.Alias)
	}
	var out telamentis.Edge
	err := c.call(ctx, request{method: http.MethodGet, path: path, query: q}, &out)
	return out, err
}

// Query runs one query and returns one page. Every field of q travels as
// is, so an edges query with IncludeNodes gets the page's endpoint nodes
// in the same round trip.
func (c *Client) Query(ctx context.Context, tenant string, q telamentis.Query) (telamentis.Page, error) {
	var out telamentis.Page
	err := c.call(ctx, request{method: http.MethodPost, path: graphPath(tenant, "query"), body: q}, &out)
	return out, err
}

// QueryAll runs q and calls fn with every page until the last one or until
// fn returns an error.
func (c *Client) QueryAll(ctx context.Context, tenant string, q telamentis.Query, fn func(telamentis.Page) error) error {
	return telamentis.EachPage(ctx, c, tenant, q, fn)
}

// Stats counts a tenant's data.
func (c *Client) Stats(ctx context.Context, tenant string) (telamentis.TenantStats, error) {
	var out telamentis.TenantStats
	err := c.call(ctx, request{method: http.MethodGet, path: graphPath(tenant, "stats")}, &out)
	return out, err
}

// Health reports the server's liveness (GET /healthz, no credential) and,
// with ready, its readiness (GET /readyz).
func (c *Client) Health(ctx context.Context, ready bool) (map[string]any, error) {
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	var out map[string]any
	err := c.call(ctx, request{method: http.MethodGet, path: path}, &out)
	return out, err
}

// AuditPage is one page of the audit trail.
type AuditPage struct {
	Records []telamentis.AuditRecord `json:"records"`
	Next    uint64                   `json:"next,omitempty"`
}

// Audit reads one page of the audit trail (admin: every tenant;
// tenant_admin: its own).
func (c *Client) Audit(ctx context.Context, f telamentis.AuditFilter) (AuditPage, error) {
	q := url.Values{}
	if f.Tenant != "" {
		q.Set("tenant", f.Tenant)
	}
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	timeParam(q, "since", f.Since)
	timeParam(q, "until", f.Until)
	if f.After > 0 {
		q.Set("after", strconv.FormatUint(f.After, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out AuditPage
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/audit", query: q}, &out)
	return out, err
}
