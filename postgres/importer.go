package postgres

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/graph"
)

// Import writes versions with their original transaction times, with COPY
// (see telamentis.Importer). Every version of an ID must come in one call,
// ordered by TxStart, without overlaps; IDs must not exist yet. Edge
// endpoints must be nodes of this call or already stored. It bypasses
// quotas, keeps the live counters and advances the tenant's clock past
// every imported time. Nothing is written if anything is invalid.
//
// Imported edges may outlive their endpoints (an edge version current
// while its node is not): when an endpoint's versions do not plainly span
// its edges' transaction times, the tenant is marked loose_endpoints, and
// reads that rely on live edges having live endpoints check each node.
//
// The rows are moved before the tenant's state row is locked, so imports
// into one tenant run in parallel; it is a restore path and must not race
// ordinary writes to the same tenant.
func (s *Store) Import(ctx context.Context, tenant string, nodes []telamentis.Node, edges []telamentis.Edge) error {
	t0 := time.Now()
	// ids: every ID of the call in binary form, parsed once; nodeSpans:
	// the span of transaction time each node of the call is visible for,
	// if it is one unbroken run of versions (gap otherwise).
	ids, nodeSpans, err := checkImport(nodes, edges)
	if err != nil {
		return err
	}
	st := importTotals(nodes, edges, ids)
	missing, loose := st.missingEndpoints(nodeSpans)
	schema, err := s.schemaOf(ctx, tenant)
	if err != nil {
		return err
	}
	tCheck := time.Since(t0)
	var tm importTimes
	var rowErr error // a bad row found while streaming; COPY reports it as a cancellation
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := beginImport(ctx, tx, schema, tenant); err != nil {
			return err
		}
		if len(missing) > 0 {
			found, err := st.storedEndpoints(ctx, tx, schema, tenant, missing)
			if err != nil {
				return err
			}
			loose = loose || found
		}
		// COPY cannot write into a table with row-level security, so the
		// rows are copied into a temporary table (private to this
		// session, dropped at commit) and moved with one INSERT … SELECT,
		// which the policies' WITH CHECK still applies to.
		if len(nodes) > 0 {
			if err := copyNodes(ctx, tx, schema, tenant, nodes, ids.nodes, &tm, &rowErr); err != nil {
				return err
			}
		}
		if len(edges) > 0 {
			if err := copyEdges(ctx, tx, schema, tenant, edges, ids.edges, &tm, &rowErr); err != nil {
				return err
			}
		}
		// Only now lock the state row: counters and the clock.
		return st.commit(ctx, tx, schema, tenant, loose)
	})
	if rowErr != nil {
		return rowErr
	}
	if err != nil {
		return fmt.Errorf("postgres: import: %w", mapErr(err))
	}
	s.clock.Observe(tenant, st.maxTx)
	t3 := time.Now()
	s.analyzeAfterImport(ctx, schema, len(nodes), len(edges))
	s.log.Debug("postgres: import", "tenant", tenant, "nodes", len(nodes), "edges", len(edges),
		"check", tCheck, "copy", tm.copy, "insert", tm.insert, "analyze", time.Since(t3))
	return nil
}

// importState is what an Import changes in the tenant's state row, and
// the transaction time each endpoint of its edges must be visible for.
type importState struct {
	maxTx                int64
	liveNodes, liveEdges int64
	need                 map[[16]byte]span // from the first of its edges' versions to the end of the last
}

// importTimes are the durations of an Import's steps, for its log line.
type importTimes struct{ copy, insert time.Duration }

// importTotals counts what an Import adds: its latest transaction time,
// its live nodes and edges, and the span each endpoint must cover.
func importTotals(nodes []telamentis.Node, edges []telamentis.Edge, ids importIDs) importState {
	var st importState
	for _, n := range nodes {
		ts, te := telamentis.Micros(n.TxStart), telamentis.Micros(n.TxEnd)
		st.maxTx = max(st.maxTx, ts)
		if te == open {
			st.liveNodes++
		} else {
			st.maxTx = max(st.maxTx, te)
		}
	}
	st.need = map[[16]byte]span{}
	for i := range edges {
		e := &edges[i]
		ts, te := telamentis.Micros(e.TxStart), telamentis.Micros(e.TxEnd)
		st.maxTx = max(st.maxTx, ts)
		if te == open {
			st.liveEdges++
		} else {
			st.maxTx = max(st.maxTx, te)
		}
		for _, id := range ids.edges[i][1:] {
			if sp, ok := st.need[id]; ok {
				st.need[id] = span{lo: min(sp.lo, ts), hi: max(sp.hi, te)}
			} else {
				st.need[id] = span{lo: ts, hi: te}
			}
		}
	}
	return st
}

// missingEndpoints returns the endpoints that are not nodes of this call,
// which the server checks, in key order: the probes then walk the primary
// key's pages in order, which is faster than map order
// (docs/perf-log/postgres-rounds.md, round 6). loose reports
// an endpoint of this call whose versions do not plainly span its edges.
func (st *importState) missingEndpoints(nodeSpans map[[16]byte]span) (missing []pgtype.UUID, loose bool) {
	for id, sp := range st.need {
		if n, ok := nodeSpans[id]; ok {
			loose = loose || !n.covers(sp)
			continue
		}
		missing = append(missing, pgUUID(id))
	}
	slices.SortFunc(missing, func(a, b pgtype.UUID) int { return bytes.Compare(a.Bytes[:], b.Bytes[:]) })
	return missing, loose
}

// beginImport scopes the transaction to the tenant, which must exist, and
// to generic plans.
func beginImport(ctx context.Context, tx pgx.Tx, schema, tenant string) error {
	var exists bool
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('telamentis.tenant', $1, true)`, tenant)
	// Generic plans only, for this transaction: a custom plan looks the
	// tenant up in the statistics, and a tenant the last ANALYZE did
	// not see (the end of a bulk load, until the next one) is estimated
	// at one row, which makes any index on tenant_id look as good as
	// the primary key. The endpoint check below then scanned the
	// tenant's nodes once per endpoint and hit the statement timeout
	// (seen once in about ten medium loads). A generic plan estimates
	// a tenant by the number of tenants instead.
	b.Queue(`SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`)
	b.Queue(q(schema, `SELECT EXISTS (SELECT 1 FROM {s}.tenant_state WHERE tenant_id = $1)`), tenant)
	br := tx.SendBatch(ctx, b)
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&exists)
	}
	br.Close()
	if err != nil {
		return err
	}
	if !exists {
		return telamentis.NotFound("tenant")
	}
	return nil
}

// storedEndpoints checks that each missing endpoint is a stored node of
// the tenant, and reports whether one does not cover its edges.
func (st *importState) storedEndpoints(ctx context.Context, tx pgx.Tx, schema, tenant string, missing []pgtype.UUID) (loose bool, err error) {
	// Each endpoint must exist; it covers its edges if one of its
	// versions spans them (a run of several is not looked for: the
	// tenant is then flagged, which costs reads time, not results).
	// The versions come back and are judged here: one index scan
	// over the array costs the server less than a correlated
	// subquery per endpoint (docs/perf-log/postgres-rounds.md, round 6).
	rows, err := tx.Query(ctx, q(schema, `SELECT id, tx_start, tx_end FROM {s}.nodes WHERE tenant_id = $1 AND id = ANY($2::uuid[])`), tenant, missing)
	if err != nil {
		return false, err
	}
	covered := make(map[[16]byte]bool, len(missing))
	var id pgtype.UUID
	var ts, te int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &ts, &te}, func() error {
		sp := st.need[id.Bytes]
		covered[id.Bytes] = covered[id.Bytes] || ts <= sp.lo && te >= sp.hi
		return nil
	}); err != nil {
		return false, err
	}
	if len(covered) != len(missing) {
		return false, &telamentis.Error{Code: telamentis.CodeNotFound, Message: "node not found",
			Fields: []telamentis.FieldError{{Field: "edges", Message: "an endpoint is not a node of the tenant"}}}
	}
	for _, c := range covered {
		loose = loose || !c
	}
	return loose, nil
}

// copyNodes copies the node versions into the tenant's nodes through a
// temporary table. A bad row's error is left in rowErr.
func copyNodes(ctx context.Context, tx pgx.Tx, schema, tenant string, nodes []telamentis.Node, ids [][16]byte, tm *importTimes, rowErr *error) error {
	t1 := time.Now()
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE tm_import_nodes (
		id uuid, tx_start bigint, tx_end bigint, alias text, label text, props_c text) ON COMMIT DROP`); err != nil {
		return err
	}
	// One row of values, refilled for every node: pgx encodes a
	// row before it asks for the next, so nothing is boxed or
	// allocated per row.
	var r struct {
		id     pgtype.UUID
		ts, te int64
		alias  pgtype.Text
		label  string
		props  []byte
	}
	vals := []any{&r.id, &r.ts, &r.te, &r.alias, &r.label, &r.props}
	i := 0
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"tm_import_nodes"},
		[]string{"id", "tx_start", "tx_end", "alias", "label", "props_c"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(nodes) {
				return nil, nil
			}
			n := &nodes[i]
			var err error
			if r.props, err = telamentis.AppendCanonicalProps(r.props[:0], n.Props); err != nil {
				*rowErr = graph.ImportPropsError("nodes", i, err)
				return nil, *rowErr
			}
			i++
			r.id, r.ts, r.te = pgUUID(ids[i-1]), telamentis.Micros(n.TxStart), telamentis.Micros(n.TxEnd)
			r.alias, r.label = pgtype.Text{String: n.Alias, Valid: n.Alias != ""}, n.Label
			return vals, nil
		}))
	if err != nil {
		return err
	}
	t2 := time.Now()
	if _, err := tx.Exec(ctx, q(schema, `INSERT INTO {s}.nodes (tenant_id, id, tx_start, tx_end, alias, label, props_c)
		SELECT $1, id, tx_start, tx_end, alias, label, props_c FROM tm_import_nodes`), tenant); err != nil {
		return err
	}
	tm.copy, tm.insert = tm.copy+t2.Sub(t1), tm.insert+time.Since(t2)
	return nil
}

// copyEdges copies the edge versions into the tenant's edges through a
// temporary table. A bad row's error is left in rowErr.
func copyEdges(ctx context.Context, tx pgx.Tx, schema, tenant string, edges []telamentis.Edge, ids [][3][16]byte, tm *importTimes, rowErr *error) error {
	t1 := time.Now()
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE tm_import_edges (
		id uuid, tx_start bigint, tx_end bigint, alias text, from_id uuid, to_id uuid, kind text,
		valid_from bigint, valid_to bigint, props_c text) ON COMMIT DROP`); err != nil {
		return err
	}
	var r struct { // refilled for every edge, as for nodes
		id, from, to   pgtype.UUID
		ts, te, vf, vt int64
		alias          pgtype.Text
		kind           string
		props          []byte
	}
	vals := []any{&r.id, &r.ts, &r.te, &r.alias, &r.from, &r.to, &r.kind, &r.vf, &r.vt, &r.props}
	i := 0
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"tm_import_edges"},
		[]string{"id", "tx_start", "tx_end", "alias", "from_id", "to_id", "kind", "valid_from", "valid_to", "props_c"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(edges) {
				return nil, nil
			}
			e := &edges[i]
			var err error
			if r.props, err = telamentis.AppendCanonicalProps(r.props[:0], e.Props); err != nil {
				*rowErr = graph.ImportPropsError("edges", i, err)
				return nil, *rowErr
			}
			i++
			id := &ids[i-1]
			r.id, r.from, r.to = pgUUID(id[0]), pgUUID(id[1]), pgUUID(id[2])
			r.ts, r.te = telamentis.Micros(e.TxStart), telamentis.Micros(e.TxEnd)
			r.vf, r.vt = telamentis.Micros(e.ValidFrom), telamentis.Micros(e.ValidTo)
			r.alias, r.kind = pgtype.Text{String: e.Alias, Valid: e.Alias != ""}, e.Kind
			return vals, nil
		}))
	if err != nil {
		return err
	}
	t2 := time.Now()
	if _, err := tx.Exec(ctx, q(schema, `INSERT INTO {s}.edges (tenant_id, id, tx_start, tx_end, alias, from_id, to_id, kind, valid_from, valid_to, props_c)
		SELECT $1, id, tx_start, tx_end, alias, from_id, to_id, kind, valid_from, valid_to, props_c FROM tm_import_edges`), tenant); err != nil {
		return err
	}
	tm.copy, tm.insert = tm.copy+t2.Sub(t1), tm.insert+time.Since(t2)
	return nil
}

// commit locks the tenant's state row and adds the import's counters,
// clock and loose_endpoints flag to it. Imported versions carry no name
// keys: name_keys is reset, so the next lookup by name computes them.
func (st *importState) commit(ctx context.Context, tx pgx.Tx, schema, tenant string, loose bool) error {
	var last int64
	if err := tx.QueryRow(ctx, q(schema, `SELECT last_tx FROM {s}.tenant_state WHERE tenant_id = $1 FOR UPDATE`), tenant).Scan(&last); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, q(schema, `UPDATE {s}.tenant_state SET last_tx = greatest(last_tx, $2),
		nodes_live = nodes_live + $3, edges_live = edges_live + $4, loose_endpoints = loose_endpoints OR $5,
		name_keys = NULL WHERE tenant_id = $1`), tenant, st.maxTx, st.liveNodes, st.liveEdges, loose)
	return err
}

// analyzeAfterImport refreshes the planner's statistics of a table once
// imports since its last ANALYZE by this store reach its estimated rows
// (the table doubled; or it was never analysed), and once imports pause
// (settleAfter without one) while any imported rows are not yet analysed.
// Stale statistics after a bulk load are not a small matter: a tenant that
// was not yet loaded at the last ANALYZE is estimated at one row, and plans
// built on that run for seconds (a nested loop over every edge of the
// tenant per result row). The threshold alone would leave the end of a
// bulk load — up to half of the table, whole tenants perhaps — out of the
// statistics until autovacuum comes by, and where autovacuum is off or
// slow, for good. Close analyses what is left before it returns, so that
// a process that loads and exits leaves complete statistics too. Doubling keeps the ANALYZEs of a load few (logarithmic
// in its size): they share the machine with the load, and a quarter's
// growth ran more of them (docs/perf-log/postgres-rounds.md, round 5). Only the owner may ANALYZE; without the owner connection
// autovacuum catches up later. ANALYZE runs in the background, one per
// table at a time; rows imported while it runs stay counted, and it runs
// again when it ends if they reach the threshold (its sample may predate
// them), or once imports pause. Close waits for it.
func (s *Store) analyzeAfterImport(ctx context.Context, schema string, nodes, edges int) {
	if s.owner == nil {
		return
	}
	for _, t := range []struct {
		name string
		rows int
	}{{"nodes", nodes}, {"edges", edges}} {
		if t.rows == 0 {
			continue
		}
		rel := ident(schema) + "." + ident(t.name)
		s.mu.Lock()
		s.imported[rel] += int64(t.rows)
		busy := s.analyzing[rel]
		s.mu.Unlock()
		if busy {
			continue // the running ANALYZE re-checks when it ends
		}
		if due, _ := s.analyzeDue(ctx, rel); !due {
			continue
		}
		s.startAnalyze(rel)
	}
	s.armSettle()
}

// settleAfter is the pause in imports after which rows imported since a
// table's last ANALYZE are analysed whatever their number.
var settleAfter = 2 * time.Second

// armSettle (re)starts the timer that analyses, once imports pause, every
// table holding rows imported since its last ANALYZE.
func (s *Store) armSettle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	if s.settle != nil {
		s.settle.Stop()
	}
	s.settle = time.AfterFunc(settleAfter, s.analyzePending)
}

// analyzePending starts an ANALYZE of every table holding rows imported
// since its last one.
func (s *Store) analyzePending() {
	s.mu.Lock()
	var rels []string
	for rel, n := range s.imported {
		if n > 0 && !s.analyzing[rel] {
			rels = append(rels, rel)
		}
	}
	s.mu.Unlock()
	for _, rel := range rels {
		s.startAnalyze(rel)
	}
}

// startAnalyze runs ANALYZE on rel in the background unless one runs
// already or Close is waiting, then again while rows imported during it
// reach the threshold (or, once Close has begun, while any are left); rows
// left below it wait for the next pause.
func (s *Store) startAnalyze(rel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.analyzing[rel] || s.waiting {
		return
	}
	s.analyzing[rel] = true
	// Under mu, so that Close (which sets waiting under mu, then waits)
	// never waits while one is being added.
	s.bg.Go(func() {
		actx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for run := true; ; {
			if run {
				s.mu.Lock()
				s.imported[rel] = 0
				s.mu.Unlock()
				if _, err := s.owner.Exec(actx, `ANALYZE `+rel); err != nil {
					s.log.Warn("postgres: analyze after import", "table", rel, "err", err)
				}
			}
			due, seen := s.analyzeDue(actx, rel)
			if run = due; run {
				continue
			}
			// Done unless rows arrived after the check: an import that saw
			// this ANALYZE running left them to it.
			s.mu.Lock()
			if s.imported[rel] == seen || actx.Err() != nil {
				s.analyzing[rel] = false
				left := s.imported[rel] > 0
				s.mu.Unlock()
				if left {
					s.armSettle()
				}
				return
			}
			s.mu.Unlock()
		}
	})
}

// analyzeDue reports whether the rows imported into rel since its last
// ANALYZE reach its estimated rows, or rel was never
// analysed, and the count it judged.
func (s *Store) analyzeDue(ctx context.Context, rel string) (bool, int64) {
	s.mu.Lock()
	pending, closing := s.imported[rel], s.closing
	s.mu.Unlock()
	if pending == 0 {
		return false, 0
	}
	if closing {
		return true, pending // Close analyses what is left
	}
	var est float64
	if err := s.owner.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, rel).Scan(&est); err != nil {
		s.log.Warn("postgres: analyze after import", "table", rel, "err", err)
		return false, pending
	}
	return est <= 0 || float64(pending) >= est, pending
}

// span is a stretch of transaction time [lo, hi), in microseconds.
type span struct {
	lo, hi int64
	gap    bool // a node's versions leave a gap: its visibility is not one span
}

// covers reports whether a node visible for n is visible for all of need.
func (n span) covers(need span) bool { return !n.gap && n.lo <= need.lo && n.hi >= need.hi }

// pgUUID is a parsed ID as pgx sends it: 16 bytes, no text to parse.
func pgUUID(id [16]byte) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// importIDs holds every ID of an Import call in binary form: each node's,
// and each edge's own, from and to.
type importIDs struct {
	nodes [][16]byte
	edges [][3][16]byte
}

// checkImport validates imported versions before anything is sent, by
// graph's import rules: identifiers, times, and per ID ordered,
// non-overlapping versions with at most one open and, for an edge, the
// same endpoints. It returns the IDs parsed and each node's span of
// transaction time. Props are canonicalised (and validated) while they
// stream into COPY, so that work overlaps the server's.
func checkImport(nodes []telamentis.Node, edges []telamentis.Edge) (importIDs, map[[16]byte]span, error) {
	ids := importIDs{nodes: make([][16]byte, len(nodes)), edges: make([][3][16]byte, len(edges))}
	spanN := make(map[[16]byte]span, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		id, err := graph.CheckImportNode(i, n)
		if err != nil {
			return ids, nil, err
		}
		ids.nodes[i] = id
		ts, te := telamentis.Micros(n.TxStart), telamentis.Micros(n.TxEnd)
		sp, ok := spanN[id]
		switch {
		case !ok:
			sp = span{lo: ts, hi: te}
		case ts < sp.hi:
			return ids, nil, graph.ImportOverlap("nodes", i)
		case ts == sp.hi:
			sp.hi = te
		default:
			sp.hi, sp.gap = te, true
		}
		spanN[id] = sp
	}
	// Each edge's first version and the end of its last one.
	type seen struct {
		first int
		end   int64
	}
	seenE := make(map[[16]byte]seen, len(edges))
	for i := range edges {
		e := &edges[i]
		eids, err := graph.CheckImportEdge(i, e)
		if err != nil {
			return ids, nil, err
		}
		ids.edges[i] = eids
		ts, te := telamentis.Micros(e.TxStart), telamentis.Micros(e.TxEnd)
		sn, ok := seenE[eids[0]]
		switch {
		case !ok:
			sn.first = i
		case ids.edges[sn.first] != eids:
			return ids, nil, graph.ImportEndpoints(i)
		case ts < sn.end:
			return ids, nil, graph.ImportOverlap("edges", i)
		}
		sn.end = te
		seenE[eids[0]] = sn
	}
	return ids, spanN, nil
}
