package badger

import (
	"context"
	"slices"

	"github.com/telamentis/telamentis"
)

// The paths (neighbourhood) query of the embedded store.

type reached struct {
	n   *nodeRec
	via *edgeRec
}

func (ts *tenantState) queryPaths(ctx context.Context, q *telamentis.Query, pos position, vis int64) ([]telamentis.Neighbor, *position, error) {
	T := firstT(q, pos, vis)
	start, _ := ts.resolveNodeAt(*q.Start, T)
	if start == nil {
		return nil, nil, telamentis.NotFound("node")
	}
	valid := q.ValidFilter()
	edgeOK := func(e *edgeRec) bool {
		v := e.at(T)
		if v == nil {
			return false
		}
		if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, v.kind) {
			return false
		}
		return valid == nil || valid(telamentis.Span{Start: v.vf, End: v.vt})
	}
	out, in := q.Direction != telamentis.DirIn, q.Direction != telamentis.DirOut
	reported := map[*nodeRec]bool{}
	level := []*nodeRec{start}
	var res []reached
	var resDepth []int
	limit := q.Limit
	var next *position
	for k := 1; k <= q.Depth && len(level) > 0; k++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		// Presized: for a hub the level map holds thousands of nodes, and
		// growing it step by step was most of a 2-hop walk's time.
		hint := 0
		for _, n := range level {
			if out {
				hint += len(n.out)
			}
			if in {
				hint += len(n.in)
			}
		}
		nextLevel := make(map[*nodeRec]*edgeRec, min(hint, len(ts.nodes)))
		step := func(e *edgeRec, other *nodeRec) {
			if !edgeOK(e) || other.at(T) == nil {
				return
			}
			if via, ok := nextLevel[other]; !ok || e.id.less(via.id) {
				nextLevel[other] = e
			}
		}
		for _, n := range level {
			if out {
				for _, e := range n.out {
					step(e, e.to)
				}
			}
			if in {
				for _, e := range n.in {
					step(e, e.from)
				}
			}
		}
		last := k == q.Depth
		if !last {
			level = make([]*nodeRec, 0, len(nextLevel))
		}
		var found []reached
		if k >= q.MinDepth {
			found = make([]reached, 0, len(nextLevel))
		}
		for n, via := range nextLevel {
			if !last {
				level = append(level, n)
			}
			if k >= q.MinDepth && (len(reported) == 0 || !reported[n]) {
				found = append(found, reached{n, via})
			}
		}
		slices.SortFunc(found, func(a, b reached) int { return cmpID(a.n.id, b.n.id) })
		for _, f := range found {
			if !last { // a later level checks against it
				reported[f.n] = true
			}
			if pos.hasPos && (k < pos.depth || (k == pos.depth && !pos.id.less(f.n.id))) {
				continue
			}
			if len(res) == limit {
				tail := res[len(res)-1]
				next = &position{T: T, depth: resDepth[len(resDepth)-1], id: tail.n.id}
				break
			}
			res = append(res, f)
			resDepth = append(resDepth, k)
		}
		if next != nil {
			break
		}
	}
	nb := make([]telamentis.Neighbor, len(res))
	for i, r := range res {
		if q.IDsOnly { // identifiers only: no version is read or copied
			nb[i] = telamentis.Neighbor{
				Node:  telamentis.Node{ID: r.n.idStr},
				Depth: resDepth[i],
				Via:   telamentis.Edge{ID: r.via.id.String(), From: r.via.from.idStr, To: r.via.to.idStr},
			}
			continue
		}
		nb[i] = telamentis.Neighbor{
			Node:  toNode(r.n, r.n.at(T), vis),
			Depth: resDepth[i],
			Via:   toEdge(r.via, r.via.at(T), vis),
		}
	}
	return nb, next, nil
}
