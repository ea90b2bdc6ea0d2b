// Package tenantguard is the pipeline step that scopes every operation to
// its caller's tenant.
//
// The tenant of an operation comes from the credential (the Principal),
// never from a header or body. An operation on another tenant answers
// CodeNotFound exactly like a missing record, so a caller cannot learn
// whether another tenant or its records exist; an operation by a credential
// of a suspended tenant is refused with CodeForbidden. The transport checks
// the same rules before the pipeline runs; the guard enforces them again for
// every transport (defence in depth).
package tenantguard

import (
	"context"
	"fmt"
	"strings"

	"github.com/telamentis/telamentis"
)

// Tenants looks up tenants; a telamentis.Store is one.
type Tenants interface {
	GetTenant(ctx context.Context, id string) (telamentis.Tenant, error)
}

// Guard is the tenant-guard step. It is safe for concurrent use.
type Guard struct {
	tenants Tenants
}

var _ telamentis.Step = (*Guard)(nil)

// New returns a guard that reads tenant status from tenants.
func New(tenants Tenants) *Guard { return &Guard{tenants: tenants} }

// ID implements telamentis.Step.
func (g *Guard) ID() string { return "telamentis.tenantguard" }

// Handle implements telamentis.Step. Operations without a tenant (system
// operations such as tenant.list) pass; their role check is the
// transport's. A system admin (a principal without a tenant) passes for
// tenant-scoped system operations; whether an admin may run a graph
// operation at all is the transport's role check.
func (g *Guard) Handle(ctx context.Context, op *telamentis.Operation, next telamentis.Handler) error {
	p := op.Principal
	if p == nil {
		p = telamentis.PrincipalFromContext(ctx)
	}
	if p == nil {
		return telamentis.Errorf(telamentis.CodeUnauthenticated, "authentication required")
	}
	if op.Tenant == "" || (p.Role == telamentis.RoleAdmin && p.Tenant == "") {
		return next(ctx, op)
	}
	if p.Tenant != op.Tenant {
		return NotFound(op.Name)
	}
	t, err := g.tenants.GetTenant(ctx, op.Tenant)
	if err != nil {
		if telamentis.ErrorCode(err) == telamentis.CodeNotFound {
			return NotFound(op.Name)
		}
		return fmt.Errorf("tenantguard: get tenant: %w", err)
	}
	if t.Status == telamentis.TenantSuspended {
		return Suspended()
	}
	return next(ctx, op)
}

// NotFound returns the not-found error for an operation on a tenant the
// caller may not see. It is the error a missing record of the operation's
// kind gets ("node not found" for node.*, "edge not found" for edge.*, "key
// not found" for key.*, else "tenant not found"), so both cases answer
// byte for byte alike.
func NotFound(opName string) error {
	return telamentis.NotFound(Noun(opName))
}

// Noun returns the record kind named by an operation name's first segment.
func Noun(opName string) string {
	kind, _, _ := strings.Cut(opName, ".")
	switch kind {
	case "node", "edge", "key":
		return kind
	}
	return "tenant"
}

// Suspended returns the error for a credential of a suspended tenant.
func Suspended() error {
	return telamentis.Errorf(telamentis.CodeForbidden, "tenant is suspended")
}
