// Package graph owns the write rules of TelaMentis: what a write may do and
// which versions it closes and opens. Every store answers a write through
// this package, so the stores cannot disagree on a rule or on an error.
//
// A write has two steps. First the input is validated without reading
// anything (the Normalize methods of the root package, and the batch and
// reference rules here). Then it is planned: the planner reads the tenant's
// current state through Tx and returns a Plan — for each record it touches,
// the live version it closes and the version it opens — or the complete
// error (code, message and every bad field). The store runs both the
// planner's reads and the Plan's application as one atomic unit: Badger
// under the tenant's write lock, PostgreSQL in one transaction. It only
// applies what the Plan says; it decides nothing.
//
// The functions UpsertNode, UpsertEdge, ApplyBatch, InvalidateEdge,
// RetractNode, RetractEdge and MergeNode implement the write methods of
// telamentis.Store over a store's Run; a store's methods call them.
// NormalizeName and NameKeys are entity resolution's one normaliser, which
// the stores use to index names.
//
// The stores import this package, not the other way round: it imports only
// the root package and golang.org/x/text (docs/decisions.md says why this
// exception to the dependency rule is the lesser evil).
package graph
