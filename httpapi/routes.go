package httpapi

import (
	"context"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"
	"github.com/telamentis/telamentis"
)

func reflectType[T any]() reflect.Type { return reflect.TypeFor[T]() }

func (s *Server) registerRoutes() {
	s.registerTenantRoutes()
	s.registerWhoamiRoute()
	s.registerKeyRoutes()
	s.registerGraphRoutes()
	s.registerStreamRoutes()
	s.registerAuditRoutes()
	s.registerImportRoute()
	s.registerMergeRoute() // merge.go
}

var specAuditQuery = opSpec{name: "audit.query", allowed: rAdmin | rTenantAdmin}

type auditOut struct {
	Body struct {
		Records []telamentis.AuditRecord `json:"records"`
		Next    uint64                   `json:"next,omitempty" doc:"Pass as after for the next page; absent on the last page."`
	}
}

func (s *Server) registerAuditRoutes() {
	huma.Register(s.api, s.operation(specAuditQuery, huma.Operation{
		OperationID: "audit.query", Method: http.MethodGet, Path: "/v1/audit",
		Summary: "Read the audit trail (admin: every tenant; tenant_admin: its own)", Tags: []string{"audit"},
	}), func(ctx context.Context, in *struct {
		Tenant string `query:"tenant" maxLength:"63" doc:"Only this tenant's records (admin)."`
		Action string `query:"action" maxLength:"128" doc:"Exact action, or a prefix ending in '.'."`
		Since  string `query:"since" maxLength:"64"`
		Until  string `query:"until" maxLength:"64"`
		After  uint64 `query:"after" doc:"Records after this sequence number (the previous page's next)."`
		Limit  int    `query:"limit" minimum:"0" maximum:"1000"`
	}) (*auditOut, error) {
		out := &auditOut{}
		p := telamentis.PrincipalFromContext(ctx)
		pathTenant := ""
		if p != nil && p.Tenant != "" {
			pathTenant = p.Tenant // a tenant_admin sees its own tenant only
		}
		err := s.do(ctx, specAuditQuery, pathTenant, "", func(ctx context.Context, c *call) error {
			if s.audit == nil {
				return telamentis.Errorf(telamentis.CodeUnavailable, "audit log not configured")
			}
			f := telamentis.AuditFilter{Tenant: in.Tenant, Action: in.Action, After: in.After, Limit: in.Limit}
			if pathTenant != "" {
				if in.Tenant != "" && in.Tenant != pathTenant {
					return telamentis.NotFound("tenant")
				}
				f.Tenant = pathTenant
			}
			var err error
			if f.Since, err = parseTime("since", in.Since); err != nil {
				return err
			}
			if f.Until, err = parseTime("until", in.Until); err != nil {
				return err
			}
			recs, next, err := s.audit.Query(ctx, f)
			if err != nil {
				return err
			}
			if recs == nil {
				recs = []telamentis.AuditRecord{}
			}
			out.Body.Records, out.Body.Next = recs, next
			return nil
		})
		return out, err
	})
}
