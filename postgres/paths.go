package postgres

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
)

// The paths (neighbourhood) query of the PostgreSQL store.

// queryPaths walks from Start level by level, unrolled into one statement
// of at most MaxDepth steps: level k is the set of distinct nodes that a
// walk of exactly k edges reaches, and c_k holds the edges from level k-1
// with the node each leads to (nxt). Each node is reported at its smallest
// depth in [MinDepth, Depth], via the smallest-ID edge from the previous
// level: DISTINCT ON (nxt) over the candidates ordered by (depth, edge ID).
// The steps' edges serve both the walk and the via edges, so every level
// costs one index probe per node. With IDsOnly the steps also carry each
// edge's endpoints and the page is answered from them: neither the via
// edge nor the node is fetched, only the node's visibility is checked
// (the same rows as without it, see below).
//
// The statement is simpler for a tenant without loose endpoints (see
// Import): every edge visible at a time then
// has both endpoints visible then, so the walk may start from the start
// node's ID without reading the node, and ids_only need not check the
// nodes it reaches. Whether a tenant has loose endpoints is remembered
// from the flag every statement returns (read in its own snapshot); a
// statement that assumed none and finds the flag set is run again, the
// full way.
func (s *Store) queryPaths(ctx context.Context, tenant string, qn telamentis.Query, p *pos) (telamentis.Page, error) {
	loose := s.looseHint(tenant)
	for {
		page, flagged, err := s.pathsPage(ctx, tenant, qn, p, loose)
		if err == nil && flagged != loose {
			s.setLooseHint(tenant, flagged)
		}
		if err != nil || loose || !flagged {
			return page, err
		}
		loose = true
	}
}

// pathsPage runs one paths page, assuming loose endpoints or not, and
// returns the tenant's loose_endpoints flag as its statement saw it.
func (s *Store) pathsPage(ctx context.Context, tenant string, qn telamentis.Query, p *pos, loose bool) (telamentis.Page, bool, error) {
	t, cur := asAt(qn, p)
	res := pathsResult{startFound: true}
	// Every row carries now and the tenant's loose_endpoints flag, from
	// the state row the statement reads once (tenantScopedRead).
	err := s.read(ctx, tenant, true, func(schema, _ string, a *args) string {
		return pathsSQL(qn, p, cur, t, loose, a)
	}, func(rows pgx.Rows) (int, error) {
		return res.scan(rows.(*scopedRows), qn.IDsOnly)
	})
	if err != nil {
		return telamentis.Page{}, false, err
	}
	if !loose && res.flagged {
		return telamentis.Page{}, true, nil // the caller runs it again
	}
	if !res.startFound && p == nil {
		return telamentis.Page{}, res.flagged, telamentis.NotFound("node")
	}
	if cur {
		t = res.now
	}
	page, last := pathsPageOf(qn.Limit, qn.IDsOnly, res.vias, res.nbs)
	if last != nil {
		page.NextCursor = s.seal(tenant, qn, pos{T: t, ID: last.node, Depth: last.depth})
	}
	return page, res.flagged, nil
}

// pathsRow is one via row of a paths page: its position, and its
// neighbour's index in pathsResult.nbs (-1 when the node is not visible at
// the page's time, possible only for imported data: skipped, but paged
// past). With IDsOnly the row holds the via edge's identifiers itself, and
// the page's neighbours are built at the end, in one allocation.
type pathsRow struct {
	depth int
	node  string
	nb    int
	via   [3]string // IDsOnly: the via edge's id, from, to
}

// pathsResult is what a paths statement answered.
type pathsResult struct {
	vias                []pathsRow
	nbs                 []telamentis.Neighbor
	now                 int64
	startFound, flagged bool
}

// scan reads the rows of pathsSQL's statement.
func (res *pathsResult) scan(sr *scopedRows, idsOnly bool) (int, error) {
	n := 0
	for sr.Next() {
		n++
		// now, whether the start is visible, depth, node, then with
		// IDsOnly the via edge's id, from, to and whether the node is
		// visible, else the node's six columns and the via edge's ten
		// (NULL without a page row or a visible node); last, the
		// tenant's loose_endpoints flag
		c := sr.raw()
		res.now = c.int(0)
		res.startFound = c.bool(1)
		res.flagged = c.bool(len(c.vals) - 1)
		if c.null(2) {
			if c.err != nil {
				return 0, c.err
			}
			continue
		}
		r := pathsRow{depth: int(c.int(2)), node: c.uuid(3), nb: -1}
		if idsOnly {
			// the via edge's id, other end and direction; whether the
			// node is visible
			if c.bool(7) {
				r.nb = 0
				if c.bool(6) {
					r.via = [3]string{c.uuid(4), c.uuid(5), r.node}
				} else {
					r.via = [3]string{c.uuid(4), r.node, c.uuid(5)}
				}
			}
		} else if !c.null(4) && !c.null(10) {
			r.nb = len(res.nbs)
			res.nbs = append(res.nbs, telamentis.Neighbor{Depth: r.depth, Node: c.node(4), Via: c.edge(10)})
		}
		if c.err != nil {
			return 0, c.err
		}
		res.vias = append(res.vias, r)
	}
	return n, nil
}

// pathsPageOf builds the page of at most limit rows from the via rows of
// a statement (limit+1 of them when more follow) and their neighbours,
// and returns the last row of the page when another follows.
func pathsPageOf(limit int, idsOnly bool, vias []pathsRow, nbs []telamentis.Neighbor) (telamentis.Page, *pathsRow) {
	byPos := func(x, y pathsRow) int {
		if x.depth != y.depth {
			return x.depth - y.depth
		}
		return strings.Compare(x.node, y.node)
	}
	if !slices.IsSortedFunc(vias, byPos) { // the nested loops keep the page's order
		slices.SortFunc(vias, byPos)
	}
	k := 0
	for _, r := range vias[:min(limit, len(vias))] {
		if r.nb >= 0 {
			k++
		}
	}
	page := telamentis.Page{Neighbors: make([]telamentis.Neighbor, 0, k)}
	for _, r := range vias[:min(limit, len(vias))] {
		switch {
		case r.nb < 0:
		case idsOnly:
			page.Neighbors = append(page.Neighbors, telamentis.Neighbor{Depth: r.depth, Node: telamentis.Node{ID: r.node},
				Via: telamentis.Edge{ID: r.via[0], From: r.via[1], To: r.via[2]}})
		default:
			page.Neighbors = append(page.Neighbors, nbs[r.nb])
		}
	}
	if len(vias) > limit {
		return page, &vias[limit-1]
	}
	return page, nil
}

// pathsSQL is the statement of a paths page after p (nil: the first), at
// transaction time t (cur: now), assuming loose endpoints or not. The
// placeholders are added to a in the order the statement's text uses them.
func pathsSQL(qn telamentis.Query, p *pos, cur bool, t int64, loose bool, a *args) string {
	var st, id string
	if qn.Start.ID != "" {
		id = a.add(qn.Start.ID) + "::uuid"
		st = "id = " + id
	} else {
		st = "id = " + nodeRefSQL(qn.Start, cur, t, a) // an extra alias too (names.go)
	}
	st = "SELECT id AS node FROM {s}.nodes WHERE tenant_id = $1 AND " + st + " AND " + visible("", cur, t, a) + " LIMIT 1"
	// The start node (st) is read first, unless the walk may start
	// from its ID: without loose endpoints its visible edges imply
	// that it is visible, and it is read only when the page is empty,
	// to tell "no neighbours" from "no such node".
	fromID := id != "" && !loose
	start, startOK := "(SELECT node FROM st)", "EXISTS (SELECT 1 FROM st)" // st: at most one row
	if fromID {
		start, startOK = id, "CASE WHEN v.node IS NULL THEN EXISTS ("+st+") ELSE true END"
	}
	// Edge filter on alias e (transaction time, valid time, kinds);
	// the placeholders are shared by every use.
	ef := visible("e.", cur, t, a) + validSQL("e.", qn, a) + kindsSQL("e.", qn.Kinds, a)
	after := ""
	if p != nil {
		after = " WHERE (v.depth, v.node) > (" + a.add(p.Depth) + "::int, " + a.add(p.ID) + "::uuid)"
	}
	var b strings.Builder
	b.WriteString("WITH ")
	if !fromID {
		b.WriteString(`st AS (` + st + `),` + "\n")
	}
	cands := pathsLevels(&b, qn, start, ef)
	viaRef := "c.tid"
	if qn.IDsOnly {
		viaRef = "c.oth, c.fwd"
	}
	// With one candidate level the depth is the same for every row:
	// the page is then in node order, the order DISTINCT ON leaves.
	order := "v.depth, v.node"
	if qn.MinDepth == qn.Depth {
		order = "v.node"
	}
	// The page is cut from the via rows first; only its rows are
	// joined with their node and edge versions: the edge by the ctid
	// the walk saw (a TID scan in the statement's own snapshot, where
	// that row version cannot move), the node through nodes_pkey. The
	// rows are not sorted here: the nested loops keep the page's
	// order, and the scan below sorts them anyway.
	b.WriteString(`,
via AS (
	SELECT DISTINCT ON (c.nxt) c.nxt AS node, c.depth, c.id, ` + viaRef + `
	FROM (` + cands + `) c
	ORDER BY c.nxt, c.depth, c.id
),
pg AS (SELECT * FROM via v` + after + ` ORDER BY ` + order + ` LIMIT ` + strconv.Itoa(qn.Limit+1) + `)
SELECT tm_st.now, ` + startOK + `, v.depth, v.node,`)
	if qn.IDsOnly {
		// The node's visibility at the page's time is all that is
		// read of it. Imported data may hold an edge whose endpoint
		// is not visible then (such a row is skipped, as below); only
		// a tenant flagged loose_endpoints can (see Import), and only
		// its reads probe each node.
		probe := "true"
		if loose {
			probe = `EXISTS (SELECT 1 FROM {s}.nodes n WHERE n.tenant_id = $1 AND n.id = v.node AND ` + visible("n.", cur, t, a) + `)`
		}
		b.WriteString(`
	v.id, v.oth, v.fwd, ` + probe + `, tm_st.loose
FROM (SELECT 1) one
LEFT JOIN pg v ON true`)
		return b.String()
	}
	b.WriteString(`
	n.id, coalesce(n.alias, ''), n.label, n.props_c, n.tx_start, n.tx_end,
	e.id, coalesce(e.alias, ''), e.from_id, e.to_id, e.kind, e.props_c, e.valid_from, e.valid_to, e.tx_start, e.tx_end, tm_st.loose
FROM (SELECT 1) one
LEFT JOIN pg v ON true
LEFT JOIN {s}.edges e ON e.ctid = v.tid AND e.tenant_id = $1
LEFT JOIN {s}.nodes n ON n.tenant_id = $1 AND n.id = v.node AND ` + visible("n.", cur, t, a))
	return b.String()
}

// pathsLevels writes the walk's levels c1…c<Depth> to b, each the edges
// leaving the previous level's nodes (the first: start's) that pass the
// edge filter ef, and returns the union of the levels from MinDepth on.
func pathsLevels(b *strings.Builder, qn telamentis.Query, start, ef string) string {
	// step lists the edges leaving the nodes that w (an SQL
	// expression: one node ID, or an array of them) names, in
	// Direction: the node each leads to (nxt), the edge version's key
	// and its row's ctid (with IDsOnly, instead, its other end and
	// direction: all the page returns of it), nothing more, so that
	// wide levels stay small in memory.
	outRef, inRef := "e.ctid AS tid", "e.ctid AS tid"
	if qn.IDsOnly {
		// The edge's other end (nxt is one end) and its direction:
		// one identifier less to sort and send per row than both.
		outRef, inRef = "e.from_id AS oth, true AS fwd", "e.to_id AS oth, false AS fwd"
	}
	step := func(w string) string {
		out := `SELECT e.to_id AS nxt, e.id, ` + outRef + ` FROM {s}.edges e WHERE e.tenant_id = $1 AND e.from_id = ` + w + ` AND ` + ef
		in := `SELECT e.from_id AS nxt, e.id, ` + inRef + ` FROM {s}.edges e WHERE e.tenant_id = $1 AND e.to_id = ` + w + ` AND ` + ef
		switch qn.Direction {
		case telamentis.DirOut:
			return out
		case telamentis.DirIn:
			return in
		}
		return out + ` UNION ALL ` + in
	}
	var prev string
	var cands []string
	for k := 1; k <= qn.Depth; k++ {
		ck := "c" + strconv.Itoa(k)
		// A level that both the next one and via read is fenced, so
		// that it is computed once. One that only one of them reads
		// (the last; one below MinDepth) is inlined there: a level
		// below MinDepth as a fenced CTE made hop2 (depth 2, MinDepth
		// 2) measurably slower (docs/deploy/postgres.md, "Indexes and
		// query plans").
		mat := " AS ("
		if k < qn.Depth && k >= qn.MinDepth {
			mat = " AS MATERIALIZED ("
		}
		if k > 1 {
			b.WriteString(",\n")
		}
		// Level k > 1 leaves the previous level's nodes all at once:
		// one index scan for the array of them, which the B-tree
		// sorts and rids of duplicates itself. With the level's
		// DISTINCT (a sort) joined to the edges node by node, the
		// widest two-hop walks were slower; the median walk is the
		// same either way (docs/perf-log/postgres-rounds.md, round 9).
		w := start
		if k > 1 {
			w = "ANY(ARRAY(SELECT nxt FROM " + prev + "))"
		}
		b.WriteString(ck + mat + "SELECT " + strconv.Itoa(k) + " AS depth, x.* FROM (" + step(w) + ") x)")
		if k >= qn.MinDepth {
			cands = append(cands, "SELECT * FROM "+ck)
		}
		prev = ck
	}
	return strings.Join(cands, " UNION ALL ")
}
