package graph

import (
	"context"

	"github.com/telamentis/telamentis"
)

// ApplyBatch implements telamentis.Store.ApplyBatch over run. It reports
// every bad item of a batch, by position, in one error:
//
//   - An empty batch or one of more than telamentis.MaxBatchItems items is
//     invalid as a whole (field "batch"), and nothing else is checked.
//   - Every item is validated on its own (its Normalize). If none is well
//     formed, their errors are the answer and the store is not touched.
//   - Otherwise, in the write, every well-formed item is planned in order
//     (nodes, then edges) against the tenant's state and the effect of the
//     good items before it; a bad item has no effect, so a later item that
//     names its alias does not find it.
//   - The error lists the fields of every bad item — malformed or refused
//     by the rules — items in position order, each item's fields in the
//     order of its input's fields, prefixed with its position
//     ("nodes[1].label", "edges[0].to"). Its code is the code every bad
//     item has, or invalid when they differ.
//   - Errors of the write itself (tenant not found, store unavailable,
//     quota) are answered alone; the quota is checked only when every item
//     is good.
func ApplyBatch(ctx context.Context, run Run, tenant string, b telamentis.Batch) (telamentis.BatchResult, error) {
	n := len(b.Nodes) + len(b.Edges)
	if n == 0 {
		return telamentis.BatchResult{}, telamentis.Invalid("batch", "is empty")
	}
	if n > telamentis.MaxBatchItems {
		return telamentis.BatchResult{}, telamentis.Invalid("batch", "more than %d items", telamentis.MaxBatchItems)
	}
	nodes := make([]telamentis.NodeInput, len(b.Nodes))
	edges := make([]telamentis.EdgeInput, len(b.Edges))
	// malformed[k] is the validation error of item k (nodes, then edges);
	// nil while every item is well formed.
	var malformed []error
	bad := 0
	fail := func(k int, err error) {
		if malformed == nil {
			malformed = make([]error, n)
		}
		malformed[k] = err
		bad++
	}
	for i, in := range b.Nodes {
		var err error
		if nodes[i], err = in.Normalize(); err != nil {
			fail(i, err)
		}
	}
	for i, in := range b.Edges {
		var err error
		if edges[i], err = in.Normalize(); err != nil {
			fail(len(nodes)+i, err)
		}
	}
	if bad == n {
		var errs batchErrors
		for k, err := range malformed {
			if k < len(nodes) {
				errs.add("nodes", k, err)
			} else {
				errs.add("edges", k-len(nodes), err)
			}
		}
		return telamentis.BatchResult{}, errs.err()
	}
	var res telamentis.BatchResult
	err := run(ctx, tenant, func(tx Tx) (Plan, error) {
		p := newBatchPlanner(tx, len(nodes), len(edges))
		res = telamentis.BatchResult{Nodes: make([]telamentis.NodeResult, len(nodes)), Edges: make([]telamentis.EdgeResult, len(edges))}
		var errs batchErrors
		for i, in := range nodes {
			if malformed != nil && malformed[i] != nil {
				errs.add("nodes", i, malformed[i])
				continue
			}
			r, bad, err := p.upsertNode(in)
			if err != nil {
				return Plan{}, err
			}
			if bad != nil {
				errs.add("nodes", i, bad)
				continue
			}
			res.Nodes[i] = r
		}
		for i, in := range edges {
			if malformed != nil && malformed[len(nodes)+i] != nil {
				errs.add("edges", i, malformed[len(nodes)+i])
				continue
			}
			r, bad, err := p.upsertEdge(in)
			if err != nil {
				return Plan{}, err
			}
			if bad != nil {
				errs.add("edges", i, bad)
				continue
			}
			res.Edges[i] = r
		}
		if err := errs.err(); err != nil {
			return Plan{}, err
		}
		res.TxTime = telamentis.FromMicros(tx.Now())
		return p.finish()
	})
	if err != nil {
		return telamentis.BatchResult{}, err
	}
	return res, nil
}
