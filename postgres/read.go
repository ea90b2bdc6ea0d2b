package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
	if err == nil && !found && ref.ID == "" {
		// No node has the alias as its own: the node a redirect of it
		// names (names.go). A second statement, so that the common lookup
		// stays one index probe.
		found, err = s.get(ctx, tenant, func(schema string) (string, args) {
			a := args{tenant, ref.Alias}
			cur, t := asAt.IsZero(), telamentis.Micros(asAt)
			return q(schema, `SELECT `+nodeCols+` FROM {s}.nodes WHERE tenant_id = $1 AND id = `+
				redirectedSQL("$2", cur, t, &a)+` AND `+visible("", cur, t, &a)+` LIMIT 1`), a
		}, func(c *rawRow) { n = c.node(0) })
	}
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
// saves the second statement's execution (docs/perf-log/postgres-rounds.md, round 2).
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
	alias := a.add(ref.Alias)
	return "coalesce((SELECT id FROM {s}.nodes WHERE tenant_id = $1 AND alias = " + alias + " AND " +
		visible("", cur, t, a) + " LIMIT 1), " + redirectedSQL(alias, cur, t, a) + ")"
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
// so a large page is not built by doubling, which copies every row many
// times over (docs/perf-log/postgres-rounds.md, round 7).
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
