package badger

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	bdb "github.com/dgraph-io/badger/v4"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/graph"
)

// Entity resolution and merges: alias redirects, stored like versions,
// and the normalised-name index, derived in memory.

// tagRedirect keys alias redirects: "g" tenant 0x00 'r', the redirect's
// own 16-byte ID and its tx_start. Each redirect version has its own ID;
// closing one rewrites its value.
const tagRedirect = 'r'

// redirectRec is a version of an alias redirect (graph.Redirect).
type redirectRec struct {
	id             id16
	alias          string
	node           *nodeRec
	source         id16 // zero: the alias was given by resolution
	txStart, txEnd int64
}

// at reports whether the version is visible at T.
func (r *redirectRec) at(T int64) bool { return r.txStart <= T && T < r.txEnd }

func (r *redirectRec) key(tenant string) []byte {
	return versionKey(tenant, tagRedirect, r.id, r.txStart)
}

// Redirect value: version byte, tx_end (8), node (16), source (16), alias
// (rest).
func encodeRedirect(r *redirectRec) []byte {
	b := make([]byte, 0, 1+8+32+len(r.alias))
	b = append(b, valueVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(r.txEnd))
	b = append(b, r.node.id[:]...)
	b = append(b, r.source[:]...)
	return append(b, r.alias...)
}

func decodeRedirect(b []byte, r *redirectRec, nodes map[id16]*nodeRec) error {
	if len(b) < 41 || b[0] != valueVersion {
		return errCorrupt
	}
	r.txEnd = int64(binary.BigEndian.Uint64(b[1:9]))
	var node id16
	copy(node[:], b[9:25])
	copy(r.source[:], b[25:41])
	r.alias = string(b[41:])
	if r.node = nodes[node]; r.node == nil {
		return fmt.Errorf("redirect %s: node missing", r.id)
	}
	return nil
}

// nameState is a tenant's redirects and name index.
type nameState struct {
	// Every redirect version, by alias and by node. Guarded by mu;
	// changed under planMu too.
	byAlias map[string][]*redirectRec
	byNode  map[*nodeRec][]*redirectRec
	// keys is the name index of live nodes: a name key (graph.NameKeys of
	// a live version, or the normalised alias of a live redirect) to the
	// nodes that have it, once per source of the key. Built on the first
	// lookup and kept up to date from then on; guarded by planMu.
	keys map[string][]*nodeRec
}

func (ns *nameState) addRedirect(r *redirectRec) {
	if ns.byAlias == nil {
		ns.byAlias, ns.byNode = map[string][]*redirectRec{}, map[*nodeRec][]*redirectRec{}
	}
	ns.byAlias[r.alias] = append(ns.byAlias[r.alias], r)
	ns.byNode[r.node] = append(ns.byNode[r.node], r)
}

// removeRedirect drops r from the maps (erase).
func (ns *nameState) removeRedirect(r *redirectRec) {
	if l := removeRec(ns.byAlias[r.alias], r); len(l) == 0 {
		delete(ns.byAlias, r.alias)
	} else {
		ns.byAlias[r.alias] = l
	}
	if l := removeRec(ns.byNode[r.node], r); len(l) == 0 {
		delete(ns.byNode, r.node)
	} else {
		ns.byNode[r.node] = l
	}
}

// liveRedirect returns the live node a live redirect of alias names, or
// nil.
func (ts *tenantState) liveRedirect(alias string) *nodeRec {
	for _, r := range ts.nm.byAlias[alias] {
		if r.txEnd == open && r.node.live() != nil {
			return r.node
		}
	}
	return nil
}

// redirectedAt returns the node, and its version visible at T, that a
// redirect of alias visible at T names then.
func (ts *tenantState) redirectedAt(alias string, T int64) (*nodeRec, *nodeVer) {
	for _, r := range ts.nm.byAlias[alias] {
		if r.at(T) {
			if v := r.node.at(T); v != nil {
				return r.node, v
			}
		}
	}
	return nil, nil
}

// loadRedirects reads a tenant's redirects (after its nodes).
func loadRedirects(ts *tenantState, txn *bdb.Txn, see func(int64)) error {
	p := tagPrefix(ts.id, tagRedirect)
	it := txn.NewIterator(bdb.IteratorOptions{Prefix: p, PrefetchValues: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		id, txStart, ok := splitVersionKey(item.Key(), len(p))
		if !ok {
			return fmt.Errorf("bad redirect key %x", item.Key())
		}
		r := &redirectRec{id: id, txStart: txStart}
		if err := item.Value(func(b []byte) error { return decodeRedirect(b, r, ts.nodes) }); err != nil {
			return err
		}
		see(r.txStart)
		see(r.txEnd)
		ts.nm.addRedirect(r)
	}
	return nil
}

// NameProperty implements graph.Tx.
func (w *wtx) NameProperty() string { return w.s.nameProperty() }

func (s *Store) nameProperty() string {
	if s.cfg.NameProperty != "" {
		return s.cfg.NameProperty
	}
	return graph.DefaultNameProperty
}

// NodesByName implements graph.Tx, building the tenant's name index on
// first use.
func (w *wtx) NodesByName(label, key string) ([]graph.Node, error) {
	ts := w.ts
	if ts.nm.keys == nil {
		ts.nm.keys = ts.buildNames(w.NameProperty())
	}
	var out []graph.Node
	for _, r := range ts.nm.keys[key] {
		if v := r.live(); v != nil && v.label == label && !slices.ContainsFunc(out, func(n graph.Node) bool { return n.Handle == r }) {
			out = append(out, graph.Node{ID: r.idStr, Alias: v.alias, Label: v.label, Props: v.props, TxStart: v.txStart, Handle: r})
		}
	}
	return out, nil
}

// buildNames makes the name index of the tenant's live nodes. The caller
// holds planMu.
func (ts *tenantState) buildNames(prop string) map[string][]*nodeRec {
	m := map[string][]*nodeRec{}
	for _, r := range ts.allNodes {
		if v := r.live(); v != nil {
			for _, k := range graph.NameKeys(v.alias, v.props, prop) {
				m[k] = append(m[k], r)
			}
		}
	}
	for _, l := range ts.nm.byAlias {
		for _, r := range l {
			if r.txEnd == open {
				if k := graph.NormalizeName(r.alias); k != "" {
					m[k] = append(m[k], r.node)
				}
			}
		}
	}
	return m
}

// Redirects implements graph.Tx. Handle is the *redirectRec.
func (w *wtx) Redirects(n graph.Node) ([]graph.Redirect, error) {
	var out []graph.Redirect
	for _, r := range w.ts.nm.byNode[n.Handle.(*nodeRec)] {
		if r.txEnd == open {
			out = append(out, redirectOut(r))
		}
	}
	return out, nil
}

func redirectOut(r *redirectRec) graph.Redirect {
	g := graph.Redirect{Alias: r.alias, Node: r.node.idStr, TxStart: r.txStart, Handle: r}
	if r.source != (id16{}) {
		g.Source = r.source.String()
	}
	return g
}

// redirectKVs returns the Badger writes of a plan's redirect changes at t,
// and the records they open (not yet indexed).
func (w *wtx) redirectKVs(p *graph.Plan, t int64, put func(k, v []byte)) ([]*redirectRec, error) {
	var opened []*redirectRec
	var created map[string]*nodeRec
	for i := range p.Redirects {
		c := &p.Redirects[i]
		if c.Closes() {
			r := c.Old.Handle.(*redirectRec)
			closed := *r
			closed.txEnd = t
			put(r.key(w.ts.id), encodeRedirect(&closed))
		}
		if c.Opens() {
			id, err := newID()
			if err != nil {
				return nil, err
			}
			r := &redirectRec{id: id, alias: c.New.Alias, txStart: t, txEnd: open}
			if nid, ok := telamentis.ParseID(c.New.Node); ok {
				r.node = w.ts.nodes[nid]
			}
			if r.node == nil { // a node this write creates
				if created == nil {
					created = map[string]*nodeRec{}
					for j := range p.Nodes {
						if n := &p.Nodes[j]; n.Opens() && !n.Closes() {
							created[n.New.ID] = n.New.Handle.(*nodeRec)
						}
					}
				}
				r.node = created[c.New.Node]
			}
			if c.New.Source != "" {
				r.source, _ = telamentis.ParseID(c.New.Source)
			}
			put(r.key(w.ts.id), encodeRedirect(r))
			opened = append(opened, r)
		}
	}
	return opened, nil
}

// indexRedirects applies a plan's redirect changes to the index, opened
// being what redirectKVs returned. The caller holds mu and planMu.
func (w *wtx) indexRedirects(p *graph.Plan, opened []*redirectRec, t int64) {
	ns := &w.ts.nm
	k := 0
	for i := range p.Redirects {
		c := &p.Redirects[i]
		if c.Closes() {
			r := c.Old.Handle.(*redirectRec)
			r.txEnd = t
			ns.unindexName(graph.NormalizeName(r.alias), r.node)
		}
		if c.Opens() {
			r := opened[k]
			k++
			ns.addRedirect(r)
			if ns.keys != nil {
				if key := graph.NormalizeName(r.alias); key != "" {
					ns.keys[key] = append(ns.keys[key], r.node)
				}
			}
		}
	}
}

// unindexName removes one entry of r under key from the name index.
func (ns *nameState) unindexName(key string, r *nodeRec) {
	if ns.keys == nil || key == "" {
		return
	}
	l := ns.keys[key]
	if i := slices.Index(l, r); i >= 0 {
		l = slices.Delete(l, i, i+1)
	}
	if len(l) == 0 {
		delete(ns.keys, key)
	} else {
		ns.keys[key] = l
	}
}

// indexNodeNames updates the name index for a node version closed (old)
// or opened (new) by a write. The caller holds planMu.
func (ts *tenantState) indexNodeNames(r *nodeRec, old, new *nodeVer, prop string) {
	if ts.nm.keys == nil {
		return
	}
	if old != nil {
		for _, k := range graph.NameKeys(old.alias, old.props, prop) {
			ts.nm.unindexName(k, r)
		}
	}
	if new != nil {
		for _, k := range graph.NameKeys(new.alias, new.props, prop) {
			ts.nm.keys[k] = append(ts.nm.keys[k], r)
		}
	}
}

// eraseRedirects returns the keys of every redirect version to or from
// rec (the node being erased), and a function that drops them from the
// index. The name index is dropped too, to be rebuilt on the next lookup.
func (ts *tenantState) eraseRedirects(rec *nodeRec) ([][]byte, func()) {
	var gone []*redirectRec
	var keys [][]byte
	for _, l := range ts.nm.byAlias {
		for _, r := range l {
			if r.node == rec || r.source == rec.id {
				gone = append(gone, r)
				keys = append(keys, r.key(ts.id))
			}
		}
	}
	return keys, func() {
		for _, r := range gone {
			ts.nm.removeRedirect(r)
		}
		ts.nm.keys = nil
	}
}

// MergeNode implements telamentis.Store; graph plans it.
func (s *Store) MergeNode(ctx context.Context, tenant string, ref, into telamentis.Ref) (telamentis.MergeResult, error) {
	res, err := graph.MergeNode(ctx, s.run, tenant, ref, into)
	return res, wrapErr("merge node", err)
}

// checkNames compares the tenant's redirects with those in storage
// (fresh), and its name index, if built, with a rebuilt one. The caller
// holds planMu and mu.
func (s *Store) checkNames(ts, fresh *tenantState) error {
	count := func(ns *nameState) (n int) {
		for _, l := range ns.byAlias {
			n += len(l)
		}
		return n
	}
	if a, b := count(&ts.nm), count(&fresh.nm); a != b {
		return fmt.Errorf("index has %d redirects, storage %d", a, b)
	}
	for alias, l := range ts.nm.byAlias {
		for _, r := range l {
			if !slices.ContainsFunc(fresh.nm.byAlias[alias], func(f *redirectRec) bool {
				return f.id == r.id && f.node.id == r.node.id && f.source == r.source && f.txStart == r.txStart && f.txEnd == r.txEnd
			}) {
				return fmt.Errorf("redirect %s differs between index and storage", r.id)
			}
			if ts.nodes[r.node.id] != r.node {
				return fmt.Errorf("redirect %s: node not indexed", r.id)
			}
		}
	}
	if ts.nm.keys == nil {
		return nil
	}
	want := ts.buildNames(s.nameProperty())
	if len(want) != len(ts.nm.keys) {
		return fmt.Errorf("name index has %d keys, the live nodes %d", len(ts.nm.keys), len(want))
	}
	for k, l := range want {
		got := slices.Clone(ts.nm.keys[k])
		l = slices.Clone(l)
		slices.SortFunc(got, func(a, b *nodeRec) int { return cmpID(a.id, b.id) })
		slices.SortFunc(l, func(a, b *nodeRec) int { return cmpID(a.id, b.id) })
		if !slices.Equal(got, l) {
			// Keys are user data (names): the message names no key.
			return fmt.Errorf("name index differs from the live nodes' names")
		}
	}
	return nil
}
