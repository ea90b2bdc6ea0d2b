package badger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/telamentis/telamentis"
)

// resolveNodeAt finds the node a reference names at T: by ID, or the node
// whose version visible at T has the alias.
func (ts *tenantState) resolveNodeAt(r telamentis.Ref, T int64) (*nodeRec, *nodeVer) {
	if r.ID != "" {
		id, err := parseID(r.ID)
		if err != nil {
			return nil, nil
		}
		rec := ts.nodes[id]
		if rec == nil {
			return nil, nil
		}
		if v := rec.at(T); v != nil {
			return rec, v
		}
		return nil, nil
	}
	for _, rec := range ts.nodeAliases[r.Alias] {
		if v := rec.at(T); v != nil && v.alias == r.Alias {
			return rec, v
		}
	}
	return ts.redirectedAt(r.Alias, T)
}

func (ts *tenantState) resolveEdgeAt(r telamentis.Ref, T int64) (*edgeRec, *edgeVer) {
	if r.ID != "" {
		id, err := parseID(r.ID)
		if err != nil {
			return nil, nil
		}
		rec := ts.edgeByID(id)
		if rec == nil {
			return nil, nil
		}
		if v := rec.at(T); v != nil {
			return rec, v
		}
		return nil, nil
	}
	for _, rec := range ts.edgeAliases[r.Alias] {
		if v := rec.at(T); v != nil && v.alias == r.Alias {
			return rec, v
		}
	}
	return nil, nil
}

func asAtMicros(field string, t time.Time) (int64, error) {
	if t.IsZero() {
		return open, nil
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return 0, telamentis.Invalid(field, "time out of range")
	}
	return telamentis.Micros(telamentis.NormalizeTime(t)), nil
}

// GetNode implements telamentis.Store.
func (s *Store) GetNode(ctx context.Context, tenant string, ref telamentis.Ref, asAt time.Time) (telamentis.Node, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.Node{}, err
	}
	at, err := asAtMicros("as_at", asAt)
	if err != nil {
		return telamentis.Node{}, err
	}
	ts, err := s.tenant(tenant)
	if err != nil {
		return telamentis.Node{}, err
	}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	vis := ts.visible.Load()
	rec, v := ts.resolveNodeAt(ref, min(at, vis))
	if rec == nil {
		return telamentis.Node{}, telamentis.NotFound("node")
	}
	return toNode(rec, v, vis), nil
}

// GetEdge implements telamentis.Store.
func (s *Store) GetEdge(ctx context.Context, tenant string, ref telamentis.Ref, asAt time.Time) (telamentis.Edge, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.Edge{}, err
	}
	at, err := asAtMicros("as_at", asAt)
	if err != nil {
		return telamentis.Edge{}, err
	}
	ts, err := s.tenant(tenant)
	if err != nil {
		return telamentis.Edge{}, err
	}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	vis := ts.visible.Load()
	rec, v := ts.resolveEdgeAt(ref, min(at, vis))
	if rec == nil {
		return telamentis.Edge{}, telamentis.NotFound("edge")
	}
	return toEdge(rec, v, vis), nil
}

// Cursor positions: a kind byte, then per kind
//
//	nodes, edges: T (8), last ID (16)
//	paths:        T (8), depth (1), last ID (16)
//	history:      next index (4)
//	changes:      until (8), t (8), tag (1), ID (16), op (1)
var kindByte = map[telamentis.QueryKind]byte{
	telamentis.QueryNodes: 1, telamentis.QueryEdges: 2, telamentis.QueryPaths: 3,
	telamentis.QueryHistory: 4, telamentis.QueryChanges: 5,
}

var errCursor = telamentis.Invalid("cursor", "malformed, expired or issued for another query")

type position struct {
	T      int64
	depth  int
	id     id16
	idx    int
	until  int64
	ev     event // t, tag (via n/e nil-ness not kept), op
	evTag  uint8
	hasPos bool
}

func encodePos(kind byte, p position) []byte {
	b := []byte{kind}
	switch kind {
	case 1, 2:
		b = binary.BigEndian.AppendUint64(b, uint64(p.T))
		b = append(b, p.id[:]...)
	case 3:
		b = binary.BigEndian.AppendUint64(b, uint64(p.T))
		b = append(b, byte(p.depth))
		b = append(b, p.id[:]...)
	case 4:
		b = binary.BigEndian.AppendUint32(b, uint32(p.idx))
	case 5:
		b = binary.BigEndian.AppendUint64(b, uint64(p.until))
		b = binary.BigEndian.AppendUint64(b, uint64(p.ev.t))
		b = append(b, p.evTag)
		b = append(b, p.id[:]...)
		b = append(b, p.ev.op)
	}
	return b
}

func decodePos(kind byte, b []byte) (position, error) {
	var p position
	if len(b) < 1 || b[0] != kind {
		return p, errCursor
	}
	b = b[1:]
	p.hasPos = true
	switch kind {
	case 1, 2:
		if len(b) != 24 {
			return p, errCursor
		}
		p.T = int64(binary.BigEndian.Uint64(b))
		copy(p.id[:], b[8:])
	case 3:
		if len(b) != 25 {
			return p, errCursor
		}
		p.T = int64(binary.BigEndian.Uint64(b))
		p.depth = int(b[8])
		copy(p.id[:], b[9:])
	case 4:
		if len(b) != 4 {
			return p, errCursor
		}
		p.idx = int(binary.BigEndian.Uint32(b))
	case 5:
		if len(b) != 34 {
			return p, errCursor
		}
		p.until = int64(binary.BigEndian.Uint64(b))
		p.ev.t = int64(binary.BigEndian.Uint64(b[8:]))
		p.evTag = b[16]
		copy(p.id[:], b[17:33])
		p.ev.op = b[33]
	}
	return p, nil
}

// Query implements telamentis.Store.
func (s *Store) Query(ctx context.Context, tenant string, q telamentis.Query) (telamentis.Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return telamentis.Page{}, err
	}
	ts, err := s.tenant(tenant)
	if err != nil {
		return telamentis.Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return telamentis.Page{}, err
	}
	kind := kindByte[q.Kind]
	var pos position
	if q.Cursor != "" {
		raw, err := s.cursors.Open(tenant, q, q.Cursor)
		if err != nil {
			return telamentis.Page{}, err
		}
		if pos, err = decodePos(kind, raw); err != nil {
			return telamentis.Page{}, err
		}
	}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	vis := ts.visible.Load()
	var page telamentis.Page
	var next *position
	switch q.Kind {
	case telamentis.QueryNodes:
		page.Nodes, next, err = ts.queryNodes(&q, pos, vis)
	case telamentis.QueryEdges:
		page.Edges, page.Nodes, next, err = ts.queryEdges(&q, pos, vis)
	case telamentis.QueryPaths:
		page.Neighbors, next, err = ts.queryPaths(ctx, &q, pos, vis)
	case telamentis.QueryHistory:
		page.Nodes, page.Edges, next, err = ts.queryHistory(&q, pos, vis)
	case telamentis.QueryChanges:
		page.Changes, next, err = ts.queryChanges(&q, pos, vis)
	}
	if err != nil {
		return telamentis.Page{}, err
	}
	if next != nil {
		q.Cursor = ""
		page.NextCursor = s.cursors.Seal(tenant, q, encodePos(kind, *next))
	}
	return page, nil
}

// firstT resolves the query's tx-time coordinate: from the cursor on later
// pages, else as_at clamped to the visible watermark ("now" = visible).
func firstT(q *telamentis.Query, pos position, vis int64) int64 {
	if pos.hasPos {
		return pos.T
	}
	if q.AsAt.IsZero() {
		return vis
	}
	return min(telamentis.Micros(q.AsAt), vis)
}

// collect walks sorted lists from after the cursor ID and returns, in ID
// order without duplicates, up to limit+1 elements that pass match.
func collect[T keyed](lists [][]T, after *id16, limit int, match func(T) bool) []T {
	var out []T
	for _, l := range lists {
		i := 0
		if after != nil {
			i = searchAfter(l, *after)
		}
		n := 0
		for ; i < len(l) && n <= limit; i++ {
			if match(l[i]) {
				out = append(out, l[i])
				n++
			}
		}
	}
	if len(lists) > 1 {
		slices.SortFunc(out, func(a, b T) int { return cmpID(a.key(), b.key()) })
		out = slices.CompactFunc(out, func(a, b T) bool { return a.key() == b.key() })
		if len(out) > limit+1 {
			out = out[:limit+1]
		}
	}
	return out
}

func (ts *tenantState) queryNodes(q *telamentis.Query, pos position, vis int64) ([]telamentis.Node, *position, error) {
	T := firstT(q, pos, vis)
	var after *id16
	if pos.hasPos {
		after = &pos.id
	}
	var lists [][]*nodeRec
	switch {
	case q.Alias != "":
		l := slices.Clone(ts.nodeAliases[q.Alias])
		slices.SortFunc(l, func(a, b *nodeRec) int { return cmpID(a.id, b.id) })
		lists = [][]*nodeRec{l}
	case len(q.Labels) > 0:
		for _, lb := range q.Labels {
			if l := ts.byLabel[lb]; len(l) > 0 {
				lists = append(lists, l)
			}
		}
	default:
		lists = [][]*nodeRec{ts.allNodes}
	}
	match := func(r *nodeRec) bool {
		v := r.at(T)
		if v == nil {
			return false
		}
		if q.Alias != "" && v.alias != q.Alias {
			return false
		}
		if len(q.Labels) > 0 && !slices.Contains(q.Labels, v.label) {
			return false
		}
		if len(q.Props) > 0 {
			var m map[string]json.RawMessage
			if json.Unmarshal([]byte(v.props), &m) != nil {
				return false
			}
			for k, want := range q.Props {
				if got, ok := m[k]; !ok || string(got) != string(want) {
					return false
				}
			}
		}
		return true
	}
	recs := collect(lists, after, q.Limit, match)
	var next *position
	if len(recs) > q.Limit {
		recs = recs[:q.Limit]
		next = &position{T: T, id: recs[len(recs)-1].id}
	}
	out := make([]telamentis.Node, len(recs))
	for i, r := range recs {
		out[i] = toNode(r, r.at(T), vis)
	}
	return out, next, nil
}

// queryEdges answers an edges query; with IncludeNodes it also returns the
// page's endpoint nodes.
func (ts *tenantState) queryEdges(q *telamentis.Query, pos position, vis int64) ([]telamentis.Edge, []telamentis.Node, *position, error) {
	T := firstT(q, pos, vis)
	var after *id16
	if pos.hasPos {
		after = &pos.id
	}
	var from, to *nodeRec
	if q.From != nil {
		if from, _ = ts.resolveNodeAt(*q.From, T); from == nil {
			return nil, nil, nil, nil
		}
	}
	if q.To != nil {
		if to, _ = ts.resolveNodeAt(*q.To, T); to == nil {
			return nil, nil, nil, nil
		}
	}
	var lists [][]*edgeRec
	switch {
	case from != nil:
		lists = [][]*edgeRec{from.out}
	case to != nil:
		lists = [][]*edgeRec{to.in}
	case len(q.Kinds) > 0:
		// queryKinds, below.
	default:
		lists = [][]*edgeRec{ts.allEdges}
	}
	valid := q.ValidFilter()
	match := func(r *edgeRec) bool {
		if to != nil && r.to != to {
			return false
		}
		v := r.at(T)
		if v == nil {
			return false
		}
		if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, v.kind) {
			return false
		}
		return valid == nil || valid(telamentis.Span{Start: v.vf, End: v.vt})
	}
	if lists == nil {
		edges, next, err := ts.queryKinds(q, T, after, vis, match, valid)
		var nodes []telamentis.Node
		if err == nil && q.IncludeNodes {
			nodes = ts.endpointNodes(edges, T, vis)
		}
		return edges, nodes, next, err
	}
	recs := collect(lists, after, q.Limit, match)
	var next *position
	if len(recs) > q.Limit {
		recs = recs[:q.Limit]
		next = &position{T: T, id: recs[len(recs)-1].id}
	}
	vers := make([]*edgeVer, len(recs))
	for i, r := range recs {
		vers[i] = r.at(T)
	}
	var nodes []telamentis.Node
	if q.IncludeNodes {
		nodes = endpointRecs(recs, T, vis)
	}
	return edgesOut(recs, vers, vis), nodes, next, nil
}

// endpointNodes returns the distinct endpoints of edges in the versions
// visible at T, ordered by ID (Query.IncludeNodes). An endpoint not visible
// at T is left out.
func (ts *tenantState) endpointNodes(edges []telamentis.Edge, T, vis int64) []telamentis.Node {
	// (The kind lists' scan returns rows, not records: map the IDs back.)
	ids := make([]string, 0, 2*len(edges))
	for i := range edges {
		ids = append(ids, edges[i].From, edges[i].To)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]telamentis.Node, 0, len(ids))
	for _, id := range ids {
		if rec, v := ts.resolveNodeAt(telamentis.Ref{ID: id}, T); rec != nil {
			out = append(out, toNode(rec, v, vis))
		}
	}
	return out
}

// endpointRecs is endpointNodes for a page of records: the endpoints are
// at hand, no ID is parsed or looked up.
func endpointRecs(recs []*edgeRec, T, vis int64) []telamentis.Node {
	ns := make([]*nodeRec, 0, 2*len(recs))
	for _, r := range recs {
		ns = append(ns, r.from, r.to)
	}
	slices.SortFunc(ns, func(a, b *nodeRec) int { return cmpID(a.id, b.id) })
	ns = slices.Compact(ns)
	out := make([]telamentis.Node, 0, len(ns))
	for _, n := range ns {
		if v := n.at(T); v != nil {
			out = append(out, toNode(n, v, vis))
		}
	}
	return out
}

// queryKinds answers an edges query by kind from the per-kind lists.
func (ts *tenantState) queryKinds(q *telamentis.Query, T int64, after *id16, vis int64, match func(*edgeRec) bool, valid func(telamentis.Span) bool) ([]telamentis.Edge, *position, error) {
	hits := make([]kindHit, 0, min(q.Limit+1, 1024))
	lists := 0
	for _, k := range q.Kinds {
		l := ts.byKind[k]
		if len(l) == 0 {
			continue
		}
		lists++
		i := 0
		if after != nil {
			a := *after
			i = sort.Search(len(l), func(i int) bool { return a.less(l[i].id) })
		}
		for n := 0; i < len(l) && n <= q.Limit; i++ {
			e := &l[i]
			switch {
			case T < e.txStart:
				if !match(e.r) { // an older version: look at the edge
					continue
				}
			case T >= e.txEnd:
				continue
			default:
				if !e.sameKind && !slices.Contains(q.Kinds, e.r.vers[len(e.r.vers)-1].kind) {
					continue
				}
				if valid != nil && !valid(telamentis.Span{Start: e.vf, End: e.vt}) {
					continue
				}
			}
			hits = append(hits, kindHit{e: e, kind: k})
			n++
		}
	}
	if lists > 1 {
		slices.SortFunc(hits, func(a, b kindHit) int { return cmpID(a.e.id, b.e.id) })
		hits = slices.CompactFunc(hits, func(a, b kindHit) bool { return a.e.id == b.e.id })
	}
	var next *position
	if len(hits) > q.Limit {
		hits = hits[:q.Limit]
		next = &position{T: T, id: hits[len(hits)-1].e.id}
	}
	return kindEdgesOut(hits, T, vis), next, nil
}
