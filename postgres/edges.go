package postgres

import (
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
)

// The edges query of the PostgreSQL store, with its endpoint nodes.

// nowScanner scans the leading "now" column, then the rest.
type nowScanner struct {
	r   scanner
	now *int64
}

func (n nowScanner) Scan(dst ...any) error {
	return n.r.Scan(append([]any{n.now}, dst...)...)
}

func (s *Store) queryEdges(ctx context.Context, tenant string, qn telamentis.Query, p *pos) (telamentis.Page, error) {
	t, cur := asAt(qn, p)
	limit := qn.Limit
	var edges []telamentis.Edge
	var nodes []telamentis.Node // IncludeNodes
	var now int64
	err := s.read(ctx, tenant, cur, func(schema, nowCol string, a *args) string {
		var b strings.Builder
		// The fixed endpoints' SQL, shared by the page's filter and
		// withEndpoints' read of the nodes ("" for a free endpoint).
		var from, to string
		if qn.From != nil {
			from = nodeRefSQL(qn.From, cur, t, a)
			b.WriteString(" AND x.from_id = " + from)
		}
		if qn.To != nil {
			to = nodeRefSQL(qn.To, cur, t, a)
			b.WriteString(" AND x.to_id = " + to)
		}
		b.WriteString(kindsSQL("x.", qn.Kinds, a))
		b.WriteString(validSQL("x.", qn, a))
		if p != nil {
			b.WriteString(" AND x.id > " + a.add(p.ID) + "::uuid")
		}
		sql := pageByID("edges", edgeCols, nowCol, b.String(), cur, qn.From != nil || qn.To != nil, t, a, limit)
		if qn.IncludeNodes {
			sql = withEndpoints(sql, nowCol, from, to, cur, t, a)
		}
		return sql
	}, func(rows pgx.Rows) (int, error) {
		if qn.IncludeNodes {
			return scanWithEndpoints(rows, limit, &now, &edges, &nodes)
		}
		sr := rows.(*scopedRows)
		for rows.Next() {
			c := sr.raw()
			now = c.int(0)
			edges = pageAppend(edges, limit, c.edge(1))
			if c.err != nil {
				return 0, c.err
			}
		}
		return len(edges), nil
	})
	if err != nil {
		return telamentis.Page{}, err
	}
	if cur {
		t = now
	}
	var page telamentis.Page
	page.Edges, page.NextCursor = cut(s, tenant, qn, edges, limit, func(i int) pos { return pos{T: t, ID: edges[i].ID} })
	if qn.IncludeNodes {
		page.Nodes = nodes
		if page.Nodes == nil {
			page.Nodes = []telamentis.Node{}
		}
	}
	return page, nil
}

// withEndpoints extends an edges page statement (pageByID's: now, then
// edgeCols, limit+1 rows in ID order) with the page's endpoint nodes
// (Query.IncludeNodes), in the same statement: first the page's rows, then
// the node versions visible at the page's time whose IDs are among its
// edges' endpoints, each a row of now, edgeCols and nodeCols with the
// other part NULL. The nodes are read by one index scan for the array of
// the endpoints' IDs, which the B-tree sorts and rids of duplicates: each
// node comes once, in ID order. from and to are the SQL of the fixed
// endpoints' IDs (nodeRefSQL), "" when free; a fixed endpoint is read once.
// The row beyond the limit brings its endpoints too; scanWithEndpoints
// drops those that no edge of the page has.
//
// Where each edge row was joined to its endpoint through nodes_pkey and the
// fixed endpoint read with the tenant's state row and repeated on every
// row, the widest one-hop pages took longer; the median page is the same
// either way (docs/perf-log/postgres-rounds.md, round 9).
func withEndpoints(page, nowCol, from, to string, cur bool, t int64, a *args) string {
	end := func(ref, col string) string {
		if ref == "" {
			return "SELECT " + col + " FROM p"
		}
		return "SELECT " + ref
	}
	return `WITH p AS (` + page + `)
SELECT p.*, ` + nodeNulls + ` FROM p
UNION ALL
SELECT ` + nowCol + `, ` + edgeNulls + `, ` + nodeCols + `
FROM {s}.nodes n WHERE n.tenant_id = $1 AND n.id = ANY(ARRAY(` + end(from, "from_id") + ` UNION ALL ` + end(to, "to_id") + `)) AND ` + visible("n.", cur, t, a)
}

// scanWithEndpoints reads the rows of a withEndpoints statement: the edges
// (which carry now), sorted by ID, and the endpoints of the first limit of
// them, sorted by ID.
func scanWithEndpoints(rows pgx.Rows, limit int, now *int64, edges *[]telamentis.Edge, nodes *[]telamentis.Node) (int, error) {
	sr := rows.(*scopedRows)
	n := 0
	for rows.Next() {
		// now, an edge's ten columns, then a node's six: one of the two
		// NULL
		c := sr.raw()
		*now = c.int(0)
		if c.null(1) {
			*nodes = append(*nodes, c.node(11))
		} else {
			*edges = pageAppend(*edges, limit, c.edge(1))
		}
		n++
		if c.err != nil {
			return 0, c.err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(*edges) == 0 {
		*nodes = nil // a fixed endpoint of an empty page
		return n, nil
	}
	byID := func(x, y telamentis.Edge) int { return strings.Compare(x.ID, y.ID) }
	if !slices.IsSortedFunc(*edges, byID) {
		slices.SortFunc(*edges, byID)
	}
	byNodeID := func(x, y telamentis.Node) int { return strings.Compare(x.ID, y.ID) }
	if !slices.IsSortedFunc(*nodes, byNodeID) {
		slices.SortFunc(*nodes, byNodeID)
	}
	if len(*edges) > limit {
		// The endpoints of the row beyond the limit that no edge of the
		// page has are not the page's.
		page, extra := (*edges)[:limit], (*edges)[limit]
		*nodes = slices.DeleteFunc(*nodes, func(nd telamentis.Node) bool {
			if nd.ID != extra.From && nd.ID != extra.To {
				return false
			}
			return !slices.ContainsFunc(page, func(e telamentis.Edge) bool { return e.From == nd.ID || e.To == nd.ID })
		})
	}
	return n, nil
}
