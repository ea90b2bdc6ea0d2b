package badger

import (
	"context"
	"fmt"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/graph"
)

// wtx is one write of one tenant, run under the tenant's planMu: graph's
// planner reads the index through it (graph.Tx), and commit applies the
// plan. Nothing else of the tenant changes in between, since every write
// holds planMu.
type wtx struct {
	s  *Store
	ts *tenantState
	t  int64 // the transaction time, taken on first need
}

var _ graph.Tx = (*wtx)(nil)

// Now implements graph.Tx.
func (w *wtx) Now() int64 {
	if w.t == 0 {
		w.t = w.s.clock.Next(w.ts.id)
	}
	return w.t
}

// Node implements graph.Tx. Handle is the *nodeRec.
func (w *wtx) Node(ref telamentis.Ref) (graph.Node, bool, error) {
	var r *nodeRec
	if ref.ID != "" {
		if id, ok := telamentis.ParseID(ref.ID); ok {
			r = w.ts.nodes[id]
		}
	} else if r = w.ts.liveNodeAlias[ref.Alias]; r == nil {
		r = w.ts.liveRedirect(ref.Alias) // names.go
	}
	if r == nil {
		return graph.Node{}, false, nil
	}
	v := r.live()
	if v == nil {
		return graph.Node{}, false, nil
	}
	return graph.Node{ID: r.idStr, Alias: v.alias, Label: v.label, Props: v.props, TxStart: v.txStart, Handle: r}, true, nil
}

// Edge implements graph.Tx. Handle is the *edgeRec.
func (w *wtx) Edge(ref telamentis.Ref) (graph.Edge, bool, error) {
	var r *edgeRec
	if ref.ID != "" {
		if id, ok := telamentis.ParseID(ref.ID); ok {
			r = w.ts.edgeByID(id)
		}
	} else {
		r = w.ts.liveEdgeAlias[ref.Alias]
	}
	if r == nil || r.live() == nil {
		return graph.Edge{}, false, nil
	}
	return liveEdge(r), true, nil
}

func liveEdge(r *edgeRec) graph.Edge {
	v := r.live()
	return graph.Edge{ID: r.id.String(), Alias: v.alias, From: r.from.idStr, To: r.to.idStr, Kind: v.kind, Props: v.props,
		ValidFrom: v.vf, ValidTo: v.vt, TxStart: v.txStart, Handle: r}
}

// LiveEdges implements graph.Tx.
func (w *wtx) LiveEdges(n graph.Node) ([]graph.Edge, error) {
	r := n.Handle.(*nodeRec)
	var out []graph.Edge
	for _, e := range r.out {
		if e.live() != nil {
			out = append(out, liveEdge(e))
		}
	}
	for _, e := range r.in {
		if e.live() != nil && e.from != r { // a loop is in both lists
			out = append(out, liveEdge(e))
		}
	}
	return out, nil
}

// Counts implements graph.Tx.
func (w *wtx) Counts() (graph.Counts, error) {
	w.ts.mu.RLock()
	q := w.ts.rec.Quotas
	w.ts.mu.RUnlock()
	return graph.Counts{Nodes: w.ts.liveNodes, Edges: w.ts.liveEdges, MaxNodes: q.MaxNodes, MaxEdges: q.MaxEdges}, nil
}

// NewNode implements graph.Tx: a record not yet in the index.
func (w *wtx) NewNode() (graph.Node, error) {
	id, err := newID()
	if err != nil {
		return graph.Node{}, err
	}
	r := &nodeRec{id: id, idStr: id.String()}
	return graph.Node{ID: r.idStr, Handle: r}, nil
}

// NewEdge implements graph.Tx.
func (w *wtx) NewEdge(from, to graph.Node) (graph.Edge, error) {
	id, err := newID()
	if err != nil {
		return graph.Edge{}, err
	}
	r := newEdgeRec(id, from.Handle.(*nodeRec), to.Handle.(*nodeRec))
	return graph.Edge{ID: id.String(), From: from.ID, To: to.ID, Handle: r}, nil
}

// nodeRecOf returns the record a change is about.
func nodeRecOf(c *graph.NodeChange) *nodeRec {
	if c.Closes() {
		return c.Old.Handle.(*nodeRec)
	}
	return c.New.Handle.(*nodeRec)
}

func edgeRecOf(c *graph.EdgeChange) *edgeRec {
	if c.Closes() {
		return c.Old.Handle.(*edgeRec)
	}
	return c.New.Handle.(*edgeRec)
}

// commit turns the plan into Badger writes, applies it to the index
// (invisibly: its tx time is after the visible watermark), queues the
// commit, releases planMu and waits for durability. It always releases
// planMu.
func (w *wtx) commit(p *graph.Plan) error {
	ts := w.ts
	t := w.Now()
	kvs := make([]kv, 0, 2*(len(p.Nodes)+len(p.Edges)))
	var size int64
	put := func(k, v []byte) {
		kvs = append(kvs, kv{key: k, value: v})
		size += entrySize(k, v)
	}
	for i := range p.Nodes {
		c := &p.Nodes[i]
		r := nodeRecOf(c)
		if c.Closes() {
			closed := *r.live()
			closed.txEnd = t
			put(versionKey(ts.id, tagNode, r.id, closed.txStart), encodeNode(&closed))
		}
		if c.Opens() {
			v := newNodeVer(&c.New, t)
			put(versionKey(ts.id, tagNode, r.id, t), encodeNode(&v))
		}
	}
	for i := range p.Edges {
		c := &p.Edges[i]
		r := edgeRecOf(c)
		if c.Closes() {
			closed := *r.live()
			closed.txEnd = t
			put(versionKey(ts.id, tagEdge, r.id, closed.txStart), encodeEdge(r.from.id, r.to.id, &closed))
		}
		if c.Opens() {
			v := newEdgeVer(&c.New, t)
			put(versionKey(ts.id, tagEdge, r.id, t), encodeEdge(r.from.id, r.to.id, &v))
		}
	}
	opened, err := w.redirectKVs(p, t, put) // names.go
	if err != nil {
		ts.planMu.Unlock()
		return err
	}
	if !ts.h.fits(len(kvs), size) {
		ts.planMu.Unlock()
		return telamentis.Invalid("batch", "too large to commit atomically; split it")
	}
	if err := ts.h.usable(); err != nil {
		ts.planMu.Unlock()
		return err
	}
	ts.mu.Lock()
	evs := make([]event, 0, len(kvs))
	prop := w.NameProperty()
	for i := range p.Nodes {
		c := &p.Nodes[i]
		r := nodeRecOf(c)
		if c.Closes() {
			vi := len(r.vers) - 1
			base := &r.vers[vi]
			ts.indexNodeNames(r, base, nil, prop)
			base.txEnd = t
			evs = append(evs, event{t: t, n: r, vi: int32(vi), op: 0})
			if base.alias != "" && ts.liveNodeAlias[base.alias] == r {
				delete(ts.liveNodeAlias, base.alias)
			}
			ts.liveNodes--
		}
		if c.Opens() {
			v := newNodeVer(&c.New, t)
			ts.addNodeVersion(r, v, !c.Closes())
			ts.indexNodeNames(r, nil, &v, prop)
			evs = append(evs, event{t: t, n: r, vi: int32(len(r.vers) - 1), op: 1})
			if v.alias != "" {
				ts.liveNodeAlias[v.alias] = r
			}
			ts.liveNodes++
		}
	}
	for i := range p.Edges {
		c := &p.Edges[i]
		r := edgeRecOf(c)
		if c.Closes() {
			vi := len(r.vers) - 1
			base := &r.vers[vi]
			base.txEnd = t
			evs = append(evs, event{t: t, e: r, vi: int32(vi), op: 0})
			if base.alias != "" && ts.liveEdgeAlias[base.alias] == r {
				delete(ts.liveEdgeAlias, base.alias)
			}
			ts.liveEdges--
		}
		if c.Opens() {
			v := newEdgeVer(&c.New, t)
			ts.addEdgeVersion(r, v, !c.Closes())
			evs = append(evs, event{t: t, e: r, vi: int32(len(r.vers) - 1), op: 1})
			if v.alias != "" {
				ts.liveEdgeAlias[v.alias] = r
			}
			ts.liveEdges++
		}
		ts.refreshKinds(r)
	}
	w.indexRedirects(p, opened, t)
	ts.appendEvents(evs)
	ts.mu.Unlock()
	req, err := ts.h.submit(kvs, size, func() { ts.visible.Store(t) })
	ts.planMu.Unlock()
	if err != nil {
		return err
	}
	return <-req.done
}

func newNodeVer(n *graph.Node, t int64) nodeVer {
	return nodeVer{txStart: t, txEnd: open, label: n.Label, alias: n.Alias, props: n.Props}
}

func newEdgeVer(e *graph.Edge, t int64) edgeVer {
	return edgeVer{txStart: t, txEnd: open, vf: e.ValidFrom, vt: e.ValidTo, kind: e.Kind, alias: e.Alias, props: e.Props}
}

// run implements graph.Run: the planner's reads and the commit happen
// under the tenant's planMu.
func (s *Store) run(ctx context.Context, tenant string, plan func(graph.Tx) (graph.Plan, error)) error {
	ts, err := s.beginWrite(ctx, tenant)
	if err != nil {
		return err
	}
	w := &wtx{s: s, ts: ts}
	p, err := plan(w)
	if err != nil || p.Empty() {
		ts.planMu.Unlock()
		return err
	}
	return w.commit(&p)
}

// beginWrite locks tenant for planning a write.
func (s *Store) beginWrite(ctx context.Context, tenant string) (*tenantState, error) {
	ts, err := s.tenant(tenant)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ts.planMu.Lock()
	if ts.dropped {
		ts.planMu.Unlock()
		return nil, telamentis.NotFound("tenant")
	}
	if err := ts.h.usable(); err != nil {
		ts.planMu.Unlock()
		return nil, err
	}
	return ts, nil
}

func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*telamentis.Error); ok {
		return err
	}
	return fmt.Errorf("badger: %s: %w", op, err)
}

// fieldErr is an error of code naming one field.
func fieldErr(code telamentis.Code, field, msg string) *telamentis.Error {
	return &telamentis.Error{Code: code, Message: msg, Fields: []telamentis.FieldError{{Field: field, Message: msg}}}
}

// UpsertNode implements telamentis.Store; graph plans it.
func (s *Store) UpsertNode(ctx context.Context, tenant string, in telamentis.NodeInput) (telamentis.NodeResult, error) {
	res, err := graph.UpsertNode(ctx, s.run, tenant, in)
	return res, wrapErr("upsert node", err)
}

// UpsertEdge implements telamentis.Store; graph plans it.
func (s *Store) UpsertEdge(ctx context.Context, tenant string, in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	res, err := graph.UpsertEdge(ctx, s.run, tenant, in)
	return res, wrapErr("upsert edge", err)
}

// ApplyBatch implements telamentis.Store; graph plans it.
func (s *Store) ApplyBatch(ctx context.Context, tenant string, b telamentis.Batch) (telamentis.BatchResult, error) {
	res, err := graph.ApplyBatch(ctx, s.run, tenant, b)
	return res, wrapErr("apply batch", err)
}

// InvalidateEdge implements telamentis.Store; graph plans it.
func (s *Store) InvalidateEdge(ctx context.Context, tenant string, ref telamentis.Ref, at time.Time) (telamentis.EdgeResult, error) {
	res, err := graph.InvalidateEdge(ctx, s.run, tenant, ref, at)
	return res, wrapErr("invalidate edge", err)
}

// RetractNode implements telamentis.Store; graph plans it.
func (s *Store) RetractNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	res, err := graph.RetractNode(ctx, s.run, tenant, ref)
	return res, wrapErr("retract node", err)
}

// RetractEdge implements telamentis.Store; graph plans it.
func (s *Store) RetractEdge(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	res, err := graph.RetractEdge(ctx, s.run, tenant, ref)
	return res, wrapErr("retract edge", err)
}

// EraseNode implements telamentis.Store. It deletes every version key of
// the node and of every edge touching it in one commit, then drops them
// from the index; Compact makes the deletion physical in the files.
func (s *Store) EraseNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.EraseResult, error) {
	if err := graph.CheckRef(ref); err != nil {
		return telamentis.EraseResult{}, err
	}
	ts, err := s.beginWrite(ctx, tenant)
	if err != nil {
		return telamentis.EraseResult{}, err
	}
	defer ts.planMu.Unlock()
	if err := ts.h.barrier(); err != nil {
		return telamentis.EraseResult{}, wrapErr("erase node", err)
	}
	var rec *nodeRec
	if ref.ID != "" {
		if id, err := parseID(ref.ID); err == nil {
			rec = ts.nodes[id]
		}
	} else {
		// An alias names the live node that has it, or that a live
		// redirect of it names; a retracted node is erased by ID.
		if rec = ts.liveNodeAlias[ref.Alias]; rec == nil {
			rec = ts.liveRedirect(ref.Alias)
		}
	}
	if rec == nil {
		return telamentis.EraseResult{}, telamentis.NotFound("node")
	}
	var kvs []kv
	var size int64
	del := func(k []byte) {
		kvs = append(kvs, kv{key: k})
		size += entrySize(k, nil)
	}
	res := telamentis.EraseResult{Nodes: 1}
	for i := range rec.vers {
		del(versionKey(ts.id, tagNode, rec.id, rec.vers[i].txStart))
		res.Versions++
	}
	edges := map[*edgeRec]bool{}
	for _, l := range [][]*edgeRec{rec.out, rec.in} {
		for _, e := range l {
			if edges[e] {
				continue
			}
			edges[e] = true
			res.Edges++
			for i := range e.vers {
				del(versionKey(ts.id, tagEdge, e.id, e.vers[i].txStart))
				res.Versions++
			}
		}
	}
	rkeys, dropRedirects := ts.eraseRedirects(rec) // names.go
	for _, k := range rkeys {
		del(k)
	}
	if !ts.h.fits(len(kvs), size) {
		return telamentis.EraseResult{}, telamentis.Errorf(telamentis.CodeInvalid, "node has too many versions and edges to erase atomically")
	}
	req, err := ts.h.submit(kvs, size, nil)
	if err != nil {
		return telamentis.EraseResult{}, wrapErr("erase node", err)
	}
	if err := <-req.done; err != nil {
		return telamentis.EraseResult{}, wrapErr("erase node", err)
	}
	ts.h.dirty.Store(true)
	ts.mu.Lock()
	ts.removeEdges(edges)
	ts.removeNode(rec)
	dropRedirects()
	ts.dropEvents(map[*nodeRec]bool{rec: true}, edges)
	ts.mu.Unlock()
	return res, nil
}
