package telamentis

import (
	"context"
	"time"
)

// Store is the graph storage of every tenant. Implementations: badger (the
// embedded default) and postgres. storetest holds the conformance suite each
// one passes.
//
// Every graph method takes the tenant explicitly and touches nothing of any
// other tenant: a record of another tenant answers CodeNotFound exactly like
// a missing one. A graph method on a tenant that does not exist returns
// CodeNotFound. Every store answers its write methods through package
// graph, the one owner of the write rules (validation with the Normalize
// methods, then a plan of the versions to close and open), so stores
// answer every write with the same result or the same whole error; bad
// input returns CodeInvalid naming every bad field and writes nothing. Writes
// are atomic and durable when they return; transaction times come from a
// per-tenant TxClock. Methods are safe for concurrent use and honour ctx.
type Store interface {
	// CreateTenant creates a tenant; CodeConflict if the ID is taken.
	CreateTenant(ctx context.Context, t Tenant) (Tenant, error)
	// GetTenant returns a tenant or CodeNotFound.
	GetTenant(ctx context.Context, id string) (Tenant, error)
	// ListTenants returns every tenant ordered by ID.
	ListTenants(ctx context.Context) ([]Tenant, error)
	// UpdateTenant replaces a tenant's mutable settings (name, status,
	// quotas, retention, PII policy); isolation cannot change
	// (CodeInvalid).
	UpdateTenant(ctx context.Context, t Tenant) (Tenant, error)
	// DropTenant physically removes a tenant and all its data; for a
	// dedicated tenant its data key is destroyed too.
	DropTenant(ctx context.Context, id string) error

	// UpsertNode creates or updates a node (see NodeInput). An alias must be
	// unique among the tenant's live nodes (CodeConflict). Creating a node
	// beyond the tenant's MaxNodes returns CodeQuota.
	UpsertNode(ctx context.Context, tenant string, in NodeInput) (NodeResult, error)
	// UpsertEdge creates or updates an edge (see EdgeInput). Endpoints must
	// be live nodes of the tenant (CodeNotFound). Creating an edge beyond
	// MaxEdges returns CodeQuota.
	UpsertEdge(ctx context.Context, tenant string, in EdgeInput) (EdgeResult, error)
	// ApplyBatch applies a Batch atomically with one transaction time. If
	// any item fails, nothing is written and the error lists every bad item
	// by position (graph.ApplyBatch gives the order and the code).
	ApplyBatch(ctx context.Context, tenant string, b Batch) (BatchResult, error)
	// InvalidateEdge records that a live edge stopped being true at at: a
	// new version with ValidTo = at. at must be after ValidFrom
	// (CodeInvalid). Invalidating at the current ValidTo changes nothing.
	InvalidateEdge(ctx context.Context, tenant string, ref Ref, at time.Time) (EdgeResult, error)
	// RetractNode closes the current version of a live node and of every
	// live edge touching it, in one transaction, with no successors.
	RetractNode(ctx context.Context, tenant string, ref Ref) (RetractResult, error)
	// RetractEdge closes the current version of a live edge.
	RetractEdge(ctx context.Context, tenant string, ref Ref) (RetractResult, error)
	// EraseNode physically removes every version of a node (live or
	// retracted) and of every edge touching it, with everything derived
	// from them: its name keys and every alias redirect to or from it.
	EraseNode(ctx context.Context, tenant string, ref Ref) (EraseResult, error)
	// MergeNode merges the live node ref into the live node into, which
	// must be another node: ref is closed, its live edges move to into
	// as new edges, and its alias and extra aliases resolve to into from
	// then on (see MergeResult and graph.MergeNode).
	MergeNode(ctx context.Context, tenant string, ref, into Ref) (MergeResult, error)

	// GetNode returns the version of a node visible at asAt (zero = now).
	// An alias resolves among the versions visible at asAt: to the node
	// that has it as its own alias, else to the node an alias redirect
	// visible at asAt points to (see MergeResult).
	GetNode(ctx context.Context, tenant string, ref Ref, asAt time.Time) (Node, error)
	// GetEdge returns the version of an edge visible at asAt (zero = now).
	GetEdge(ctx context.Context, tenant string, ref Ref, asAt time.Time) (Edge, error)
	// Query runs a query (see QueryKind) and returns one page.
	Query(ctx context.Context, tenant string, q Query) (Page, error)
	// Stats counts a tenant's data.
	Stats(ctx context.Context, tenant string) (TenantStats, error)

	// Close releases the store. In-flight calls may fail with
	// CodeUnavailable.
	Close() error
}

// Compactor is an optional Store ability: Compact makes erasures and drops
// physical on disk (rewriting or garbage-collecting files that still hold
// removed bytes). Stores without it remove bytes in the erase itself.
type Compactor interface {
	Compact(ctx context.Context) error
}

// Importer is an optional Store ability for restores and benchmarks: it
// writes versions with their original transaction times. Every version of
// an ID must come in one call, ordered by TxStart, and must not overlap in
// transaction time. It bypasses quotas; only system admins reach it.
type Importer interface {
	Import(ctx context.Context, tenant string, nodes []Node, edges []Edge) error
}

// Checker is an optional Store ability: Check verifies the store's internal
// integrity (indexes agree with records, versions do not overlap) and
// returns a description of the first problem found.
type Checker interface {
	Check(ctx context.Context) error
}
