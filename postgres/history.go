package postgres

import (
	"context"
	"math"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
)

// The history and changes queries of the PostgreSQL store.

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
