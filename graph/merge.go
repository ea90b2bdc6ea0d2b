package graph

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/telamentis/telamentis"
)

// MergeNode implements telamentis.Store.MergeNode over run: it merges the
// live node ref (the source) into the live node into (the target), in one
// write at one transaction time t:
//
//   - the source's live version is closed at t, with no successor; its
//     history stays readable by ID, and as_at before t shows both nodes;
//   - each live edge of the source is closed at t and, unless it is
//     dropped, a new edge (new ID, same alias, kind, props and valid
//     time) is opened with the target in the source's place: an edge's
//     endpoints never change, so the history of the old edge still shows
//     it on the source. Dropped are the edges between the source and the
//     target (they would become loops that only the duplication made),
//     and the edges without an alias that are identical to a live edge of
//     the target (same direction, other end, kind, props and valid time)
//     or to one moved before them;
//   - the source's alias, and the aliases of the live redirects to the
//     source, redirect to the target from t on (see Redirect): the old
//     redirects are closed and new ones opened;
//   - the target does not change: the merge does not guess which of two
//     props documents is right (upsert the target to change it).
//
// Errors: ref and into malformed (invalid, fields "ref…" and "into…");
// the same reference twice, or two that name the same node (invalid,
// field "into": "must name another node"); a missing node (not_found,
// field "ref" and/or "into"). A merge creates no record, so quotas do not
// apply.
func MergeNode(ctx context.Context, run Run, tenant string, ref, into telamentis.Ref) (telamentis.MergeResult, error) {
	var f fieldList
	f.addErr(ref.Validate("ref"))
	f.addErr(into.Validate("into"))
	if len(f) > 0 {
		return telamentis.MergeResult{}, f.invalid()
	}
	if ref == into {
		return telamentis.MergeResult{}, sameNodeMerge()
	}
	var res telamentis.MergeResult
	err := run(ctx, tenant, func(tx Tx) (Plan, error) {
		p := newPlanner(tx)
		r, err := p.merge(ref, into)
		if err != nil {
			return Plan{}, err
		}
		res = r
		return p.finish()
	})
	if err != nil {
		return telamentis.MergeResult{}, err
	}
	return res, nil
}

func sameNodeMerge() *telamentis.Error { return telamentis.Invalid("into", "must name another node") }

// fact is an edge as seen from the target after a merge: what makes two
// edges the same fact.
type fact struct {
	out                bool
	other, kind, props string
	vf, vt             int64
}

func factOf(e *Edge, target string) fact {
	f := fact{out: e.From == target, other: e.To, kind: e.Kind, props: e.Props, vf: e.ValidFrom, vt: e.ValidTo}
	if !f.out {
		f.other = e.From
	}
	return f
}

// merge plans merging the live node ref into the live node into.
func (p *planner) merge(ref, into telamentis.Ref) (telamentis.MergeResult, error) {
	src, si, okS, err := p.node(ref)
	if err != nil {
		return telamentis.MergeResult{}, err
	}
	dst, di, okD, err := p.node(into)
	if err != nil {
		return telamentis.MergeResult{}, err
	}
	var missing []telamentis.FieldError
	if !okS {
		missing = append(missing, telamentis.FieldError{Field: "ref", Message: "node not found"})
	}
	if !okD {
		missing = append(missing, telamentis.FieldError{Field: "into", Message: "node not found"})
	}
	if len(missing) > 0 {
		return telamentis.MergeResult{}, &telamentis.Error{Code: telamentis.CodeNotFound, Message: "node not found", Fields: missing}
	}
	if src.ID == dst.ID {
		return telamentis.MergeResult{}, sameNodeMerge()
	}
	edges, err := p.tx.LiveEdges(src)
	if err != nil {
		return telamentis.MergeResult{}, err
	}
	kept, err := p.tx.LiveEdges(dst)
	if err != nil {
		return telamentis.MergeResult{}, err
	}
	redirects, err := p.tx.Redirects(src)
	if err != nil {
		return telamentis.MergeResult{}, err
	}
	now := p.tx.Now()
	res := telamentis.MergeResult{TxTime: telamentis.FromMicros(now), Node: nodeOut(&dst, json.RawMessage(dst.Props)), Merged: src.ID,
		Moved: []telamentis.MovedEdge{}, Dropped: []string{}, Aliases: []string{}}
	p.setNode(src, Node{}, si)

	have := make(map[fact]bool, len(kept))
	for i := range kept {
		have[factOf(&kept[i], dst.ID)] = true
	}
	// Edges in ID order, so that which of two identical edges moves does
	// not depend on the store's order.
	slices.SortFunc(edges, func(a, b Edge) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for _, e := range edges {
		p.setEdge(e, Edge{}, -1)
		if e.From == dst.ID || e.To == dst.ID {
			res.Dropped = append(res.Dropped, e.ID)
			continue
		}
		moved := e
		from, to := dst, dst
		if e.From != src.ID {
			if from, _, _, err = p.node(telamentis.Ref{ID: e.From}); err != nil {
				return telamentis.MergeResult{}, err
			}
		}
		if e.To != src.ID {
			if to, _, _, err = p.node(telamentis.Ref{ID: e.To}); err != nil {
				return telamentis.MergeResult{}, err
			}
		}
		moved.From, moved.To = from.ID, to.ID
		f := factOf(&moved, dst.ID)
		if e.Alias == "" && have[f] {
			res.Dropped = append(res.Dropped, e.ID)
			continue
		}
		have[f] = true
		ne, err := p.tx.NewEdge(from, to)
		if err != nil {
			return telamentis.MergeResult{}, err
		}
		ne.Alias, ne.Kind, ne.Props, ne.ValidFrom, ne.ValidTo, ne.TxStart = e.Alias, e.Kind, e.Props, e.ValidFrom, e.ValidTo, now
		p.setEdge(Edge{}, ne, -1)
		res.Moved = append(res.Moved, telamentis.MovedEdge{ID: e.ID, NewID: ne.ID})
	}

	for _, r := range redirects {
		p.addRedirect(r, r.Alias, dst, di, r.Source)
		res.Aliases = append(res.Aliases, r.Alias)
	}
	if src.Alias != "" && !slices.Contains(res.Aliases, src.Alias) {
		p.addRedirect(Redirect{}, src.Alias, dst, di, src.ID)
		res.Aliases = append(res.Aliases, src.Alias)
	}
	slices.Sort(res.Aliases)
	return res, nil
}
