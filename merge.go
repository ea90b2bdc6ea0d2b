package telamentis

import "time"

// Resolve modes of NodeInput.Resolve.
const (
	// ResolveExact finds an existing node by ID or alias only (the
	// default).
	ResolveExact = "exact"
	// ResolveNormalized also finds one by normalised name: when no live
	// node has the upsert's alias (or it has none), the live nodes of the
	// same label whose normalised alias, extra alias or name property
	// (graph.NormalizeName, graph.NameKeys) equals the upsert's are
	// looked up. One match is updated: its props take the upsert's
	// top-level props over its own, and it gains the upsert's alias (as
	// its own when it has none, else as an extra alias). Two or more
	// matches are not merged and none is updated: a new node is created
	// and NodeResult.Candidates lists them.
	ResolveNormalized = "normalized"
)

func checkResolve(r string) error {
	switch r {
	case "", ResolveExact, ResolveNormalized:
		return nil
	}
	return Invalid("resolve", "must be exact or normalized")
}

// MergeResult reports a merge of a node (the source) into another (the
// target; Store.MergeNode). Both histories stay readable: as_at before the
// merge shows two nodes, after it one.
type MergeResult struct {
	TxTime time.Time `json:"tx_time"`
	// Node is the target's current version; a merge does not change it.
	Node Node `json:"node"`
	// Merged is the ID of the source, closed by the merge.
	Merged string `json:"merged"`
	// Moved lists, by old ID, the source's live edges that were closed and
	// opened again, as new edges with new IDs, with the target in the
	// source's place (a loop on the source becomes a loop on the target).
	Moved []MovedEdge `json:"moved"`
	// Dropped lists, sorted, the IDs of the source's live edges that were
	// closed with no successor: those between the source and the target,
	// and those without an alias identical to a live edge of the target
	// (same direction, other end, kind, props and valid time).
	Dropped []string `json:"dropped"`
	// Aliases lists, sorted, the aliases that resolve to the target from
	// the merge on besides its own: the source's alias and the extra
	// aliases it had.
	Aliases []string `json:"aliases"`
}

// MovedEdge is an edge a merge moved: the closed edge's ID and the ID of
// the edge that continues it on the target.
type MovedEdge struct {
	ID    string `json:"id"`
	NewID string `json:"new_id"`
}
