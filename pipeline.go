package telamentis

import "context"

// Operation is one API operation as the request pipeline sees it. The
// transport fills it before the chain runs; steps read it, and post-stage
// steps read Err after next returns.
type Operation struct {
	// Name is a stable operation name such as "node.upsert",
	// "tenant.create", "key.revoke", "graph.erase", "llm.extract".
	Name      string
	Tenant    string // the tenant acted on; "" for system operations
	Principal *Principal
	RequestID string
	ClientIP  string
	// Target names what the operation acts on (an id, alias or key id), for
	// audit; identifiers of erased data are hashed by the audit step.
	Target string
	// Write is true for operations that change state.
	Write bool
	// Sensitive marks security-sensitive operations (tenant, key and
	// erasure operations, admin actions): their audit record must be
	// written before they run, or they are refused.
	Sensitive bool
	// Err is the outcome, set by the chain after the operation ran.
	Err error
}

// Handler runs an operation, or the rest of a chain.
type Handler func(ctx context.Context, op *Operation) error

// Step is a compiled-in pipeline plugin. Handle runs around next: work
// before calling next is the pre stage (it may refuse by returning an
// error without calling next), work after it the post stage. The order of
// steps is code in cmd, not configuration.
type Step interface {
	// ID is the step's namespaced name, e.g. "telamentis.ratelimit".
	ID() string
	Handle(ctx context.Context, op *Operation, next Handler) error
}
