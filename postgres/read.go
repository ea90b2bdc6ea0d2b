package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/telamentis/telamentis"
)

// args collects positional SQL arguments.
type args []any

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// visible returns the transaction-time predicate of alias p: the current
// version (tx_end open) when cur, else the version visible at t.
func visible(p string, cur bool, t int64, a *args) string {
	if cur {
		return p + "tx_end = " + openSQL
	}
	ph := a.add(t)
	return p + "tx_start <= " + ph + " AND " + p + "tx_end > " + ph
}

// GetNode returns the version of a node visible at asAt (zero = now).
func (s *Store) GetNode(ctx context.Context, tenant string, ref telamentis.Ref, asAt time.Time) (telamentis.Node, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.Node{}, err
	}
	asAt = telamentis.NormalizeTime(asAt)
	var n telamentis.Node
	found, err := s.get(ctx, tenant, func(schema string) (string, args) {
		a := args{tenant}
		where := refWhere(ref, &a)
		return q(schema, `SELECT `+nodeCols+` FROM {s}.nodes WHERE tenant_id = $1 AND `+where+` AND `+
			visible("", asAt.IsZero(), telamentis.Micros(asAt), &a)+` LIMIT 1`), a
	}, func(c *rawRow) { n = c.node(0) })
	if err != nil {
		return n, fmt.Errorf("postgres: get node: %w", err)
	}
	if !found {
		return n, telamentis.NotFound("node")
	}
	return n, nil
}

// GetEdge returns the version of an edge visible at asAt (zero = now).
func (s *Store) GetEdge(ctx context.Context, tenant string, ref telamentis.Ref, asAt time.Time) (telamentis.Edge, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.Edge{}, err
	}
	asAt = telamentis.NormalizeTime(asAt)
	var e telamentis.Edge
	found, err := s.get(ctx, tenant, func(schema string) (string, args) {
		a := args{tenant}
		where := refWhere(ref, &a)
		return q(schema, `SELECT `+edgeCols+` FROM {s}.edges WHERE tenant_id = $1 AND `+where+` AND `+
			visible("", asAt.IsZero(), telamentis.Micros(asAt), &a)+` LIMIT 1`), a
	}, func(c *rawRow) { e = c.edge(0) })
	if err != nil {
		return e, fmt.Errorf("postgres: get edge: %w", err)
	}
	if !found {
		return e, telamentis.NotFound("edge")
	}
	return e, nil
}

func refWhere(ref telamentis.Ref, a *args) string {
	if ref.ID != "" {
		return "id = " + a.add(ref.ID)
	}
	return "alias = " + a.add(ref.Alias)
}

// tenantScoped wraps a query of tenant ($1) into one statement that first
// sets telamentis.tenant for its own (implicit) transaction:
//
//	SELECT q.* FROM (SELECT set_config('telamentis.tenant', $1, true) AS t OFFSET 0) s
//	CROSS JOIN LATERAL (SELECT * FROM (query) i WHERE s.t = $1 OFFSET 0) q
//
// The order is not left to chance: s and q are both fenced (OFFSET 0: never
// pulled up into the top level), and q refers to s.t, so q can only be the
// inner side of a nested loop and is executed only after s has produced
// its row, i.e. after set_config. Everything the query evaluates — the
// row-level security quals (including the one-time filters the planner
// derives from them), its initplans and CTEs — belongs to q's plan and runs
// then. The filter on s.t is a gating qual above the query. Were the
// setting not visible, the policies would hide every row (no rows, never
// another tenant's); TestTenantScopedReads checks every read under custom
// and generic plans. With one row on the outer side, the nested loop
// returns the query's rows in the query's order.
//
// One statement instead of a pipelined pair (set_config, then the query)
// saves the second statement's execution, about 15 % of a point read.
func tenantScoped(sql string) string {
	return `SELECT q.* FROM (SELECT set_config('telamentis.tenant', $1, true) AS t OFFSET 0) s
CROSS JOIN LATERAL (SELECT * FROM (` + sql + `) i WHERE s.t = $1 OFFSET 0) q`
}

// get runs one single-row query of tenant as one statement (see
// tenantScoped), so the tenant setting ends with it.
func (s *Store) get(ctx context.Context, tenant string, build func(schema string) (string, args), scan func(*rawRow)) (bool, error) {
	schema, err := s.schemaOf(ctx, tenant)
	if err != nil {
		return false, err
	}
	sql, a := build(schema)
	rows, err := s.pool.Query(ctx, tenantScoped(sql), a...)
	if err != nil {
		return false, mapErr(err)
	}
	found := rows.Next()
	if found {
		c := rawRow{vals: rows.RawValues(), fds: rows.FieldDescriptions()}
		scan(&c)
		err = c.err
	}
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return false, mapErr(err)
	}
	return found, nil
}

// read runs a query of tenant as one statement (see tenantScopedRead), so
// the tenant setting ends with it. build gets nowCol, an SQL expression for
// "now" (the later of the wall clock and the tenant's last transaction
// time) that it selects as the first column of every row: evaluated once,
// in the query's own snapshot, so that "tx_end open" and "visible at now"
// select the same versions and a cursor can carry now. A query that returns
// no rows answers CodeNotFound if the tenant does not exist.
func (s *Store) read(ctx context.Context, tenant string, needNow bool, build func(schema, nowCol string, a *args) string, scan func(pgx.Rows) (int, error)) error {
	schema, err := s.schemaOf(ctx, tenant)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		n, exists, err := s.readIn(ctx, schema, tenant, needNow, build, scan)
		if err != nil || n > 0 || exists {
			return err
		}
		if attempt == 1 {
			return telamentis.NotFound("tenant")
		}
		// The cached schema may be stale (the tenant dropped, or
		// recreated elsewhere, through another replica).
		if schema, err = s.refreshSchema(ctx, tenant); err != nil {
			return err
		}
	}
}

// tenantScopedRead is tenantScoped for queries of any number of rows that
// also tells whether the tenant exists, so that an empty result needs no
// second statement, and reads the tenant's state row once for the query:
//
//	SELECT q.*
//	FROM (SELECT set_config('telamentis.tenant', $1, true) AS t OFFSET 0) s
//	JOIN LATERAL (SELECT greatest(wall clock, st.last_tx) AS now, st.loose_endpoints AS loose
//	              FROM tenant_state st WHERE st.tenant_id = s.t OFFSET 0) tm_st ON true
//	LEFT JOIN LATERAL (SELECT true AS tm_row, * FROM (query) i WHERE s.t = $1 OFFSET 0) q ON true
//
// tm_st depends on s, so it is read after set_config, under the policies;
// without a state row (no such tenant) the statement returns no row at
// all. The query, the inner side of a LEFT JOIN LATERAL marked by tm_row,
// may use tm_st.now ("now" in its own snapshot, see read) and tm_st.loose
// (see Import); an empty result leaves one padding row. The rows are read
// through scopedRows, which strips the leading tm_row. One state
// read serves "now" and existence: as an initplan and a subplan they cost
// about a sixth of a one-hop read's server time.
func tenantScopedRead(sql, nowPH string) string {
	return `SELECT q.*
FROM (SELECT set_config('telamentis.tenant', $1, true) AS t OFFSET 0) s
JOIN LATERAL (SELECT greatest(` + nowPH + `::bigint, st.last_tx) AS now, st.loose_endpoints AS loose
	FROM {s}.tenant_state st WHERE st.tenant_id = s.t OFFSET 0) tm_st ON true
LEFT JOIN LATERAL (SELECT true AS tm_row, * FROM (` + sql + `) i WHERE s.t = $1 OFFSET 0) q ON true`
}

// scopedRows reads the rows of a tenantScopedRead statement: it hides the
// padding row of an empty result and the leading tm_row, and records
// whether the tenant exists.
type scopedRows struct {
	pgx.Rows
	exists bool
	dest   []any // Scan's destinations, reused
	last   *lastDecoded
}

func (r *scopedRows) Next() bool {
	if !r.Rows.Next() {
		return false
	}
	// Any row, the padding row of an empty result too, means the tenant's
	// state row exists.
	r.exists = true
	return r.Rows.RawValues()[0] != nil
}

func (r *scopedRows) Scan(dest ...any) error {
	r.dest = append(append(r.dest[:0], nil), dest...)
	return r.Rows.Scan(r.dest...)
}

func (s *Store) readIn(ctx context.Context, schema, tenant string, needNow bool, build func(string, string, *args) string, scan func(pgx.Rows) (int, error)) (int, bool, error) {
	a := args{tenant}
	nowPH := a.add(s.now().UnixMicro())
	// Only a first page at "now" needs now; others carry their time.
	nowCol := "0::bigint"
	if needNow {
		nowCol = "tm_st.now"
	}
	sql := q(schema, tenantScopedRead(build(schema, nowCol, &a), nowPH))
	if sqlHook != nil {
		sqlHook(sql, a)
	}
	rows, err := s.pool.Query(ctx, sql, a...)
	if err != nil {
		return 0, false, mapErr(err)
	}
	sr := &scopedRows{Rows: rows}
	n, err := scan(sr)
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return 0, false, mapErr(err)
	}
	return n, sr.exists, nil
}

// sqlHook, if set (by tests only), sees every query statement and its
// arguments, so that tests can EXPLAIN them.
var sqlHook func(sql string, args []any)

// pos is a page position, sealed into cursors by the CursorCodec.
type pos struct {
	T     int64  `json:"t"`           // resolved "now" (as_at or until)
	ID    string `json:"i,omitempty"` // last id
	Depth int    `json:"d,omitempty"` // paths: last depth
	TS    int64  `json:"s,omitempty"` // history, changes: last time
	Type  int    `json:"k,omitempty"` // changes: 0 node, 1 edge
	Op    int    `json:"o,omitempty"` // changes: 0 close, 1 write
}

// Query runs a query and returns one page; see telamentis.QueryKind.
func (s *Store) Query(ctx context.Context, tenant string, qq telamentis.Query) (telamentis.Page, error) {
	qn, err := qq.Normalize()
	if err != nil {
		return telamentis.Page{}, err
	}
	if _, err := s.schemaOf(ctx, tenant); err != nil {
		return telamentis.Page{}, err
	}
	var p *pos
	if qn.Cursor != "" {
		raw, err := s.codec.Open(tenant, qn, qn.Cursor)
		if err != nil {
			return telamentis.Page{}, err
		}
		p = new(pos)
		if err := json.Unmarshal(raw, p); err != nil {
			return telamentis.Page{}, telamentis.Invalid("cursor", "malformed, expired or issued for another query")
		}
	}
	var page telamentis.Page
	switch qn.Kind {
	case telamentis.QueryNodes:
		page, err = s.queryNodes(ctx, tenant, qn, p)
	case telamentis.QueryEdges:
		page, err = s.queryEdges(ctx, tenant, qn, p)
	case telamentis.QueryPaths:
		page, err = s.queryPaths(ctx, tenant, qn, p)
	case telamentis.QueryHistory:
		page, err = s.queryHistory(ctx, tenant, qn, p)
	case telamentis.QueryChanges:
		page, err = s.queryChanges(ctx, tenant, qn, p)
	}
	if err != nil {
		return telamentis.Page{}, fmt.Errorf("postgres: query %s: %w", qn.Kind, err)
	}
	return page, nil
}

// asAt returns the transaction-time coordinate of a query page: the
// cursor's, the query's as_at, or "now" (cur = true) on a first page.
func asAt(qn telamentis.Query, p *pos) (t int64, cur bool) {
	switch {
	case p != nil:
		return p.T, false
	case !qn.AsAt.IsZero():
		return telamentis.Micros(qn.AsAt), false
	}
	return 0, true
}

func (s *Store) seal(tenant string, qn telamentis.Query, p pos) string {
	b, _ := json.Marshal(p)
	return s.codec.Seal(tenant, qn, b)
}

// validSQL returns the valid-time filter of the query on alias e, or "".
func validSQL(e string, qn telamentis.Query, a *args) string {
	vf, vt := e+"valid_from", e+"valid_to"
	switch {
	case !qn.ValidAt.IsZero():
		t := a.add(telamentis.Micros(qn.ValidAt))
		return " AND " + vf + " <= " + t + " AND " + vt + " > " + t
	case qn.ValidBetween != nil:
		w := telamentis.SpanOf(*qn.ValidBetween)
		return " AND " + vf + " < " + a.add(w.End) + " AND " + vt + " > " + a.add(w.Start)
	case qn.Allen != nil:
		w := telamentis.SpanOf(qn.Allen.Interval)
		switch qn.Allen.Relation {
		case telamentis.Before:
			return " AND " + vt + " < " + a.add(w.Start)
		case telamentis.Meets:
			return " AND " + vt + " = " + a.add(w.Start)
		case telamentis.After:
			return " AND " + a.add(w.End) + " < " + vf
		case telamentis.MetBy:
			return " AND " + a.add(w.End) + " = " + vf
		}
		// The overlapping relations use both ends (every placeholder must
		// be used).
		bs, be := a.add(w.Start), a.add(w.End)
		ov := " AND " + vt + " > " + bs + " AND " + be + " > " + vf
		var c string
		switch qn.Allen.Relation {
		case telamentis.Equals:
			c = vf + " = " + bs + " AND " + vt + " = " + be
		case telamentis.Starts:
			c = vf + " = " + bs + " AND " + vt + " < " + be
		case telamentis.StartedBy:
			c = vf + " = " + bs + " AND " + vt + " > " + be
		case telamentis.Finishes:
			c = vt + " = " + be + " AND " + vf + " > " + bs
		case telamentis.FinishedBy:
			c = vt + " = " + be + " AND " + vf + " < " + bs
		case telamentis.Overlaps:
			c = vf + " < " + bs + " AND " + vt + " < " + be
		case telamentis.Contains:
			c = vf + " < " + bs + " AND " + vt + " > " + be
		case telamentis.During:
			c = vf + " > " + bs + " AND " + vt + " < " + be
		case telamentis.OverlappedBy:
			c = vf + " > " + bs + " AND " + vt + " > " + be
		}
		return ov + " AND " + c
	}
	return ""
}

// kindsSQL filters edge alias e by kinds.
func kindsSQL(e string, kinds []string, a *args) string {
	if len(kinds) == 0 {
		return ""
	}
	if len(kinds) == 1 {
		return " AND " + e + "kind = " + a.add(kinds[0])
	}
	return " AND " + e + "kind = ANY(" + a.add(kinds) + "::text[])"
}

// nodeRefSQL returns an SQL expression for the ID of the node ref names at
// the query's transaction time.
func nodeRefSQL(ref *telamentis.Ref, cur bool, t int64, a *args) string {
	if ref.ID != "" {
		return a.add(ref.ID) + "::uuid"
	}
	return "(SELECT id FROM {s}.nodes WHERE tenant_id = $1 AND alias = " + a.add(ref.Alias) + " AND " +
		visible("", cur, t, a) + " LIMIT 1)"
}

// pageByID selects cols of table (alias x) in ID order, one row more than
// limit, with the other conditions in where (each starting with " AND ").
// A current read is "tx_end open". A read at transaction time t is split
// into the versions still open and the ones closed after t, each
// in ID order and limited, merged: both halves can use the partial
// indexes on current versions and on closed ones, where "tx_start <= t AND
// tx_end > t" as one predicate could use neither.
//
// With a selective key (narrow: an alias, or edges of one node) the plain
// predicate is better: the key's index has tx_end or tx_start in it.
func pageByID(table, cols, nowCol, where string, cur, narrow bool, t int64, a *args, limit int) string {
	lim := " ORDER BY x.id LIMIT " + strconv.Itoa(limit+1)
	if cur {
		return `SELECT ` + nowCol + `, ` + cols + ` FROM {s}.` + table + ` x WHERE x.tenant_id = $1 AND x.tx_end = ` + openSQL + where + lim
	}
	if narrow {
		return `SELECT ` + nowCol + `, ` + cols + ` FROM {s}.` + table + ` x WHERE x.tenant_id = $1 AND ` + visible("x.", false, t, a) + where + lim
	}
	ph := a.add(t)
	// The closed half is fenced (MATERIALIZED) so that it is always
	// found through the tx_end index: with t a parameter, a generic plan
	// could otherwise walk the primary key in ID order looking for rows
	// that are mostly not there.
	return `WITH closed AS MATERIALIZED (SELECT * FROM {s}.` + table + ` x
		WHERE x.tenant_id = $1 AND x.tx_end > ` + ph + ` AND x.tx_end < ` + openSQL + `)
SELECT ` + nowCol + `, u.* FROM (
	(SELECT ` + cols + ` FROM {s}.` + table + ` x WHERE x.tenant_id = $1 AND x.tx_start <= ` + ph + ` AND x.tx_end = ` + openSQL + where + lim + `)
	UNION ALL (SELECT ` + cols + ` FROM closed x WHERE x.tx_start <= ` + ph + where + lim + `)) u
ORDER BY u.id LIMIT ` + strconv.Itoa(limit+1)
}

func (s *Store) queryNodes(ctx context.Context, tenant string, qn telamentis.Query, p *pos) (telamentis.Page, error) {
	t, cur := asAt(qn, p)
	limit := qn.Limit
	var nodes []telamentis.Node
	var now int64
	err := s.read(ctx, tenant, cur, func(schema, nowCol string, a *args) string {
		var b strings.Builder
		switch len(qn.Labels) {
		case 0:
		case 1:
			b.WriteString(" AND label = " + a.add(qn.Labels[0]))
		default:
			b.WriteString(" AND label = ANY(" + a.add(qn.Labels) + "::text[])")
		}
		if qn.Alias != "" {
			b.WriteString(" AND alias = " + a.add(qn.Alias))
		}
		keys := make([]string, 0, len(qn.Props))
		for k := range qn.Props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString(" AND props -> " + a.add(k) + "::text = " + a.add(string(qn.Props[k])) + "::jsonb")
		}
		if p != nil {
			b.WriteString(" AND id > " + a.add(p.ID) + "::uuid")
		}
		return pageByID("nodes", nodeCols, nowCol, b.String(), cur, qn.Alias != "", t, a, limit)
	}, func(rows pgx.Rows) (int, error) {
		sr := rows.(*scopedRows)
		for rows.Next() {
			c := sr.raw()
			now = c.int(0)
			nodes = pageAppend(nodes, limit, c.node(1))
			if c.err != nil {
				return 0, c.err
			}
		}
		return len(nodes), nil
	})
	if err != nil {
		return telamentis.Page{}, err
	}
	if cur {
		t = now
	}
	var page telamentis.Page
	page.Nodes, page.NextCursor = cut(s, tenant, qn, nodes, limit, func(i int) pos { return pos{T: t, ID: nodes[i].ID} })
	return page, nil
}

// cut trims rows, read with one row beyond the page, to limit (never nil)
// and, when that extra row exists, seals the cursor at the position of the
// last row kept (at(limit-1)).
func cut[T any](s *Store, tenant string, qn telamentis.Query, rows []T, limit int, at func(i int) pos) ([]T, string) {
	if len(rows) > limit {
		return rows[:limit], s.seal(tenant, qn, at(limit-1))
	}
	if rows == nil {
		rows = []T{}
	}
	return rows, ""
}

// pageAppend appends v to a page's rows, of which there are at most
// limit+1: the first growth makes room for 16, the next for all of them,
// so a large page is not built by doubling (copying every row some ten
// times, 17 % of the client's CPU on 1,000-edge pages).
func pageAppend[T any](s []T, limit int, v T) []T {
	if len(s) == cap(s) {
		n := 16
		if cap(s) >= n {
			n = limit + 1
		}
		s = slices.Grow(s, max(n, len(s)+1)-len(s))
	}
	return append(s, v)
}

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
// row, the workload's 30 widest one-hop pages (40–130 edges) took 950 µs
// on average against 752 (pgx, rotated per query, medium); the median
// page did not change.
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
		st = "alias = " + a.add(qn.Start.Alias)
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
		// below MinDepth as a fenced CTE cost hop2 (depth 2, MinDepth
		// 2) 16 of its 231 µs above the round trip (interleaved
		// pgbench, medium).
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
		// workload's five widest two-hop walks took 6.9 ms on average
		// against 4.7 (pgx, rotated per query, medium); the median
		// walk did not change.
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

func (s *Store) queryHistory(ctx context.Context, tenant string, qn telamentis.Query, p *pos) (telamentis.Page, error) {
	limit := qn.Limit
	table, ref, cols := "nodes", qn.Node, nodeCols
	if qn.Edge != nil {
		table, ref, cols = "edges", qn.Edge, edgeCols
	}
	var nodes []telamentis.Node
	var edges []telamentis.Edge
	var now int64
	err := s.read(ctx, tenant, false, func(schema, nowCol string, a *args) string {
		var id string
		if ref.ID != "" {
			id = a.add(ref.ID) + "::uuid"
		} else {
			id = "(SELECT id FROM {s}." + table + " WHERE tenant_id = $1 AND alias = " + a.add(ref.Alias) +
				" ORDER BY tx_end DESC, tx_start DESC LIMIT 1)"
		}
		sql := `SELECT ` + nowCol + `, ` + cols + ` FROM {s}.` + table + ` WHERE tenant_id = $1 AND id = ` + id
		if p != nil {
			sql += " AND tx_start > " + a.add(p.TS)
		}
		return sql + " ORDER BY tx_start LIMIT " + strconv.Itoa(limit+1)
	}, func(rows pgx.Rows) (int, error) {
		for rows.Next() {
			if qn.Edge != nil {
				e, err := scanEdge(nowScanner{rows, &now})
				if err != nil {
					return 0, err
				}
				edges = append(edges, e)
				continue
			}
			n, err := scanNode(nowScanner{rows, &now})
			if err != nil {
				return 0, err
			}
			nodes = append(nodes, n)
		}
		return len(nodes) + len(edges), nil
	})
	if err != nil {
		return telamentis.Page{}, err
	}
	var page telamentis.Page
	if qn.Edge != nil {
		if len(edges) == 0 && p == nil {
			return page, telamentis.NotFound("edge")
		}
		page.Edges, page.NextCursor = cut(s, tenant, qn, edges, limit, func(i int) pos { return pos{TS: telamentis.Micros(edges[i].TxStart)} })
		return page, nil
	}
	if len(nodes) == 0 && p == nil {
		return page, telamentis.NotFound("node")
	}
	page.Nodes, page.NextCursor = cut(s, tenant, qn, nodes, limit, func(i int) pos { return pos{TS: telamentis.Micros(nodes[i].TxStart)} })
	return page, nil
}

// queryChanges lists versions written or closed in [Since, Until), ordered
// by (time, node before edge, id, close before write).
func (s *Store) queryChanges(ctx context.Context, tenant string, qn telamentis.Query, p *pos) (telamentis.Page, error) {
	limit := qn.Limit
	since := int64(math.MinInt64)
	if !qn.Since.IsZero() {
		since = qn.Since.UnixMicro()
	}
	until, cur := int64(0), false
	switch {
	case p != nil:
		until = p.T
	case !qn.Until.IsZero():
		until = qn.Until.UnixMicro()
	default:
		cur = true
	}
	var out []telamentis.Change
	var last []pos
	var now int64
	err := s.read(ctx, tenant, cur, func(schema, nowCol string, a *args) string {
		sn := a.add(since)
		var un string
		if cur {
			// "now": every version of the snapshot is before it.
			un = openSQL
		} else {
			un = a.add(until)
		}
		nodeSel := `NULL::uuid AS from_id, NULL::uuid AS to_id, label AS kind, props_c, NULL::bigint AS valid_from, NULL::bigint AS valid_to, tx_start, tx_end`
		edgeSel := `from_id, to_id, kind, props_c, valid_from, valid_to, tx_start, tx_end`
		sql := `SELECT ` + nowCol + `, c.* FROM (
	SELECT tx_start AS t, 0 AS typ, id, 1 AS op, coalesce(alias, '') AS alias, ` + nodeSel + ` FROM {s}.nodes
		WHERE tenant_id = $1 AND tx_start >= ` + sn + ` AND tx_start < ` + un + `
	UNION ALL
	SELECT tx_end, 0, id, 0, coalesce(alias, ''), ` + nodeSel + ` FROM {s}.nodes
		WHERE tenant_id = $1 AND tx_end >= ` + sn + ` AND tx_end < ` + un + ` AND tx_end < ` + openSQL + `
	UNION ALL
	SELECT tx_start, 1, id, 1, coalesce(alias, ''), ` + edgeSel + ` FROM {s}.edges
		WHERE tenant_id = $1 AND tx_start >= ` + sn + ` AND tx_start < ` + un + `
	UNION ALL
	SELECT tx_end, 1, id, 0, coalesce(alias, ''), ` + edgeSel + ` FROM {s}.edges
		WHERE tenant_id = $1 AND tx_end >= ` + sn + ` AND tx_end < ` + un + ` AND tx_end < ` + openSQL + `
) c`
		if p != nil {
			sql += ` WHERE (t, typ, id, op) > (` + a.add(p.TS) + `::bigint, ` + a.add(p.Type) + `::int, ` + a.add(p.ID) + `::uuid, ` + a.add(p.Op) + `::int)`
		}
		return sql + ` ORDER BY t, typ, id, op LIMIT ` + strconv.Itoa(limit+1)
	}, func(rows pgx.Rows) (int, error) {
		for rows.Next() {
			var t, ts, te int64
			var typ, op int
			var id, alias, kind, props string
			var from, to *string
			var vf, vt *int64
			if err := rows.Scan(&now, &t, &typ, &id, &op, &alias, &from, &to, &kind, &props, &vf, &vt, &ts, &te); err != nil {
				return 0, err
			}
			c := telamentis.Change{TxTime: telamentis.FromMicros(t), Op: telamentis.ChangeWrite}
			if op == 0 {
				c.Op = telamentis.ChangeClose
			}
			if typ == 0 {
				c.Node = &telamentis.Node{ID: id, Alias: alias, Label: kind, Props: []byte(props),
					TxStart: telamentis.FromMicros(ts), TxEnd: telamentis.FromMicros(te)}
			} else {
				c.Edge = &telamentis.Edge{ID: id, Alias: alias, From: *from, To: *to, Kind: kind, Props: []byte(props),
					ValidFrom: telamentis.FromMicros(*vf), ValidTo: telamentis.FromMicros(*vt),
					TxStart: telamentis.FromMicros(ts), TxEnd: telamentis.FromMicros(te)}
			}
			out = append(out, c)
			last = append(last, pos{TS: t, Type: typ, ID: id, Op: op})
		}
		return len(out), nil
	})
	if err != nil {
		return telamentis.Page{}, err
	}
	if cur {
		until = now + 1 // the snapshot holds every version up to now, inclusive
	}
	var page telamentis.Page
	page.Changes, page.NextCursor = cut(s, tenant, qn, out, limit, func(i int) pos {
		lp := last[i]
		lp.T = until
		return lp
	})
	return page, nil
}

// Stats counts a tenant's data.
func (s *Store) Stats(ctx context.Context, tenant string) (telamentis.TenantStats, error) {
	var st telamentis.TenantStats
	err := s.read(ctx, tenant, false, func(schema, nowCol string, a *args) string {
		return `SELECT ` + nowCol + `, st.nodes_live, st.edges_live,
			(SELECT count(*) FROM {s}.nodes WHERE tenant_id = $1),
			(SELECT count(*) FROM {s}.edges WHERE tenant_id = $1),
			(SELECT coalesce(sum(pg_column_size(n.*)), 0) FROM {s}.nodes n WHERE tenant_id = $1) +
			(SELECT coalesce(sum(pg_column_size(e.*)), 0) FROM {s}.edges e WHERE tenant_id = $1)
			FROM {s}.tenant_state st WHERE st.tenant_id = $1`
	}, func(rows pgx.Rows) (int, error) {
		n := 0
		var now int64
		for rows.Next() {
			n++
			if err := rows.Scan(&now, &st.Nodes, &st.Edges, &st.NodeVersions, &st.EdgeVersions, &st.Bytes); err != nil {
				return 0, err
			}
		}
		return n, nil
	})
	if err != nil {
		return st, fmt.Errorf("postgres: stats: %w", err)
	}
	return st, nil
}

// rawRow decodes the current row of a scopedRows straight from the wire
// (RawValues), for the reads whose pages are short and many (edges with
// their endpoints, paths): pgx plans a scan for every column of every
// query anew, about 1 µs a column, which is a tenth of a one-row read. It
// understands the binary and the text form of the column types these
// reads return (uuid, int8, int4, text, bool); anything else is an error. The
// first bad column is kept in err.
type rawRow struct {
	vals [][]byte
	fds  []pgconn.FieldDescription
	err  error
	last *lastDecoded
}

// lastDecoded remembers the last UUID and the last edge kind a
// statement's rows decoded: the same endpoint or start node repeats on
// row after row, and so does a kind (a page of one kind, a node's edges).
type lastDecoded struct {
	b    [16]byte
	s    string
	kind string
}

// raw returns the decoder of the current row, past the leading tm_row
// of tenantScopedRead.
func (r *scopedRows) raw() rawRow {
	if r.last == nil {
		r.last = new(lastDecoded)
	}
	return rawRow{vals: r.Rows.RawValues()[1:], fds: r.Rows.FieldDescriptions()[1:], last: r.last}
}

// edge decodes an edge version from the ten columns of edgeCols at o.
func (r *rawRow) edge(o int) telamentis.Edge {
	return telamentis.Edge{ID: r.uuid(o), Alias: r.str(o + 1), From: r.uuid(o + 2), To: r.uuid(o + 3), Kind: r.kind(o + 4),
		Props: r.bytes(o + 5), ValidFrom: telamentis.FromMicros(r.int(o + 6)), ValidTo: telamentis.FromMicros(r.int(o + 7)),
		TxStart: telamentis.FromMicros(r.int(o + 8)), TxEnd: telamentis.FromMicros(r.int(o + 9))}
}

// node decodes a node version from the six columns of nodeCols at o.
func (r *rawRow) node(o int) telamentis.Node {
	return telamentis.Node{ID: r.uuid(o), Alias: r.str(o + 1), Label: r.str(o + 2), Props: r.bytes(o + 3),
		TxStart: telamentis.FromMicros(r.int(o + 4)), TxEnd: telamentis.FromMicros(r.int(o + 5))}
}

func (r *rawRow) bad(i int, what string) {
	if r.err == nil {
		r.err = fmt.Errorf("column %d (%s): cannot decode %s", i, r.fds[i].Name, what)
	}
}

func (r *rawRow) null(i int) bool { return r.vals[i] == nil }

// kind is str for an edge kind, reusing the last one decoded when equal.
func (r *rawRow) kind(i int) string {
	if r.last == nil || r.vals[i] == nil {
		return r.str(i)
	}
	if string(r.vals[i]) != r.last.kind {
		r.last.kind = string(r.vals[i])
	}
	return r.last.kind
}

func (r *rawRow) str(i int) string {
	if r.vals[i] == nil {
		r.bad(i, "NULL as text")
	}
	return string(r.vals[i])
}

func (r *rawRow) bytes(i int) []byte {
	if r.vals[i] == nil {
		r.bad(i, "NULL as text")
	}
	return append([]byte(nil), r.vals[i]...)
}

func (r *rawRow) int(i int) int64 {
	b := r.vals[i]
	if r.fds[i].Format == pgx.BinaryFormatCode {
		switch len(b) {
		case 8:
			return int64(binary.BigEndian.Uint64(b))
		case 4:
			return int64(int32(binary.BigEndian.Uint32(b)))
		}
		r.bad(i, "an integer")
		return 0
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		r.bad(i, "an integer")
	}
	return v
}

func (r *rawRow) bool(i int) bool {
	b := r.vals[i]
	if len(b) != 1 {
		r.bad(i, "a boolean")
		return false
	}
	// binary: 1 or 0; text: t or f
	return b[0] == 1 || b[0] == 't'
}

func (r *rawRow) uuid(i int) string {
	b := r.vals[i]
	if r.fds[i].Format != pgx.BinaryFormatCode {
		if len(b) != 36 {
			r.bad(i, "a uuid")
		}
		return string(b)
	}
	if len(b) != 16 {
		r.bad(i, "a uuid")
		return ""
	}
	if r.last != nil && r.last.s != "" && string(b) == string(r.last.b[:]) {
		return r.last.s
	}
	id := uuid.UUID(b).String() // canonical lower case, as badger's IDs
	if r.last != nil {
		copy(r.last.b[:], b)
		r.last.s = id
	}
	return id
}
