package graph

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/telamentis/telamentis"
)

// NameTx is what entity resolution and merges read of a tenant, besides
// the rest of Tx. Like Tx's reads it sees the committed state at the
// start of the write.
type NameTx interface {
	// NameProperty returns the node property whose string value is a
	// node's name (the store's configuration; DefaultNameProperty).
	NameProperty() string
	// NodesByName returns the live nodes of label that key names: key is
	// one of NameKeys(alias, props, NameProperty()) of their live version,
	// or NormalizeName of the alias of a live redirect to them. Each node
	// once, in any order.
	NodesByName(label, key string) ([]Node, error)
	// Redirects returns the live redirects to the live node n, in any
	// order.
	Redirects(n Node) ([]Redirect, error)
}

// Redirect is a version of an extra alias of a node: while it is live
// (from TxStart on, until a later write closes it) and the node Node is
// live, Alias names that node wherever no live node has Alias as its own
// alias — in Tx.Node, in every reference of a write and in reads by alias
// (as at a transaction time, the redirect and the node visible then).
// Merges create redirects for the merged node's aliases, and resolution
// (telamentis.ResolveNormalized) for the alias of an upsert it attached
// to a node that has another alias.
type Redirect struct {
	Alias string
	// Node is the ID of the node the alias names.
	Node string
	// Source is the ID of the node whose own alias Alias was before a
	// merge moved it, "" for an alias that resolution gave. Erasing
	// either node erases the redirect.
	Source  string
	TxStart int64
	// Handle is the store's own reference, as Node.Handle.
	Handle any
}

// RedirectChange is NodeChange for a redirect: it closes Old (tx_end = t)
// unless Old.Alias is "", and opens New (tx_start = t) unless New.Alias is
// "".
type RedirectChange struct {
	Old, New Redirect
}

// Closes reports whether the change closes a live redirect.
func (c *RedirectChange) Closes() bool { return c.Old.Alias != "" }

// Opens reports whether the change opens a redirect.
func (c *RedirectChange) Opens() bool { return c.New.Alias != "" }

// planNames is entity resolution's index of the write's own changes, so
// that an item of a batch finds, by name or by a redirect, the nodes the
// items before it wrote.
type planNames struct {
	prop string
	// nodes maps a name key to the node changes whose new version had it
	// (a change may have lost it since: check).
	nodes map[string][]int
	// aliases maps an alias to the redirect change that opened it; keys
	// maps an alias's name key to the redirect changes that opened one.
	aliases map[string]int
	keys    map[string][]int
	// targets holds, per redirect change, the index of its node's change
	// when the node was in the plan then, else -1.
	targets []int
}

// nameIndex returns the write's name index, making it on first use.
func (p *planner) nameIndex() *planNames {
	if p.names == nil {
		p.names = &planNames{prop: p.tx.NameProperty(), nodes: map[string][]int{}, aliases: map[string]int{}, keys: map[string][]int{}}
		for i := range p.plan.Nodes {
			p.indexNames(i)
		}
	}
	return p.names
}

// indexNames records the name keys of node change i's new version.
func (p *planner) indexNames(i int) {
	c := &p.plan.Nodes[i]
	if !c.Opens() {
		return
	}
	for _, k := range NameKeys(c.New.Alias, c.New.Props, p.names.prop) {
		if l := p.names.nodes[k]; !slices.Contains(l, i) {
			p.names.nodes[k] = append(l, i)
		}
	}
}

// addRedirect plans a redirect of alias to the node whose version is n
// (its change is i, -1 if the write has not changed it), in place of old
// (a live redirect, or none).
func (p *planner) addRedirect(old Redirect, alias string, n Node, i int, source string) {
	names := p.nameIndex()
	j := len(p.plan.Redirects)
	p.plan.Redirects = append(p.plan.Redirects, RedirectChange{Old: old,
		New: Redirect{Alias: alias, Node: n.ID, Source: source, TxStart: p.tx.Now()}})
	names.targets = append(names.targets, i)
	names.aliases[alias] = j
	if k := NormalizeName(alias); k != "" {
		names.keys[k] = append(names.keys[k], j)
	}
}

// redirected returns the live node that a redirect this write opened for
// alias names, as the write has left it so far; found is false if the
// write opened none.
func (p *planner) redirected(alias string) (Node, int, bool, error) {
	if p.names == nil {
		return Node{}, -1, false, nil
	}
	j, ok := p.names.aliases[alias]
	if !ok {
		return Node{}, -1, false, nil
	}
	return p.redirectTarget(j)
}

// redirectTarget returns the live node redirect change j opens a redirect
// to.
func (p *planner) redirectTarget(j int) (Node, int, bool, error) {
	if i := p.names.targets[j]; i >= 0 {
		if c := &p.plan.Nodes[i]; c.Opens() {
			return c.New, i, true, nil
		}
		return Node{}, -1, false, nil
	}
	return p.node(telamentis.Ref{ID: p.plan.Redirects[j].New.Node})
}

// nameMatch is the outcome of a lookup by name: the one node found, or
// the candidates when there were two or more.
type nameMatch struct {
	node       Node
	i          int
	found      bool
	candidates []Node
}

// candidateIDs returns the sorted IDs of the candidates of an ambiguous
// lookup, nil when there was none or one.
func (m *nameMatch) candidateIDs() []string {
	if m == nil || len(m.candidates) < 2 {
		return nil
	}
	ids := make([]string, len(m.candidates))
	for k, n := range m.candidates {
		ids[k] = n.ID
	}
	slices.Sort(ids)
	return ids
}

// resolveByName looks up the live nodes of in's label that one of in's
// name keys names, as the write has left them so far.
func (p *planner) resolveByName(in telamentis.NodeInput) (*nameMatch, error) {
	names := p.nameIndex()
	keys := NameKeys(in.Alias, string(in.Props), names.prop)
	m := &nameMatch{i: -1}
	seen := map[string]int{}
	add := func(n Node, i int) {
		if _, ok := seen[n.ID]; !ok {
			seen[n.ID] = i
			m.candidates = append(m.candidates, n)
		}
	}
	matches := func(n *Node) bool { return n.Label == in.Label && anyOf(NameKeys(n.Alias, n.Props, names.prop), keys) }
	for _, k := range keys {
		committed, err := p.tx.NodesByName(in.Label, k)
		if err != nil {
			return nil, err
		}
		for _, n := range committed {
			ci, changed := p.nodeChangeByID(n.ID)
			if !changed {
				add(n, -1)
				continue
			}
			// The write changed the node: it matches as changed, unless
			// the committed match was by its own keys and the write
			// changed those. (A match by a committed redirect stays: a
			// write that changes redirects is a merge, which resolves
			// nothing by name.)
			c := &p.plan.Nodes[ci]
			if c.Opens() && c.New.Label == in.Label && (matches(&c.New) || !anyOf(NameKeys(n.Alias, n.Props, names.prop), keys)) {
				add(c.New, ci)
			}
		}
		for _, ci := range names.nodes[k] {
			if c := &p.plan.Nodes[ci]; c.Opens() && matches(&c.New) {
				add(c.New, ci)
			}
		}
		for _, j := range names.keys[k] {
			if !p.plan.Redirects[j].Opens() {
				continue
			}
			n, ci, ok, err := p.redirectTarget(j)
			if err != nil {
				return nil, err
			}
			if ok && n.Label == in.Label {
				add(n, ci)
			}
		}
	}
	if len(m.candidates) == 1 {
		m.node, m.found = m.candidates[0], true
		m.i = seen[m.node.ID]
	}
	return m, nil
}

func anyOf(have, want []string) bool {
	for _, k := range have {
		if slices.Contains(want, k) {
			return true
		}
	}
	return false
}

// attach plans the update of cur, the one node an upsert with
// ResolveNormalized found by name (i is its change, -1 if none yet): its
// props take in's top-level props over its own, and it gains in's alias,
// as its own if it has none, else as an extra alias (a redirect).
func (p *planner) attach(cur Node, i int, in telamentis.NodeInput) (telamentis.NodeResult, bad, error) {
	props, err := overlayProps(cur.Props, in.Props)
	if err != nil {
		return telamentis.NodeResult{}, telamentis.Invalid("props", "with the props of the node found by name: %s", telamentis.ErrorMessage(err)), nil
	}
	res := telamentis.NodeResult{Resolved: telamentis.ResolveNormalized}
	next := cur
	next.Props = string(props)
	extra := in.Alias != "" && in.Alias != cur.Alias && cur.Alias != ""
	if in.Alias != "" && cur.Alias == "" {
		next.Alias = in.Alias // free: no live node or redirect has it
	}
	if !sameNode(&next, &cur) {
		p.stampNode(&next, i)
		p.setNode(cur, next, i)
		if i < 0 {
			i = len(p.plan.Nodes) - 1
		}
		cur, res.Changed = next, true
	}
	if extra {
		p.addRedirect(Redirect{}, in.Alias, cur, i, "")
		res.Changed = true
	}
	res.Node = nodeOut(&cur, props)
	return res, nil, nil
}

// overlayProps returns canonical props with the top-level keys of over
// set over those of base (canonical).
func overlayProps(base string, over json.RawMessage) (json.RawMessage, error) {
	var m, o map[string]json.RawMessage
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(over, &o); err != nil {
		return nil, err
	}
	if m == nil {
		m = o
	} else {
		maps.Copy(m, o)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return telamentis.CanonicalProps(b)
}
