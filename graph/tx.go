package graph

import (
	"context"

	"github.com/telamentis/telamentis"
)

// Run is how a store runs one write of tenant: it takes the tenant's write
// lock or opens its write transaction, calls plan with a Tx that reads the
// tenant's committed state inside it, and applies the returned Plan
// atomically at the Tx's transaction time, with nothing else of the
// tenant's changing between the reads and the apply. If plan returns an
// error, Run changes nothing and returns that error (Run's own failures —
// tenant not found, store unavailable, a plan too large for the store —
// are returned as they are). An empty Plan writes nothing.
//
// plan may be called more than once (a store may retry a transaction); it
// keeps only the results of its last call.
type Run func(ctx context.Context, tenant string, plan func(Tx) (Plan, error)) error

// Tx is what the planner reads of one tenant during one write. Every read
// sees the tenant's committed state as of the start of the write; the
// planner itself layers the write's own changes on top (an item of a batch
// sees the items before it). Errors are the store's (I/O, cancellation):
// the write is abandoned.
//
// The interface grows with the rules: slot lookups ("the live edges of
// (from, kind) overlapping a valid interval", and of (to, kind)) for
// cardinality and belief revision, then name lookups for entity
// resolution, are added here and answered natively by each store.
type Tx interface {
	// Node returns the live version (current, not retracted) of the node
	// ref names by ID or alias; ok is false if there is none.
	Node(ref telamentis.Ref) (n Node, ok bool, err error)
	// Edge returns the live version of the edge ref names.
	Edge(ref telamentis.Ref) (e Edge, ok bool, err error)
	// LiveEdges returns the live edges from or to the live node n, each
	// once (a loop too).
	LiveEdges(n Node) ([]Edge, error)
	// Counts returns the tenant's live records and quotas.
	Counts() (Counts, error)
	// NewNode returns the identity of a node this write may create: a new
	// ID and the store's Handle; the other fields are zero.
	NewNode() (Node, error)
	// NewEdge returns the identity of an edge from from to to (live nodes
	// as Node returned them, or nodes from NewNode) that this write may
	// create: a new ID, From, To and the store's Handle.
	NewEdge(from, to Node) (Edge, error)
	// Now returns the write's transaction time in microseconds. It is the
	// same for every call of one write, later than every transaction time
	// the tenant has, and taken on first use.
	Now() int64

	// NameTx: name lookups and alias redirects (resolve.go). Node by
	// alias also follows a live redirect when no live node has the alias.
	NameTx
}

// Counts are a tenant's live records and quotas (zero = unlimited).
type Counts struct {
	Nodes, Edges       int64
	MaxNodes, MaxEdges int64
}

// Node is a version of a node as the planner reads and writes it. Times
// are microseconds (telamentis.Micros).
type Node struct {
	ID      string
	Alias   string
	Label   string
	Props   string // canonical (telamentis.CanonicalProps)
	TxStart int64
	// Handle is the store's own reference to the record (Badger: its index
	// entry), set by the store's reads and by NewNode and passed back in
	// the Plan untouched; nil for a store that finds records by ID.
	Handle any
}

// Edge is a version of an edge as the planner reads and writes it. An
// open ValidTo is telamentis.Open.
type Edge struct {
	ID        string
	Alias     string
	From, To  string // node IDs
	Kind      string
	Props     string // canonical
	ValidFrom int64
	ValidTo   int64
	TxStart   int64
	Handle    any // see Node.Handle
}

// Plan is what one write changes, all at the write's transaction time t:
// for each record it touches, at most one change. A store applies every
// change or none.
type Plan struct {
	Nodes []NodeChange
	Edges []EdgeChange
	// Redirects are the alias redirects the write closes and opens
	// (resolve.go); a store applies them after Nodes.
	Redirects []RedirectChange
}

// Empty reports whether the plan writes nothing.
func (p *Plan) Empty() bool { return len(p.Nodes) == 0 && len(p.Edges) == 0 && len(p.Redirects) == 0 }

// NodeChange closes Old, the node's live version (tx_end = t), unless the
// node is new (Old.ID == ""), and opens New (tx_start = t) unless the node
// is retracted (New.ID == ""). New.Handle is Old.Handle for an existing
// node and NewNode's for a new one.
type NodeChange struct {
	Old, New Node
}

// EdgeChange is NodeChange for an edge. From and To never change.
type EdgeChange struct {
	Old, New Edge
}

// Closes reports whether the change closes a live version.
func (c *NodeChange) Closes() bool { return c.Old.ID != "" }

// Opens reports whether the change opens a new version.
func (c *NodeChange) Opens() bool { return c.New.ID != "" }

// Closes reports whether the change closes a live version.
func (c *EdgeChange) Closes() bool { return c.Old.ID != "" }

// Opens reports whether the change opens a new version.
func (c *EdgeChange) Opens() bool { return c.New.ID != "" }
