package graph

import (
	"encoding/json"

	"github.com/telamentis/telamentis"
)

// planner plans one write. Its Plan is also the write's own state, so
// that an item of a batch sees what the items before it did (a node they
// created, an alias they moved), and a record changed twice gets one
// change holding its final version.
type planner struct {
	tx   Tx
	plan Plan

	// Indexes into plan.Nodes/plan.Edges, made once a plan holds more than
	// scanMax changes (smaller plans are scanned). byID holds existing
	// records the write changed; byAlias holds the aliases the write gave
	// or freed (-1: freed, no live record has it). New records are found
	// by alias only: nobody knows their IDs yet.
	nodeByID, nodeByAlias map[string]int
	edgeByID, edgeByAlias map[string]int

	newNodes, newEdges int
	// Entity resolution's view of the write (resolve.go): made on the
	// write's first name lookup.
	names *planNames
	// Expected changes of nodes and edges, to size the maps.
	nodeHint, edgeHint int

	// Room for the one change of most single writes.
	nodeBuf [1]NodeChange
	edgeBuf [1]EdgeChange
}

// scanMax is the size up to which a plan's changes are looked up by
// scanning them: cheaper than making and filling maps for one write.
const scanMax = 8

func newPlanner(tx Tx) *planner {
	p := &planner{tx: tx}
	p.plan.Nodes, p.plan.Edges = p.nodeBuf[:0], p.edgeBuf[:0]
	return p
}

// newBatchPlanner is newPlanner with room for a batch of nodes and edges.
func newBatchPlanner(tx Tx, nodes, edges int) *planner {
	return &planner{tx: tx, nodeHint: nodes, edgeHint: edges,
		plan: Plan{Nodes: make([]NodeChange, 0, nodes), Edges: make([]EdgeChange, 0, edges)}}
}

// nodeChangeByID returns the index of the change of the existing node id.
func (p *planner) nodeChangeByID(id string) (int, bool) {
	if p.nodeByID != nil {
		i, ok := p.nodeByID[id]
		return i, ok
	}
	for i := range p.plan.Nodes {
		if c := &p.plan.Nodes[i]; c.Closes() && c.Old.ID == id {
			return i, true
		}
	}
	return -1, false
}

// nodeChangeByAlias returns the index of the change of the node that has
// alias after the write so far, -1 if the write freed it; ok is false if
// the write did not touch the alias.
func (p *planner) nodeChangeByAlias(alias string) (int, bool) {
	if p.nodeByAlias != nil {
		i, ok := p.nodeByAlias[alias]
		return i, ok
	}
	freed := false
	for i := range p.plan.Nodes {
		c := &p.plan.Nodes[i]
		if c.Opens() && c.New.Alias == alias {
			return i, true
		}
		freed = freed || c.Old.Alias == alias
	}
	return -1, freed
}

func (p *planner) edgeChangeByID(id string) (int, bool) {
	if p.edgeByID != nil {
		i, ok := p.edgeByID[id]
		return i, ok
	}
	for i := range p.plan.Edges {
		if c := &p.plan.Edges[i]; c.Closes() && c.Old.ID == id {
			return i, true
		}
	}
	return -1, false
}

func (p *planner) edgeChangeByAlias(alias string) (int, bool) {
	if p.edgeByAlias != nil {
		i, ok := p.edgeByAlias[alias]
		return i, ok
	}
	freed := false
	for i := range p.plan.Edges {
		c := &p.plan.Edges[i]
		if c.Opens() && c.New.Alias == alias {
			return i, true
		}
		freed = freed || c.Old.Alias == alias
	}
	return -1, freed
}

// indexChanges makes the maps of changes from the plan: IDs, then the
// aliases closed versions had (freed unless a change holds them now), then
// the aliases changes hold. Aliases a change took and gave up again are
// not listed: no committed live record has them either.
func indexChanges(ids, aliases map[string]int, n int, closes, opens func(i int) (id, alias string)) {
	for i := range n {
		if id, alias := closes(i); id != "" {
			ids[id] = i
			if alias != "" {
				aliases[alias] = -1
			}
		}
	}
	for i := range n {
		if id, alias := opens(i); id != "" && alias != "" {
			aliases[alias] = i
		}
	}
}

// bad is the error of one item: code, message and fields relative to the
// item. The planner's other errors are the store's and end the write.
type bad = *telamentis.Error

// node returns the live node ref names as the write has left it so far,
// and the index of its change in the plan (-1 if the write has not
// touched it).
func (p *planner) node(ref telamentis.Ref) (Node, int, bool, error) {
	if ref.ID == "" {
		i, ok := p.nodeChangeByAlias(ref.Alias)
		if ok && i >= 0 && p.plan.Nodes[i].Opens() {
			return p.plan.Nodes[i].New, i, true, nil
		}
		if n, j, found, err := p.redirected(ref.Alias); found || err != nil {
			return n, j, found, err
		}
		if ok {
			return Node{}, -1, false, nil
		}
	}
	n, ok, err := p.tx.Node(ref)
	if err != nil || !ok {
		return Node{}, -1, false, err
	}
	if i, ok := p.nodeChangeByID(n.ID); ok {
		if !p.plan.Nodes[i].Opens() {
			return Node{}, -1, false, nil
		}
		return p.plan.Nodes[i].New, i, true, nil
	}
	return n, -1, true, nil
}

// edge is node for edges.
func (p *planner) edge(ref telamentis.Ref) (Edge, int, bool, error) {
	if ref.ID == "" {
		if i, ok := p.edgeChangeByAlias(ref.Alias); ok {
			if i < 0 || !p.plan.Edges[i].Opens() {
				return Edge{}, -1, false, nil
			}
			return p.plan.Edges[i].New, i, true, nil
		}
	}
	e, ok, err := p.tx.Edge(ref)
	if err != nil || !ok {
		return Edge{}, -1, false, err
	}
	if i, ok := p.edgeChangeByID(e.ID); ok {
		if !p.plan.Edges[i].Opens() {
			return Edge{}, -1, false, nil
		}
		return p.plan.Edges[i].New, i, true, nil
	}
	return e, -1, true, nil
}

// setNode records next as the node's version after the write. cur is its
// version so far and i its change (-1: none yet, cur is the live version).
func (p *planner) setNode(cur, next Node, i int) {
	if p.names != nil {
		j := i
		if j < 0 {
			j = len(p.plan.Nodes)
		}
		defer p.indexNames(j)
	}
	if i < 0 {
		i = len(p.plan.Nodes)
		p.plan.Nodes = append(p.plan.Nodes, NodeChange{Old: cur, New: next})
		if p.nodeByID == nil {
			if len(p.plan.Nodes) > scanMax {
				p.nodeByID, p.nodeByAlias = make(map[string]int, p.nodeHint), make(map[string]int, p.nodeHint)
				indexChanges(p.nodeByID, p.nodeByAlias, len(p.plan.Nodes),
					func(i int) (string, string) { c := &p.plan.Nodes[i]; return c.Old.ID, c.Old.Alias },
					func(i int) (string, string) { c := &p.plan.Nodes[i]; return c.New.ID, c.New.Alias })
			}
			return
		}
		if cur.ID != "" {
			p.nodeByID[cur.ID] = i
		}
	} else {
		p.plan.Nodes[i].New = next
		if p.nodeByID == nil {
			return
		}
	}
	if next.Alias != cur.Alias || cur.ID == "" {
		if cur.Alias != "" {
			p.nodeByAlias[cur.Alias] = -1
		}
		if next.Alias != "" {
			p.nodeByAlias[next.Alias] = i
		}
	}
}

// setEdge is setNode for edges.
func (p *planner) setEdge(cur, next Edge, i int) {
	if i < 0 {
		i = len(p.plan.Edges)
		p.plan.Edges = append(p.plan.Edges, EdgeChange{Old: cur, New: next})
		if p.edgeByID == nil {
			if len(p.plan.Edges) > scanMax {
				p.edgeByID, p.edgeByAlias = make(map[string]int, p.edgeHint), make(map[string]int, p.edgeHint)
				indexChanges(p.edgeByID, p.edgeByAlias, len(p.plan.Edges),
					func(i int) (string, string) { c := &p.plan.Edges[i]; return c.Old.ID, c.Old.Alias },
					func(i int) (string, string) { c := &p.plan.Edges[i]; return c.New.ID, c.New.Alias })
			}
			return
		}
		if cur.ID != "" {
			p.edgeByID[cur.ID] = i
		}
	} else {
		p.plan.Edges[i].New = next
		if p.edgeByID == nil {
			return
		}
	}
	if next.Alias != cur.Alias || cur.ID == "" {
		if cur.Alias != "" {
			p.edgeByAlias[cur.Alias] = -1
		}
		if next.Alias != "" {
			p.edgeByAlias[next.Alias] = i
		}
	}
}

// stamp sets next's tx_start: the write's time, or the live version's
// when the write has turned the record back into it.
func (p *planner) stampNode(next *Node, i int) {
	if i >= 0 {
		if old := &p.plan.Nodes[i].Old; old.ID != "" && sameNode(next, old) {
			next.TxStart = old.TxStart
			return
		}
	}
	next.TxStart = p.tx.Now()
}

func (p *planner) stampEdge(next *Edge, i int) {
	if i >= 0 {
		if old := &p.plan.Edges[i].Old; old.ID != "" && sameEdge(next, old) {
			next.TxStart = old.TxStart
			return
		}
	}
	next.TxStart = p.tx.Now()
}

func sameNode(a, b *Node) bool {
	return a.Alias == b.Alias && a.Label == b.Label && a.Props == b.Props
}

func sameEdge(a, b *Edge) bool {
	return a.Alias == b.Alias && a.Kind == b.Kind && a.Props == b.Props && a.ValidFrom == b.ValidFrom && a.ValidTo == b.ValidTo
}

// upsertNode plans a normalised node upsert. in.Props is the result's
// props either way: it equals the stored props when nothing changes.
func (p *planner) upsertNode(in telamentis.NodeInput) (telamentis.NodeResult, bad, error) {
	var cur Node
	i, found := -1, false
	var err error
	switch {
	case in.ID != "":
		if cur, i, found, err = p.node(telamentis.Ref{ID: in.ID}); err != nil {
			return telamentis.NodeResult{}, nil, err
		}
		if !found {
			return telamentis.NodeResult{}, notFound("node", "id"), nil
		}
	case in.Alias != "":
		if cur, i, found, err = p.node(telamentis.Ref{Alias: in.Alias}); err != nil {
			return telamentis.NodeResult{}, nil, err
		}
	}
	var byName *nameMatch
	if !found && in.ID == "" && in.Resolve == telamentis.ResolveNormalized {
		if byName, err = p.resolveByName(in); err != nil {
			return telamentis.NodeResult{}, nil, err
		}
		cur, i, found = byName.node, byName.i, byName.found
	}
	if !found {
		n, err := p.tx.NewNode()
		if err != nil {
			return telamentis.NodeResult{}, nil, err
		}
		n.Alias, n.Label, n.Props, n.TxStart = in.Alias, in.Label, string(in.Props), p.tx.Now()
		p.setNode(Node{}, n, -1)
		p.newNodes++
		return telamentis.NodeResult{Node: nodeOut(&n, in.Props), Created: true, Changed: true, Candidates: byName.candidateIDs()}, nil, nil
	}
	if byName != nil {
		return p.attach(cur, i, in)
	}
	next := cur
	next.Label, next.Props = in.Label, string(in.Props)
	// Found by alias, the node keeps its own alias (the one it was found
	// by, or its own when found by an extra alias).
	if in.ID != "" && in.Alias != "" && in.Alias != cur.Alias {
		other, _, taken, err := p.node(telamentis.Ref{Alias: in.Alias})
		if err != nil {
			return telamentis.NodeResult{}, nil, err
		}
		if taken && other.ID != cur.ID {
			return telamentis.NodeResult{}, aliasTaken("node"), nil
		}
		next.Alias = in.Alias
	}
	if sameNode(&next, &cur) {
		return telamentis.NodeResult{Node: nodeOut(&cur, in.Props)}, nil, nil
	}
	p.stampNode(&next, i)
	p.setNode(cur, next, i)
	return telamentis.NodeResult{Node: nodeOut(&next, in.Props), Changed: true}, nil, nil
}

// upsertEdge plans a normalised edge upsert.
func (p *planner) upsertEdge(in telamentis.EdgeInput) (telamentis.EdgeResult, bad, error) {
	var cur Edge
	i, found := -1, false
	var err error
	var missing []telamentis.FieldError
	if in.ID != "" {
		if cur, i, found, err = p.edge(telamentis.Ref{ID: in.ID}); err != nil {
			return telamentis.EdgeResult{}, nil, err
		}
		if !found {
			missing = append(missing, telamentis.FieldError{Field: "id", Message: "edge not found"})
		}
	}
	from, _, okFrom, err := p.node(in.From)
	if err != nil {
		return telamentis.EdgeResult{}, nil, err
	}
	if !okFrom {
		missing = append(missing, telamentis.FieldError{Field: "from", Message: "node not found"})
	}
	to, _, okTo, err := p.node(in.To)
	if err != nil {
		return telamentis.EdgeResult{}, nil, err
	}
	if !okTo {
		missing = append(missing, telamentis.FieldError{Field: "to", Message: "node not found"})
	}
	if len(missing) > 0 {
		return telamentis.EdgeResult{}, &telamentis.Error{Code: telamentis.CodeNotFound, Message: missing[0].Message, Fields: missing}, nil
	}
	if in.ID == "" && in.Alias != "" {
		if cur, i, found, err = p.edge(telamentis.Ref{Alias: in.Alias}); err != nil {
			return telamentis.EdgeResult{}, nil, err
		}
	}
	vt := telamentis.Micros(in.ValidTo)
	if !found {
		vf := telamentis.Micros(in.ValidFrom)
		if in.ValidFrom.IsZero() {
			vf = p.tx.Now()
		}
		if vt <= vf {
			return telamentis.EdgeResult{}, afterValidFrom(), nil
		}
		e, err := p.tx.NewEdge(from, to)
		if err != nil {
			return telamentis.EdgeResult{}, nil, err
		}
		e.Alias, e.Kind, e.Props, e.ValidFrom, e.ValidTo, e.TxStart = in.Alias, in.Kind, string(in.Props), vf, vt, p.tx.Now()
		p.setEdge(Edge{}, e, -1)
		p.newEdges++
		return telamentis.EdgeResult{Edge: edgeOut(&e, in.Props), Created: true, Changed: true}, nil, nil
	}
	var fields fieldList
	if from.ID != cur.From {
		fields.add("from", "cannot change once the edge exists")
	}
	if to.ID != cur.To {
		fields.add("to", "cannot change once the edge exists")
	}
	next := cur
	if !in.ValidFrom.IsZero() {
		next.ValidFrom = telamentis.Micros(in.ValidFrom)
	}
	next.ValidTo = vt
	if next.ValidTo <= next.ValidFrom {
		fields.add("valid_to", "must be after valid_from")
	}
	if len(fields) > 0 {
		return telamentis.EdgeResult{}, fields.invalid(), nil
	}
	next.Kind, next.Props = in.Kind, string(in.Props)
	if in.Alias != "" && in.Alias != cur.Alias {
		other, _, taken, err := p.edge(telamentis.Ref{Alias: in.Alias})
		if err != nil {
			return telamentis.EdgeResult{}, nil, err
		}
		if taken && other.ID != cur.ID {
			return telamentis.EdgeResult{}, aliasTaken("edge"), nil
		}
		next.Alias = in.Alias
	}
	if sameEdge(&next, &cur) {
		return telamentis.EdgeResult{Edge: edgeOut(&cur, in.Props)}, nil, nil
	}
	p.stampEdge(&next, i)
	p.setEdge(cur, next, i)
	return telamentis.EdgeResult{Edge: edgeOut(&next, in.Props), Changed: true}, nil, nil
}

// invalidate plans a new version of the live edge ref names, valid until
// at (µs).
func (p *planner) invalidate(ref telamentis.Ref, at int64) (telamentis.EdgeResult, error) {
	cur, i, ok, err := p.edge(ref)
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	if !ok {
		return telamentis.EdgeResult{}, telamentis.NotFound("edge")
	}
	if at <= cur.ValidFrom {
		return telamentis.EdgeResult{}, telamentis.Invalid("at", "must be after valid_from")
	}
	props := json.RawMessage(cur.Props)
	if at == cur.ValidTo {
		return telamentis.EdgeResult{Edge: edgeOut(&cur, props)}, nil
	}
	next := cur
	next.ValidTo = at
	p.stampEdge(&next, i)
	p.setEdge(cur, next, i)
	return telamentis.EdgeResult{Edge: edgeOut(&next, props), Changed: true}, nil
}

// retractNode plans closing the live node ref names and every live edge
// touching it, with no successors.
func (p *planner) retractNode(ref telamentis.Ref) (telamentis.RetractResult, error) {
	cur, i, ok, err := p.node(ref)
	if err != nil {
		return telamentis.RetractResult{}, err
	}
	if !ok {
		return telamentis.RetractResult{}, telamentis.NotFound("node")
	}
	edges, err := p.tx.LiveEdges(cur)
	if err != nil {
		return telamentis.RetractResult{}, err
	}
	p.setNode(cur, Node{}, i)
	res := telamentis.RetractResult{TxTime: telamentis.FromMicros(p.tx.Now()), Nodes: 1}
	for _, e := range edges {
		if j, ok := p.edgeChangeByID(e.ID); ok {
			if !p.plan.Edges[j].Opens() {
				continue
			}
			e = p.plan.Edges[j].New
			p.setEdge(e, Edge{}, j)
		} else {
			p.setEdge(e, Edge{}, -1)
		}
		res.Edges++
	}
	return res, nil
}

// retractEdge plans closing the live edge ref names.
func (p *planner) retractEdge(ref telamentis.Ref) (telamentis.RetractResult, error) {
	cur, i, ok, err := p.edge(ref)
	if err != nil {
		return telamentis.RetractResult{}, err
	}
	if !ok {
		return telamentis.RetractResult{}, telamentis.NotFound("edge")
	}
	p.setEdge(cur, Edge{}, i)
	return telamentis.RetractResult{TxTime: telamentis.FromMicros(p.tx.Now()), Edges: 1}, nil
}

// finish drops the changes that, after every item, leave a record as it
// was, and checks the quotas for the records the write creates.
func (p *planner) finish() (Plan, error) {
	p.plan.Nodes = dropNoops(p.plan.Nodes, func(c *NodeChange) bool { return c.Closes() && c.Opens() && sameNode(&c.New, &c.Old) })
	p.plan.Edges = dropNoops(p.plan.Edges, func(c *EdgeChange) bool { return c.Closes() && c.Opens() && sameEdge(&c.New, &c.Old) })
	if p.newNodes == 0 && p.newEdges == 0 {
		return p.plan, nil
	}
	c, err := p.tx.Counts()
	if err != nil {
		return Plan{}, err
	}
	if p.newNodes > 0 && c.MaxNodes > 0 && c.Nodes+int64(p.newNodes) > c.MaxNodes {
		return Plan{}, telamentis.Errorf(telamentis.CodeQuota, "node quota of %d reached", c.MaxNodes)
	}
	if p.newEdges > 0 && c.MaxEdges > 0 && c.Edges+int64(p.newEdges) > c.MaxEdges {
		return Plan{}, telamentis.Errorf(telamentis.CodeQuota, "edge quota of %d reached", c.MaxEdges)
	}
	return p.plan, nil
}

func dropNoops[T any](s []T, noop func(*T) bool) []T {
	n := 0
	for i := range s {
		if !noop(&s[i]) {
			s[n] = s[i]
			n++
		}
	}
	clear(s[n:])
	return s[:n]
}

// nodeOut is the result form of a version; props is its canonical props.
func nodeOut(n *Node, props json.RawMessage) telamentis.Node {
	return telamentis.Node{ID: n.ID, Alias: n.Alias, Label: n.Label, Props: props, TxStart: telamentis.FromMicros(n.TxStart)}
}

func edgeOut(e *Edge, props json.RawMessage) telamentis.Edge {
	return telamentis.Edge{ID: e.ID, Alias: e.Alias, From: e.From, To: e.To, Kind: e.Kind, Props: props,
		ValidFrom: telamentis.FromMicros(e.ValidFrom), ValidTo: telamentis.FromMicros(e.ValidTo), TxStart: telamentis.FromMicros(e.TxStart)}
}
