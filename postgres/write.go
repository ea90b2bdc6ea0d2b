package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
)

const open = telamentis.Open

// wtx is one write transaction of one tenant. It holds the tenant's state
// row locked FOR UPDATE, which serialises the tenant's writers across every
// replica, and the transaction time every version of this write gets.
type wtx struct {
	ctx      context.Context
	tx       pgx.Tx
	schema   string
	tenant   string
	at       int64 // transaction time of this write
	last     int64 // last transaction time before this write
	nodes    int64 // live nodes
	edges    int64 // live edges
	maxNodes int64
	maxEdges int64
	dirty    bool // a version was written or closed
}

func (w *wtx) q(sql string) string { return q(w.schema, sql) }

// write runs fn in a write transaction of tenant. The transaction time is
// greatest(TxClock, last+1µs), so it is strictly increasing per tenant even
// across replicas whose clocks disagree. Live counters and the last
// transaction time are saved with the data.
func (s *Store) write(ctx context.Context, tenant string, fn func(w *wtx) error) (int64, error) {
	schema, err := s.schemaOf(ctx, tenant)
	if err != nil {
		return 0, err
	}
	at, err := s.writeIn(ctx, schema, tenant, fn)
	if telamentis.ErrorCode(err) == telamentis.CodeNotFound && errors.Is(err, errNoState) {
		// The cached schema may be stale (tenant dropped or recreated by
		// another replica): reread it once.
		if schema, err = s.refreshSchema(ctx, tenant); err != nil {
			return 0, err
		}
		at, err = s.writeIn(ctx, schema, tenant, fn)
	}
	return at, err
}

var errNoState = errors.New("no tenant state row")

func (s *Store) writeIn(ctx context.Context, schema, tenant string, fn func(w *wtx) error) (int64, error) {
	w := &wtx{ctx: ctx, schema: schema, tenant: tenant}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		w.tx = tx
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('telamentis.tenant', $1, true)`, tenant)
		b.Queue(q(schema, `SELECT st.last_tx, st.nodes_live, st.edges_live, t.max_nodes, t.max_edges
			FROM {s}.tenant_state st JOIN `+ident(s.schema)+`.tenants t ON t.id = st.tenant_id
			WHERE st.tenant_id = $1 FOR UPDATE OF st`), tenant)
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		err := br.QueryRow().Scan(&w.last, &w.nodes, &w.edges, &w.maxNodes, &w.maxEdges)
		br.Close()
		if errors.Is(err, pgx.ErrNoRows) {
			return &telamentis.Error{Code: telamentis.CodeNotFound, Message: "tenant not found", Err: errNoState}
		}
		if err != nil {
			return err
		}
		w.at = max(s.clock.Next(tenant), w.last+1)
		if err := fn(w); err != nil {
			return err
		}
		if !w.dirty {
			return nil
		}
		_, err = tx.Exec(ctx, w.q(`UPDATE {s}.tenant_state SET last_tx = $2, nodes_live = $3, edges_live = $4 WHERE tenant_id = $1`),
			tenant, w.at, w.nodes, w.edges)
		return err
	})
	if err != nil {
		return 0, mapErr(err)
	}
	if w.dirty {
		s.clock.Observe(tenant, w.at)
	}
	return w.at, nil
}

// nodeCols are the columns of a node version, in scanNode's order;
// nodeNulls is a row of their types without a node.
const (
	nodeCols  = `id, coalesce(alias, ''), label, props_c, tx_start, tx_end`
	nodeNulls = `NULL::uuid, NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::bigint`
)

type scanner interface{ Scan(...any) error }

func scanNode(r scanner) (telamentis.Node, error) {
	var n telamentis.Node
	var ts, te int64
	if err := r.Scan(&n.ID, &n.Alias, &n.Label, &n.Props, &ts, &te); err != nil {
		return n, err
	}
	n.TxStart, n.TxEnd = telamentis.FromMicros(ts), telamentis.FromMicros(te)
	return n, nil
}

// edgeCols are the columns of an edge version, in scanEdge's order;
// edgeNulls is a row of their types without an edge.
const (
	edgeCols  = `id, coalesce(alias, ''), from_id, to_id, kind, props_c, valid_from, valid_to, tx_start, tx_end`
	edgeNulls = `NULL::uuid, NULL::text, NULL::uuid, NULL::uuid, NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint`
)

func scanEdge(r scanner) (telamentis.Edge, error) {
	var e telamentis.Edge
	var vf, vt, ts, te int64
	if err := r.Scan(&e.ID, &e.Alias, &e.From, &e.To, &e.Kind, &e.Props, &vf, &vt, &ts, &te); err != nil {
		return e, err
	}
	e.ValidFrom, e.ValidTo = telamentis.FromMicros(vf), telamentis.FromMicros(vt)
	e.TxStart, e.TxEnd = telamentis.FromMicros(ts), telamentis.FromMicros(te)
	return e, nil
}

// one returns the single row of a query, ok=false for none.
func one[T any](row pgx.Row, scan func(scanner) (T, error)) (T, bool, error) {
	v, err := scan(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, false, nil
	}
	return v, err == nil, err
}

func (w *wtx) liveNode(ref telamentis.Ref) (telamentis.Node, bool, error) {
	if ref.ID != "" {
		return one(w.tx.QueryRow(w.ctx, w.q(`SELECT `+nodeCols+` FROM {s}.nodes
			WHERE tenant_id = $1 AND id = $2 AND tx_end = `+openSQL), w.tenant, ref.ID), scanNode)
	}
	return one(w.tx.QueryRow(w.ctx, w.q(`SELECT `+nodeCols+` FROM {s}.nodes
		WHERE tenant_id = $1 AND alias = $2 AND tx_end = `+openSQL), w.tenant, ref.Alias), scanNode)
}

func (w *wtx) liveEdge(ref telamentis.Ref) (telamentis.Edge, bool, error) {
	if ref.ID != "" {
		return one(w.tx.QueryRow(w.ctx, w.q(`SELECT `+edgeCols+` FROM {s}.edges
			WHERE tenant_id = $1 AND id = $2 AND tx_end = `+openSQL), w.tenant, ref.ID), scanEdge)
	}
	return one(w.tx.QueryRow(w.ctx, w.q(`SELECT `+edgeCols+` FROM {s}.edges
		WHERE tenant_id = $1 AND alias = $2 AND tx_end = `+openSQL), w.tenant, ref.Alias), scanEdge)
}

const openSQL = "9223372036854775807"

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func aliasTaken(what string) error {
	return &telamentis.Error{Code: telamentis.CodeConflict, Message: "alias is used by another live " + what,
		Fields: []telamentis.FieldError{{Field: "alias", Message: "used by another live " + what}}}
}

// upsertNode applies a normalised NodeInput.
func (w *wtx) upsertNode(in telamentis.NodeInput) (telamentis.NodeResult, error) {
	var cur telamentis.Node
	var found bool
	var err error
	switch {
	case in.ID != "":
		if cur, found, err = w.liveNode(telamentis.Ref{ID: in.ID}); err != nil {
			return telamentis.NodeResult{}, err
		}
		if !found {
			return telamentis.NodeResult{}, telamentis.NotFound("node")
		}
		if in.Alias != "" && in.Alias != cur.Alias {
			other, taken, err := w.liveNode(telamentis.Ref{Alias: in.Alias})
			if err != nil {
				return telamentis.NodeResult{}, err
			}
			if taken && other.ID != cur.ID {
				return telamentis.NodeResult{}, aliasTaken("node")
			}
		}
	case in.Alias != "":
		if cur, found, err = w.liveNode(telamentis.Ref{Alias: in.Alias}); err != nil {
			return telamentis.NodeResult{}, err
		}
	}
	if found {
		alias := in.Alias
		if alias == "" {
			alias = cur.Alias
		}
		if cur.Label == in.Label && string(cur.Props) == string(in.Props) && cur.Alias == alias {
			return telamentis.NodeResult{Node: cur}, nil
		}
		ts := telamentis.Micros(cur.TxStart)
		if ts == w.at {
			// Written earlier in this same batch: amend that version.
			_, err = w.tx.Exec(w.ctx, w.q(`UPDATE {s}.nodes SET alias = $4, label = $5, props_c = $6
				WHERE tenant_id = $1 AND id = $2 AND tx_start = $3`), w.tenant, cur.ID, ts, nullable(alias), in.Label, string(in.Props))
		} else {
			_, err = w.tx.Exec(w.ctx, w.q(`WITH closed AS (UPDATE {s}.nodes SET tx_end = $3
					WHERE tenant_id = $1 AND id = $2 AND tx_start = $4 RETURNING 1)
				INSERT INTO {s}.nodes (tenant_id, id, tx_start, tx_end, alias, label, props_c)
				SELECT $1::text, $2::uuid, $3::bigint, `+openSQL+`, $5::text, $6::text, $7::text FROM closed`),
				w.tenant, cur.ID, w.at, ts, nullable(alias), in.Label, string(in.Props))
			ts = w.at
		}
		if err != nil {
			return telamentis.NodeResult{}, err
		}
		w.dirty = true
		n := telamentis.Node{ID: cur.ID, Alias: alias, Label: in.Label, Props: in.Props, TxStart: telamentis.FromMicros(ts)}
		return telamentis.NodeResult{Node: n, Changed: true}, nil
	}
	if w.maxNodes > 0 && w.nodes+1 > w.maxNodes {
		return telamentis.NodeResult{}, telamentis.Errorf(telamentis.CodeQuota, "node quota of %d reached", w.maxNodes)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return telamentis.NodeResult{}, err
	}
	n := telamentis.Node{ID: id.String(), Alias: in.Alias, Label: in.Label, Props: in.Props, TxStart: telamentis.FromMicros(w.at)}
	if _, err := w.tx.Exec(w.ctx, w.q(`INSERT INTO {s}.nodes (tenant_id, id, tx_start, tx_end, alias, label, props_c)
		VALUES ($1, $2, $3, `+openSQL+`, $4, $5, $6)`), w.tenant, n.ID, w.at, nullable(n.Alias), n.Label, string(n.Props)); err != nil {
		return telamentis.NodeResult{}, err
	}
	w.nodes++
	w.dirty = true
	return telamentis.NodeResult{Node: n, Created: true, Changed: true}, nil
}

// endpoint resolves an edge endpoint to a live node of the tenant.
func (w *wtx) endpoint(ref telamentis.Ref, field string) (string, error) {
	n, ok, err := w.liveNode(ref)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &telamentis.Error{Code: telamentis.CodeNotFound, Message: "node not found",
			Fields: []telamentis.FieldError{{Field: field, Message: "node not found"}}}
	}
	return n.ID, nil
}

// upsertEdge applies a normalised EdgeInput.
func (w *wtx) upsertEdge(in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	from, err := w.endpoint(in.From, "from")
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	to, err := w.endpoint(in.To, "to")
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	var cur telamentis.Edge
	var found bool
	switch {
	case in.ID != "":
		if cur, found, err = w.liveEdge(telamentis.Ref{ID: in.ID}); err != nil {
			return telamentis.EdgeResult{}, err
		}
		if !found {
			return telamentis.EdgeResult{}, telamentis.NotFound("edge")
		}
		if in.Alias != "" && in.Alias != cur.Alias {
			other, taken, err := w.liveEdge(telamentis.Ref{Alias: in.Alias})
			if err != nil {
				return telamentis.EdgeResult{}, err
			}
			if taken && other.ID != cur.ID {
				return telamentis.EdgeResult{}, aliasTaken("edge")
			}
		}
	case in.Alias != "":
		if cur, found, err = w.liveEdge(telamentis.Ref{Alias: in.Alias}); err != nil {
			return telamentis.EdgeResult{}, err
		}
	}
	vt := telamentis.Micros(in.ValidTo)
	if !found {
		vf := w.at
		if !in.ValidFrom.IsZero() {
			vf = telamentis.Micros(in.ValidFrom)
		}
		if vt <= vf {
			return telamentis.EdgeResult{}, telamentis.Invalid("valid_to", "must be after valid_from")
		}
		if w.maxEdges > 0 && w.edges+1 > w.maxEdges {
			return telamentis.EdgeResult{}, telamentis.Errorf(telamentis.CodeQuota, "edge quota of %d reached", w.maxEdges)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return telamentis.EdgeResult{}, err
		}
		e := telamentis.Edge{ID: id.String(), Alias: in.Alias, From: from, To: to, Kind: in.Kind, Props: in.Props,
			ValidFrom: telamentis.FromMicros(vf), ValidTo: telamentis.FromMicros(vt), TxStart: telamentis.FromMicros(w.at)}
		if err := w.insertEdge(e, vf, vt); err != nil {
			return telamentis.EdgeResult{}, err
		}
		w.edges++
		w.dirty = true
		return telamentis.EdgeResult{Edge: e, Created: true, Changed: true}, nil
	}
	if from != cur.From {
		return telamentis.EdgeResult{}, telamentis.Invalid("from", "cannot change once the edge exists")
	}
	if to != cur.To {
		return telamentis.EdgeResult{}, telamentis.Invalid("to", "cannot change once the edge exists")
	}
	vf := telamentis.Micros(cur.ValidFrom)
	if !in.ValidFrom.IsZero() {
		vf = telamentis.Micros(in.ValidFrom)
	}
	if vt <= vf {
		return telamentis.EdgeResult{}, telamentis.Invalid("valid_to", "must be after valid_from")
	}
	alias := in.Alias
	if alias == "" {
		alias = cur.Alias
	}
	next := cur
	next.Alias, next.Kind, next.Props = alias, in.Kind, in.Props
	next.ValidFrom, next.ValidTo = telamentis.FromMicros(vf), telamentis.FromMicros(vt)
	return w.newEdgeVersion(cur, next)
}

func (w *wtx) insertEdge(e telamentis.Edge, vf, vt int64) error {
	_, err := w.tx.Exec(w.ctx, w.q(`INSERT INTO {s}.edges (tenant_id, id, tx_start, tx_end, alias, from_id, to_id, kind, valid_from, valid_to, props_c)
		VALUES ($1, $2, $3, `+openSQL+`, $4, $5, $6, $7, $8, $9, $10)`),
		w.tenant, e.ID, w.at, nullable(e.Alias), e.From, e.To, e.Kind, vf, vt, string(e.Props))
	return err
}

// newEdgeVersion closes cur and writes next, or reports a no-op when
// nothing changed.
func (w *wtx) newEdgeVersion(cur, next telamentis.Edge) (telamentis.EdgeResult, error) {
	vf, vt := telamentis.Micros(next.ValidFrom), telamentis.Micros(next.ValidTo)
	if cur.Alias == next.Alias && cur.Kind == next.Kind && string(cur.Props) == string(next.Props) &&
		telamentis.Micros(cur.ValidFrom) == vf && telamentis.Micros(cur.ValidTo) == vt {
		return telamentis.EdgeResult{Edge: cur}, nil
	}
	ts := telamentis.Micros(cur.TxStart)
	var err error
	if ts == w.at {
		_, err = w.tx.Exec(w.ctx, w.q(`UPDATE {s}.edges SET alias = $4, kind = $5, valid_from = $6, valid_to = $7, props_c = $8
			WHERE tenant_id = $1 AND id = $2 AND tx_start = $3`),
			w.tenant, cur.ID, ts, nullable(next.Alias), next.Kind, vf, vt, string(next.Props))
	} else {
		if _, err = w.tx.Exec(w.ctx, w.q(`UPDATE {s}.edges SET tx_end = $3 WHERE tenant_id = $1 AND id = $2 AND tx_start = $4`),
			w.tenant, cur.ID, w.at, ts); err == nil {
			err = w.insertEdge(next, vf, vt)
		}
	}
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	w.dirty = true
	next.TxStart, next.TxEnd = telamentis.FromMicros(w.at), time.Time{}
	return telamentis.EdgeResult{Edge: next, Changed: true}, nil
}

// UpsertNode creates or updates a node; see telamentis.Store.
func (s *Store) UpsertNode(ctx context.Context, tenant string, in telamentis.NodeInput) (telamentis.NodeResult, error) {
	in, err := in.Normalize()
	if err != nil {
		return telamentis.NodeResult{}, err
	}
	var res telamentis.NodeResult
	_, err = s.write(ctx, tenant, func(w *wtx) (err error) {
		res, err = w.upsertNode(in)
		return err
	})
	if err != nil {
		return telamentis.NodeResult{}, fmt.Errorf("postgres: upsert node: %w", err)
	}
	return res, nil
}

// UpsertEdge creates or updates an edge; see telamentis.Store.
func (s *Store) UpsertEdge(ctx context.Context, tenant string, in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	in, err := in.Normalize()
	if err != nil {
		return telamentis.EdgeResult{}, err
	}
	var res telamentis.EdgeResult
	_, err = s.write(ctx, tenant, func(w *wtx) (err error) {
		res, err = w.upsertEdge(in)
		return err
	})
	if err != nil {
		return telamentis.EdgeResult{}, fmt.Errorf("postgres: upsert edge: %w", err)
	}
	return res, nil
}

// ApplyBatch applies a batch atomically with one transaction time. Every
// failing item is reported by position; if any fails, nothing is written.
func (s *Store) ApplyBatch(ctx context.Context, tenant string, b telamentis.Batch) (telamentis.BatchResult, error) {
	b, err := b.Normalize()
	if err != nil {
		return telamentis.BatchResult{}, err
	}
	res := telamentis.BatchResult{Nodes: make([]telamentis.NodeResult, len(b.Nodes)), Edges: make([]telamentis.EdgeResult, len(b.Edges))}
	at, err := s.write(ctx, tenant, func(w *wtx) error {
		var bad *telamentis.Error
		fail := func(prefix string, err error) error {
			var e *telamentis.Error
			if !errors.As(err, &e) || e.Code == telamentis.CodeInternal || e.Code == telamentis.CodeQuota ||
				e.Code == telamentis.CodeUnavailable {
				return err // not an item's fault: stop here
			}
			if bad == nil {
				bad = &telamentis.Error{Code: e.Code, Message: "batch items failed"}
			}
			fields := e.Fields
			if len(fields) == 0 {
				fields = []telamentis.FieldError{{Message: e.Message}}
			}
			for _, f := range fields {
				name := prefix
				if f.Field != "" {
					name += "." + f.Field
				}
				bad.Fields = append(bad.Fields, telamentis.FieldError{Field: name, Message: f.Message})
			}
			return nil
		}
		// Item failures are domain errors found before any statement
		// fails, so the transaction stays usable and every later item is
		// still checked and reported; the whole transaction then rolls
		// back.
		for i, in := range b.Nodes {
			r, err := w.upsertNode(in)
			if err != nil {
				if err := fail(fmt.Sprintf("nodes[%d]", i), err); err != nil {
					return err
				}
				continue
			}
			res.Nodes[i] = r
		}
		for i, in := range b.Edges {
			r, err := w.upsertEdge(in)
			if err != nil {
				if err := fail(fmt.Sprintf("edges[%d]", i), err); err != nil {
					return err
				}
				continue
			}
			res.Edges[i] = r
		}
		if bad != nil {
			return bad
		}
		return nil
	})
	if err != nil {
		return telamentis.BatchResult{}, fmt.Errorf("postgres: apply batch: %w", err)
	}
	res.TxTime = telamentis.FromMicros(at)
	return res, nil
}

// InvalidateEdge records that a live edge stopped being true at at.
func (s *Store) InvalidateEdge(ctx context.Context, tenant string, ref telamentis.Ref, at time.Time) (telamentis.EdgeResult, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.EdgeResult{}, err
	}
	if at.IsZero() {
		return telamentis.EdgeResult{}, telamentis.Invalid("at", "required")
	}
	at = telamentis.NormalizeTime(at)
	if at.Year() < 1 || at.Year() > 9999 {
		return telamentis.EdgeResult{}, telamentis.Invalid("at", "time out of range")
	}
	var res telamentis.EdgeResult
	_, err := s.write(ctx, tenant, func(w *wtx) error {
		cur, ok, err := w.liveEdge(ref)
		if err != nil {
			return err
		}
		if !ok {
			return telamentis.NotFound("edge")
		}
		if !at.After(cur.ValidFrom) {
			return telamentis.Invalid("at", "must be after valid_from")
		}
		next := cur
		next.ValidTo = at
		res, err = w.newEdgeVersion(cur, next)
		return err
	})
	if err != nil {
		return telamentis.EdgeResult{}, fmt.Errorf("postgres: invalidate edge: %w", err)
	}
	return res, nil
}

// RetractNode closes a live node and every live edge touching it.
func (s *Store) RetractNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.RetractResult{}, err
	}
	var res telamentis.RetractResult
	at, err := s.write(ctx, tenant, func(w *wtx) error {
		cur, ok, err := w.liveNode(ref)
		if err != nil {
			return err
		}
		if !ok {
			return telamentis.NotFound("node")
		}
		if _, err := w.tx.Exec(w.ctx, w.q(`UPDATE {s}.nodes SET tx_end = $3 WHERE tenant_id = $1 AND id = $2 AND tx_end = `+openSQL),
			w.tenant, cur.ID, w.at); err != nil {
			return err
		}
		tag, err := w.tx.Exec(w.ctx, w.q(`UPDATE {s}.edges SET tx_end = $3
			WHERE tenant_id = $1 AND (from_id = $2 OR to_id = $2) AND tx_end = `+openSQL), w.tenant, cur.ID, w.at)
		if err != nil {
			return err
		}
		res.Nodes, res.Edges = 1, int(tag.RowsAffected())
		w.nodes--
		w.edges -= tag.RowsAffected()
		w.dirty = true
		return nil
	})
	if err != nil {
		return telamentis.RetractResult{}, fmt.Errorf("postgres: retract node: %w", err)
	}
	res.TxTime = telamentis.FromMicros(at)
	return res, nil
}

// RetractEdge closes a live edge.
func (s *Store) RetractEdge(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.RetractResult{}, err
	}
	var res telamentis.RetractResult
	at, err := s.write(ctx, tenant, func(w *wtx) error {
		cur, ok, err := w.liveEdge(ref)
		if err != nil {
			return err
		}
		if !ok {
			return telamentis.NotFound("edge")
		}
		if _, err := w.tx.Exec(w.ctx, w.q(`UPDATE {s}.edges SET tx_end = $3 WHERE tenant_id = $1 AND id = $2 AND tx_end = `+openSQL),
			w.tenant, cur.ID, w.at); err != nil {
			return err
		}
		res.Edges = 1
		w.edges--
		w.dirty = true
		return nil
	})
	if err != nil {
		return telamentis.RetractResult{}, fmt.Errorf("postgres: retract edge: %w", err)
	}
	res.TxTime = telamentis.FromMicros(at)
	return res, nil
}

// EraseNode physically deletes every version of a node and of every edge
// touching it. A retracted node can be named by ID only; an alias names
// the live node that carries it.
func (s *Store) EraseNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.EraseResult, error) {
	if err := ref.Validate("ref"); err != nil {
		return telamentis.EraseResult{}, err
	}
	var res telamentis.EraseResult
	_, err := s.write(ctx, tenant, func(w *wtx) error {
		var id string
		var err error
		if ref.ID != "" {
			err = w.tx.QueryRow(w.ctx, w.q(`SELECT id FROM {s}.nodes WHERE tenant_id = $1 AND id = $2 LIMIT 1`), w.tenant, ref.ID).Scan(&id)
		} else {
			err = w.tx.QueryRow(w.ctx, w.q(`SELECT id FROM {s}.nodes WHERE tenant_id = $1 AND alias = $2
				AND tx_end = `+openSQL), w.tenant, ref.Alias).Scan(&id)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return telamentis.NotFound("node")
		}
		if err != nil {
			return err
		}
		var edges, edgeVersions, liveEdges, nodeVersions, liveNodes int64
		if err := w.tx.QueryRow(w.ctx, w.q(`WITH d AS (DELETE FROM {s}.edges
				WHERE tenant_id = $1 AND (from_id = $2 OR to_id = $2) RETURNING id, tx_end)
			SELECT count(DISTINCT id), count(*), count(*) FILTER (WHERE tx_end = `+openSQL+`) FROM d`),
			w.tenant, id).Scan(&edges, &edgeVersions, &liveEdges); err != nil {
			return err
		}
		if err := w.tx.QueryRow(w.ctx, w.q(`WITH d AS (DELETE FROM {s}.nodes WHERE tenant_id = $1 AND id = $2 RETURNING tx_end)
			SELECT count(*), count(*) FILTER (WHERE tx_end = `+openSQL+`) FROM d`),
			w.tenant, id).Scan(&nodeVersions, &liveNodes); err != nil {
			return err
		}
		res = telamentis.EraseResult{Nodes: 1, Edges: int(edges), Versions: int(nodeVersions + edgeVersions)}
		w.nodes -= liveNodes
		w.edges -= liveEdges
		// Save the counters; the transaction time is not used (erasure
		// writes no version) but advancing it is harmless.
		w.dirty = true
		return nil
	})
	if err != nil {
		return telamentis.EraseResult{}, fmt.Errorf("postgres: erase node: %w", err)
	}
	return res, nil
}
