package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/telamentis/telamentis"
)

// roles is a set of roles allowed to run an operation.
type roles uint8

const (
	rAdmin roles = 1 << iota
	rTenantAdmin
	rWriter
	rReader
)

const (
	anyTenantRole = rTenantAdmin | rWriter | rReader
	writers       = rTenantAdmin | rWriter
)

func roleBit(r telamentis.Role) roles {
	switch r {
	case telamentis.RoleAdmin:
		return rAdmin
	case telamentis.RoleTenantAdmin:
		return rTenantAdmin
	case telamentis.RoleWriter:
		return rWriter
	case telamentis.RoleReader:
		return rReader
	}
	return 0
}

// opSpec describes one API operation for the role and tenant checks and the
// pipeline. The table of specs is the authorization matrix of
// docs/security/authorization.md.
type opSpec struct {
	name      string
	allowed   roles
	write     bool
	sensitive bool
	// statuses are the error statuses the operation's own service adds
	// to those every operation of its kind answers (see operation).
	statuses []int
}

// call is what an operation's handler gets besides its input.
type call struct {
	principal *telamentis.Principal
	tenant    telamentis.Tenant // loaded for tenant-scoped operations by tenant credentials
	op        *telamentis.Operation
}

// notFoundNoun names the record kind an operation reports as missing, the
// same rule as tenantguard.Noun: a tenant mismatch answers exactly like a
// missing record of that kind.
func notFoundNoun(opName string) string {
	kind, _, _ := strings.Cut(opName, ".")
	switch kind {
	case "node", "edge", "key":
		return kind
	}
	return "tenant"
}

// doBody runs op through do and answers its result as the response body.
func doBody[T any](ctx context.Context, s *Server, spec opSpec, pathTenant, target string, op func(ctx context.Context, c *call) (T, error)) (*struct{ Body T }, error) {
	out := &struct{ Body T }{}
	err := s.do(ctx, spec, pathTenant, target, func(ctx context.Context, c *call) error {
		r, err := op(ctx, c)
		if err != nil {
			return err
		}
		out.Body = r
		return nil
	})
	return out, err
}

// do checks the caller against spec for pathTenant ("" for system
// operations), runs the operation through the pipeline and logs internal
// errors. The order of checks never reveals whether another tenant exists:
// a tenant mismatch is decided before anything is looked up.
func (s *Server) do(ctx context.Context, spec opSpec, pathTenant, target string, h func(ctx context.Context, c *call) error) error {
	p := telamentis.PrincipalFromContext(ctx)
	id := telamentis.RequestIDFromContext(ctx)
	err := s.check(ctx, spec, p, pathTenant, target, h)
	if err != nil {
		code := telamentis.ErrorCode(err)
		if code == telamentis.CodeInternal || code == telamentis.CodeUnavailable {
			logError(s.logger, id, err)
		}
		return problemFor(err, id)
	}
	return nil
}

func (s *Server) check(ctx context.Context, spec opSpec, p *telamentis.Principal, pathTenant, target string, h func(ctx context.Context, c *call) error) error {
	if p == nil {
		return telamentis.Errorf(telamentis.CodeUnauthenticated, unauthenticatedDetail)
	}
	c := &call{principal: p}
	if p.Role != telamentis.RoleAdmin || p.Tenant != "" {
		// A tenant credential: its tenant must be the path's, and it may
		// run no system operation.
		if pathTenant != "" && p.Tenant != pathTenant {
			return telamentis.NotFound(notFoundNoun(spec.name))
		}
		if pathTenant == "" || p.Tenant == "" {
			return telamentis.Errorf(telamentis.CodeForbidden, "role %s may not %s", p.Role, spec.name)
		}
	}
	if spec.allowed&roleBit(p.Role) == 0 {
		return telamentis.Errorf(telamentis.CodeForbidden, "role %s may not %s", p.Role, spec.name)
	}
	if p.Tenant != "" {
		t, err := s.store.GetTenant(ctx, p.Tenant)
		if err != nil {
			if telamentis.ErrorCode(err) == telamentis.CodeNotFound {
				return telamentis.NotFound(notFoundNoun(spec.name))
			}
			return fmt.Errorf("httpapi: %s: get tenant: %w", spec.name, err)
		}
		if t.Status == telamentis.TenantSuspended {
			return telamentis.Errorf(telamentis.CodeForbidden, "tenant is suspended")
		}
		c.tenant = t
	}
	if info := infoFrom(ctx); info != nil && pathTenant != "" {
		info.tenant = pathTenant
	}
	c.op = &telamentis.Operation{
		Name:      spec.name,
		Tenant:    pathTenant,
		Principal: p,
		RequestID: telamentis.RequestIDFromContext(ctx),
		Target:    telamentis.RedactCredentials(target), // an alias may hold a pasted key
		Write:     spec.write,
		Sensitive: spec.sensitive,
	}
	if info := infoFrom(ctx); info != nil {
		c.op.ClientIP = info.clientIP
	}
	// The operation's name is the context of every error its handler
	// returns (the client sees only the code and the *Error's message).
	run := func(ctx context.Context, op *telamentis.Operation) error {
		if err := h(ctx, c); err != nil {
			return fmt.Errorf("httpapi: %s: %w", spec.name, err)
		}
		return nil
	}
	if s.pipeline == nil {
		return safeRun(ctx, c.op, run, s.logger)
	}
	return s.pipeline.Run(ctx, c.op, run)
}

// safeRun runs h, turning a panic into an internal error, when no pipeline
// is configured (the pipeline recovers panics itself).
func safeRun(ctx context.Context, op *telamentis.Operation, h telamentis.Handler, logger *slog.Logger) (err error) {
	defer func() {
		if v := recover(); v != nil {
			logger.Error("panic in operation", slog.String("request_id", op.RequestID), slog.String("op", op.Name), slog.Any("err", v))
			err = &telamentis.Error{Code: telamentis.CodeInternal, Message: "internal error", Err: fmt.Errorf("httpapi: panic: %v", v)}
		}
	}()
	err = h(ctx, op)
	op.Err = err
	return err
}
