package badger

import (
	"context"
	"fmt"
	"time"

	"github.com/telamentis/telamentis"
)

// stagedNode is a node as a write being planned sees it.
type stagedNode struct {
	rec     *nodeRec
	isNew   bool
	baseIdx int     // index of the live version before the write, -1 if none
	cur     nodeVer // content after the write (meaningful when live)
	live    bool
}

type stagedEdge struct {
	rec     *edgeRec
	isNew   bool
	baseIdx int
	cur     edgeVer
	live    bool
}

// stage plans one write (a single upsert, a batch, an invalidation or a
// retraction) against a tenant's live state without changing it. The
// caller holds the tenant's planMu.
type stage struct {
	s  *Store
	ts *tenantState
	t  int64 // the transaction time, taken on first need

	nodes     map[*nodeRec]*stagedNode
	nodeOrder []*stagedNode
	newNodes  map[id16]*nodeRec
	nodeAlias map[string]*nodeRec // overrides of ts.liveNodeAlias; nil = freed

	edges     map[*edgeRec]*stagedEdge
	edgeOrder []*stagedEdge
	newEdges  map[id16]*edgeRec
	edgeAlias map[string]*edgeRec

	created, createdEdges int
}

func newStage(s *Store, ts *tenantState) *stage {
	return &stage{
		s: s, ts: ts,
		nodes: map[*nodeRec]*stagedNode{}, newNodes: map[id16]*nodeRec{}, nodeAlias: map[string]*nodeRec{},
		edges: map[*edgeRec]*stagedEdge{}, newEdges: map[id16]*edgeRec{}, edgeAlias: map[string]*edgeRec{},
	}
}

func (st *stage) tx() int64 {
	if st.t == 0 {
		st.t = st.s.clock.Next(st.ts.id)
	}
	return st.t
}

func fieldErr(code telamentis.Code, field, msg string) *telamentis.Error {
	return &telamentis.Error{Code: code, Message: msg, Fields: []telamentis.FieldError{{Field: field, Message: msg}}}
}

// node returns the staged view of rec, creating it on first use.
func (st *stage) node(rec *nodeRec) *stagedNode {
	if sn := st.nodes[rec]; sn != nil {
		return sn
	}
	sn := &stagedNode{rec: rec, baseIdx: -1}
	if v := rec.live(); v != nil {
		sn.baseIdx = len(rec.vers) - 1
		sn.cur = *v
		sn.live = true
	}
	st.nodes[rec] = sn
	st.nodeOrder = append(st.nodeOrder, sn)
	return sn
}

func (st *stage) edge(rec *edgeRec) *stagedEdge {
	if se := st.edges[rec]; se != nil {
		return se
	}
	se := &stagedEdge{rec: rec, baseIdx: -1}
	if v := rec.live(); v != nil {
		se.baseIdx = len(rec.vers) - 1
		se.cur = *v
		se.live = true
	}
	st.edges[rec] = se
	st.edgeOrder = append(st.edgeOrder, se)
	return se
}

func (st *stage) nodeLive(rec *nodeRec) bool {
	if sn := st.nodes[rec]; sn != nil {
		return sn.live
	}
	return rec.live() != nil
}

func (st *stage) edgeLive(rec *edgeRec) bool {
	if se := st.edges[rec]; se != nil {
		return se.live
	}
	return rec.live() != nil
}

func (st *stage) nodeByID(s string) *nodeRec {
	id, err := parseID(s)
	if err != nil {
		return nil
	}
	if r := st.ts.nodes[id]; r != nil {
		return r
	}
	return st.newNodes[id]
}

func (st *stage) edgeByID(s string) *edgeRec {
	id, err := parseID(s)
	if err != nil {
		return nil
	}
	if r := st.ts.edgeByID(id); r != nil {
		return r
	}
	return st.newEdges[id]
}

func (st *stage) nodeByAlias(a string) *nodeRec {
	if r, ok := st.nodeAlias[a]; ok {
		return r
	}
	return st.ts.liveNodeAlias[a]
}

func (st *stage) edgeByAlias(a string) *edgeRec {
	if r, ok := st.edgeAlias[a]; ok {
		return r
	}
	return st.ts.liveEdgeAlias[a]
}

// liveNodeRef resolves a reference to a live node of the staged state.
func (st *stage) liveNodeRef(r telamentis.Ref) *nodeRec {
	var rec *nodeRec
	if r.ID != "" {
		rec = st.nodeByID(r.ID)
	} else {
		rec = st.nodeByAlias(r.Alias)
	}
	if rec == nil || !st.nodeLive(rec) {
		return nil
	}
	return rec
}

func (st *stage) liveEdgeRef(r telamentis.Ref) *edgeRec {
	var rec *edgeRec
	if r.ID != "" {
		rec = st.edgeByID(r.ID)
	} else {
		rec = st.edgeByAlias(r.Alias)
	}
	if rec == nil || !st.edgeLive(rec) {
		return nil
	}
	return rec
}

// nodeView returns the node as the result of a write reports it.
func (st *stage) nodeView(sn *stagedNode) telamentis.Node {
	if !sn.isNew && sn.baseIdx >= 0 && sameNode(&sn.cur, &sn.rec.vers[sn.baseIdx]) {
		return toNode(sn.rec, &sn.rec.vers[sn.baseIdx], open)
	}
	v := sn.cur
	v.txStart, v.txEnd = st.tx(), open
	return toNode(sn.rec, &v, open)
}

func (st *stage) edgeView(se *stagedEdge) telamentis.Edge {
	if !se.isNew && se.baseIdx >= 0 && se.live && sameEdge(&se.cur, &se.rec.vers[se.baseIdx]) {
		return toEdge(se.rec, &se.rec.vers[se.baseIdx], open)
	}
	v := se.cur
	v.txStart, v.txEnd = st.tx(), open
	if !se.live && se.baseIdx >= 0 {
		v = se.rec.vers[se.baseIdx]
		v.txEnd = st.tx()
	}
	return toEdge(se.rec, &v, open)
}

func sameNode(a, b *nodeVer) bool {
	return a.label == b.label && a.alias == b.alias && a.props == b.props
}

func sameEdge(a, b *edgeVer) bool {
	return a.kind == b.kind && a.alias == b.alias && a.props == b.props && a.vf == b.vf && a.vt == b.vt
}

// upsertNode stages a normalised node upsert. Errors name fields relative
// to the item.
func (st *stage) upsertNode(in telamentis.NodeInput) (telamentis.NodeResult, error) {
	var rec *nodeRec
	switch {
	case in.ID != "":
		rec = st.nodeByID(in.ID)
		if rec == nil || !st.nodeLive(rec) {
			return telamentis.NodeResult{}, fieldErr(telamentis.CodeNotFound, "id", "node not found")
		}
	case in.Alias != "":
		rec = st.nodeByAlias(in.Alias)
	}
	if rec == nil {
		id, err := newID()
		if err != nil {
			return telamentis.NodeResult{}, err
		}
		rec = &nodeRec{id: id, idStr: id.String()}
		sn := &stagedNode{rec: rec, isNew: true, baseIdx: -1, live: true,
			cur: nodeVer{label: in.Label, alias: in.Alias, props: string(in.Props)}}
		st.nodes[rec] = sn
		st.nodeOrder = append(st.nodeOrder, sn)
		st.newNodes[id] = rec
		if in.Alias != "" {
			st.nodeAlias[in.Alias] = rec
		}
		st.created++
		return telamentis.NodeResult{Node: st.nodeView(sn), Created: true, Changed: true}, nil
	}
	sn := st.node(rec)
	alias := in.Alias
	if alias == "" {
		alias = sn.cur.alias
	}
	if alias != sn.cur.alias {
		if other := st.nodeByAlias(alias); other != nil && other != rec {
			return telamentis.NodeResult{}, fieldErr(telamentis.CodeConflict, "alias", "alias belongs to another live node")
		}
	}
	next := nodeVer{label: in.Label, alias: alias, props: string(in.Props)}
	if sameNode(&next, &sn.cur) {
		return telamentis.NodeResult{Node: st.nodeView(sn)}, nil
	}
	if alias != sn.cur.alias {
		if sn.cur.alias != "" {
			st.nodeAlias[sn.cur.alias] = nil
		}
		st.nodeAlias[alias] = rec
	}
	sn.cur = next
	return telamentis.NodeResult{Node: st.nodeView(sn), Changed: true}, nil
}

// upsertEdge stages a normalised edge upsert.
func (st *stage) upsertEdge(in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	var errs []telamentis.FieldError
	from := st.liveNodeRef(in.From)
	if from == nil {
		errs = append(errs, telamentis.FieldError{Field: "from", Message: "node not found"})
	}
	to := st.liveNodeRef(in.To)
	if to == nil {
		errs = append(errs, telamentis.FieldError{Field: "to", Message: "node not found"})
	}
	var rec *edgeRec
	switch {
	case in.ID != "":
		rec = st.edgeByID(in.ID)
		if rec == nil || !st.edgeLive(rec) {
			errs = append(errs, telamentis.FieldError{Field: "id", Message: "edge not found"})
		}
	case in.Alias != "":
		rec = st.edgeByAlias(in.Alias)
	}
	if len(errs) > 0 {
		return telamentis.EdgeResult{}, &telamentis.Error{Code: telamentis.CodeNotFound, Message: errs[0].Message, Fields: errs}
	}
	vt := telamentis.Micros(in.ValidTo)
	if rec == nil {
		vf := telamentis.Micros(in.ValidFrom)
		if in.ValidFrom.IsZero() {
			vf = st.tx()
		}
		if vt <= vf {
			return telamentis.EdgeResult{}, fieldErr(telamentis.CodeInvalid, "valid_to", "must be after valid_from")
		}
		id, err := newID()
		if err != nil {
			return telamentis.EdgeResult{}, err
		}
		rec = newEdgeRec(id, from, to)
		se := &stagedEdge{rec: rec, isNew: true, baseIdx: -1, live: true,
			cur: edgeVer{vf: vf, vt: vt, kind: in.Kind, alias: in.Alias, props: string(in.Props)}}
		st.edges[rec] = se
		st.edgeOrder = append(st.edgeOrder, se)
		st.newEdges[id] = rec
		if in.Alias != "" {
			st.edgeAlias[in.Alias] = rec
		}
		st.createdEdges++
		return telamentis.EdgeResult{Edge: st.edgeView(se), Created: true, Changed: true}, nil
	}
	if rec.from != from {
		return telamentis.EdgeResult{}, fieldErr(telamentis.CodeInvalid, "from", "cannot change the endpoints of an edge")
	}
	if rec.to != to {
		return telamentis.EdgeResult{}, fieldErr(telamentis.CodeInvalid, "to", "cannot change the endpoints of an edge")
	}
	se := st.edge(rec)
	vf := se.cur.vf
	if !in.ValidFrom.IsZero() {
		vf = telamentis.Micros(in.ValidFrom)
	}
	if vt <= vf {
		return telamentis.EdgeResult{}, fieldErr(telamentis.CodeInvalid, "valid_to", "must be after valid_from")
	}
	alias := in.Alias
	if alias == "" {
		alias = se.cur.alias
	}
	if alias != se.cur.alias {
		if other := st.edgeByAlias(alias); other != nil && other != rec {
			return telamentis.EdgeResult{}, fieldErr(telamentis.CodeConflict, "alias", "alias belongs to another live edge")
		}
	}
	next := edgeVer{vf: vf, vt: vt, kind: in.Kind, alias: alias, props: string(in.Props)}
	if sameEdge(&next, &se.cur) {
		return telamentis.EdgeResult{Edge: st.edgeView(se)}, nil
	}
	if alias != se.cur.alias {
		if se.cur.alias != "" {
			st.edgeAlias[se.cur.alias] = nil
		}
		st.edgeAlias[alias] = rec
	}
	se.cur = next
	return telamentis.EdgeResult{Edge: st.edgeView(se), Changed: true}, nil
}

// retractNode stages the retraction of a live node and its live edges.
func (st *stage) retractNode(rec *nodeRec) (nodes, edges int) {
	sn := st.node(rec)
	sn.live = false
	if sn.cur.alias != "" {
		st.nodeAlias[sn.cur.alias] = nil
	}
	for _, l := range [][]*edgeRec{rec.out, rec.in} {
		for _, e := range l {
			if st.edgeLive(e) {
				st.retractEdge(e)
				edges++
			}
		}
	}
	return 1, edges
}

func (st *stage) retractEdge(rec *edgeRec) {
	se := st.edge(rec)
	se.live = false
	if se.cur.alias != "" {
		st.edgeAlias[se.cur.alias] = nil
	}
}

// quota checks MaxNodes and MaxEdges for the records the stage creates.
func (st *stage) quota() error {
	st.ts.mu.RLock()
	q := st.ts.rec.Quotas
	st.ts.mu.RUnlock()
	if st.created > 0 && q.MaxNodes > 0 && st.ts.liveNodes+int64(st.created) > q.MaxNodes {
		return telamentis.Errorf(telamentis.CodeQuota, "tenant node quota of %d reached", q.MaxNodes)
	}
	if st.createdEdges > 0 && q.MaxEdges > 0 && st.ts.liveEdges+int64(st.createdEdges) > q.MaxEdges {
		return telamentis.Errorf(telamentis.CodeQuota, "tenant edge quota of %d reached", q.MaxEdges)
	}
	return nil
}

// commit turns the stage into Badger writes, applies it to the index
// (invisibly: its tx time is after the visible watermark), queues the
// commit, releases planMu and waits for durability. It always releases
// planMu.
func (st *stage) commit() error {
	ts := st.ts
	if err := st.quota(); err != nil {
		ts.planMu.Unlock()
		return err
	}
	t := st.tx()
	var kvs []kv
	var size int64
	put := func(k, v []byte) {
		kvs = append(kvs, kv{key: k, value: v})
		size += entrySize(k, v)
	}
	type nodeChange struct {
		sn    *stagedNode
		close bool
	}
	var nch []nodeChange
	for _, sn := range st.nodeOrder {
		closeBase := false
		if !sn.isNew {
			base := &sn.rec.vers[sn.baseIdx]
			if sn.live && sameNode(&sn.cur, base) {
				continue
			}
			closed := *base
			closed.txEnd = t
			put(versionKey(ts.id, tagNode, sn.rec.id, closed.txStart), encodeNode(&closed))
			closeBase = true
		}
		if sn.live {
			v := sn.cur
			v.txStart, v.txEnd = t, open
			put(versionKey(ts.id, tagNode, sn.rec.id, t), encodeNode(&v))
		}
		nch = append(nch, nodeChange{sn, closeBase})
	}
	type edgeChange struct {
		se    *stagedEdge
		close bool
	}
	var ech []edgeChange
	for _, se := range st.edgeOrder {
		closeBase := false
		if !se.isNew {
			base := &se.rec.vers[se.baseIdx]
			if se.live && sameEdge(&se.cur, base) {
				continue
			}
			closed := *base
			closed.txEnd = t
			put(versionKey(ts.id, tagEdge, se.rec.id, closed.txStart), encodeEdge(se.rec.from.id, se.rec.to.id, &closed))
			closeBase = true
		}
		if se.live {
			v := se.cur
			v.txStart, v.txEnd = t, open
			put(versionKey(ts.id, tagEdge, se.rec.id, t), encodeEdge(se.rec.from.id, se.rec.to.id, &v))
		}
		ech = append(ech, edgeChange{se, closeBase})
	}
	if len(kvs) == 0 {
		ts.planMu.Unlock()
		return nil
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
	var evs []event
	for _, c := range nch {
		r := c.sn.rec
		if c.close {
			base := &r.vers[c.sn.baseIdx]
			base.txEnd = t
			evs = append(evs, event{t: t, n: r, vi: int32(c.sn.baseIdx), op: 0})
			if base.alias != "" && ts.liveNodeAlias[base.alias] == r {
				delete(ts.liveNodeAlias, base.alias)
			}
			ts.liveNodes--
		}
		if c.sn.live {
			v := c.sn.cur
			v.txStart, v.txEnd = t, open
			ts.addNodeVersion(r, v, c.sn.isNew)
			evs = append(evs, event{t: t, n: r, vi: int32(len(r.vers) - 1), op: 1})
			if v.alias != "" {
				ts.liveNodeAlias[v.alias] = r
			}
			ts.liveNodes++
		}
	}
	for _, c := range ech {
		r := c.se.rec
		if c.close {
			base := &r.vers[c.se.baseIdx]
			base.txEnd = t
			evs = append(evs, event{t: t, e: r, vi: int32(c.se.baseIdx), op: 0})
			if base.alias != "" && ts.liveEdgeAlias[base.alias] == r {
				delete(ts.liveEdgeAlias, base.alias)
			}
			ts.liveEdges--
		}
		if c.se.live {
			v := c.se.cur
			v.txStart, v.txEnd = t, open
			ts.addEdgeVersion(r, v, c.se.isNew)
			evs = append(evs, event{t: t, e: r, vi: int32(len(r.vers) - 1), op: 1})
			if v.alias != "" {
				ts.liveEdgeAlias[v.alias] = r
			}
			ts.liveEdges++
		}
		ts.refreshKinds(r)
	}
	ts.appendEvents(evs)
	ts.mu.Unlock()
	req, err := ts.h.submit(kvs, size, func() { ts.visible.Store(t) })
	ts.planMu.Unlock()
	if err != nil {
		return err
	}
	return <-req.done
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

// UpsertNode implements telamentis.Store.
func (s *Store) UpsertNode(ctx context.Context, tenant string, in telamentis.NodeInput) (telamentis.NodeResult, error) {
	in, err := in.Normalize()
	if err != nil {
		return telamentis.NodeResult{}, err
	}
	ts, err := s.beginWrite(ctx, tenant)
	if err != nil {
		return telamentis.NodeResult{}, err
	}
	st := newStage(s, ts)
	res, err := st.upsertNode(in)
	if err != nil || !res.Changed {
		ts.planMu.Unlock()
		return res, wrapErr("upsert node", err)
	}
	return res, wrapErr("upsert node", st.commit())
}

// UpsertEdge implements telamentis.Store.
func (s *Store) UpsertEdge(ctx context.Context, tenant string, in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	in, err := in.Normalize()
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	ts, err := s.beginWrite(ctx, tenant)
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	st := newStage(s, ts)
	res, err := st.upsertEdge(in)
	if err != nil || !res.Changed {
		ts.planMu.Unlock()
		return res, wrapErr("upsert edge", err)
	}
	return res, wrapErr("upsert edge", st.commit())
}

// ApplyBatch implements telamentis.Store.
func (s *Store) ApplyBatch(ctx context.Context, tenant string, b telamentis.Batch) (telamentis.BatchResult, error) {
	b, err := b.Normalize()
	if err != nil {
		return telamentis.BatchResult{}, err
	}
	ts, err := s.beginWrite(ctx, tenant)
	if err != nil {
		return telamentis.BatchResult{}, err
	}
	st := newStage(s, ts)
	res := telamentis.BatchResult{
		Nodes: make([]telamentis.NodeResult, len(b.Nodes)),
		Edges: make([]telamentis.EdgeResult, len(b.Edges)),
	}
	var bad []telamentis.FieldError
	var code telamentis.Code
	fail := func(prefix string, err error) {
		if code == "" {
			code = telamentis.ErrorCode(err)
		}
		fs := telamentis.ErrorFields(err)
		if len(fs) == 0 {
			bad = append(bad, telamentis.FieldError{Field: prefix, Message: telamentis.ErrorMessage(err)})
		}
		for _, f := range fs {
			bad = append(bad, telamentis.FieldError{Field: prefix + "." + f.Field, Message: f.Message})
		}
	}
	for i, in := range b.Nodes {
		r, err := st.upsertNode(in)
		if err != nil {
			fail(fmt.Sprintf("nodes[%d]", i), err)
			continue
		}
		res.Nodes[i] = r
	}
	for i, in := range b.Edges {
		r, err := st.upsertEdge(in)
		if err != nil {
			fail(fmt.Sprintf("edges[%d]", i), err)
			continue
		}
		res.Edges[i] = r
	}
	if len(bad) > 0 {
		ts.planMu.Unlock()
		if code == telamentis.CodeInternal {
			return telamentis.BatchResult{}, fmt.Errorf("badger: apply batch: %s", bad[0].Message)
		}
		return telamentis.BatchResult{}, &telamentis.Error{Code: code, Message: fmt.Sprintf("%d bad batch items", len(bad)), Fields: bad}
	}
	res.TxTime = telamentis.FromMicros(st.tx())
	if err := st.commit(); err != nil {
		return telamentis.BatchResult{}, wrapErr("apply batch", err)
	}
	return res, nil
}

// InvalidateEdge implements telamentis.Store.
func (s *Store) InvalidateEdge(ctx context.Context, tenant string, ref telamentis.Ref, at time.Time) (telamentis.EdgeResult, error) {
	if err := ref.Validate("edge"); err != nil {
		return telamentis.EdgeResult{}, err
	}
	if at.IsZero() {
		return telamentis.EdgeResult{}, telamentis.Invalid("at", "required")
	}
	if _, err := telamentis.ParseTime(at.Format(time.RFC3339Nano)); err != nil {
		return telamentis.EdgeResult{}, telamentis.Invalid("at", "time out of range")
	}
	atUs := telamentis.Micros(telamentis.NormalizeTime(at))
	ts, err := s.beginWrite(ctx, tenant)
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	st := newStage(s, ts)
	rec := st.liveEdgeRef(ref)
	if rec == nil {
		ts.planMu.Unlock()
		return telamentis.EdgeResult{}, telamentis.NotFound("edge")
	}
	se := st.edge(rec)
	if atUs <= se.cur.vf {
		ts.planMu.Unlock()
		return telamentis.EdgeResult{}, telamentis.Invalid("at", "must be after valid_from")
	}
	if atUs == se.cur.vt {
		ts.planMu.Unlock()
		return telamentis.EdgeResult{Edge: st.edgeView(se)}, nil
	}
	se.cur.vt = atUs
	res := telamentis.EdgeResult{Edge: st.edgeView(se), Changed: true}
	return res, wrapErr("invalidate edge", st.commit())
}

// RetractNode implements telamentis.Store.
func (s *Store) RetractNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	if err := ref.Validate("node"); err != nil {
		return telamentis.RetractResult{}, err
	}
	ts, err := s.beginWrite(ctx, tenant)
	if err != nil {
		return telamentis.RetractResult{}, err
	}
	st := newStage(s, ts)
	rec := st.liveNodeRef(ref)
	if rec == nil {
		ts.planMu.Unlock()
		return telamentis.RetractResult{}, telamentis.NotFound("node")
	}
	n, e := st.retractNode(rec)
	res := telamentis.RetractResult{TxTime: telamentis.FromMicros(st.tx()), Nodes: n, Edges: e}
	return res, wrapErr("retract node", st.commit())
}

// RetractEdge implements telamentis.Store.
func (s *Store) RetractEdge(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	if err := ref.Validate("edge"); err != nil {
		return telamentis.RetractResult{}, err
	}
	ts, err := s.beginWrite(ctx, tenant)
	if err != nil {
		return telamentis.RetractResult{}, err
	}
	st := newStage(s, ts)
	rec := st.liveEdgeRef(ref)
	if rec == nil {
		ts.planMu.Unlock()
		return telamentis.RetractResult{}, telamentis.NotFound("edge")
	}
	st.retractEdge(rec)
	res := telamentis.RetractResult{TxTime: telamentis.FromMicros(st.tx()), Edges: 1}
	return res, wrapErr("retract edge", st.commit())
}

// EraseNode implements telamentis.Store. It deletes every version key of
// the node and of every edge touching it in one commit, then drops them
// from the index; Compact makes the deletion physical in the files.
func (s *Store) EraseNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.EraseResult, error) {
	if err := ref.Validate("node"); err != nil {
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
		// An alias names the live node that has it; a retracted node is
		// erased by ID.
		rec = ts.liveNodeAlias[ref.Alias]
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
	ts.dropEvents(map[*nodeRec]bool{rec: true}, edges)
	ts.mu.Unlock()
	return res, nil
}
