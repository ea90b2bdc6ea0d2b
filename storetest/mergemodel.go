package storetest

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/graph"
)

// The reference model of entity resolution and merges (DESIGN §2 merge,
// issue 19 §6), written as directly as the rest of the model: alias
// redirects are versions like the others.

// mRedirect is a version of an alias redirect: while visible, Alias names
// Node wherever no visible node has it as its own alias.
type mRedirect struct {
	Alias, Node, Source string
	TxStart, TxEnd      int64
}

// redirectedAt returns the index of the version visible at at of the node
// a redirect of alias visible at at names, or -1.
func (m *model) redirectedAt(alias string, at int64) int {
	for _, r := range m.redirects {
		if visible(r.TxStart, r.TxEnd, at) && r.Alias == alias {
			if i := m.nodeAt(telamentis.Ref{ID: r.Node}, at); i >= 0 {
				return i
			}
		}
	}
	return -1
}

// eraseRedirects removes every redirect to or from node id.
func (s *sim) eraseRedirects(id string) {
	s.m.redirects = slices.DeleteFunc(s.m.redirects, func(r mRedirect) bool { return r.Node == id || r.Source == id })
}

// commitRedirects is commit for redirects.
func (s *sim) commitRedirects(tx int64, sub func(string) string) {
	for i := range s.m.redirects {
		r := &s.m.redirects[i]
		r.Node, r.Source = sub(r.Node), sub(r.Source)
		if r.TxStart == pendingTx {
			r.TxStart = tx
		}
		if r.TxEnd == pendingTx {
			r.TxEnd = tx
		}
	}
}

// nameKeys are the name keys of a live node: its own and those of the
// live redirects to it.
func (m *model) nameKeys(n mNode) []string {
	keys := graph.NameKeys(n.Alias, n.Props, graph.DefaultNameProperty)
	for _, r := range m.redirects {
		if r.TxEnd == telamentis.Open && r.Node == n.ID {
			keys = append(keys, graph.NormalizeName(r.Alias))
		}
	}
	return keys
}

// resolved is what an upsert with resolve normalized must report besides
// expect.
type resolved struct {
	byName     bool
	candidates []string // sorted; placeholders of nodes created before in the batch stay
}

// nodeNormalized simulates an upsert without ID with resolve normalized.
func (s *sim) nodeNormalized(in nodeIn) (expect, resolved) {
	if !telamentis.ValidIdentifier(in.Label) {
		s.fail(telamentis.CodeInvalid)
		return expect{}, resolved{}
	}
	if in.Alias != "" && s.m.liveNode(telamentis.Ref{Alias: in.Alias}) >= 0 {
		return s.node(in), resolved{}
	}
	keys := graph.NameKeys(in.Alias, in.Props, graph.DefaultNameProperty)
	var found []int
	for i, n := range s.m.nodes {
		if n.TxEnd == telamentis.Open && n.Label == in.Label && slices.ContainsFunc(s.m.nameKeys(n), func(k string) bool { return slices.Contains(keys, k) }) {
			found = append(found, i)
		}
	}
	if len(found) != 1 {
		var cands []string
		if len(found) > 1 {
			for _, i := range found {
				cands = append(cands, s.m.nodes[i].ID)
			}
		}
		id := s.newID()
		s.m.nodes = append(s.m.nodes, mNode{ID: id, Alias: in.Alias, Label: in.Label, Props: in.Props, TxStart: pendingTx, TxEnd: telamentis.Open})
		s.wrote = true
		return expect{ok: true, created: true, changed: true, id: id}, resolved{candidates: cands}
	}
	i := found[0]
	cur := s.m.nodes[i]
	next := cur
	next.Props = overlay(cur.Props, in.Props)
	exp := expect{ok: true, id: cur.ID}
	if in.Alias != "" && cur.Alias == "" {
		next.Alias = in.Alias
	}
	if next.Alias != cur.Alias || next.Props != cur.Props {
		s.m.nodes[i].TxEnd = pendingTx
		next.TxStart = pendingTx
		s.m.nodes = append(s.m.nodes, next)
		exp.changed, s.wrote = true, true
	}
	if in.Alias != "" && cur.Alias != "" && in.Alias != cur.Alias {
		s.m.redirects = append(s.m.redirects, mRedirect{Alias: in.Alias, Node: cur.ID, TxStart: pendingTx, TxEnd: telamentis.Open})
		exp.changed, s.wrote = true, true
	}
	return exp, resolved{byName: true}
}

// overlay sets the top-level keys of over on base, both canonical props.
func overlay(base, over string) string {
	var m, o map[string]json.RawMessage
	json.Unmarshal([]byte(base), &m)
	json.Unmarshal([]byte(over), &o)
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	maps.Copy(m, o)
	b, _ := json.Marshal(m)
	c, _ := telamentis.CanonicalProps(b)
	return string(c)
}

// mergeOut is what MergeNode must report; new edge IDs are placeholders.
type mergeOut struct {
	target  string
	merged  string
	moved   []telamentis.MovedEdge
	dropped []string
	aliases []string
}

// merge simulates merging the live node ref into the live node into.
func (s *sim) merge(ref, into telamentis.Ref) (mergeOut, bool) {
	if ref == into {
		s.fail(telamentis.CodeInvalid)
		return mergeOut{}, false
	}
	si, di := s.m.liveNode(ref), s.m.liveNode(into)
	if si < 0 || di < 0 {
		s.fail(telamentis.CodeNotFound)
		return mergeOut{}, false
	}
	src, dst := s.m.nodes[si], s.m.nodes[di]
	if src.ID == dst.ID {
		s.fail(telamentis.CodeInvalid)
		return mergeOut{}, false
	}
	out := mergeOut{target: dst.ID, merged: src.ID, moved: []telamentis.MovedEdge{}, dropped: []string{}, aliases: []string{}}
	s.m.nodes[si].TxEnd = pendingTx
	s.wrote = true
	// A fact as seen from the target: direction, other end, kind, props,
	// valid time.
	factOf := func(e mEdge) string {
		dir, other := "out", e.To
		if e.From != dst.ID {
			dir, other = "in", e.From
		}
		return strings.Join([]string{dir, other, e.Kind, e.Props, telamentis.FromMicros(e.VF).String(), telamentis.FromMicros(e.VT).String()}, "|")
	}
	have := map[string]bool{}
	var moving []int
	for j, e := range s.m.edges {
		if e.TxEnd != telamentis.Open {
			continue
		}
		switch {
		case e.From == src.ID || e.To == src.ID:
			moving = append(moving, j)
		case e.From == dst.ID || e.To == dst.ID:
			have[factOf(e)] = true
		}
	}
	slices.SortFunc(moving, func(a, b int) int { return strings.Compare(s.m.edges[a].ID, s.m.edges[b].ID) })
	for _, j := range moving {
		e := s.m.edges[j]
		s.m.edges[j].TxEnd = pendingTx
		if e.From == dst.ID || e.To == dst.ID {
			out.dropped = append(out.dropped, e.ID)
			continue
		}
		n := e
		if n.From == src.ID {
			n.From = dst.ID
		}
		if n.To == src.ID {
			n.To = dst.ID
		}
		f := factOf(n)
		if e.Alias == "" && have[f] {
			out.dropped = append(out.dropped, e.ID)
			continue
		}
		have[f] = true
		n.ID, n.TxStart, n.TxEnd = s.newID(), pendingTx, telamentis.Open
		s.m.edges = append(s.m.edges, n)
		out.moved = append(out.moved, telamentis.MovedEdge{ID: e.ID, NewID: n.ID})
	}
	for j, r := range s.m.redirects {
		if r.TxEnd == telamentis.Open && r.Node == src.ID {
			s.m.redirects[j].TxEnd = pendingTx
			s.m.redirects = append(s.m.redirects, mRedirect{Alias: r.Alias, Node: dst.ID, Source: r.Source, TxStart: pendingTx, TxEnd: telamentis.Open})
			out.aliases = append(out.aliases, r.Alias)
		}
	}
	if src.Alias != "" && !slices.Contains(out.aliases, src.Alias) {
		s.m.redirects = append(s.m.redirects, mRedirect{Alias: src.Alias, Node: dst.ID, Source: src.ID, TxStart: pendingTx, TxEnd: telamentis.Open})
		out.aliases = append(out.aliases, src.Alias)
	}
	slices.Sort(out.aliases)
	return out, true
}

// oneAliasPerNode drops from aliases those that name, through a merge's
// redirect, the same live node as one before them: the batch operation's
// items each change a node of their own.
func (m *model) oneAliasPerNode(aliases []string) []string {
	var out []string
	named := map[int]bool{}
	for _, a := range aliases {
		i := m.liveNode(byAlias(a))
		if i >= 0 && named[i] {
			continue
		}
		named[i] = true
		out = append(out, a)
	}
	return out
}
