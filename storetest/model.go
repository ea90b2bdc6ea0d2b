package storetest

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/telamentis/telamentis"
)

// The reference model: every stored version in plain slices, and the rules
// of DESIGN §2 written as directly as possible. Times are microseconds;
// telamentis.Open is an open end. Writes are simulated with placeholder
// transaction times and IDs (pendingTx, "new:k"), which are replaced by
// the values the store returned once the store has answered.

const (
	pendingTx = -1 // the transaction time of the write being simulated
	pendingVF = -2 // "now" as valid_from of an edge created without one
	nowTx     = math.MaxInt64 - 1
)

type mNode struct {
	ID, Alias, Label, Props string
	TxStart, TxEnd          int64
}

type mEdge struct {
	ID, Alias, From, To, Kind, Props string
	VF, VT, TxStart, TxEnd           int64
}

type model struct {
	nodes     []mNode
	edges     []mEdge
	redirects []mRedirect // mergemodel.go
}

func (m *model) clone() *model {
	return &model{nodes: slices.Clone(m.nodes), edges: slices.Clone(m.edges), redirects: slices.Clone(m.redirects)}
}

func visible(txStart, txEnd, at int64) bool { return txStart <= at && at < txEnd }

func (m *model) liveNode(ref telamentis.Ref) int {
	return m.nodeAt(ref, nowTx)
}

// nodeAt returns the index of the version of ref visible at at, or -1.
func (m *model) nodeAt(ref telamentis.Ref, at int64) int {
	for i, n := range m.nodes {
		if visible(n.TxStart, n.TxEnd, at) && (ref.ID != "" && n.ID == ref.ID || ref.ID == "" && n.Alias == ref.Alias) {
			return i
		}
	}
	if ref.ID == "" {
		return m.redirectedAt(ref.Alias, at)
	}
	return -1
}

func (m *model) edgeAt(ref telamentis.Ref, at int64) int {
	for i, e := range m.edges {
		if visible(e.TxStart, e.TxEnd, at) && (ref.ID != "" && e.ID == ref.ID || ref.ID == "" && e.Alias == ref.Alias) {
			return i
		}
	}
	return -1
}

// sim simulates one write transaction on a copy of the model.
type sim struct {
	m      *model
	newIDs int
	codes  []telamentis.Code
	wrote  bool
}

func newSim(m *model) *sim { return &sim{m: m.clone()} }

func (s *sim) fail(c telamentis.Code) { s.codes = append(s.codes, c) }

func (s *sim) newID() string {
	s.newIDs++
	return "new:" + strconv.Itoa(s.newIDs)
}

// expect is what the store must report for one upserted item: created,
// changed and the id (maybe a placeholder) whose current version it
// returns. ok is false if the item fails.
type expect struct {
	ok               bool
	created, changed bool
	id               string
}

type nodeIn struct{ Alias, Label, Props string }

func (s *sim) node(in nodeIn) expect {
	if !telamentis.ValidIdentifier(in.Label) {
		s.fail(telamentis.CodeInvalid)
		return expect{}
	}
	i := s.m.liveNode(telamentis.Ref{Alias: in.Alias})
	if i < 0 {
		id := s.newID()
		s.m.nodes = append(s.m.nodes, mNode{ID: id, Alias: in.Alias, Label: in.Label, Props: in.Props, TxStart: pendingTx, TxEnd: telamentis.Open})
		s.wrote = true
		return expect{ok: true, created: true, changed: true, id: id}
	}
	cur := s.m.nodes[i]
	if cur.Label == in.Label && cur.Props == in.Props {
		return expect{ok: true, id: cur.ID}
	}
	s.m.nodes[i].TxEnd = pendingTx
	s.m.nodes = append(s.m.nodes, mNode{ID: cur.ID, Alias: cur.Alias, Label: in.Label, Props: in.Props, TxStart: pendingTx, TxEnd: telamentis.Open})
	s.wrote = true
	return expect{ok: true, changed: true, id: cur.ID}
}

// nodeByID is an upsert by ID: the live node is updated, keeping its
// alias, or the upsert fails with not_found.
func (s *sim) nodeByID(id string, in nodeIn) expect {
	i := s.m.liveNode(telamentis.Ref{ID: id})
	if !telamentis.ValidIdentifier(in.Label) {
		s.fail(telamentis.CodeInvalid)
		if i < 0 {
			s.fail(telamentis.CodeNotFound)
		}
		return expect{}
	}
	if i < 0 {
		s.fail(telamentis.CodeNotFound)
		return expect{}
	}
	cur := s.m.nodes[i]
	if cur.Label == in.Label && cur.Props == in.Props {
		return expect{ok: true, id: cur.ID}
	}
	s.m.nodes[i].TxEnd = pendingTx
	s.m.nodes = append(s.m.nodes, mNode{ID: cur.ID, Alias: cur.Alias, Label: in.Label, Props: in.Props, TxStart: pendingTx, TxEnd: telamentis.Open})
	s.wrote = true
	return expect{ok: true, changed: true, id: cur.ID}
}

type edgeIn struct {
	Alias, From, To, Kind, Props string
	VF, VT                       int64 // 0 = not given
}

func (s *sim) edge(in edgeIn) expect {
	if !telamentis.ValidIdentifier(in.Kind) || in.VF != 0 && in.VT != 0 && in.VT <= in.VF {
		s.fail(telamentis.CodeInvalid)
		return expect{}
	}
	fi, ti := s.m.liveNode(telamentis.Ref{Alias: in.From}), s.m.liveNode(telamentis.Ref{Alias: in.To})
	if fi < 0 || ti < 0 {
		s.fail(telamentis.CodeNotFound)
		return expect{}
	}
	from, to := s.m.nodes[fi].ID, s.m.nodes[ti].ID
	vt := in.VT
	if vt == 0 {
		vt = telamentis.Open
	}
	i := s.m.edgeAt(telamentis.Ref{Alias: in.Alias}, nowTx)
	if i < 0 {
		vf := in.VF
		if vf == 0 {
			if vt != telamentis.Open { // valid_from defaults to now, after every grid day
				s.fail(telamentis.CodeInvalid)
				return expect{}
			}
			vf = pendingVF
		}
		id := s.newID()
		s.m.edges = append(s.m.edges, mEdge{ID: id, Alias: in.Alias, From: from, To: to, Kind: in.Kind, Props: in.Props,
			VF: vf, VT: vt, TxStart: pendingTx, TxEnd: telamentis.Open})
		s.wrote = true
		return expect{ok: true, created: true, changed: true, id: id}
	}
	cur := s.m.edges[i]
	if cur.From != from || cur.To != to {
		s.fail(telamentis.CodeInvalid)
		s.fail(telamentis.CodeConflict)
		return expect{}
	}
	vf := in.VF
	if vf == 0 {
		vf = cur.VF
	}
	if vt <= vf {
		s.fail(telamentis.CodeInvalid)
		return expect{}
	}
	if cur.Kind == in.Kind && cur.Props == in.Props && cur.VF == vf && cur.VT == vt {
		return expect{ok: true, id: cur.ID}
	}
	s.m.edges[i].TxEnd = pendingTx
	n := cur
	n.Kind, n.Props, n.VF, n.VT, n.TxStart, n.TxEnd = in.Kind, in.Props, vf, vt, pendingTx, telamentis.Open
	s.m.edges = append(s.m.edges, n)
	s.wrote = true
	return expect{ok: true, changed: true, id: cur.ID}
}

func (s *sim) invalidate(alias string, at int64) expect {
	i := s.m.edgeAt(telamentis.Ref{Alias: alias}, nowTx)
	if i < 0 {
		s.fail(telamentis.CodeNotFound)
		return expect{}
	}
	cur := s.m.edges[i]
	if at <= cur.VF {
		s.fail(telamentis.CodeInvalid)
		return expect{}
	}
	if at == cur.VT {
		return expect{ok: true, id: cur.ID}
	}
	s.m.edges[i].TxEnd = pendingTx
	n := cur
	n.VT, n.TxStart, n.TxEnd = at, pendingTx, telamentis.Open
	s.m.edges = append(s.m.edges, n)
	s.wrote = true
	return expect{ok: true, changed: true, id: cur.ID}
}

// retractNode returns the number of edge versions it closed, or -1.
func (s *sim) retractNode(ref telamentis.Ref) int {
	i := s.m.liveNode(ref)
	if i < 0 {
		s.fail(telamentis.CodeNotFound)
		return -1
	}
	id := s.m.nodes[i].ID
	s.m.nodes[i].TxEnd = pendingTx
	n := 0
	for j, e := range s.m.edges {
		if e.TxEnd == telamentis.Open && (e.From == id || e.To == id) {
			s.m.edges[j].TxEnd = pendingTx
			n++
		}
	}
	s.wrote = true
	return n
}

func (s *sim) retractEdge(alias string) bool {
	i := s.m.edgeAt(telamentis.Ref{Alias: alias}, nowTx)
	if i < 0 {
		s.fail(telamentis.CodeNotFound)
		return false
	}
	s.m.edges[i].TxEnd = pendingTx
	s.wrote = true
	return true
}

// erase removes a node by id (any node with a stored version) or by the
// alias of a live node, and returns the counts EraseResult must report.
func (s *sim) erase(ref telamentis.Ref) (telamentis.EraseResult, bool) {
	id := ref.ID
	if id == "" {
		i := s.m.liveNode(ref)
		if i < 0 {
			s.fail(telamentis.CodeNotFound)
			return telamentis.EraseResult{}, false
		}
		id = s.m.nodes[i].ID
	}
	var res telamentis.EraseResult
	edges := map[string]bool{}
	nodes := s.m.nodes[:0:0]
	for _, n := range s.m.nodes {
		if n.ID == id {
			res.Versions++
			continue
		}
		nodes = append(nodes, n)
	}
	if res.Versions == 0 {
		s.fail(telamentis.CodeNotFound)
		return res, false
	}
	es := s.m.edges[:0:0]
	for _, e := range s.m.edges {
		if e.From == id || e.To == id {
			res.Versions++
			edges[e.ID] = true
			continue
		}
		es = append(es, e)
	}
	s.m.nodes, s.m.edges = nodes, es
	s.eraseRedirects(id)
	res.Nodes, res.Edges = 1, len(edges)
	return res, true
}

// commit replaces the placeholders with what the store returned: tx is the
// transaction time, ids maps placeholder IDs to real ones, vfs maps real
// edge IDs to the valid_from the store chose for "now".
func (s *sim) commit(tx int64, ids map[string]string, vfs map[string]int64) *model {
	sub := func(id string) string {
		if r, ok := ids[id]; ok {
			return r
		}
		return id
	}
	for i := range s.m.nodes {
		n := &s.m.nodes[i]
		n.ID = sub(n.ID)
		if n.TxStart == pendingTx {
			n.TxStart = tx
		}
		if n.TxEnd == pendingTx {
			n.TxEnd = tx
		}
	}
	for i := range s.m.edges {
		e := &s.m.edges[i]
		e.ID, e.From, e.To = sub(e.ID), sub(e.From), sub(e.To)
		if e.TxStart == pendingTx {
			e.TxStart = tx
		}
		if e.TxEnd == pendingTx {
			e.TxEnd = tx
		}
		if e.VF == pendingVF {
			e.VF = vfs[e.ID]
		}
	}
	s.commitRedirects(tx, sub)
	return s.m
}

func toNode(n mNode) telamentis.Node {
	return telamentis.Node{ID: n.ID, Alias: n.Alias, Label: n.Label, Props: []byte(n.Props),
		TxStart: telamentis.FromMicros(n.TxStart), TxEnd: telamentis.FromMicros(n.TxEnd)}
}

func toEdge(e mEdge) telamentis.Edge {
	return telamentis.Edge{ID: e.ID, Alias: e.Alias, From: e.From, To: e.To, Kind: e.Kind, Props: []byte(e.Props),
		ValidFrom: telamentis.FromMicros(e.VF), ValidTo: telamentis.FromMicros(e.VT),
		TxStart: telamentis.FromMicros(e.TxStart), TxEnd: telamentis.FromMicros(e.TxEnd)}
}

// validPass is the valid-time filter of q, written from DESIGN §2.
func validPass(q telamentis.Query, e mEdge) bool {
	switch {
	case !q.ValidAt.IsZero():
		t := telamentis.Micros(q.ValidAt)
		return e.VF <= t && t < e.VT
	case q.ValidBetween != nil:
		a, b := telamentis.Micros(q.ValidBetween.Start), telamentis.Micros(q.ValidBetween.End)
		return e.VF < b && e.VT > a
	case q.Allen != nil:
		iv := telamentis.SpanOf(q.Allen.Interval)
		return telamentis.Relate(telamentis.Span{Start: e.VF, End: e.VT}, iv) == q.Allen.Relation
	}
	return true
}

func asAt(q telamentis.Query) int64 {
	if q.AsAt.IsZero() {
		return nowTx
	}
	return telamentis.Micros(q.AsAt)
}

func kindOK(kinds []string, k string) bool { return len(kinds) == 0 || slices.Contains(kinds, k) }

func (m *model) queryNodes(q telamentis.Query) []telamentis.Node {
	at := asAt(q)
	var out []telamentis.Node
	for _, n := range m.nodes {
		if visible(n.TxStart, n.TxEnd, at) && (len(q.Labels) == 0 || slices.Contains(q.Labels, n.Label)) && (q.Alias == "" || q.Alias == n.Alias) {
			out = append(out, toNode(n))
		}
	}
	slices.SortFunc(out, func(a, b telamentis.Node) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (m *model) visibleEdges(q telamentis.Query) []mEdge {
	at := asAt(q)
	var out []mEdge
	for _, e := range m.edges {
		if visible(e.TxStart, e.TxEnd, at) && validPass(q, e) && kindOK(q.Kinds, e.Kind) {
			out = append(out, e)
		}
	}
	return out
}

func (m *model) queryEdges(q telamentis.Query) []telamentis.Edge {
	var out []telamentis.Edge
	for _, e := range m.visibleEdges(q) {
		if (q.From == nil || q.From.ID == e.From) && (q.To == nil || q.To.ID == e.To) {
			out = append(out, toEdge(e))
		}
	}
	slices.SortFunc(out, func(a, b telamentis.Edge) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// paths returns, for each node reached, its depth, and the levels: level k
// is the set of nodes that a walk of exactly k edges reaches.
func (m *model) paths(q telamentis.Query, start string) (map[string]int, []map[string]bool, []mEdge) {
	es := m.visibleEdges(q)
	levels := []map[string]bool{{start: true}}
	depth := map[string]int{}
	for k := 1; k <= q.Depth; k++ {
		cur, next := levels[k-1], map[string]bool{}
		for _, e := range es {
			if q.Direction != telamentis.DirIn && cur[e.From] {
				next[e.To] = true
			}
			if q.Direction != telamentis.DirOut && cur[e.To] {
				next[e.From] = true
			}
		}
		if k >= q.MinDepth {
			for n := range next {
				if _, ok := depth[n]; !ok {
					depth[n] = k
				}
			}
		}
		levels = append(levels, next)
	}
	return depth, levels, es
}

func (m *model) history(node bool, id string) []string {
	var out []string
	if node {
		for _, n := range m.nodes {
			if n.ID == id {
				out = append(out, nodeKey(toNode(n)))
			}
		}
	} else {
		for _, e := range m.edges {
			if e.ID == id {
				out = append(out, edgeKey(toEdge(e)))
			}
		}
	}
	return out // versions are appended in tx order
}

func (m *model) changes(since, until int64) []string {
	in := func(t int64) bool { return since <= t && t < until }
	var out []string
	for _, n := range m.nodes {
		v := toNode(n)
		if in(n.TxStart) {
			out = append(out, changeKey(telamentis.Change{TxTime: v.TxStart, Op: telamentis.ChangeWrite, Node: &v}))
		}
		if n.TxEnd != telamentis.Open && in(n.TxEnd) {
			out = append(out, changeKey(telamentis.Change{TxTime: v.TxEnd, Op: telamentis.ChangeClose, Node: &v}))
		}
	}
	for _, e := range m.edges {
		v := toEdge(e)
		if in(e.TxStart) {
			out = append(out, changeKey(telamentis.Change{TxTime: v.TxStart, Op: telamentis.ChangeWrite, Edge: &v}))
		}
		if e.TxEnd != telamentis.Open && in(e.TxEnd) {
			out = append(out, changeKey(telamentis.Change{TxTime: v.TxEnd, Op: telamentis.ChangeClose, Edge: &v}))
		}
	}
	slices.Sort(out)
	return out
}
