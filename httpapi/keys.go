package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/telamentis/telamentis"
)

// KeyParam is the {key} path parameter.
type KeyParam struct {
	Key string `path:"key" pattern:"^[A-Za-z0-9-]{1,64}$" maxLength:"64" doc:"API key id (the <id> of tm_<id>_<secret>)."`
}

type keyCreateBody struct {
	Role      telamentis.Role `json:"role" enum:"tenant_admin,writer,reader" doc:"Role of the new key."`
	Name      string          `json:"name,omitempty" maxLength:"128"`
	PII       bool            `json:"pii,omitempty" doc:"May see PII properties; only a caller with pii may grant it."`
	ExpiresAt time.Time       `json:"expires_at,omitzero"`
}

type systemKeyCreateBody struct {
	Role      telamentis.Role `json:"role" enum:"admin" doc:"System keys are admin keys."`
	Name      string          `json:"name,omitempty" maxLength:"128"`
	PII       bool            `json:"pii,omitempty"`
	ExpiresAt time.Time       `json:"expires_at,omitzero"`
}

// keyIssued is the answer to a key creation or rotation: the only time the
// secret is shown.
type keyIssued struct {
	Key    telamentis.APIKey `json:"key"`
	Secret string            `json:"secret" doc:"The full API key (tm_<id>_<secret>). Shown once; store it now."`
}

type keyIssuedOut struct {
	Status int
	Body   keyIssued
}

type keyOut = struct{ Body telamentis.APIKey }

type keyListOut struct {
	Body struct {
		Keys []telamentis.APIKey `json:"keys"`
	}
}

// RotateParams are the query parameters of a key rotation.
type RotateParams struct {
	Overlap int `query:"overlap_seconds" minimum:"0" maximum:"2592000" doc:"How long the old key keeps working (seconds, at most 30 days); default 0 = revoked now."`
}

var (
	specKeyCreate = opSpec{name: "key.create", allowed: rAdmin | rTenantAdmin, write: true, sensitive: true}
	specKeyList   = opSpec{name: "key.list", allowed: rAdmin | rTenantAdmin}
	specKeyGet    = opSpec{name: "key.get", allowed: rAdmin | rTenantAdmin}
	specKeyRevoke = opSpec{name: "key.revoke", allowed: rAdmin | rTenantAdmin, write: true, sensitive: true}
	specKeyRotate = opSpec{name: "key.rotate", allowed: rAdmin | rTenantAdmin, write: true, sensitive: true}

	// The system key operations (/v1/keys…) are the same operations,
	// for system admins only.
	specKeyCreateSystem = adminOnly(specKeyCreate)
	specKeyListSystem   = adminOnly(specKeyList)
	specKeyGetAny       = adminOnly(specKeyGet)
	specKeyRevokeAny    = adminOnly(specKeyRevoke)
	specKeyRotateAny    = adminOnly(specKeyRotate)
)

// tenantKey returns key id if it belongs to tenant ("" = system keys, which
// only the /v1/keys routes reach with tenant "*").
func (s *Server) tenantKey(ctx context.Context, tenant, id string) (telamentis.APIKey, error) {
	k, err := s.keys.GetKey(ctx, id)
	if err != nil {
		if telamentis.ErrorCode(err) == telamentis.CodeNotFound {
			return k, telamentis.NotFound("key")
		}
		return k, fmt.Errorf("get key: %w", err)
	}
	if tenant != "*" && k.Tenant != tenant {
		return telamentis.APIKey{}, telamentis.NotFound("key")
	}
	return k, nil
}

// mayGrant refuses a key that would give more than the caller has.
func mayGrant(c *call, pii bool) error {
	if pii && !c.principal.PII && c.principal.Role != telamentis.RoleAdmin {
		return telamentis.Errorf(telamentis.CodeForbidden, "only a credential with pii may grant pii")
	}
	return nil
}

// adminOnly is spec for system admins only.
func adminOnly(spec opSpec) opSpec {
	spec.allowed = rAdmin
	return spec
}

func (s *Server) registerKeyRoutes() {
	s.registerTenantKeyRoutes()
	s.registerSystemKeyRoutes()
}

// registerTenantKeyRoutes registers /v1/tenants/{tenant}/keys…: the keys
// of one tenant.
func (s *Server) registerTenantKeyRoutes() {
	huma.Register(s.api, s.operation(specKeyCreate, huma.Operation{
		OperationID: "key.create", Method: http.MethodPost, Path: "/v1/tenants/{tenant}/keys",
		Summary: "Create an API key of the tenant (the secret is shown once)", Tags: []string{"keys"},
		DefaultStatus: http.StatusCreated,
	}), func(ctx context.Context, in *struct {
		TenantParam
		Body keyCreateBody
	}) (*keyIssuedOut, error) {
		out := &keyIssuedOut{Status: http.StatusCreated}
		err := s.do(ctx, specKeyCreate, in.Tenant, "", func(ctx context.Context, c *call) error {
			if err := mayGrant(c, in.Body.PII); err != nil {
				return err
			}
			if _, err := s.store.GetTenant(ctx, in.Tenant); err != nil {
				return err
			}
			return s.issueKey(ctx, c, telamentis.NewKey{Tenant: in.Tenant, Role: in.Body.Role,
				PII: in.Body.PII, Name: in.Body.Name, ExpiresAt: in.Body.ExpiresAt}, out)
		})
		return out, err
	})

	huma.Register(s.api, s.operation(specKeyList, huma.Operation{
		OperationID: "key.list", Method: http.MethodGet, Path: "/v1/tenants/{tenant}/keys",
		Summary: "List the tenant's API keys (never their secrets)", Tags: []string{"keys"},
	}), func(ctx context.Context, in *TenantParam) (*keyListOut, error) {
		out := &keyListOut{}
		err := s.do(ctx, specKeyList, in.Tenant, "", func(ctx context.Context, c *call) error {
			return s.listKeys(ctx, in.Tenant, &out.Body.Keys)
		})
		return out, err
	})

	huma.Register(s.api, s.operation(specKeyGet, huma.Operation{
		OperationID: "key.get", Method: http.MethodGet, Path: "/v1/tenants/{tenant}/keys/{key}",
		Summary: "Get an API key of the tenant", Tags: []string{"keys"},
	}), func(ctx context.Context, in *struct {
		TenantParam
		KeyParam
	}) (*keyOut, error) {
		return doBody(ctx, s, specKeyGet, in.Tenant, in.Key, func(ctx context.Context, c *call) (telamentis.APIKey, error) {
			return s.tenantKey(ctx, in.Tenant, in.Key)
		})
	})

	huma.Register(s.api, s.operation(specKeyRevoke, huma.Operation{
		OperationID: "key.revoke", Method: http.MethodDelete, Path: "/v1/tenants/{tenant}/keys/{key}",
		Summary: "Revoke an API key of the tenant (effective on the next request)", Tags: []string{"keys"},
	}), func(ctx context.Context, in *struct {
		TenantParam
		KeyParam
	}) (*keyOut, error) {
		return doBody(ctx, s, specKeyRevoke, in.Tenant, in.Key, func(ctx context.Context, c *call) (telamentis.APIKey, error) {
			return s.revokeKey(ctx, in.Tenant, in.Key)
		})
	})

	huma.Register(s.api, s.operation(specKeyRotate, huma.Operation{
		OperationID: "key.rotate", Method: http.MethodPost, Path: "/v1/tenants/{tenant}/keys/{key}/rotate",
		Summary: "Rotate an API key: issue a like key, revoke the old one after the overlap", Tags: []string{"keys"},
		DefaultStatus: http.StatusCreated,
	}), func(ctx context.Context, in *struct {
		TenantParam
		KeyParam
		RotateParams
	}) (*keyIssuedOut, error) {
		out := &keyIssuedOut{Status: http.StatusCreated}
		err := s.do(ctx, specKeyRotate, in.Tenant, in.Key, func(ctx context.Context, c *call) error {
			return s.rotateKey(ctx, c, in.Tenant, in.Key, in.Overlap, &out.Body)
		})
		return out, err
	})
}

// registerSystemKeyRoutes registers /v1/keys…: system keys (admin only);
// /v1/keys/{key} reaches any key.
func (s *Server) registerSystemKeyRoutes() {
	huma.Register(s.api, s.operation(specKeyCreateSystem, huma.Operation{
		OperationID: "key.create_system", Method: http.MethodPost, Path: "/v1/keys",
		Summary: "Create a system admin API key (the secret is shown once)", Tags: []string{"keys"},
		DefaultStatus: http.StatusCreated,
	}), func(ctx context.Context, in *struct{ Body systemKeyCreateBody }) (*keyIssuedOut, error) {
		out := &keyIssuedOut{Status: http.StatusCreated}
		err := s.do(ctx, specKeyCreateSystem, "", "", func(ctx context.Context, c *call) error {
			return s.issueKey(ctx, c, telamentis.NewKey{Role: telamentis.RoleAdmin,
				PII: in.Body.PII, Name: in.Body.Name, ExpiresAt: in.Body.ExpiresAt}, out)
		})
		return out, err
	})

	huma.Register(s.api, s.operation(specKeyListSystem, huma.Operation{
		OperationID: "key.list_system", Method: http.MethodGet, Path: "/v1/keys",
		Summary: "List system API keys", Tags: []string{"keys"},
	}), func(ctx context.Context, in *struct{}) (*keyListOut, error) {
		out := &keyListOut{}
		err := s.do(ctx, specKeyListSystem, "", "", func(ctx context.Context, c *call) error {
			return s.listKeys(ctx, "", &out.Body.Keys)
		})
		return out, err
	})

	huma.Register(s.api, s.operation(specKeyGetAny, huma.Operation{
		OperationID: "key.get_any", Method: http.MethodGet, Path: "/v1/keys/{key}",
		Summary: "Get any API key", Tags: []string{"keys"},
	}), func(ctx context.Context, in *KeyParam) (*keyOut, error) {
		return doBody(ctx, s, specKeyGetAny, "", in.Key, func(ctx context.Context, c *call) (telamentis.APIKey, error) {
			return s.tenantKey(ctx, "*", in.Key)
		})
	})

	huma.Register(s.api, s.operation(specKeyRevokeAny, huma.Operation{
		OperationID: "key.revoke_any", Method: http.MethodDelete, Path: "/v1/keys/{key}",
		Summary: "Revoke any API key", Tags: []string{"keys"},
	}), func(ctx context.Context, in *KeyParam) (*keyOut, error) {
		return doBody(ctx, s, specKeyRevokeAny, "", in.Key, func(ctx context.Context, c *call) (telamentis.APIKey, error) {
			return s.revokeKey(ctx, "*", in.Key)
		})
	})

	huma.Register(s.api, s.operation(specKeyRotateAny, huma.Operation{
		OperationID: "key.rotate_any", Method: http.MethodPost, Path: "/v1/keys/{key}/rotate",
		Summary: "Rotate any API key", Tags: []string{"keys"}, DefaultStatus: http.StatusCreated,
	}), func(ctx context.Context, in *struct {
		KeyParam
		RotateParams
	}) (*keyIssuedOut, error) {
		out := &keyIssuedOut{Status: http.StatusCreated}
		err := s.do(ctx, specKeyRotateAny, "", in.Key, func(ctx context.Context, c *call) error {
			return s.rotateKey(ctx, c, "*", in.Key, in.Overlap, &out.Body)
		})
		return out, err
	})
}

// issueKey issues nk, names it as the operation's target and answers its
// secret, which is shown this once.
func (s *Server) issueKey(ctx context.Context, c *call, nk telamentis.NewKey, out *keyIssuedOut) error {
	k, sec, err := s.keys.IssueKey(ctx, nk)
	if err != nil {
		return err
	}
	c.op.Target = k.ID
	out.Body = keyIssued{Key: k, Secret: sec.Reveal()}
	return nil
}

func (s *Server) listKeys(ctx context.Context, tenant string, out *[]telamentis.APIKey) error {
	ks, err := s.keys.ListKeys(ctx, tenant)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	if ks == nil {
		ks = []telamentis.APIKey{}
	}
	*out = ks
	return nil
}

func (s *Server) revokeKey(ctx context.Context, tenant, id string) (telamentis.APIKey, error) {
	if _, err := s.tenantKey(ctx, tenant, id); err != nil {
		return telamentis.APIKey{}, err
	}
	return s.keys.RevokeKey(ctx, id)
}

func (s *Server) rotateKey(ctx context.Context, c *call, tenant, id string, overlap int, out *keyIssued) error {
	old, err := s.tenantKey(ctx, tenant, id)
	if err != nil {
		return err
	}
	if err := mayGrant(c, old.PII); err != nil {
		return err
	}
	if !old.RevokedAt.IsZero() && !old.RevokedAt.After(time.Now()) {
		return telamentis.Errorf(telamentis.CodeConflict, "key is revoked")
	}
	k, sec, err := s.keys.RotateKey(ctx, id, time.Duration(overlap)*time.Second)
	if err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	*out = keyIssued{Key: k, Secret: sec.Reveal()}
	return nil
}
