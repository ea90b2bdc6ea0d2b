package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
)

// Import writes versions with their original transaction times, with COPY
// (see telamentis.Importer). Every version of an ID must come in one call,
// ordered by TxStart, without overlaps; IDs must not exist yet. Edge
// endpoints must be nodes of this call or already stored. It bypasses
// quotas, keeps the live counters and advances the tenant's clock past
// every imported time. Nothing is written if anything is invalid.
func (s *Store) Import(ctx context.Context, tenant string, nodes []telamentis.Node, edges []telamentis.Edge) error {
	nprops, eprops, err := checkImport(nodes, edges)
	if err != nil {
		return err
	}
	nodeIDs := make(map[string]struct{}, len(nodes))
	var maxTx int64
	var liveNodes, liveEdges int64
	for _, n := range nodes {
		nodeIDs[n.ID] = struct{}{}
		ts, te := telamentis.Micros(n.TxStart), telamentis.Micros(n.TxEnd)
		maxTx = max(maxTx, ts)
		if te == open {
			liveNodes++
		} else {
			maxTx = max(maxTx, te)
		}
	}
	var missing []string
	seen := map[string]bool{}
	for _, e := range edges {
		ts, te := telamentis.Micros(e.TxStart), telamentis.Micros(e.TxEnd)
		maxTx = max(maxTx, ts)
		if te == open {
			liveEdges++
		} else {
			maxTx = max(maxTx, te)
		}
		for _, id := range []string{e.From, e.To} {
			if _, ok := nodeIDs[id]; !ok && !seen[id] {
				seen[id] = true
				missing = append(missing, id)
			}
		}
	}
	_, err = s.write(ctx, tenant, func(w *wtx) error {
		if len(missing) > 0 {
			var found int
			if err := w.tx.QueryRow(ctx, w.q(`SELECT count(DISTINCT id) FROM {s}.nodes WHERE tenant_id = $1 AND id = ANY($2::uuid[])`),
				tenant, missing).Scan(&found); err != nil {
				return err
			}
			if found != len(missing) {
				return &telamentis.Error{Code: telamentis.CodeNotFound, Message: "node not found",
					Fields: []telamentis.FieldError{{Field: "edges", Message: "an endpoint is not a node of the tenant"}}}
			}
		}
		// COPY cannot write into a table with row-level security, so the
		// rows are copied into a temporary table (private to this
		// session, dropped at commit) and moved with one INSERT … SELECT,
		// which the policies' WITH CHECK still applies to.
		if len(nodes) > 0 {
			if _, err := w.tx.Exec(ctx, `CREATE TEMP TABLE tm_import_nodes (
				id uuid, tx_start bigint, tx_end bigint, alias text, label text, props_c text) ON COMMIT DROP`); err != nil {
				return err
			}
			i := 0
			_, err := w.tx.CopyFrom(ctx, pgx.Identifier{"tm_import_nodes"},
				[]string{"id", "tx_start", "tx_end", "alias", "label", "props_c"},
				pgx.CopyFromFunc(func() ([]any, error) {
					if i == len(nodes) {
						return nil, nil
					}
					n := &nodes[i]
					i++
					return []any{n.ID, telamentis.Micros(n.TxStart), telamentis.Micros(n.TxEnd),
						nullable(n.Alias), n.Label, nprops[i-1]}, nil
				}))
			if err != nil {
				return err
			}
			if _, err := w.tx.Exec(ctx, w.q(`INSERT INTO {s}.nodes (tenant_id, id, tx_start, tx_end, alias, label, props_c)
				SELECT $1, id, tx_start, tx_end, alias, label, props_c FROM tm_import_nodes`), tenant); err != nil {
				return err
			}
		}
		if len(edges) > 0 {
			if _, err := w.tx.Exec(ctx, `CREATE TEMP TABLE tm_import_edges (
				id uuid, tx_start bigint, tx_end bigint, alias text, from_id uuid, to_id uuid, kind text,
				valid_from bigint, valid_to bigint, props_c text) ON COMMIT DROP`); err != nil {
				return err
			}
			i := 0
			_, err := w.tx.CopyFrom(ctx, pgx.Identifier{"tm_import_edges"},
				[]string{"id", "tx_start", "tx_end", "alias", "from_id", "to_id", "kind", "valid_from", "valid_to", "props_c"},
				pgx.CopyFromFunc(func() ([]any, error) {
					if i == len(edges) {
						return nil, nil
					}
					e := &edges[i]
					i++
					return []any{e.ID, telamentis.Micros(e.TxStart), telamentis.Micros(e.TxEnd), nullable(e.Alias),
						e.From, e.To, e.Kind, telamentis.Micros(e.ValidFrom), telamentis.Micros(e.ValidTo), eprops[i-1]}, nil
				}))
			if err != nil {
				return err
			}
			if _, err := w.tx.Exec(ctx, w.q(`INSERT INTO {s}.edges (tenant_id, id, tx_start, tx_end, alias, from_id, to_id, kind, valid_from, valid_to, props_c)
				SELECT $1, id, tx_start, tx_end, alias, from_id, to_id, kind, valid_from, valid_to, props_c FROM tm_import_edges`), tenant); err != nil {
				return err
			}
		}
		w.nodes += liveNodes
		w.edges += liveEdges
		w.at = max(w.at, maxTx)
		w.dirty = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: import: %w", err)
	}
	// A bulk load leaves the planner's statistics behind; only the owner
	// may ANALYZE (autovacuum catches up otherwise).
	if s.owner != nil && len(nodes)+len(edges) >= 1000 {
		schema, err := s.schemaOf(ctx, tenant)
		if err == nil {
			_, err = s.owner.Exec(ctx, `ANALYZE `+ident(schema)+`.nodes, `+ident(schema)+`.edges`)
		}
		if err != nil {
			s.log.Warn("postgres: analyze after import", "tenant", tenant, "err", err)
		}
	}
	return nil
}

// checkImport validates imported versions (identifiers, props, times; per
// ID ordered, non-overlapping versions with at most one open) and returns
// the canonical props of nodes and edges, without changing the inputs.
func checkImport(nodes []telamentis.Node, edges []telamentis.Edge) (nprops, eprops []string, err error) {
	nprops = make([]string, len(nodes))
	lastN := make(map[string]int64, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		f := fmt.Sprintf("nodes[%d]", i)
		if !telamentis.ValidID(n.ID) {
			return nil, nil, telamentis.Invalid(f+".id", "must be a UUID")
		}
		if _, err := (telamentis.NodeInput{Alias: n.Alias, Label: n.Label}).Normalize(); err != nil {
			return nil, nil, telamentis.Invalid(f, "%s", fieldText(err))
		}
		p, err := telamentis.CanonicalProps(n.Props)
		if err != nil {
			return nil, nil, telamentis.Invalid(f+".props", "%s", fieldText(err))
		}
		nprops[i] = string(p)
		if err := importTimes(f, n.TxStart, n.TxEnd, lastN, n.ID); err != nil {
			return nil, nil, err
		}
	}
	eprops = make([]string, len(edges))
	lastE := make(map[string]int64, len(edges))
	for i := range edges {
		e := &edges[i]
		f := fmt.Sprintf("edges[%d]", i)
		if !telamentis.ValidID(e.ID) || !telamentis.ValidID(e.From) || !telamentis.ValidID(e.To) {
			return nil, nil, telamentis.Invalid(f+".id", "id, from and to must be UUIDs")
		}
		if !telamentis.ValidIdentifier(e.Kind) {
			return nil, nil, telamentis.Invalid(f+".kind", "must match ^[A-Za-z][A-Za-z0-9_]{0,63}$")
		}
		if e.Alias != "" {
			if err := (telamentis.Ref{Alias: e.Alias}).Validate(f); err != nil {
				return nil, nil, err
			}
		}
		p, err := telamentis.CanonicalProps(e.Props)
		if err != nil {
			return nil, nil, telamentis.Invalid(f+".props", "%s", fieldText(err))
		}
		eprops[i] = string(p)
		if e.ValidFrom.IsZero() || telamentis.Micros(e.ValidTo) <= telamentis.Micros(e.ValidFrom) {
			return nil, nil, telamentis.Invalid(f+".valid_to", "valid_from is required and valid_to must be after it")
		}
		if err := importTimes(f, e.TxStart, e.TxEnd, lastE, e.ID); err != nil {
			return nil, nil, err
		}
	}
	return nprops, eprops, nil
}

// importTimes checks one version's transaction time against the previous
// version of the same ID: tx_start set, tx_end after it, no overlap, and
// only the last version open.
func importTimes(f string, start, end time.Time, last map[string]int64, id string) error {
	if start.IsZero() {
		return telamentis.Invalid(f+".tx_start", "required")
	}
	ts, te := telamentis.Micros(start), telamentis.Micros(end)
	if te <= ts {
		return telamentis.Invalid(f+".tx_end", "must be after tx_start")
	}
	if prev, ok := last[id]; ok && ts < prev {
		return telamentis.Invalid(f+".tx_start", "versions must be ordered and must not overlap")
	}
	last[id] = te
	return nil
}

// fieldText describes an error's first field error, or its message.
func fieldText(err error) string {
	if fs := telamentis.ErrorFields(err); len(fs) > 0 {
		return fs[0].Field + ": " + fs[0].Message
	}
	return telamentis.ErrorMessage(err)
}
