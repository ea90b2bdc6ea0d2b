package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/graph"
)

// Entity resolution and merges: alias redirects in node_redirects, and
// the name keys of live node versions in nodes.alias_key and name_key
// (migrations/tenant/0004_names.sql).

func (s *Store) nameProperty() string {
	if s.nameProp != "" {
		return s.nameProp
	}
	return graph.DefaultNameProperty
}

// nameKeysSig names the rules name keys are computed with: the name
// property and graph.NameKeyVersion. tenant_state.name_keys holds it when
// every live node version of the tenant has its keys.
func nameKeysSig(prop string) string { return prop + "@" + graph.NameKeyVersion }

// NameProperty implements graph.Tx.
func (w *wtx) NameProperty() string { return w.prop }

// keepsNames reports whether the write must compute the name keys of the
// node versions it opens.
func (w *wtx) keepsNames() bool { return w.nameKeys == nameKeysSig(w.prop) }

// NodesByName implements graph.Tx. On a tenant's first lookup (or after
// the name property or the rules changed, or an import) it first computes
// the keys of every live node version and live redirect, in this write.
func (w *wtx) NodesByName(label, key string) ([]graph.Node, error) {
	if !w.keepsNames() {
		if err := w.reindexNames(); err != nil {
			return nil, err
		}
	}
	rows, err := w.tx.Query(w.ctx, w.q(`SELECT `+liveNodeCols+` FROM {s}.nodes
		WHERE tenant_id = $1 AND tx_end = `+openSQL+` AND label = $2 AND (alias_key = $3 OR name_key = $3)
		UNION
		SELECT `+liveNodeCols+` FROM {s}.nodes
		WHERE tenant_id = $1 AND tx_end = `+openSQL+` AND label = $2 AND id IN (SELECT node_id FROM {s}.node_redirects
			WHERE tenant_id = $1 AND alias_key = $3 AND tx_end = `+openSQL+`)`), w.tenant, label, key)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (graph.Node, error) { return scanLiveNode(r) })
}

// reindexNames computes the name keys of the tenant's live node versions
// and redirects and records the rules it used.
func (w *wtx) reindexNames() error {
	rows, err := w.tx.Query(w.ctx, w.q(`SELECT id, tx_start, coalesce(alias, ''), props_c FROM {s}.nodes
		WHERE tenant_id = $1 AND tx_end = `+openSQL), w.tenant)
	if err != nil {
		return err
	}
	var ids, aks, nks []string
	var starts []int64
	for rows.Next() {
		var id, alias, props string
		var start int64
		if err := rows.Scan(&id, &start, &alias, &props); err != nil {
			rows.Close()
			return err
		}
		a, n := graph.AliasNameKeys(alias, props, w.prop)
		ids, starts, aks, nks = append(ids, id), append(starts, start), append(aks, a), append(nks, n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = w.tx.Query(w.ctx, w.q(`SELECT id, alias FROM {s}.node_redirects WHERE tenant_id = $1 AND tx_end = `+openSQL), w.tenant)
	if err != nil {
		return err
	}
	var rids, rks []string
	for rows.Next() {
		var id, alias string
		if err := rows.Scan(&id, &alias); err != nil {
			rows.Close()
			return err
		}
		rids, rks = append(rids, id), append(rks, graph.NormalizeName(alias))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	sig := nameKeysSig(w.prop)
	b := &pgx.Batch{}
	b.Queue(w.q(`UPDATE {s}.nodes n SET alias_key = nullif(u.ak, ''), name_key = nullif(u.nk, '')
		FROM unnest($2::uuid[], $3::bigint[], $4::text[], $5::text[]) u(id, tx_start, ak, nk)
		WHERE n.tenant_id = $1 AND n.id = u.id AND n.tx_start = u.tx_start`), w.tenant, ids, starts, aks, nks)
	b.Queue(w.q(`UPDATE {s}.node_redirects r SET alias_key = nullif(u.k, '')
		FROM unnest($2::uuid[], $3::text[]) u(id, k) WHERE r.tenant_id = $1 AND r.id = u.id`), w.tenant, rids, rks)
	b.Queue(w.q(`UPDATE {s}.tenant_state SET name_keys = $2 WHERE tenant_id = $1`), w.tenant, sig)
	if err := w.tx.SendBatch(w.ctx, b).Close(); err != nil {
		return err
	}
	w.nameKeys = sig
	return nil
}

// Redirects implements graph.Tx. Handle is the redirect's ID.
func (w *wtx) Redirects(n graph.Node) ([]graph.Redirect, error) {
	rows, err := w.tx.Query(w.ctx, w.q(`SELECT id::text, alias, node_id::text, coalesce(source_id::text, ''), tx_start
		FROM {s}.node_redirects WHERE tenant_id = $1 AND node_id = $2 AND tx_end = `+openSQL), w.tenant, n.ID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (graph.Redirect, error) {
		var g graph.Redirect
		var id string
		err := r.Scan(&id, &g.Alias, &g.Node, &g.Source, &g.TxStart)
		g.Handle = id
		return g, err
	})
}

// liveAliasNodeSQL is the query of Tx.Node by alias ($2): the live node
// that has it, else the live node a live redirect of it names.
const liveAliasNodeSQL = `SELECT ` + liveNodeCols + ` FROM {s}.nodes
	WHERE tenant_id = $1 AND alias = $2 AND tx_end = ` + openSQL + `
	UNION ALL
	SELECT ` + liveNodeCols + ` FROM {s}.nodes WHERE tenant_id = $1 AND tx_end = ` + openSQL + ` AND id IN (
		SELECT node_id FROM {s}.node_redirects WHERE tenant_id = $1 AND alias = $2 AND tx_end = ` + openSQL + `)
	LIMIT 1`

// redirectedSQL returns an SQL expression for the ID of the node a
// redirect of alias (a placeholder) names at the query's transaction
// time: a redirect visible then to a node visible then.
func redirectedSQL(alias string, cur bool, t int64, a *args) string {
	return "(SELECT r.node_id FROM {s}.node_redirects r WHERE r.tenant_id = $1 AND r.alias = " + alias + " AND " + visible("r.", cur, t, a) +
		" AND EXISTS (SELECT 1 FROM {s}.nodes rn WHERE rn.tenant_id = $1 AND rn.id = r.node_id AND " + visible("rn.", cur, t, a) + ") LIMIT 1)"
}

// applyRedirects writes a plan's redirect changes at the write's time: the
// closes, then the new versions.
func (w *wtx) applyRedirects(p *graph.Plan) error {
	var closed, ids, aliases, keys, nodes, sources []string
	for i := range p.Redirects {
		c := &p.Redirects[i]
		if c.Closes() {
			closed = append(closed, c.Old.Handle.(string))
		}
		if c.Opens() {
			id, err := uuid.NewV7()
			if err != nil {
				return err
			}
			ids, aliases, keys = append(ids, id.String()), append(aliases, c.New.Alias), append(keys, graph.NormalizeName(c.New.Alias))
			nodes, sources = append(nodes, c.New.Node), append(sources, c.New.Source)
		}
	}
	if len(closed) > 0 {
		tag, err := w.tx.Exec(w.ctx, w.q(`UPDATE {s}.node_redirects SET tx_end = $2
			WHERE tenant_id = $1 AND id = ANY($3::uuid[]) AND tx_end = `+openSQL), w.tenant, w.at, closed)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != int64(len(closed)) {
			return fmt.Errorf("close redirects: %d rows, want %d", tag.RowsAffected(), len(closed))
		}
	}
	if len(ids) > 0 {
		if _, err := w.tx.Exec(w.ctx, w.q(`INSERT INTO {s}.node_redirects (tenant_id, id, tx_start, tx_end, alias, alias_key, node_id, source_id)
			SELECT $1, u.id, $2, `+openSQL+`, u.alias, nullif(u.k, ''), u.node, nullif(u.src, '')::uuid
			FROM unnest($3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::text[]) u(id, alias, k, node, src)`),
			w.tenant, w.at, ids, aliases, keys, nodes, sources); err != nil {
			return err
		}
	}
	if len(p.Redirects) > 0 {
		w.dirty = true
	}
	return nil
}

// eraseRedirects deletes every redirect version to or from node id.
func (w *wtx) eraseRedirects(id string) error {
	_, err := w.tx.Exec(w.ctx, w.q(`DELETE FROM {s}.node_redirects WHERE tenant_id = $1 AND (node_id = $2 OR source_id = $2)`), w.tenant, id)
	return err
}

// MergeNode merges a live node into another; see telamentis.Store and
// graph.MergeNode.
func (s *Store) MergeNode(ctx context.Context, tenant string, ref, into telamentis.Ref) (telamentis.MergeResult, error) {
	res, err := graph.MergeNode(ctx, s.run, tenant, ref, into)
	if err != nil {
		return telamentis.MergeResult{}, fmt.Errorf("postgres: merge node: %w", err)
	}
	return res, nil
}
