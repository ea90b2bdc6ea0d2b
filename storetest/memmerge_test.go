package storetest

import (
	"context"
	"slices"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/graph"
)

// The in-memory store's entity resolution and merges: alias redirects
// kept as plain versions, name lookups by scanning.

// memRedirect is a version of an alias redirect (graph.Redirect).
type memRedirect struct {
	Alias, Node, Source string
	TxStart, TxEnd      time.Time
}

// redirectedNode returns the index of the live node a live redirect of
// alias names, or -1.
func (x *tx) redirectedNode(alias string) int {
	for _, r := range x.redirects {
		if live(r.TxEnd) && r.Alias == alias {
			if i := x.liveNode(telamentis.Ref{ID: r.Node}); i >= 0 {
				return i
			}
		}
	}
	return -1
}

// redirectedAt returns the version visible at asAt of the node a redirect
// of alias visible then names.
func redirectedAt(tn *memTenant, alias string, asAt time.Time) (telamentis.Node, bool) {
	for _, r := range tn.redirects {
		if visibleAt(r.TxStart, r.TxEnd, asAt) && r.Alias == alias {
			if n, ok := findNode(tn, telamentis.Ref{ID: r.Node}, asAt); ok {
				return n, true
			}
		}
	}
	return telamentis.Node{}, false
}

func (x *tx) NameProperty() string { return graph.DefaultNameProperty }

func (x *tx) NodesByName(label, key string) ([]graph.Node, error) {
	var out []graph.Node
	for i, n := range x.nodes {
		if !live(n.TxEnd) || n.Label != label {
			continue
		}
		match := slices.Contains(graph.NameKeys(n.Alias, string(n.Props), x.NameProperty()), key)
		for _, r := range x.redirects {
			match = match || live(r.TxEnd) && r.Node == n.ID && graph.NormalizeName(r.Alias) == key
		}
		if match {
			g, _, _ := x.Node(telamentis.Ref{ID: x.nodes[i].ID})
			out = append(out, g)
		}
	}
	return out, nil
}

func (x *tx) Redirects(n graph.Node) ([]graph.Redirect, error) {
	var out []graph.Redirect
	for _, r := range x.redirects {
		if live(r.TxEnd) && r.Node == n.ID {
			out = append(out, graph.Redirect{Alias: r.Alias, Node: r.Node, Source: r.Source, TxStart: telamentis.Micros(r.TxStart)})
		}
	}
	return out, nil
}

// applyRedirects applies a plan's redirect changes to the write's copies.
func (x *tx) applyRedirects(p *graph.Plan) {
	for _, c := range p.Redirects {
		if c.Closes() {
			for i, r := range x.redirects {
				if live(r.TxEnd) && r.Alias == c.Old.Alias && r.Node == c.Old.Node {
					x.redirects[i].TxEnd = x.at
				}
			}
		}
		if c.Opens() {
			x.redirects = append(x.redirects, memRedirect{Alias: c.New.Alias, Node: c.New.Node, Source: c.New.Source, TxStart: x.at})
		}
	}
}

// eraseRedirects removes every redirect version to or from node id.
func (x *tx) eraseRedirects(id string) {
	x.redirects = slices.DeleteFunc(x.redirects, func(r memRedirect) bool { return r.Node == id || r.Source == id })
}

func (s *memStore) MergeNode(ctx context.Context, tenant string, ref, into telamentis.Ref) (telamentis.MergeResult, error) {
	return graph.MergeNode(ctx, s.run, tenant, ref, into)
}
