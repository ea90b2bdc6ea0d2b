package storetest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/telamentis/telamentis"
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
	t     telamentis.Tenant
	nodes []telamentis.Node
	edges []telamentis.Edge
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
		return t, telamentis.Errorf(telamentis.CodeConflict, "tenant exists")
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
	s     *memStore
	tn    *memTenant
	at    time.Time
	nodes []telamentis.Node
	edges []telamentis.Edge
	wrote bool
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
	return &tx{s: s, tn: tn, at: at, nodes: slices.Clone(tn.nodes), edges: slices.Clone(tn.edges)}, unlock, nil
}

func (x *tx) commit() {
	x.tn.nodes, x.tn.edges = x.nodes, x.edges
}

func live(end time.Time) bool { return end.IsZero() }

func (x *tx) liveNode(r telamentis.Ref) int {
	for i, n := range x.nodes {
		if live(n.TxEnd) && (r.ID != "" && n.ID == r.ID || r.ID == "" && n.Alias == r.Alias) {
			return i
		}
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

func (x *tx) node(in telamentis.NodeInput) (telamentis.NodeResult, error) {
	i := -1
	switch {
	case in.ID != "":
		if i = x.liveNode(telamentis.Ref{ID: in.ID}); i < 0 {
			return telamentis.NodeResult{}, telamentis.NotFound("node")
		}
	case in.Alias != "":
		i = x.liveNode(telamentis.Ref{Alias: in.Alias})
	}
	if i < 0 {
		if q := x.tn.t.Quotas.MaxNodes; q > 0 && x.countLive(false) >= q {
			return telamentis.NodeResult{}, telamentis.Errorf(telamentis.CodeQuota, "node quota")
		}
		n := telamentis.Node{ID: uuid(), Alias: in.Alias, Label: in.Label, Props: in.Props, TxStart: x.at}
		x.nodes = append(x.nodes, n)
		x.wrote = true
		return telamentis.NodeResult{Node: n, Created: true, Changed: true}, nil
	}
	cur := x.nodes[i]
	alias := cur.Alias
	if in.Alias != "" && in.Alias != cur.Alias {
		if j := x.liveNode(telamentis.Ref{Alias: in.Alias}); j >= 0 {
			return telamentis.NodeResult{}, telamentis.Errorf(telamentis.CodeConflict, "alias taken")
		}
		alias = in.Alias
	}
	if alias == cur.Alias && in.Label == cur.Label && string(in.Props) == string(cur.Props) && !x.s.bugs["noop writes"] {
		return telamentis.NodeResult{Node: cur}, nil
	}
	x.nodes[i].TxEnd = x.at
	n := telamentis.Node{ID: cur.ID, Alias: alias, Label: in.Label, Props: in.Props, TxStart: x.at}
	x.nodes = append(x.nodes, n)
	x.wrote = true
	return telamentis.NodeResult{Node: n, Changed: true}, nil
}

func (x *tx) edge(in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	fi, ti := x.liveNode(in.From), x.liveNode(in.To)
	if fi < 0 || ti < 0 {
		return telamentis.EdgeResult{}, telamentis.NotFound("node")
	}
	from, to := x.nodes[fi].ID, x.nodes[ti].ID
	i := -1
	switch {
	case in.ID != "":
		if i = x.liveEdge(telamentis.Ref{ID: in.ID}); i < 0 {
			return telamentis.EdgeResult{}, telamentis.NotFound("edge")
		}
	case in.Alias != "":
		i = x.liveEdge(telamentis.Ref{Alias: in.Alias})
	}
	if i < 0 {
		vf := in.ValidFrom
		if vf.IsZero() {
			vf = x.at
		}
		if !in.ValidTo.IsZero() && !in.ValidTo.After(vf) {
			return telamentis.EdgeResult{}, telamentis.Invalid("valid_to", "must be after valid_from")
		}
		if q := x.tn.t.Quotas.MaxEdges; q > 0 && x.countLive(true) >= q {
			return telamentis.EdgeResult{}, telamentis.Errorf(telamentis.CodeQuota, "edge quota")
		}
		e := telamentis.Edge{ID: uuid(), Alias: in.Alias, From: from, To: to, Kind: in.Kind, Props: in.Props, ValidFrom: vf, ValidTo: in.ValidTo, TxStart: x.at}
		x.edges = append(x.edges, e)
		x.wrote = true
		return telamentis.EdgeResult{Edge: e, Created: true, Changed: true}, nil
	}
	cur := x.edges[i]
	if cur.From != from || cur.To != to {
		return telamentis.EdgeResult{}, telamentis.Invalid("from", "endpoints cannot change")
	}
	vf := in.ValidFrom
	if vf.IsZero() {
		vf = cur.ValidFrom
	}
	if !in.ValidTo.IsZero() && !in.ValidTo.After(vf) {
		return telamentis.EdgeResult{}, telamentis.Invalid("valid_to", "must be after valid_from")
	}
	if in.Kind == cur.Kind && string(in.Props) == string(cur.Props) && vf.Equal(cur.ValidFrom) && in.ValidTo.Equal(cur.ValidTo) {
		return telamentis.EdgeResult{Edge: cur}, nil
	}
	x.edges[i].TxEnd = x.at
	e := cur
	e.Kind, e.Props, e.ValidFrom, e.ValidTo, e.TxStart, e.TxEnd = in.Kind, in.Props, vf, in.ValidTo, x.at, time.Time{}
	x.edges = append(x.edges, e)
	x.wrote = true
	return telamentis.EdgeResult{Edge: e, Changed: true}, nil
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
	in, err := in.Normalize()
	if err != nil {
		return telamentis.NodeResult{}, err
	}
	x, unlock, err := s.begin(ctx, tenant)
	if err != nil {
		return telamentis.NodeResult{}, err
	}
	defer unlock()
	r, err := x.node(in)
	if err == nil {
		x.commit()
	}
	return r, err
}

func (s *memStore) UpsertEdge(ctx context.Context, tenant string, in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	in, err := in.Normalize()
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	x, unlock, err := s.begin(ctx, tenant)
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	defer unlock()
	r, err := x.edge(in)
	if err == nil {
		x.commit()
	}
	return r, err
}

func (s *memStore) ApplyBatch(ctx context.Context, tenant string, b telamentis.Batch) (telamentis.BatchResult, error) {
	b, err := b.Normalize()
	if err != nil {
		return telamentis.BatchResult{}, err
	}
	x, unlock, err := s.begin(ctx, tenant)
	if err != nil {
		return telamentis.BatchResult{}, err
	}
	defer unlock()
	res := telamentis.BatchResult{TxTime: x.at}
	fail := func(err error) (telamentis.BatchResult, error) {
		if s.bugs["batch not atomic"] {
			x.commit()
		}
		return telamentis.BatchResult{}, err
	}
	for _, in := range b.Nodes {
		r, err := x.node(in)
		if err != nil {
			return fail(err)
		}
		res.Nodes = append(res.Nodes, r)
	}
	for _, in := range b.Edges {
		r, err := x.edge(in)
		if err != nil {
			return fail(err)
		}
		res.Edges = append(res.Edges, r)
	}
	x.commit()
	return res, nil
}

func (s *memStore) InvalidateEdge(ctx context.Context, tenant string, ref telamentis.Ref, at time.Time) (telamentis.EdgeResult, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.EdgeResult{}, err
	}
	at = telamentis.NormalizeTime(at)
	if at.IsZero() || at.Year() > 9999 {
		return telamentis.EdgeResult{}, telamentis.Invalid("at", "out of range")
	}
	x, unlock, err := s.begin(ctx, tenant)
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	defer unlock()
	i := x.liveEdge(ref)
	if i < 0 {
		return telamentis.EdgeResult{}, telamentis.NotFound("edge")
	}
	cur := x.edges[i]
	if !at.After(cur.ValidFrom) {
		return telamentis.EdgeResult{}, telamentis.Invalid("at", "must be after valid_from")
	}
	if at.Equal(cur.ValidTo) {
		return telamentis.EdgeResult{Edge: cur}, nil
	}
	x.edges[i].TxEnd = x.at
	e := cur
	e.ValidTo, e.TxStart, e.TxEnd = at, x.at, time.Time{}
	x.edges = append(x.edges, e)
	x.commit()
	return telamentis.EdgeResult{Edge: e, Changed: true}, nil
}

func (s *memStore) RetractNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.RetractResult{}, err
	}
	x, unlock, err := s.begin(ctx, tenant)
	if err != nil {
		return telamentis.RetractResult{}, err
	}
	defer unlock()
	i := x.liveNode(ref)
	if i < 0 {
		return telamentis.RetractResult{}, telamentis.NotFound("node")
	}
	id := x.nodes[i].ID
	x.nodes[i].TxEnd = x.at
	res := telamentis.RetractResult{TxTime: x.at, Nodes: 1}
	for j, e := range x.edges {
		if live(e.TxEnd) && (e.From == id || e.To == id) && !s.bugs["no cascade"] {
			x.edges[j].TxEnd = x.at
			res.Edges++
		}
	}
	x.commit()
	return res, nil
}

func (s *memStore) RetractEdge(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.RetractResult{}, err
	}
	x, unlock, err := s.begin(ctx, tenant)
	if err != nil {
		return telamentis.RetractResult{}, err
	}
	defer unlock()
	i := x.liveEdge(ref)
	if i < 0 {
		return telamentis.RetractResult{}, telamentis.NotFound("edge")
	}
	x.edges[i].TxEnd = x.at
	x.commit()
	return telamentis.RetractResult{TxTime: x.at, Edges: 1}, nil
}

func (s *memStore) EraseNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.EraseResult, error) {
	if err := ref.Validate("ref"); err != nil {
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
	}
	return out
}
