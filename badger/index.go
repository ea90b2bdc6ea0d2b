package badger

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/telamentis/telamentis"
)

const open = telamentis.Open

// nodeVer is one version of a node. Strings are immutable and shared.
type nodeVer struct {
	txStart, txEnd int64
	label, alias   string
	props          string
}

type nodeRec struct {
	id    id16
	idStr string
	vers  []nodeVer // by txStart, non-overlapping
	out   []*edgeRec
	in    []*edgeRec // both sorted by edge ID
}

type edgeVer struct {
	txStart, txEnd int64
	vf, vt         int64
	kind, alias    string
	props          string
}

type edgeRec struct {
	id       id16
	from, to *nodeRec
	vers     []edgeVer
	// v0 holds the first version in the record's own allocation (most
	// edges have one version), saving a pointer chase on every scan.
	v0 [1]edgeVer
}

func newEdgeRec(id id16, from, to *nodeRec) *edgeRec {
	r := &edgeRec{id: id}
	r.setEnds(from, to)
	r.vers = r.v0[:0]
	return r
}

func (r *edgeRec) setEnds(from, to *nodeRec) {
	r.from, r.to = from, to
}

// edgeSlab hands out edge records from contiguous chunks: records loaded
// or imported together (in ID order) sit next to each other in memory, so
// scans of ID-sorted lists read memory mostly in order.
type edgeSlab struct{ chunk []edgeRec }

func (s *edgeSlab) new(id id16, from, to *nodeRec) *edgeRec {
	if len(s.chunk) == 0 {
		s.chunk = make([]edgeRec, 1024)
	}
	r := &s.chunk[0]
	s.chunk = s.chunk[1:]
	r.id = id
	r.setEnds(from, to)
	r.vers = r.v0[:0]
	return r
}

func (r *nodeRec) key() id16 { return r.id }
func (r *edgeRec) key() id16 { return r.id }

// at returns the version visible at T (tx_start ≤ T < tx_end), or nil.
func (r *nodeRec) at(T int64) *nodeVer {
	for i := len(r.vers) - 1; i >= 0; i-- {
		v := &r.vers[i]
		if v.txStart <= T {
			if T < v.txEnd {
				return v
			}
			return nil
		}
	}
	return nil
}

// live returns the current version (tx_end open), or nil if retracted.
func (r *nodeRec) live() *nodeVer {
	if n := len(r.vers); n > 0 && r.vers[n-1].txEnd == open {
		return &r.vers[n-1]
	}
	return nil
}

func (r *edgeRec) at(T int64) *edgeVer {
	for i := len(r.vers) - 1; i >= 0; i-- {
		v := &r.vers[i]
		if v.txStart <= T {
			if T < v.txEnd {
				return v
			}
			return nil
		}
	}
	return nil
}

func (r *edgeRec) live() *edgeVer {
	if n := len(r.vers); n > 0 && r.vers[n-1].txEnd == open {
		return &r.vers[n-1]
	}
	return nil
}

// kindEntry is an edge in a per-kind list, with a copy of its latest
// version's times, IDs and props: a scan at a transaction time at or after
// that version's start decides from the entry alone and builds the result
// row from it, without touching the edge, so the interval-overlap scans
// read the list sequentially (and a cursor resumes by binary search over
// the entries' own IDs).
type kindEntry struct {
	r                *edgeRec
	id, fromID, toID id16
	txStart, txEnd   int64
	vf, vt           int64
	props            string // shared with the version; immutable
	sameKind         bool   // the latest version has the list's kind
	aliased          bool   // the latest version has an alias (read it from r)
}

func (e kindEntry) key() id16 { return e.id }

func newKindEntry(r *edgeRec, kind string) kindEntry {
	v := &r.vers[len(r.vers)-1]
	return kindEntry{
		r: r, id: r.id, fromID: r.from.id, toID: r.to.id,
		txStart: v.txStart, txEnd: v.txEnd, vf: v.vf, vt: v.vt, props: v.props,
		sameKind: v.kind == kind, aliased: v.alias != "",
	}
}

// refreshKinds updates r's entries in the kind lists after its latest
// version changed (appended or closed). The caller holds mu.
func (ts *tenantState) refreshKinds(r *edgeRec) {
	for i := range r.vers {
		k := r.vers[i].kind
		if i > 0 && slices.ContainsFunc(r.vers[:i], func(v edgeVer) bool { return v.kind == k }) {
			continue
		}
		l := ts.byKind[k]
		if j := searchID(l, r.id); j < len(l) && l[j].r == r {
			l[j] = newKindEntry(r, k)
		}
	}
}

// event is one entry of the changes feed: version vi of a node or an edge
// was written (op 1) or closed (op 0) at t.
type event struct {
	t  int64
	n  *nodeRec
	e  *edgeRec
	vi int32
	op uint8
}

func (ev *event) id() id16 {
	if ev.n != nil {
		return ev.n.id
	}
	return ev.e.id
}

func (ev *event) tag() uint8 {
	if ev.n != nil {
		return 0
	}
	return 1
}

// cmpEvent orders the changes feed: time, nodes before edges, ID, close
// before write.
func cmpEvent(a, b *event) int {
	switch {
	case a.t != b.t:
		if a.t < b.t {
			return -1
		}
		return 1
	case a.tag() != b.tag():
		return int(a.tag()) - int(b.tag())
	}
	if c := cmpID(a.id(), b.id()); c != 0 {
		return c
	}
	return int(a.op) - int(b.op)
}

// tenantState is a tenant's in-memory index over its records in Badger.
//
// Writers serialise on planMu. A writer plans its change against the live
// state, applies it to the index under mu, queues it for commit and waits.
// Readers hold mu.RLock and read the state as of visible, the newest
// transaction time whose commit finished: versions of changes still being
// committed have later tx times and are invisible, so a reader never sees
// a change before it is durable, and a failed commit is never seen.
type tenantState struct {
	id string
	h  *dbHandle

	planMu sync.Mutex
	mu     sync.RWMutex

	visible atomic.Int64
	rec     telamentis.Tenant // guarded by mu
	dropped bool              // guarded by planMu

	nodes         map[id16]*nodeRec // edges are found in allEdges by binary search
	liveNodeAlias map[string]*nodeRec
	liveEdgeAlias map[string]*edgeRec
	nodeAliases   map[string][]*nodeRec // every node that ever had the alias
	edgeAliases   map[string][]*edgeRec
	allNodes      []*nodeRec             // sorted by ID
	allEdges      []*edgeRec             // sorted by ID
	byLabel       map[string][]*nodeRec  // nodes that ever had the label
	byKind        map[string][]kindEntry // edges that ever had the kind
	intern        map[string]string

	// The changes feed is built on the first changes query (most tenants
	// never ask) and maintained from then on.
	evMu     sync.Mutex // guards building and sorting under mu.RLock
	evBuilt  bool
	events   []event
	evSorted bool

	liveNodes, liveEdges       int64
	nodeVersions, edgeVersions int64
	bytes                      int64

	nm nameState // alias redirects and the name index (names.go)
}

func newTenantState(rec telamentis.Tenant, h *dbHandle) *tenantState {
	return &tenantState{
		id: rec.ID, h: h, rec: rec,
		nodes:         make(map[id16]*nodeRec),
		liveNodeAlias: make(map[string]*nodeRec),
		liveEdgeAlias: make(map[string]*edgeRec),
		nodeAliases:   make(map[string][]*nodeRec),
		edgeAliases:   make(map[string][]*edgeRec),
		byLabel:       make(map[string][]*nodeRec),
		byKind:        make(map[string][]kindEntry),
		intern:        make(map[string]string),
		evSorted:      true,
	}
}

// internBytes returns the interned string equal to b (no allocation when
// it is known).
func (ts *tenantState) internBytes(b []byte) string {
	if v, ok := ts.intern[string(b)]; ok {
		return v
	}
	s := string(b)
	ts.intern[s] = s
	return s
}

func (ts *tenantState) internStr(s string) string {
	if v, ok := ts.intern[s]; ok {
		return v
	}
	ts.intern[s] = s
	return s
}

// edgeByID returns the edge with id, or nil.
func (ts *tenantState) edgeByID(id id16) *edgeRec {
	i := searchID(ts.allEdges, id)
	if i < len(ts.allEdges) && ts.allEdges[i].id == id {
		return ts.allEdges[i]
	}
	return nil
}

// sortedEvents returns the events in feed order, building the feed on
// first use. The caller holds mu (read or write).
func (ts *tenantState) sortedEvents() []event {
	ts.evMu.Lock()
	defer ts.evMu.Unlock()
	if !ts.evBuilt {
		ts.events = ts.buildEvents()
		ts.evBuilt, ts.evSorted = true, false
	}
	if !ts.evSorted {
		slices.SortFunc(ts.events, func(a, b event) int { return cmpEvent(&a, &b) })
		ts.evSorted = true
	}
	return ts.events
}

// buildEvents lists the write and close events of every stored version.
func (ts *tenantState) buildEvents() []event {
	evs := make([]event, 0, 2*(ts.nodeVersions+ts.edgeVersions))
	for _, r := range ts.allNodes {
		for i := range r.vers {
			v := &r.vers[i]
			evs = append(evs, event{t: v.txStart, n: r, vi: int32(i), op: 1})
			if v.txEnd != open {
				evs = append(evs, event{t: v.txEnd, n: r, vi: int32(i), op: 0})
			}
		}
	}
	for _, r := range ts.allEdges {
		for i := range r.vers {
			v := &r.vers[i]
			evs = append(evs, event{t: v.txStart, e: r, vi: int32(i), op: 1})
			if v.txEnd != open {
				evs = append(evs, event{t: v.txEnd, e: r, vi: int32(i), op: 0})
			}
		}
	}
	return evs
}

// appendEvents adds events of one commit (all at times after every earlier
// event unless imported). The caller holds mu.
func (ts *tenantState) appendEvents(evs []event) {
	if len(evs) == 0 || !ts.evBuilt {
		return
	}
	slices.SortFunc(evs, func(a, b event) int { return cmpEvent(&a, &b) })
	if n := len(ts.events); n > 0 && cmpEvent(&ts.events[n-1], &evs[0]) > 0 {
		ts.evSorted = false
	}
	ts.events = append(ts.events, evs...)
}

func nodeVerBytes(tenant string, v *nodeVer) int64 {
	return int64(len(tenant) + 27 + 12 + len(v.label) + len(v.alias) + len(v.props))
}

func edgeVerBytes(tenant string, v *edgeVer) int64 {
	return int64(len(tenant) + 27 + 60 + len(v.kind) + len(v.alias) + len(v.props))
}

// addNodeVersion appends v to r (a new record is registered first) and
// updates every index. Closing the previous version is the caller's job.
// The caller holds mu.
func (ts *tenantState) addNodeVersion(r *nodeRec, v nodeVer, isNew bool) {
	v.label = ts.internStr(v.label)
	if isNew {
		ts.nodes[r.id] = r
		ts.allNodes = insertSorted(ts.allNodes, r)
	}
	r.vers = append(r.vers, v)
	ts.nodeVersions++
	ts.bytes += nodeVerBytes(ts.id, &v)
	ts.byLabel[v.label] = insertSorted(ts.byLabel[v.label], r)
	if v.alias != "" {
		if l := ts.nodeAliases[v.alias]; !slices.Contains(l, r) {
			ts.nodeAliases[v.alias] = append(l, r)
		}
	}
}

func (ts *tenantState) addEdgeVersion(r *edgeRec, v edgeVer, isNew bool) {
	v.kind = ts.internStr(v.kind)
	if isNew {
		ts.allEdges = insertSorted(ts.allEdges, r)
		r.from.out = insertSorted(r.from.out, r)
		r.to.in = insertSorted(r.to.in, r)
	}
	r.vers = append(r.vers, v)
	ts.edgeVersions++
	ts.bytes += edgeVerBytes(ts.id, &v)
	ts.byKind[v.kind] = insertSorted(ts.byKind[v.kind], newKindEntry(r, v.kind))
	ts.refreshKinds(r)
	if v.alias != "" {
		if l := ts.edgeAliases[v.alias]; !slices.Contains(l, r) {
			ts.edgeAliases[v.alias] = append(l, r)
		}
	}
}

// removeNode drops a node record from every index (erase). Its edges must
// be removed first. The caller holds mu.
func (ts *tenantState) removeNode(r *nodeRec) {
	delete(ts.nodes, r.id)
	ts.allNodes = removeSorted(ts.allNodes, r.id)
	for i := range r.vers {
		v := &r.vers[i]
		ts.nodeVersions--
		ts.bytes -= nodeVerBytes(ts.id, v)
		if l, ok := ts.byLabel[v.label]; ok {
			if l = removeSorted(l, r.id); len(l) == 0 {
				delete(ts.byLabel, v.label)
			} else {
				ts.byLabel[v.label] = l
			}
		}
		if v.alias != "" {
			if l := removeRec(ts.nodeAliases[v.alias], r); len(l) == 0 {
				delete(ts.nodeAliases, v.alias)
			} else {
				ts.nodeAliases[v.alias] = l
			}
			if ts.liveNodeAlias[v.alias] == r {
				delete(ts.liveNodeAlias, v.alias)
			}
		}
	}
	if r.live() != nil {
		ts.liveNodes--
	}
}

// removeEdges drops edge records from every index (erase). Long lists are
// filtered in one pass, so erasing a hub with thousands of edges stays
// linear. The caller holds mu.
func (ts *tenantState) removeEdges(set map[*edgeRec]bool) {
	if len(set) == 0 {
		return
	}
	gone := func(r *edgeRec) bool { return set[r] }
	kinds := map[string]bool{}
	for r := range set {
		r.from.out = removeSorted(r.from.out, r.id)
		r.to.in = removeSorted(r.to.in, r.id)
		for i := range r.vers {
			v := &r.vers[i]
			ts.edgeVersions--
			ts.bytes -= edgeVerBytes(ts.id, v)
			kinds[v.kind] = true
			if v.alias != "" {
				if l := removeRec(ts.edgeAliases[v.alias], r); len(l) == 0 {
					delete(ts.edgeAliases, v.alias)
				} else {
					ts.edgeAliases[v.alias] = l
				}
				if ts.liveEdgeAlias[v.alias] == r {
					delete(ts.liveEdgeAlias, v.alias)
				}
			}
		}
		if r.live() != nil {
			ts.liveEdges--
		}
	}
	if len(set) > 8 {
		ts.allEdges = slices.DeleteFunc(ts.allEdges, gone)
	} else {
		for r := range set {
			ts.allEdges = removeSorted(ts.allEdges, r.id)
		}
	}
	for k := range kinds {
		l := ts.byKind[k]
		if len(set) > 8 {
			l = slices.DeleteFunc(l, func(e kindEntry) bool { return set[e.r] })
		} else {
			for r := range set {
				l = removeSorted(l, r.id)
			}
		}
		if len(l) == 0 {
			delete(ts.byKind, k)
		} else {
			ts.byKind[k] = l
		}
	}
	for r := range set {
		// The record may share a slab with live ones: drop its data now.
		r.vers, r.v0 = nil, [1]edgeVer{}
	}
}

// dropEvents removes the events of erased records. The caller holds mu.
func (ts *tenantState) dropEvents(nodes map[*nodeRec]bool, edges map[*edgeRec]bool) {
	ts.evMu.Lock()
	defer ts.evMu.Unlock()
	if !ts.evBuilt {
		return
	}
	ts.events = slices.DeleteFunc(ts.events, func(ev event) bool {
		return (ev.n != nil && nodes[ev.n]) || (ev.e != nil && edges[ev.e])
	})
}
