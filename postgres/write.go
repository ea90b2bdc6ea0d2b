package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/graph"
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
	// Entity resolution (names.go): the name property, and the rules the
	// tenant's name keys were computed with ("" if it keeps none).
	prop, nameKeys string
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
	w := &wtx{ctx: ctx, schema: schema, tenant: tenant, prop: s.nameProperty()}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		w.tx = tx
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('telamentis.tenant', $1, true)`, tenant)
		b.Queue(q(schema, `SELECT st.last_tx, st.nodes_live, st.edges_live, t.max_nodes, t.max_edges, coalesce(st.name_keys, '')
			FROM {s}.tenant_state st JOIN `+ident(s.schema)+`.tenants t ON t.id = st.tenant_id
			WHERE st.tenant_id = $1 FOR UPDATE OF st`), tenant)
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		err := br.QueryRow().Scan(&w.last, &w.nodes, &w.edges, &w.maxNodes, &w.maxEdges, &w.nameKeys)
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

const openSQL = "9223372036854775807"

var _ graph.Tx = (*wtx)(nil)

// Now implements graph.Tx: the transaction time taken when the tenant's
// state row was locked.
func (w *wtx) Now() int64 { return w.at }

// liveNodeCols are the columns of a live node version, in scanLiveNode's
// order.
const liveNodeCols = `id, coalesce(alias, ''), label, props_c, tx_start`

func scanLiveNode(r scanner) (graph.Node, error) {
	var n graph.Node
	err := r.Scan(&n.ID, &n.Alias, &n.Label, &n.Props, &n.TxStart)
	return n, err
}

const liveEdgeCols = `id, coalesce(alias, ''), from_id, to_id, kind, props_c, valid_from, valid_to, tx_start`

func scanLiveEdge(r scanner) (graph.Edge, error) {
	var e graph.Edge
	err := r.Scan(&e.ID, &e.Alias, &e.From, &e.To, &e.Kind, &e.Props, &e.ValidFrom, &e.ValidTo, &e.TxStart)
	return e, err
}

// Node implements graph.Tx.
func (w *wtx) Node(ref telamentis.Ref) (graph.Node, bool, error) {
	if ref.ID != "" {
		return one(w.tx.QueryRow(w.ctx, w.q(`SELECT `+liveNodeCols+` FROM {s}.nodes
			WHERE tenant_id = $1 AND id = $2 AND tx_end = `+openSQL), w.tenant, ref.ID), scanLiveNode)
	}
	return one(w.tx.QueryRow(w.ctx, w.q(liveAliasNodeSQL), w.tenant, ref.Alias), scanLiveNode)
}

// Edge implements graph.Tx.
func (w *wtx) Edge(ref telamentis.Ref) (graph.Edge, bool, error) {
	if ref.ID != "" {
		return one(w.tx.QueryRow(w.ctx, w.q(`SELECT `+liveEdgeCols+` FROM {s}.edges
			WHERE tenant_id = $1 AND id = $2 AND tx_end = `+openSQL), w.tenant, ref.ID), scanLiveEdge)
	}
	return one(w.tx.QueryRow(w.ctx, w.q(`SELECT `+liveEdgeCols+` FROM {s}.edges
		WHERE tenant_id = $1 AND alias = $2 AND tx_end = `+openSQL), w.tenant, ref.Alias), scanLiveEdge)
}

// LiveEdges implements graph.Tx.
func (w *wtx) LiveEdges(n graph.Node) ([]graph.Edge, error) {
	rows, err := w.tx.Query(w.ctx, w.q(`SELECT `+liveEdgeCols+` FROM {s}.edges
		WHERE tenant_id = $1 AND (from_id = $2 OR to_id = $2) AND tx_end = `+openSQL), w.tenant, n.ID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (graph.Edge, error) { return scanLiveEdge(r) })
}

// Counts implements graph.Tx.
func (w *wtx) Counts() (graph.Counts, error) {
	return graph.Counts{Nodes: w.nodes, Edges: w.edges, MaxNodes: w.maxNodes, MaxEdges: w.maxEdges}, nil
}

// NewNode implements graph.Tx.
func (w *wtx) NewNode() (graph.Node, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return graph.Node{}, err
	}
	return graph.Node{ID: id.String()}, nil
}

// NewEdge implements graph.Tx.
func (w *wtx) NewEdge(from, to graph.Node) (graph.Edge, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return graph.Edge{}, err
	}
	return graph.Edge{ID: id.String(), From: from.ID, To: to.ID}, nil
}

// apply writes a plan with at most four statements, sent together: the
// closes of live versions before the new versions, so that an alias moved
// between records in one write is never held by two live rows.
func (w *wtx) apply(p *graph.Plan) error {
	var nc, no planCols
	for i := range p.Nodes {
		c := &p.Nodes[i]
		if c.Closes() {
			nc.ids = append(nc.ids, c.Old.ID)
			nc.starts = append(nc.starts, c.Old.TxStart)
		}
		if c.Opens() {
			n := &c.New
			no.ids, no.aliases = append(no.ids, n.ID), append(no.aliases, n.Alias)
			no.labels, no.props = append(no.labels, n.Label), append(no.props, n.Props)
			if w.keepsNames() {
				ak, nk := graph.AliasNameKeys(n.Alias, n.Props, w.prop)
				no.aliasKeys, no.nameKeys = append(no.aliasKeys, ak), append(no.nameKeys, nk)
			}
		}
	}
	var ec, eo planCols
	for i := range p.Edges {
		c := &p.Edges[i]
		if c.Closes() {
			ec.ids = append(ec.ids, c.Old.ID)
			ec.starts = append(ec.starts, c.Old.TxStart)
		}
		if c.Opens() {
			e := &c.New
			eo.ids, eo.aliases = append(eo.ids, e.ID), append(eo.aliases, e.Alias)
			eo.labels, eo.props = append(eo.labels, e.Kind), append(eo.props, e.Props)
			eo.from, eo.to = append(eo.from, e.From), append(eo.to, e.To)
			eo.vf, eo.vt = append(eo.vf, e.ValidFrom), append(eo.vt, e.ValidTo)
		}
	}
	b := &pgx.Batch{}
	type check struct {
		n    int
		what string
	}
	var checks []check
	if len(nc.ids) > 0 {
		b.Queue(w.q(`UPDATE {s}.nodes n SET tx_end = $2 FROM unnest($3::uuid[], $4::bigint[]) c(id, tx_start)
			WHERE n.tenant_id = $1 AND n.id = c.id AND n.tx_start = c.tx_start AND n.tx_end = `+openSQL),
			w.tenant, w.at, nc.ids, nc.starts)
		checks = append(checks, check{len(nc.ids), "close nodes"})
	}
	if len(ec.ids) > 0 {
		b.Queue(w.q(`UPDATE {s}.edges e SET tx_end = $2 FROM unnest($3::uuid[], $4::bigint[]) c(id, tx_start)
			WHERE e.tenant_id = $1 AND e.id = c.id AND e.tx_start = c.tx_start AND e.tx_end = `+openSQL),
			w.tenant, w.at, ec.ids, ec.starts)
		checks = append(checks, check{len(ec.ids), "close edges"})
	}
	if len(no.ids) > 0 && no.aliasKeys == nil {
		b.Queue(w.q(`INSERT INTO {s}.nodes (tenant_id, id, tx_start, tx_end, alias, label, props_c)
			SELECT $1, u.id, $2, `+openSQL+`, nullif(u.alias, ''), u.label, u.props
			FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[]) u(id, alias, label, props)`),
			w.tenant, w.at, no.ids, no.aliases, no.labels, no.props)
		checks = append(checks, check{len(no.ids), "open nodes"})
	} else if len(no.ids) > 0 { // with name keys (names.go)
		b.Queue(w.q(`INSERT INTO {s}.nodes (tenant_id, id, tx_start, tx_end, alias, label, props_c, alias_key, name_key)
			SELECT $1, u.id, $2, `+openSQL+`, nullif(u.alias, ''), u.label, u.props, nullif(u.ak, ''), nullif(u.nk, '')
			FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) u(id, alias, label, props, ak, nk)`),
			w.tenant, w.at, no.ids, no.aliases, no.labels, no.props, no.aliasKeys, no.nameKeys)
		checks = append(checks, check{len(no.ids), "open nodes"})
	}
	if len(eo.ids) > 0 {
		b.Queue(w.q(`INSERT INTO {s}.edges (tenant_id, id, tx_start, tx_end, alias, from_id, to_id, kind, valid_from, valid_to, props_c)
			SELECT $1, u.id, $2, `+openSQL+`, nullif(u.alias, ''), u.from_id, u.to_id, u.kind, u.vf, u.vt, u.props
			FROM unnest($3::uuid[], $4::text[], $5::uuid[], $6::uuid[], $7::text[], $8::bigint[], $9::bigint[], $10::text[])
				u(id, alias, from_id, to_id, kind, vf, vt, props)`),
			w.tenant, w.at, eo.ids, eo.aliases, eo.from, eo.to, eo.labels, eo.vf, eo.vt, eo.props)
		checks = append(checks, check{len(eo.ids), "open edges"})
	}
	if b.Len() == 0 { // only redirects change
		return w.applyRedirects(p)
	}
	br := w.tx.SendBatch(w.ctx, b)
	for _, c := range checks {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return err
		}
		if tag.RowsAffected() != int64(c.n) {
			br.Close()
			return fmt.Errorf("%s: %d rows, want %d", c.what, tag.RowsAffected(), c.n)
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	if err := w.applyRedirects(p); err != nil { // names.go
		return err
	}
	w.nodes += int64(len(no.ids) - len(nc.ids))
	w.edges += int64(len(eo.ids) - len(ec.ids))
	w.dirty = true
	return nil
}

// planCols are a plan's versions as column arrays (labels holds an edge's
// kind).
type planCols struct {
	ids, aliases, labels, props []string
	aliasKeys, nameKeys         []string // nodes: name keys, "" when not kept
	from, to                    []string
	starts, vf, vt              []int64
}

// run implements graph.Run: the planner's reads and the plan's writes are
// one transaction, which holds the tenant's state row locked.
func (s *Store) run(ctx context.Context, tenant string, plan func(graph.Tx) (graph.Plan, error)) error {
	_, err := s.write(ctx, tenant, func(w *wtx) error {
		p, err := plan(w)
		if err != nil || p.Empty() {
			return err
		}
		return w.apply(&p)
	})
	return err
}

// UpsertNode creates or updates a node; see telamentis.Store. graph plans
// it.
func (s *Store) UpsertNode(ctx context.Context, tenant string, in telamentis.NodeInput) (telamentis.NodeResult, error) {
	res, err := graph.UpsertNode(ctx, s.run, tenant, in)
	if err != nil {
		return telamentis.NodeResult{}, fmt.Errorf("postgres: upsert node: %w", err)
	}
	return res, nil
}

// UpsertEdge creates or updates an edge; see telamentis.Store.
func (s *Store) UpsertEdge(ctx context.Context, tenant string, in telamentis.EdgeInput) (telamentis.EdgeResult, error) {
	res, err := graph.UpsertEdge(ctx, s.run, tenant, in)
	if err != nil {
		return telamentis.EdgeResult{}, fmt.Errorf("postgres: upsert edge: %w", err)
	}
	return res, nil
}

// ApplyBatch applies a batch atomically with one transaction time; see
// telamentis.Store and graph.ApplyBatch.
func (s *Store) ApplyBatch(ctx context.Context, tenant string, b telamentis.Batch) (telamentis.BatchResult, error) {
	res, err := graph.ApplyBatch(ctx, s.run, tenant, b)
	if err != nil {
		return telamentis.BatchResult{}, fmt.Errorf("postgres: apply batch: %w", err)
	}
	return res, nil
}

// InvalidateEdge records that a live edge stopped being true at at.
func (s *Store) InvalidateEdge(ctx context.Context, tenant string, ref telamentis.Ref, at time.Time) (telamentis.EdgeResult, error) {
	res, err := graph.InvalidateEdge(ctx, s.run, tenant, ref, at)
	if err != nil {
		return telamentis.EdgeResult{}, fmt.Errorf("postgres: invalidate edge: %w", err)
	}
	return res, nil
}

// RetractNode closes a live node and every live edge touching it.
func (s *Store) RetractNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	res, err := graph.RetractNode(ctx, s.run, tenant, ref)
	if err != nil {
		return telamentis.RetractResult{}, fmt.Errorf("postgres: retract node: %w", err)
	}
	return res, nil
}

// RetractEdge closes a live edge.
func (s *Store) RetractEdge(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.RetractResult, error) {
	res, err := graph.RetractEdge(ctx, s.run, tenant, ref)
	if err != nil {
		return telamentis.RetractResult{}, fmt.Errorf("postgres: retract edge: %w", err)
	}
	return res, nil
}

// EraseNode physically deletes every version of a node and of every edge
// touching it. A retracted node can be named by ID only; an alias names
// the live node that carries it.
func (s *Store) EraseNode(ctx context.Context, tenant string, ref telamentis.Ref) (telamentis.EraseResult, error) {
	if err := graph.CheckRef(ref); err != nil {
		return telamentis.EraseResult{}, err
	}
	var res telamentis.EraseResult
	_, err := s.write(ctx, tenant, func(w *wtx) error {
		var id string
		var err error
		if ref.ID != "" {
			err = w.tx.QueryRow(w.ctx, w.q(`SELECT id FROM {s}.nodes WHERE tenant_id = $1 AND id = $2 LIMIT 1`), w.tenant, ref.ID).Scan(&id)
		} else {
			err = w.tx.QueryRow(w.ctx, w.q(`SELECT id FROM (`+liveAliasNodeSQL+`) n`), w.tenant, ref.Alias).Scan(&id)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return telamentis.NotFound("node")
		}
		if err != nil {
			return err
		}
		if err := w.eraseRedirects(id); err != nil { // names.go
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
