package storetest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/graph"
)

// memStore is a deliberately plain in-memory Store, written from the
// contract alone, that the suite runs against in its own tests: it shows
// that every assertion of the suite can be met, and the suite's failure
// tests break it on purpose to show that the assertions can fail.
type memStore struct {
	mu      sync.Mutex
	clock   *telamentis.TxClock
	codec   *telamentis.CursorCodec
	tenants map[string]*memTenant
	closed  bool
	// bugs switches on deliberate violations, for the suite's own tests.
	bugs map[string]bool
}

type memTenant struct {
	t         telamentis.Tenant
	nodes     []telamentis.Node
	edges     []telamentis.Edge
	redirects []memRedirect // memmerge_test.go
}

var _ telamentis.Store = (*memStore)(nil)

func newMemStore() *memStore {
	key := make([]byte, 32)
	rand.Read(key)
	return &memStore{clock: telamentis.NewTxClock(nil), codec: telamentis.NewCursorCodec(key), tenants: map[string]*memTenant{}, bugs: map[string]bool{}}
}

func (s *memStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *memStore) lock() (func(), error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, telamentis.Errorf(telamentis.CodeUnavailable, "closed")
	}
	return s.mu.Unlock, nil
}

func (s *memStore) CreateTenant(ctx context.Context, t telamentis.Tenant) (telamentis.Tenant, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	unlock, err := s.lock()
	if err != nil {
		return t, err
	}
	defer unlock()
	if _, ok := s.tenants[t.ID]; ok {
		return t, telamentis.Errorf(telamentis.CodeConflict, "tenant %s already exists", t.ID)
	}
	t.CreatedAt = time.Now().UTC()
	t.UpdatedAt = t.CreatedAt
	s.tenants[t.ID] = &memTenant{t: t}
	return t, nil
}

func (s *memStore) GetTenant(ctx context.Context, id string) (telamentis.Tenant, error) {
	unlock, err := s.lock()
	if err != nil {
		return telamentis.Tenant{}, err
	}
	defer unlock()
	tn, ok := s.tenants[id]
	if !ok {
		return telamentis.Tenant{}, telamentis.NotFound("tenant")
	}
	return tn.t, nil
}

func (s *memStore) ListTenants(ctx context.Context) ([]telamentis.Tenant, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []telamentis.Tenant
	for _, tn := range s.tenants {
		out = append(out, tn.t)
	}
	slices.SortFunc(out, func(a, b telamentis.Tenant) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *memStore) UpdateTenant(ctx context.Context, t telamentis.Tenant) (telamentis.Tenant, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	unlock, err := s.lock()
	if err != nil {
		return t, err
	}
	defer unlock()
	tn, ok := s.tenants[t.ID]
	if !ok {
		return t, telamentis.NotFound("tenant")
	}
	if t.Isolation != tn.t.Isolation {
		return t, telamentis.Invalid("isolation", "cannot change")
	}
	t.CreatedAt, t.UpdatedAt = tn.t.CreatedAt, time.Now().UTC()
	tn.t = t
	return t, nil
}

func (s *memStore) DropTenant(ctx context.Context, id string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, ok := s.tenants[id]; !ok {
		return telamentis.NotFound("tenant")
	}
	delete(s.tenants, id)
	s.clock.Forget(id)
	return nil
}

// tx is one write transaction on copies of a tenant's versions.
type tx struct {
	s         *memStore
	tn        *memTenant
	at        time.Time
	nodes     []telamentis.Node
	edges     []telamentis.Edge
	redirects []memRedirect
}

func (s *memStore) begin(ctx context.Context, tenant string) (*tx, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, telamentis.Errorf(telamentis.CodeUnavailable, "%v", err)
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, nil, err
	}
	tn, ok := s.tenants[tenant]
	if !ok {
		unlock()
		return nil, nil, telamentis.NotFound("tenant")
	}
	at := telamentis.FromMicros(s.clock.Next(tenant))
	return &tx{s: s, tn: tn, at: at, nodes: slices.Clone(tn.nodes), edges: slices.Clone(tn.edges), redirects: slices.Clone(tn.redirects)}, unlock, nil
}

func (x *tx) commit() {
	x.tn.nodes, x.tn.edges, x.tn.redirects = x.nodes, x.edges, x.redirects
}

func live(end time.Time) bool { return end.IsZero() }

func (x *tx) liveNode(r telamentis.Ref) int {
	for i, n := range x.nodes {
		if live(n.TxEnd) && (r.ID != "" && n.ID == r.ID || r.ID == "" && n.Alias == r.Alias) {
			return i
		}
	}
	if r.ID == "" {
		return x.redirectedNode(r.Alias)
	}
	return -1
}

func (x *tx) liveEdge(r telamentis.Ref) int {
	for i, e := range x.edges {
		if live(e.TxEnd) && (r.ID != "" && e.ID == r.ID || r.ID == "" && e.Alias == r.Alias) {
			return i
		}
	}
	return -1
}

func (x *tx) countLive(edges bool) int64 {
	var n int64
	if edges {
		for _, e := range x.edges {
			if live(e.TxEnd) {
				n++
			}
		}
		return n
	}
	for _, v := range x.nodes {
		if live(v.TxEnd) {
			n++
		}
	}
	return n
}

// tx is graph's view of the write (graph.Tx); records are found by ID.
var _ graph.Tx = (*tx)(nil)

func (x *tx) Now() int64 { return telamentis.Micros(x.at) }

func (x *tx) Node(ref telamentis.Ref) (graph.Node, bool, error) {
	i := x.liveNode(ref)
	if i < 0 {
		return graph.Node{}, false, nil
	}
	n := x.nodes[i]
	props := string(n.Props)
	if x.s.bugs["noop writes"] {
		props += " " // the store believes every upsert changes the props
	}
	return graph.Node{ID: n.ID, Alias: n.Alias, Label: n.Label, Props: props, TxStart: telamentis.Micros(n.TxStart)}, true, nil
}

func memEdge(e telamentis.Edge) graph.Edge {
	return graph.Edge{ID: e.ID, Alias: e.Alias, From: e.From, To: e.To, Kind: e.Kind, Props: string(e.Props),
		ValidFrom: telamentis.Micros(e.ValidFrom), ValidTo: telamentis.Micros(e.ValidTo), TxStart: telamentis.Micros(e.TxStart)}
}

func (x *tx) Edge(ref telamentis.Ref) (graph.Edge, bool, error) {
	i := x.liveEdge(ref)
	if i < 0 {
		return graph.Edge{}, false, nil
	}
	return memEdge(x.edges[i]), true, nil
}

func (x *tx) LiveEdges(n graph.Node) ([]graph.Edge, error) {
	if x.s.bugs["no cascade"] {
		return nil, nil
	}
	var out []graph.Edge
	for _, e := range x.edges {
		if live(e.TxEnd) && (e.From == n.ID || e.To == n.ID) {
			out = append(out, memEdge(e))
		}
	}
	return out, nil
}

func (x *tx) Counts() (graph.Counts, error) {
	q := x.tn.t.Quotas
	return graph.Counts{Nodes: x.countLive(false), Edges: x.countLive(true), MaxNodes: q.MaxNodes, MaxEdges: q.MaxEdges}, nil
}

func (x *tx) NewNode() (graph.Node, error) { return graph.Node{ID: uuid()}, nil }

func (x *tx) NewEdge(from, to graph.Node) (graph.Edge, error) {
	return graph.Edge{ID: uuid(), From: from.ID, To: to.ID}, nil
}

// apply applies a plan to the write's copies.
func (x *tx) apply(p *graph.Plan) {
	for _, c := range p.Nodes {
		if c.Closes() {
			x.nodes[x.liveNode(telamentis.Ref{ID: c.Old.ID})].TxEnd = x.at
		}
		if n := c.New; c.Opens() {
			x.nodes = append(x.nodes, telamentis.Node{ID: n.ID, Alias: n.Alias, Label: n.Label, Props: json.RawMessage(n.Props), TxStart: x.at})
		}
	}
	for _, c := range p.Edges {
		if c.Closes() {
			x.edges[x.liveEdge(telamentis.Ref{ID: c.Old.ID})].TxEnd = x.at
		}
		if e := c.New; c.Opens() {
			x.edges = append(x.edges, telamentis.Edge{ID: e.ID, Alias: e.Alias, From: e.From, To: e.To, Kind: e.Kind,
				Props: json.RawMessage(e.Props), ValidFrom: telamentis.FromMicros(e.ValidFrom), ValidTo: telamentis.FromMicros(e.ValidTo), TxStart: x.at})
		}
	}
	x.applyRedirects(p)
}

// run implements graph.Run under the store's lock.
func (s *memStore) run(ctx context.Context, tenant string, plan func(graph.Tx) (graph.Plan, error)) error {
	x, unlock, err := s.begin(ctx, tenant)
	if err != nil {
		return err
	}
	defer unlock()
	p, err := plan(x)
	if err != nil {
		return err
	}
	x.apply(&p)
	x.commit()
	return nil
}

func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	binary.BigEndian.PutUint32(b, uint32(time.Now().Unix()))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (s *memStore) UpsertNode(ctx context.Context, tenant string, in telamentis.NodeInput) (telamentis.NodeResult, error) {
	return graph.UpsertNode(ctx, s.run, tenant, in)
}

func (s *memStore) UpsertEdge(ctx context.Context, tenant string, in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	return graph.UpsertEdge(ctx, s.run, tenant, in)
}

func (s *memStore) ApplyBatch(ctx context.Context, tenant string, b telamentis.Batch) (telamentis.BatchResult, error) {
	res, err := graph.ApplyBatch(ctx, s.run, tenant, b)
	if err != nil && s.bugs["batch not atomic"] {
		// The bug: what can be written is written item by item.
		for _, in := range b.Nodes {
			s.UpsertNode(ctx, tenant, in)
		}
		for _, in := range b.Edges {
			s.UpsertEdge(ctx, tenant, in)
		}
	}
	return res, err
}

func (s *memStore) InvalidateEdge(ctx context.Context, tenant string, ref telamentis.Ref, at time.Time) (telamentis.EdgeResult, error) {
	return graph.InvalidateEdge(ctx, s.run, tenant, ref, at)
}

func (s *memStore) RetractNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	return graph.RetractNode(ctx, s.run, tenant, ref)
}

func (s *memStore) RetractEdge(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	return graph.RetractEdge(ctx, s.run, tenant, ref)
}

func (s *memStore) EraseNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.EraseResult, error) {
	if err := graph.CheckRef(ref); err != nil {
		return telamentis.EraseResult{}, err
	}
	x, unlock, err := s.begin(ctx, tenant)
	if err != nil {
		return telamentis.EraseResult{}, err
	}
	defer unlock()
	id := ref.ID
	if id == "" {
		i := x.liveNode(ref)
		if i < 0 {
			return telamentis.EraseResult{}, telamentis.NotFound("node")
		}
		id = x.nodes[i].ID
	}
	var res telamentis.EraseResult
	x.nodes = slices.DeleteFunc(x.nodes, func(n telamentis.Node) bool {
		if n.ID == id {
			res.Versions++
			return true
		}
		return false
	})
	if res.Versions == 0 {
		return res, telamentis.NotFound("node")
	}
	edges := map[string]bool{}
	if !s.bugs["erase keeps edges"] {
		x.edges = slices.DeleteFunc(x.edges, func(e telamentis.Edge) bool {
			if e.From == id || e.To == id {
				res.Versions++
				edges[e.ID] = true
				return true
			}
			return false
		})
	}
	res.Nodes, res.Edges = 1, len(edges)
	x.eraseRedirects(id)
	x.commit()
	return res, nil
}

// visibleAt reports whether a version [start, end) is visible at asAt
// (zero = now).
func visibleAt(start, end, asAt time.Time) bool {
	if asAt.IsZero() {
		return end.IsZero()
	}
	if globalBug == "as_at excludes tx_start" {
		return start.Before(asAt) && (end.IsZero() || asAt.Before(end))
	}
	return !start.After(asAt) && (end.IsZero() || asAt.Before(end))
}

// globalBug is a deliberate violation in code without a store at hand.
var globalBug string

func (s *memStore) read(tenant string) (*memTenant, func(), error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, nil, err
	}
	tn, ok := s.tenants[tenant]
	if !ok {
		unlock()
		return nil, nil, telamentis.NotFound("tenant")
	}
	return tn, unlock, nil
}

func findNode(tn *memTenant, ref telamentis.Ref, asAt time.Time) (telamentis.Node, bool) {
	for _, n := range tn.nodes {
		if visibleAt(n.TxStart, n.TxEnd, asAt) && (ref.ID != "" && n.ID == ref.ID || ref.ID == "" && n.Alias == ref.Alias) {
			return n, true
		}
	}
	if ref.ID == "" {
		return redirectedAt(tn, ref.Alias, asAt)
	}
	return telamentis.Node{}, false
}

func (s *memStore) GetNode(ctx context.Context, tenant string, ref telamentis.Ref, asAt time.Time) (telamentis.Node, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.Node{}, err
	}
	tn, unlock, err := s.read(tenant)
	if err != nil {
		return telamentis.Node{}, err
	}
	defer unlock()
	if n, ok := findNode(tn, ref, telamentis.NormalizeTime(asAt)); ok {
		return n, nil
	}
	return telamentis.Node{}, telamentis.NotFound("node")
}

func (s *memStore) GetEdge(ctx context.Context, tenant string, ref telamentis.Ref, asAt time.Time) (telamentis.Edge, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.Edge{}, err
	}
	tn, unlock, err := s.read(tenant)
	if err != nil {
		return telamentis.Edge{}, err
	}
	defer unlock()
	asAt = telamentis.NormalizeTime(asAt)
	for _, e := range tn.edges {
		if visibleAt(e.TxStart, e.TxEnd, asAt) && (ref.ID != "" && e.ID == ref.ID || ref.ID == "" && e.Alias == ref.Alias) {
			return e, nil
		}
	}
	return telamentis.Edge{}, telamentis.NotFound("edge")
}

func (s *memStore) Stats(ctx context.Context, tenant string) (telamentis.TenantStats, error) {
	tn, unlock, err := s.read(tenant)
	if err != nil {
		return telamentis.TenantStats{}, err
	}
	defer unlock()
	var st telamentis.TenantStats
	for _, n := range tn.nodes {
		st.NodeVersions++
		st.Bytes += int64(64 + len(n.Alias) + len(n.Props))
		if live(n.TxEnd) {
			st.Nodes++
		}
	}
	for _, e := range tn.edges {
		st.EdgeVersions++
		st.Bytes += int64(128 + len(e.Alias) + len(e.Props))
		if live(e.TxEnd) {
			st.Edges++
		}
	}
	return st, nil
}

func (s *memStore) Query(ctx context.Context, tenant string, q telamentis.Query) (telamentis.Page, error) {
	q, err := q.Normalize()
	if err != nil {
		return telamentis.Page{}, err
	}
	tn, unlock, err := s.read(tenant)
	if err != nil {
		return telamentis.Page{}, err
	}
	defer unlock()
	// Resolve "now" once, on the first page, and carry it in the cursor:
	// the latest transaction time of the tenant shows exactly what is
	// current, and later writes come after it.
	sealed := q // the query as the client sends it, which the cursor binds
	var now int64
	for _, v := range tn.nodes {
		now = max(now, telamentis.Micros(v.TxStart), ifClosed(v.TxEnd))
	}
	for _, e := range tn.edges {
		now = max(now, telamentis.Micros(e.TxStart), ifClosed(e.TxEnd))
	}
	off := 0
	if q.Cursor != "" {
		bound := tenant
		if s.bugs["cursor not bound to tenant"] {
			bound = ""
		}
		pos, err := s.codec.Open(bound, q, q.Cursor)
		if err != nil {
			return telamentis.Page{}, err
		}
		if len(pos) != 16 {
			return telamentis.Page{}, telamentis.Invalid("cursor", "malformed")
		}
		off = int(binary.BigEndian.Uint64(pos))
		now = int64(binary.BigEndian.Uint64(pos[8:]))
	}
	if q.AsAt.IsZero() && now > 0 {
		q.AsAt = telamentis.FromMicros(now)
	}
	if q.IDsOnly && s.bugs["ids_only at now"] && now > 0 {
		q.AsAt = telamentis.FromMicros(now)
	}
	if q.Kind == telamentis.QueryChanges && q.Until.IsZero() {
		q.Until = telamentis.FromMicros(now + 1)
	}
	var page telamentis.Page
	var n int
	pass := q.ValidFilter()
	if s.bugs["valid_between includes its end"] && q.ValidBetween != nil {
		w := telamentis.SpanOf(*q.ValidBetween)
		pass = func(sp telamentis.Span) bool { return sp.Start <= w.End && sp.End > w.Start }
	}
	edgeOK := func(e telamentis.Edge) bool {
		return visibleAt(e.TxStart, e.TxEnd, q.AsAt) && (pass == nil || pass(e.ValidSpan())) && (len(q.Kinds) == 0 || slices.Contains(q.Kinds, e.Kind))
	}
	switch q.Kind {
	case telamentis.QueryNodes:
		var out []telamentis.Node
	nodes:
		for _, v := range tn.nodes {
			if !visibleAt(v.TxStart, v.TxEnd, q.AsAt) || len(q.Labels) > 0 && !slices.Contains(q.Labels, v.Label) || q.Alias != "" && v.Alias != q.Alias {
				continue
			}
			for k, val := range q.Props {
				if !telamentis.PropEquals(v.Props, k, val) {
					continue nodes
				}
			}
			out = append(out, v)
		}
		slices.SortFunc(out, func(a, b telamentis.Node) int { return strings.Compare(a.ID, b.ID) })
		n = len(out)
		page.Nodes = window(out, off, q.Limit)
	case telamentis.QueryEdges:
		resolve := func(r *telamentis.Ref) (string, bool) {
			if r == nil {
				return "", true
			}
			v, ok := findNode(tn, *r, q.AsAt)
			return v.ID, ok
		}
		from, ok1 := resolve(q.From)
		to, ok2 := resolve(q.To)
		if !ok1 || !ok2 {
			return page, telamentis.NotFound("node")
		}
		var out []telamentis.Edge
		for _, e := range tn.edges {
			if edgeOK(e) && (from == "" || e.From == from) && (to == "" || e.To == to) {
				out = append(out, e)
			}
		}
		slices.SortFunc(out, func(a, b telamentis.Edge) int { return strings.Compare(a.ID, b.ID) })
		n = len(out)
		page.Edges = window(out, off, q.Limit)
		if q.IncludeNodes {
			at := q.AsAt
			if s.bugs["include_nodes at now"] {
				at = time.Time{}
			}
			var ids []string
			for _, e := range page.Edges {
				ids = append(ids, e.From, e.To)
			}
			slices.Sort(ids)
			for _, id := range slices.Compact(ids) {
				if v, ok := findNode(tn, telamentis.Ref{ID: id}, at); ok {
					page.Nodes = append(page.Nodes, v)
				}
			}
		}
	case telamentis.QueryPaths:
		start, ok := findNode(tn, *q.Start, q.AsAt)
		if !ok {
			return page, telamentis.NotFound("node")
		}
		var es []telamentis.Edge
		for _, e := range tn.edges {
			if edgeOK(e) {
				es = append(es, e)
			}
		}
		slices.SortFunc(es, func(a, b telamentis.Edge) int { return strings.Compare(a.ID, b.ID) })
		level := map[string]bool{start.ID: true}
		seen := map[string]bool{}
		visited := map[string]bool{}
		var out []telamentis.Neighbor
		for k := 1; k <= q.Depth; k++ {
			next := map[string]telamentis.Edge{}
			for _, e := range es {
				if q.Direction != telamentis.DirIn && level[e.From] {
					if _, ok := next[e.To]; !ok {
						next[e.To] = e
					}
				}
				if q.Direction != telamentis.DirOut && level[e.To] {
					if _, ok := next[e.From]; !ok {
						next[e.From] = e
					}
				}
			}
			var found []telamentis.Neighbor
			level = map[string]bool{}
			for id, via := range next {
				level[id] = true
				if k >= q.MinDepth && !seen[id] && !(s.bugs["paths by shortest distance"] && (visited[id] || id == start.ID)) {
					seen[id] = true
					v, _ := findNode(tn, telamentis.Ref{ID: id}, q.AsAt)
					found = append(found, telamentis.Neighbor{Node: v, Depth: k, Via: via})
				}
			}
			for id := range level {
				visited[id] = true
			}
			slices.SortFunc(found, func(a, b telamentis.Neighbor) int { return strings.Compare(a.Node.ID, b.Node.ID) })
			out = append(out, found...)
		}
		n = len(out)
		page.Neighbors = window(out, off, q.Limit)
		if q.IDsOnly {
			for i, nb := range page.Neighbors {
				page.Neighbors[i] = telamentis.Neighbor{Node: telamentis.Node{ID: nb.Node.ID}, Depth: nb.Depth,
					Via: telamentis.Edge{ID: nb.Via.ID, From: nb.Via.From, To: nb.Via.To}}
			}
		}
	case telamentis.QueryHistory:
		if q.Node != nil {
			id := q.Node.ID
			if id == "" {
				v, ok := findNode(tn, *q.Node, time.Time{})
				if !ok {
					return page, telamentis.NotFound("node")
				}
				id = v.ID
			}
			var out []telamentis.Node
			for _, v := range tn.nodes {
				if v.ID == id {
					out = append(out, v)
				}
			}
			n = len(out)
			page.Nodes = window(out, off, q.Limit)
		} else {
			var out []telamentis.Edge
			id := q.Edge.ID
			for _, e := range tn.edges {
				if id == "" && live(e.TxEnd) && e.Alias == q.Edge.Alias {
					id = e.ID
				}
			}
			for _, e := range tn.edges {
				if e.ID == id {
					out = append(out, e)
				}
			}
			n = len(out)
			page.Edges = window(out, off, q.Limit)
		}
	case telamentis.QueryChanges:
		in := func(t time.Time) bool {
			return !t.IsZero() && !t.Before(q.Since) && (q.Until.IsZero() || t.Before(q.Until))
		}
		var out []telamentis.Change
		for _, v := range tn.nodes {
			if in(v.TxStart) {
				out = append(out, telamentis.Change{TxTime: v.TxStart, Op: telamentis.ChangeWrite, Node: &v})
			}
			if in(v.TxEnd) {
				out = append(out, telamentis.Change{TxTime: v.TxEnd, Op: telamentis.ChangeClose, Node: &v})
			}
		}
		for _, e := range tn.edges {
			if in(e.TxStart) {
				out = append(out, telamentis.Change{TxTime: e.TxStart, Op: telamentis.ChangeWrite, Edge: &e})
			}
			if in(e.TxEnd) {
				out = append(out, telamentis.Change{TxTime: e.TxEnd, Op: telamentis.ChangeClose, Edge: &e})
			}
		}
		slices.SortStableFunc(out, func(a, b telamentis.Change) int { return a.TxTime.Compare(b.TxTime) })
		n = len(out)
		page.Changes = window(out, off, q.Limit)
	}
	if off+q.Limit < n {
		pos := binary.BigEndian.AppendUint64(nil, uint64(off+q.Limit))
		pos = binary.BigEndian.AppendUint64(pos, uint64(now))
		q = sealed
		if s.bugs["cursor not bound to tenant"] {
			page.NextCursor = s.codec.Seal("", q, pos)
		} else {
			page.NextCursor = s.codec.Seal(tenant, q, pos)
		}
	}
	return page, nil
}

func ifClosed(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return telamentis.Micros(t)
}

func window[T any](s []T, off, limit int) []T {
	if off >= len(s) {
		return nil
	}
	return s[off:min(off+limit, len(s))]
}

// residue reports where canary occurs in the store's records.
func (s *memStore) residue(canary string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, tn := range s.tenants {
		for _, n := range tn.nodes {
			if strings.Contains(n.Alias+string(n.Props), canary) {
				out = append(out, id+"/node/"+n.ID)
			}
		}
		for _, e := range tn.edges {
			if strings.Contains(e.Alias+string(e.Props), canary) {
				out = append(out, id+"/edge/"+e.ID)
			}
		}
		for _, r := range tn.redirects {
			if strings.Contains(r.Alias, canary) {
				out = append(out, id+"/redirect/"+r.Alias)
			}
		}
	}
	return out
}
