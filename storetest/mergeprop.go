package storetest

import (
	"fmt"
	"slices"

	"pgregory.net/rapid"

	"github.com/telamentis/telamentis"
)

// The property test's operations of entity resolution and merges
// (property.go runs them among the others, against mergemodel.go).

// Names whose normalised forms meet (Ann Lee ×3, Bo Chen ×2) or meet an
// alias of nodeAliases (N1).
var resolveNames = []string{"Ann Lee", "ann  lee", "ÁNN LEE", "Bo Chen", "Bö-Chen", "N1", "n 2"}

func drawNormalizedIn(t *rapid.T, label string) nodeIn {
	in := nodeIn{
		Alias: rapid.SampledFrom(append([]string{""}, nodeAliases...)).Draw(t, label+" alias"),
		Label: rapid.SampledFrom(labels).Draw(t, label+" label"),
		Props: fmt.Sprintf(`{"name":%q}`, rapid.SampledFrom(resolveNames).Draw(t, label+" name")),
	}
	if rapid.Bool().Draw(t, label+" more props") {
		in.Props = fmt.Sprintf(`{"a":%d,"name":%q}`, rapid.IntRange(1, 2).Draw(t, label+" a"), rapid.SampledFrom(resolveNames).Draw(t, label+" name2"))
	}
	c, _ := telamentis.CanonicalProps([]byte(in.Props))
	in.Props = string(c)
	return in
}

func (in nodeIn) normalized() telamentis.NodeInput {
	out := in.input()
	out.Resolve = telamentis.ResolveNormalized
	return out
}

// stepNormalized upserts one to three nodes with resolve normalized in a
// batch (whose result carries the write's transaction time also when it
// only gave an extra alias) and checks what they matched. An item that
// would change a node an item before it changed is left out: the model
// appends a version per change (storetest's semantics tests cover
// resolution inside a batch).
func (p *prop) stepNormalized() {
	t := p.t
	sm := newSim(p.m)
	var ins []nodeIn
	var exps []expect
	var wants []resolved
	var snaps []mNode
	var b telamentis.Batch
	touched := map[string]bool{}
	for range rapid.IntRange(1, 3).Draw(t, "normalized items") {
		in := drawNormalizedIn(t, "normalized node")
		try := &sim{m: sm.m.clone(), newIDs: sm.newIDs, codes: slices.Clone(sm.codes), wrote: sm.wrote}
		e, r := try.nodeNormalized(in)
		if e.ok && (e.created || e.changed) {
			if touched[e.id] {
				continue
			}
			touched[e.id] = true
		}
		sm = try
		var snap mNode
		if e.ok {
			snap = sm.m.nodes[sm.m.liveNode(byID(e.id))]
		}
		ins, exps, wants, snaps = append(ins, in), append(exps, e), append(wants, r), append(snaps, snap)
		b.Nodes = append(b.Nodes, in.normalized())
	}
	p.log("batch normalized %+v", ins)
	res, err := p.s.ApplyBatch(t.Context(), p.tenant, b)
	if !p.outcome(sm, err, "upsert normalized") {
		return
	}
	ids := map[string]string{}
	for i, e := range exps {
		r := res.Nodes[i]
		if r.Created != e.created || !e.created && r.Changed != e.changed {
			p.fail("upsert reports created/changed", "normalized item %d %+v: created=%v changed=%v, want %v/%v", i, ins[i], r.Created, r.Changed, e.created, e.changed)
		}
		if got := r.Resolved == telamentis.ResolveNormalized; got != wants[i].byName {
			p.fail("resolve normalized attaches to the one node of the label whose normalised name or alias matches",
				"item %d %+v: resolved=%q, want by name=%v", i, ins[i], r.Resolved, wants[i].byName)
		}
		if e.created {
			if !telamentis.ValidID(r.Node.ID) || slices.Contains(p.nodeID, r.Node.ID) {
				p.fail("a created node gets a new UUID", "normalized item %d: id %q", i, r.Node.ID)
			}
			ids[e.id] = r.Node.ID
			p.nodeID = append(p.nodeID, r.Node.ID)
		}
	}
	for i, w := range wants {
		want := make([]string, len(w.candidates))
		for k, c := range w.candidates {
			want[k] = sub(ids, c)
		}
		slices.Sort(want)
		if len(want)+len(res.Nodes[i].Candidates) > 0 && !slices.Equal(res.Nodes[i].Candidates, want) {
			p.fail("two or more matches are reported as candidates, and the upsert attaches to none",
				"item %d %+v: candidates %q, want %q", i, ins[i], res.Nodes[i].Candidates, want)
		}
	}
	var tx int64
	if sm.wrote {
		tx = p.written(res.TxTime, "upsert normalized")
	}
	p.m = sm.commit(tx, ids, nil)
	for i, snap := range snaps {
		snap.ID = sub(ids, snap.ID)
		if snap.TxStart == pendingTx {
			snap.TxStart = tx
		}
		if g, w := nodeKey(res.Nodes[i].Node), nodeKey(toNode(snap)); g != w {
			p.fail("upsert returns the node's version after the item", "normalized item %d %+v:\n got  %s\n want %s", i, ins[i], g, w)
		}
	}
}

// stepMerge merges two nodes and checks the result against the model.
func (p *prop) stepMerge() {
	t := p.t
	ctx := t.Context()
	ref, into := p.drawNodeRef("merge"), p.drawNodeRef("merge into")
	p.log("merge %v into %v", ref, into)
	sm := newSim(p.m)
	want, _ := sm.merge(ref, into)
	res, err := p.s.MergeNode(ctx, p.tenant, ref, into)
	if !p.outcome(sm, err, "merge") {
		return
	}
	if res.Merged != want.merged || res.Node.ID != want.target {
		p.fail("merge closes the source and reports the target", "merged %s into %s, want %s into %s", res.Merged, res.Node.ID, want.merged, want.target)
	}
	if !slices.Equal(res.Dropped, want.dropped) || !slices.Equal(res.Aliases, want.aliases) || len(res.Moved) != len(want.moved) {
		p.fail("merge moves the source's edges (but those between the two and duplicates) and its aliases to the target",
			"result moved %v dropped %q aliases %q, want moved %v dropped %q aliases %q", res.Moved, res.Dropped, res.Aliases, want.moved, want.dropped, want.aliases)
	}
	ids := map[string]string{}
	for i, m := range res.Moved {
		if m.ID != want.moved[i].ID || !telamentis.ValidID(m.NewID) || slices.Contains(p.edgeID, m.NewID) {
			p.fail("a moved edge is continued by a new edge with a new UUID", "moved %v, want %v", res.Moved, want.moved)
		}
		ids[want.moved[i].NewID] = m.NewID
		p.edgeID = append(p.edgeID, m.NewID)
	}
	p.m = sm.commit(p.written(res.TxTime, "merge"), ids, nil)
	if g, w := nodeKey(res.Node), nodeKey(toNode(p.m.nodes[p.m.liveNode(byID(want.target))])); g != w {
		p.fail("merge leaves the target as it was", "got %s, want %s", g, w)
	}
}
