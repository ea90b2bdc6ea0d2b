package badger

import (
	"context"
	"math"
	"slices"
	"strconv"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/graph"
)

// Import implements telamentis.Importer: it writes versions with their
// original transaction times (restores, benchmarks). IDs must be new to the
// tenant; edges may reference nodes of the tenant or of this import. It
// bypasses quotas. It is durable but, unlike ApplyBatch, not atomic when it
// is larger than one Badger transaction; the index changes only after every
// key is written. Validation and encoding run before the tenant is locked,
// so concurrent imports overlap their CPU work.
func (s *Store) Import(ctx context.Context, tenant string, nodes []telamentis.Node, edges []telamentis.Edge) error {
	if _, err := s.tenant(tenant); err != nil {
		return err
	}
	// Phase 1, stateless: validate, canonicalise, group versions, encode.
	p := newImportPlan(tenant, len(nodes)+len(edges))
	if err := p.addNodes(nodes); err != nil {
		return err
	}
	if err := p.addEdges(edges); err != nil {
		return err
	}
	if p.propsErr != nil {
		return p.propsErr
	}
	if err := p.checkLiveAliases(); err != nil {
		return err
	}
	if len(p.kvs) == 0 {
		return nil
	}
	// The new edges in ID order, to check them against the tenant's and
	// merge them into its ID-sorted list in one pass each.
	p.sorted = slices.Clone(p.edgeOrder)
	slices.SortFunc(p.sorted, func(a, b *edgeRec) int { return cmpID(a.id, b.id) })

	// Phase 2, under the tenant's write lock: check against the tenant,
	// write, index.
	ts, err := s.beginWrite(ctx, tenant)
	if err != nil {
		return err
	}
	defer ts.planMu.Unlock()
	if err := ts.h.barrier(); err != nil {
		return wrapErr("import", err)
	}
	pos, err := ts.checkImport(p)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ts.h.writeBatch(p.kvs); err != nil {
		return wrapErr("import", err)
	}
	ts.indexImport(p, pos)
	if p.maxTx > math.MinInt64 {
		s.clock.Observe(ts.id, p.maxTx)
		if p.maxTx > ts.visible.Load() {
			ts.visible.Store(p.maxTx)
		}
	}
	return nil
}

// importPlan is what Import builds before it locks the tenant: the
// imported records with their versions, and their encoded keys and values.
type importPlan struct {
	tenant    string
	newNodes  map[id16]*nodeRec
	nodeOrder []*nodeRec
	newEdges  map[id16]int // index in edgeOrder
	ends      []importEnds // of edgeOrder[k]
	edgeOrder []*edgeRec
	sorted    []*edgeRec // edgeOrder by ID
	kvs       []kv
	maxTx     int64
	// The first props error is reported after every version's other
	// checks, as the other stores find it (while streaming the rows).
	propsErr error

	mem       bump
	propMem   strArena
	kindProps kindArenas
	slab      edgeSlab
	scratch   []byte
}

// importEnds holds an imported edge's endpoints and its first row's index.
type importEnds struct {
	from, to id16
	row      int
}

func newImportPlan(tenant string, rows int) *importPlan {
	return &importPlan{tenant: tenant, maxTx: math.MinInt64, kvs: make([]kv, 0, rows)}
}

// addNodes checks, canonicalises, groups and encodes the node versions.
func (p *importPlan) addNodes(nodes []telamentis.Node) error {
	p.newNodes = make(map[id16]*nodeRec, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		nid, err := graph.CheckImportNode(i, n)
		if err != nil {
			return err
		}
		id := id16(nid)
		props, err := telamentis.AppendCanonicalProps(p.scratch[:0], n.Props)
		if err != nil && p.propsErr == nil {
			p.propsErr = graph.ImportPropsError("nodes", i, err)
		}
		p.scratch = props[:0]
		v := nodeVer{txStart: telamentis.Micros(n.TxStart), txEnd: telamentis.Micros(n.TxEnd), label: n.Label, alias: n.Alias, props: p.propMem.add(props)}
		r := p.newNodes[id]
		if r == nil {
			r = &nodeRec{id: id, idStr: id.String()}
			p.newNodes[id] = r
			p.nodeOrder = append(p.nodeOrder, r)
		} else if last := &r.vers[len(r.vers)-1]; last.txEnd > v.txStart {
			return graph.ImportOverlap("nodes", i)
		}
		r.vers = append(r.vers, v)
		p.maxTx = max(p.maxTx, v.txStart, ifClosed(v.txEnd))
		p.kvs = append(p.kvs, kv{
			key:   appendVersionKey(p.mem.take(versionKeyLen(p.tenant)), p.tenant, tagNode, id, v.txStart),
			value: appendNode(p.mem.take(nodeLen(&v)), &v),
		})
	}
	return nil
}

// addEdges checks, canonicalises, groups and encodes the edge versions.
func (p *importPlan) addEdges(edges []telamentis.Edge) error {
	p.newEdges = make(map[id16]int, len(edges))
	for i := range edges {
		e := &edges[i]
		ids, err := graph.CheckImportEdge(i, e)
		if err != nil {
			return err
		}
		id, from, to := id16(ids[0]), id16(ids[1]), id16(ids[2])
		props, err := telamentis.AppendCanonicalProps(p.scratch[:0], e.Props)
		if err != nil && p.propsErr == nil {
			p.propsErr = graph.ImportPropsError("edges", i, err)
		}
		p.scratch = props[:0]
		v := edgeVer{
			txStart: telamentis.Micros(e.TxStart), txEnd: telamentis.Micros(e.TxEnd),
			vf: telamentis.Micros(e.ValidFrom), vt: telamentis.Micros(e.ValidTo),
			kind: e.Kind, alias: e.Alias, props: p.kindProps.get(e.Kind).add(props),
		}
		var r *edgeRec
		if k, ok := p.newEdges[id]; !ok {
			r = p.slab.new(id, nil, nil)
			p.newEdges[id] = len(p.edgeOrder)
			p.ends = append(p.ends, importEnds{from, to, i})
			p.edgeOrder = append(p.edgeOrder, r)
		} else {
			r = p.edgeOrder[k]
			if en := p.ends[k]; en.from != from || en.to != to {
				return graph.ImportEndpoints(i)
			}
			if last := &r.vers[len(r.vers)-1]; last.txEnd > v.txStart {
				return graph.ImportOverlap("edges", i)
			}
		}
		r.vers = append(r.vers, v)
		p.maxTx = max(p.maxTx, v.txStart, ifClosed(v.txEnd))
		p.kvs = append(p.kvs, kv{
			key:   appendVersionKey(p.mem.take(versionKeyLen(p.tenant)), p.tenant, tagEdge, id, v.txStart),
			value: appendEdge(p.mem.take(edgeLen(&v)), from, to, &v),
		})
	}
	return nil
}

// checkLiveAliases refuses two live records of the import with one alias.
func (p *importPlan) checkLiveAliases() error {
	liveAlias := map[string]bool{}
	for _, r := range p.nodeOrder {
		if v := r.live(); v != nil && v.alias != "" {
			if liveAlias[v.alias] {
				return telamentis.Errorf(telamentis.CodeConflict, "alias %q belongs to two live nodes", v.alias)
			}
			liveAlias[v.alias] = true
		}
	}
	liveEdgeAlias := map[string]bool{}
	for _, r := range p.edgeOrder {
		if v := r.live(); v != nil && v.alias != "" {
			if liveEdgeAlias[v.alias] {
				return telamentis.Errorf(telamentis.CodeConflict, "alias %q belongs to two live edges", v.alias)
			}
			liveEdgeAlias[v.alias] = true
		}
	}
	return nil
}

// checkImport checks plan p against the tenant's records, under its write
// lock: IDs new, live aliases free, endpoints found (and set on the new
// edges). It returns where each of p.sorted goes in ts.allEdges.
func (ts *tenantState) checkImport(p *importPlan) ([]int, error) {
	for _, r := range p.nodeOrder {
		if _, exists := ts.nodes[r.id]; exists {
			return nil, telamentis.Errorf(telamentis.CodeConflict, "node %s already exists", r.id)
		}
		if v := r.live(); v != nil && v.alias != "" && ts.liveNodeAlias[v.alias] != nil {
			return nil, telamentis.Errorf(telamentis.CodeConflict, "alias %q belongs to a live node", v.alias)
		}
	}
	pos := make([]int, len(p.sorted))
	lo := 0
	for k, r := range p.sorted {
		j := gallopID(ts.allEdges, lo, r.id)
		if j < len(ts.allEdges) && ts.allEdges[j].id == r.id {
			return nil, telamentis.Errorf(telamentis.CodeConflict, "edge %s already exists", r.id)
		}
		pos[k], lo = j, j
	}
	node := func(id id16) *nodeRec {
		if r := p.newNodes[id]; r != nil {
			return r
		}
		return ts.nodes[id]
	}
	for k, r := range p.edgeOrder {
		if v := r.live(); v != nil && v.alias != "" && ts.liveEdgeAlias[v.alias] != nil {
			return nil, telamentis.Errorf(telamentis.CodeConflict, "alias %q belongs to a live edge", v.alias)
		}
		en := p.ends[k]
		if r.setEnds(node(en.from), node(en.to)); r.from == nil || r.to == nil {
			field := "from"
			if r.from != nil {
				field = "to"
			}
			return nil, fieldErr(telamentis.CodeNotFound, "edges["+strconv.Itoa(en.row)+"]."+field, "node not found")
		}
	}
	return pos, nil
}

// indexImport adds the written records of p to the tenant's index; pos is
// checkImport's.
func (ts *tenantState) indexImport(p *importPlan, pos []int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	nStart := len(ts.allNodes)
	for _, r := range p.nodeOrder {
		for i := range r.vers {
			r.vers[i].label = ts.internStr(r.vers[i].label)
		}
		ts.nodes[r.id] = r
		ts.allNodes = append(ts.allNodes, r)
	}
	touched := map[*nodeRec][2]int{}
	for _, r := range p.edgeOrder {
		for i := range r.vers {
			r.vers[i].kind = ts.internStr(r.vers[i].kind)
		}
		for _, n := range []*nodeRec{r.from, r.to} {
			if _, ok := touched[n]; !ok {
				touched[n] = [2]int{len(n.out), len(n.in)}
			}
		}
		r.from.out = append(r.from.out, r)
		r.to.in = append(r.to.in, r)
	}
	for n, st := range touched {
		n.out = sortTail(n.out, st[0])
		n.in = sortTail(n.in, st[1])
	}
	ts.allNodes = sortTail(ts.allNodes, nStart)
	ts.allEdges = insertAt(ts.allEdges, p.sorted, pos)
	ts.indexLoaded(p.nodeOrder, p.edgeOrder)
}
