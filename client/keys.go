package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/telamentis/telamentis"
)

type keyIssued struct {
	Key    telamentis.APIKey `json:"key"`
	Secret string            `json:"secret"`
}

// IssueKey issues a key. With req.Tenant it is a key of that tenant (admin
// or the tenant's tenant_admin); without, a system admin key. The secret is
// returned once.
func (c *Client) IssueKey(ctx context.Context, req telamentis.NewKey) (telamentis.APIKey, telamentis.Secret, error) {
	path := "/v1/keys"
	if req.Tenant != "" {
		path = "/v1/tenants/" + seg(req.Tenant) + "/keys"
	}
	body := map[string]any{"role": req.Role}
	if req.Name != "" {
		body["name"] = req.Name
	}
	if req.PII {
		body["pii"] = true
	}
	if !req.ExpiresAt.IsZero() {
		body["expires_at"] = req.ExpiresAt.UTC()
	}
	var out keyIssued
	if err := c.call(ctx, request{method: http.MethodPost, path: path, body: body}, &out); err != nil {
		return telamentis.APIKey{}, telamentis.Secret{}, err
	}
	return out.Key, telamentis.NewSecret(out.Secret), nil
}

// keyPath is the route of key id: under its tenant for tenant_admins, or
// the system route (admin, any key) when tenant is "".
func keyPath(tenant, id string) string {
	if tenant == "" {
		return "/v1/keys/" + seg(id)
	}
	return "/v1/tenants/" + seg(tenant) + "/keys/" + seg(id)
}

// RotateKey issues a key like id's and revokes id after overlap (system
// route; admin).
func (c *Client) RotateKey(ctx context.Context, id string, overlap time.Duration) (telamentis.APIKey, telamentis.Secret, error) {
	return c.RotateTenantKey(ctx, "", id, overlap)
}

// RotateTenantKey rotates a key of tenant ("" = system route).
func (c *Client) RotateTenantKey(ctx context.Context, tenant, id string, overlap time.Duration) (telamentis.APIKey, telamentis.Secret, error) {
	q := url.Values{}
	if overlap > 0 {
		q.Set("overlap_seconds", strconv.Itoa(int(overlap/time.Second)))
	}
	var out keyIssued
	if err := c.call(ctx, request{method: http.MethodPost, path: keyPath(tenant, id) + "/rotate", query: q}, &out); err != nil {
		return telamentis.APIKey{}, telamentis.Secret{}, err
	}
	return out.Key, telamentis.NewSecret(out.Secret), nil
}

// RevokeKey revokes any key by id (system route; admin).
func (c *Client) RevokeKey(ctx context.Context, id string) (telamentis.APIKey, error) {
	return c.RevokeTenantKey(ctx, "", id)
}

// RevokeTenantKey revokes a key of tenant ("" = system route) and returns
// it with its revocation time.
func (c *Client) RevokeTenantKey(ctx context.Context, tenant, id string) (telamentis.APIKey, error) {
	var out telamentis.APIKey
	err := c.call(ctx, request{method: http.MethodDelete, path: keyPath(tenant, id)}, &out)
	return out, err
}

// GetKey returns any key by id (system route; admin).
func (c *Client) GetKey(ctx context.Context, id string) (telamentis.APIKey, error) {
	return c.GetTenantKey(ctx, "", id)
}

// GetTenantKey returns a key of tenant ("" = system route).
func (c *Client) GetTenantKey(ctx context.Context, tenant, id string) (telamentis.APIKey, error) {
	var out telamentis.APIKey
	err := c.call(ctx, request{method: http.MethodGet, path: keyPath(tenant, id)}, &out)
	return out, err
}

// ListKeys returns the keys of tenant ("" = system keys), never secrets.
func (c *Client) ListKeys(ctx context.Context, tenant string) ([]telamentis.APIKey, error) {
	path := "/v1/keys"
	if tenant != "" {
		path = "/v1/tenants/" + seg(tenant) + "/keys"
	}
	var out struct {
		Keys []telamentis.APIKey `json:"keys"`
	}
	err := c.call(ctx, request{method: http.MethodGet, path: path}, &out)
	return out.Keys, err
}
