package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/telamentis/telamentis"
)

// TenantParam is the {tenant} path parameter.
type TenantParam struct {
	Tenant string `path:"tenant" pattern:"^[a-z0-9][a-z0-9_-]{1,62}$" maxLength:"63" doc:"Tenant id; must be the credential's own tenant."`
}

type tenantCreateBody struct {
	ID            string                  `json:"id" pattern:"^[a-z0-9][a-z0-9_-]{1,62}$" maxLength:"63" doc:"Tenant id."`
	Name          string                  `json:"name,omitempty" maxLength:"256"`
	Isolation     telamentis.Isolation    `json:"isolation,omitempty" enum:"shared,dedicated" doc:"Storage isolation; default shared."`
	Status        telamentis.TenantStatus `json:"status,omitempty" enum:"active,suspended"`
	Quotas        telamentis.Quotas       `json:"quotas,omitzero"`
	RetentionDays int                     `json:"retention_days,omitempty" minimum:"0"`
	PII           telamentis.PIIPolicy    `json:"pii,omitzero"`
}

type tenantPatchBody struct {
	Name          *string                  `json:"name,omitempty" maxLength:"256"`
	Status        *telamentis.TenantStatus `json:"status,omitempty" enum:"active,suspended"`
	Quotas        *telamentis.Quotas       `json:"quotas,omitempty" doc:"Replaces all quotas."`
	RetentionDays *int                     `json:"retention_days,omitempty" minimum:"0"`
	PII           *telamentis.PIIPolicy    `json:"pii,omitempty" doc:"Replaces the PII policy."`
}

type tenantOut = struct{ Body telamentis.Tenant }

type tenantCreatedOut struct {
	Status int
	Body   telamentis.Tenant
}

type tenantListOut struct {
	Body struct {
		Tenants []telamentis.Tenant `json:"tenants"`
	}
}

type noContent struct{}

var (
	specTenantCreate = opSpec{name: "tenant.create", allowed: rAdmin, write: true, sensitive: true}
	specTenantList   = opSpec{name: "tenant.list", allowed: rAdmin}
	specTenantGet    = opSpec{name: "tenant.get", allowed: rAdmin | anyTenantRole}
	specTenantUpdate = opSpec{name: "tenant.update", allowed: rAdmin, write: true, sensitive: true}
	specTenantDelete = opSpec{name: "tenant.delete", allowed: rAdmin, write: true, sensitive: true}
	specWhoami       = opSpec{name: "auth.whoami", allowed: rAdmin | anyTenantRole}
)

func (s *Server) registerTenantRoutes() {
	huma.Register(s.api, s.operation(specTenantCreate, huma.Operation{
		OperationID: "tenant.create", Method: http.MethodPost, Path: "/v1/tenants",
		Summary: "Create a tenant", Tags: []string{"tenants"}, DefaultStatus: http.StatusCreated,
	}), func(ctx context.Context, in *struct{ Body tenantCreateBody }) (*tenantCreatedOut, error) {
		out := &tenantCreatedOut{Status: http.StatusCreated}
		err := s.do(ctx, specTenantCreate, "", in.Body.ID, func(ctx context.Context, c *call) error {
			b := in.Body
			t := telamentis.Tenant{ID: b.ID, Name: b.Name, Isolation: b.Isolation, Status: b.Status,
				Quotas: b.Quotas, RetentionDays: b.RetentionDays, PII: b.PII}
			if err := t.Validate(); err != nil {
				return err
			}
			created, err := s.store.CreateTenant(ctx, t)
			if err != nil {
				return err
			}
			out.Body = created
			return nil
		})
		return out, err
	})

	huma.Register(s.api, s.operation(specTenantList, huma.Operation{
		OperationID: "tenant.list", Method: http.MethodGet, Path: "/v1/tenants",
		Summary: "List tenants", Tags: []string{"tenants"},
	}), func(ctx context.Context, in *struct{}) (*tenantListOut, error) {
		out := &tenantListOut{}
		err := s.do(ctx, specTenantList, "", "", func(ctx context.Context, c *call) error {
			ts, err := s.store.ListTenants(ctx)
			if err != nil {
				return err
			}
			out.Body.Tenants = ts
			if ts == nil {
				out.Body.Tenants = []telamentis.Tenant{}
			}
			return nil
		})
		return out, err
	})

	huma.Register(s.api, s.operation(specTenantGet, huma.Operation{
		OperationID: "tenant.get", Method: http.MethodGet, Path: "/v1/tenants/{tenant}",
		Summary: "Get a tenant", Tags: []string{"tenants"},
	}), func(ctx context.Context, in *TenantParam) (*tenantOut, error) {
		return doBody(ctx, s, specTenantGet, in.Tenant, in.Tenant, func(ctx context.Context, c *call) (telamentis.Tenant, error) {
			return s.store.GetTenant(ctx, in.Tenant)
		})
	})

	huma.Register(s.api, s.operation(specTenantUpdate, huma.Operation{
		OperationID: "tenant.update", Method: http.MethodPatch, Path: "/v1/tenants/{tenant}",
		Summary: "Update a tenant's name, status, quotas, retention or PII policy", Tags: []string{"tenants"},
	}), func(ctx context.Context, in *struct {
		TenantParam
		Body tenantPatchBody
	}) (*tenantOut, error) {
		return doBody(ctx, s, specTenantUpdate, in.Tenant, in.Tenant, func(ctx context.Context, c *call) (telamentis.Tenant, error) {
			return s.updateTenant(ctx, in.Tenant, in.Body)
		})
	})

	huma.Register(s.api, s.operation(specTenantDelete, huma.Operation{
		OperationID: "tenant.delete", Method: http.MethodDelete, Path: "/v1/tenants/{tenant}",
		Summary: "Delete a tenant with all its data and revoke its keys", Tags: []string{"tenants"},
		DefaultStatus: http.StatusNoContent,
	}), func(ctx context.Context, in *TenantParam) (*noContent, error) {
		err := s.do(ctx, specTenantDelete, in.Tenant, in.Tenant, func(ctx context.Context, c *call) error {
			return s.deleteTenant(ctx, in.Tenant)
		})
		return nil, err
	})
}

// registerWhoamiRoute registers GET /v1/whoami.
func (s *Server) registerWhoamiRoute() {
	huma.Register(s.api, s.operation(specWhoami, huma.Operation{
		OperationID: "auth.whoami", Method: http.MethodGet, Path: "/v1/whoami",
		Summary: "Show the caller's principal", Tags: []string{"keys"},
	}), func(ctx context.Context, in *struct{}) (*struct{ Body telamentis.Principal }, error) {
		out := &struct{ Body telamentis.Principal }{}
		p := telamentis.PrincipalFromContext(ctx)
		pathTenant := ""
		if p != nil {
			pathTenant = p.Tenant
		}
		err := s.do(ctx, specWhoami, pathTenant, "", func(ctx context.Context, c *call) error {
			out.Body = *c.principal
			return nil
		})
		return out, err
	})
}

// updateTenant applies a PATCH body to a tenant: the fields it gives
// replace the tenant's, and the result must validate.
func (s *Server) updateTenant(ctx context.Context, tenant string, b tenantPatchBody) (telamentis.Tenant, error) {
	t, err := s.store.GetTenant(ctx, tenant)
	if err != nil {
		return t, err
	}
	if b.Name != nil {
		t.Name = *b.Name
	}
	if b.Status != nil {
		t.Status = *b.Status
	}
	if b.Quotas != nil {
		t.Quotas = *b.Quotas
	}
	if b.RetentionDays != nil {
		t.RetentionDays = *b.RetentionDays
	}
	if b.PII != nil {
		t.PII = *b.PII
	}
	if err := t.Validate(); err != nil {
		return telamentis.Tenant{}, err
	}
	return s.store.UpdateTenant(ctx, t)
}

// deleteTenant revokes a tenant's keys, drops it with all its data and
// forgets its cached credentials.
func (s *Server) deleteTenant(ctx context.Context, tenant string) error {
	if _, err := s.store.GetTenant(ctx, tenant); err != nil {
		return err
	}
	// Revoke first: a key must never outlive its tenant, or a
	// tenant re-created under the same id would inherit it.
	keys, err := s.keys.ListKeys(ctx, tenant)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	for _, k := range keys {
		if !k.RevokedAt.IsZero() && !k.RevokedAt.After(time.Now()) {
			continue
		}
		if _, err := s.keys.RevokeKey(ctx, k.ID); err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
	}
	if err := s.store.DropTenant(ctx, tenant); err != nil {
		return err
	}
	// Drop cached credentials of the tenant (auth.Keys caches
	// verified keys) so none is accepted after the delete.
	if f, ok := s.keys.(interface{ ForgetTenant(string) }); ok {
		f.ForgetTenant(tenant)
	}
	return nil
}
