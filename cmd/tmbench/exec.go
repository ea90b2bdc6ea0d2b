package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/telamentis/telamentis"
)

// executor runs the five query types through the public Store API.
type executor struct {
	ctx   context.Context
	store telamentis.Store
}

// exec runs q and returns the rows it consumed:
//   - lookup: GetNode by alias, 1 row if found;
//   - hop1: current out-edges of the node valid at vt (every page) with
//     their endpoint nodes (Query.IncludeNodes, one call per page); a row
//     per edge, whose neighbour must be among the page's nodes;
//   - hop2: a paths query, out, depth exactly 2, valid at vt, with
//     Query.IDsOnly (every store); a row per distinct node reached. Like
//     the baseline's SELECT DISTINCT e2.to_id it needs the nodes'
//     identities only, not their props or the via edges' versions;
//   - asat: out-edge versions visible at tt and valid at vt;
//   - overlap: current edges of a kind whose valid interval overlaps
//     [lo, hi), in pages of 1000.
func (x *executor) exec(_ int, q *benchQuery) (int, error) {
	switch q.Type {
	case "lookup":
		_, err := x.store.GetNode(x.ctx, q.Tenant, telamentis.Ref{Alias: q.Alias}, time.Time{})
		if telamentis.ErrorCode(err) == telamentis.CodeNotFound {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		return 1, nil
	case "hop1":
		n := 0
		err := x.pages(q.Tenant, telamentis.Query{Kind: telamentis.QueryEdges, From: &telamentis.Ref{ID: q.Node},
			ValidAt: q.VT, Limit: telamentis.MaxLimit, IncludeNodes: true}, func(p telamentis.Page) error {
			for i := range p.Edges {
				to := p.Edges[i].To
				j, ok := slices.BinarySearchFunc(p.Nodes, to, func(n telamentis.Node, id string) int { return strings.Compare(n.ID, id) })
				if !ok {
					return fmt.Errorf("neighbour %s of edge %s is not among the page's nodes", to, p.Edges[i].ID)
				}
				_ = p.Nodes[j].Alias // the row: the edge with its neighbour's alias
				n++
			}
			return nil
		})
		return n, err
	case "hop2":
		n := 0
		err := x.pages(q.Tenant, telamentis.Query{Kind: telamentis.QueryPaths, Start: &telamentis.Ref{ID: q.Node},
			Direction: telamentis.DirOut, Depth: 2, MinDepth: 2, ValidAt: q.VT, Limit: telamentis.MaxLimit, IDsOnly: true},
			func(p telamentis.Page) error { n += len(p.Neighbors); return nil })
		return n, err
	case "asat":
		n := 0
		err := x.pages(q.Tenant, telamentis.Query{Kind: telamentis.QueryEdges, From: &telamentis.Ref{ID: q.Node},
			AsAt: q.TT, ValidAt: q.VT, Limit: telamentis.MaxLimit},
			func(p telamentis.Page) error { n += len(p.Edges); return nil })
		return n, err
	case "overlap":
		n := 0
		err := x.pages(q.Tenant, telamentis.Query{Kind: telamentis.QueryEdges, Kinds: []string{q.Kind},
			ValidBetween: &telamentis.Interval{Start: q.Lo, End: q.Hi}, Limit: telamentis.MaxLimit},
			func(p telamentis.Page) error { n += len(p.Edges); return nil })
		return n, err
	}
	return 0, fmt.Errorf("unknown query type %q", q.Type)
}

// pages runs q and every following page, calling fn with each.
func (x *executor) pages(tenant string, q telamentis.Query, fn func(telamentis.Page) error) error {
	return telamentis.EachPage(x.ctx, x.store, tenant, q, fn)
}
