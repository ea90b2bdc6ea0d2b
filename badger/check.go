package badger

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Check implements telamentis.Checker: for every tenant it reloads the
// records from Badger into a fresh index and compares it with the live one,
// and checks the index's own invariants.
func (s *Store) Check(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	s.mu.RLock()
	tss := make([]*tenantState, 0, len(s.tenants))
	for _, ts := range s.tenants {
		tss = append(tss, ts)
	}
	s.mu.RUnlock()
	for _, ts := range tss {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.checkTenant(ts); err != nil {
			return fmt.Errorf("badger: check: tenant %s: %w", ts.id, err)
		}
	}
	return nil
}

func (s *Store) checkTenant(ts *tenantState) error {
	ts.planMu.Lock()
	defer ts.planMu.Unlock()
	if ts.dropped {
		return nil
	}
	if err := ts.h.barrier(); err != nil {
		return err
	}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	ts.h.mu.RLock()
	fresh := newTenantState(ts.rec, ts.h)
	_, err := loadTenant(fresh)
	ts.h.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if len(fresh.nodes) != len(ts.nodes) || len(fresh.allEdges) != len(ts.allEdges) {
		return fmt.Errorf("index has %d nodes and %d edges, storage %d and %d",
			len(ts.nodes), len(ts.allEdges), len(fresh.nodes), len(fresh.allEdges))
	}
	if err := ts.checkNodesAgainst(fresh); err != nil {
		return err
	}
	if err := ts.checkEdgesAgainst(fresh); err != nil {
		return err
	}
	if err := ts.checkAliases(fresh); err != nil {
		return err
	}
	if err := s.checkNames(ts, fresh); err != nil { // names.go
		return err
	}
	return ts.checkOrder()
}

// checkNodesAgainst compares the index's nodes with fresh, reloaded from
// storage, and checks their versions.
func (ts *tenantState) checkNodesAgainst(fresh *tenantState) error {
	for id, r := range ts.nodes {
		f := fresh.nodes[id]
		if f == nil {
			return fmt.Errorf("node %s in the index but not in storage", id)
		}
		if !slices.Equal(f.vers, r.vers) {
			return fmt.Errorf("node %s: versions differ between index and storage", id)
		}
		if err := checkNodeVersions(r); err != nil {
			return err
		}
	}
	return nil
}

// checkEdgesAgainst compares the index's edges with fresh, reloaded from
// storage, and checks their versions, endpoints, adjacency and kind
// index entries.
func (ts *tenantState) checkEdgesAgainst(fresh *tenantState) error {
	for _, r := range ts.allEdges {
		id := r.id
		f := fresh.edgeByID(id)
		if f == nil {
			return fmt.Errorf("edge %s in the index but not in storage", id)
		}
		if f.from.id != r.from.id || f.to.id != r.to.id || !slices.Equal(f.vers, r.vers) {
			return fmt.Errorf("edge %s: differs between index and storage", id)
		}
		if ts.nodes[r.from.id] != r.from || ts.nodes[r.to.id] != r.to {
			return fmt.Errorf("edge %s: endpoint not indexed", id)
		}
		if err := checkEdgeVersions(r); err != nil {
			return err
		}
		if !slices.Contains(r.from.out, r) || !slices.Contains(r.to.in, r) {
			return fmt.Errorf("edge %s: missing from adjacency", id)
		}
		for i := range r.vers {
			k := r.vers[i].kind
			l := ts.byKind[k]
			j := searchID(l, r.id)
			if j == len(l) || l[j].r != r {
				return fmt.Errorf("edge %s: missing from kind index", id)
			}
			if l[j] != newKindEntry(r, k) {
				return fmt.Errorf("edge %s: stale kind index entry", id)
			}
		}
	}
	return nil
}

// checkAliases checks the live-alias index and the live counts against
// fresh, reloaded from storage, and that no two nodes hold an alias live.
func (ts *tenantState) checkAliases(fresh *tenantState) error {
	for a, r := range ts.liveNodeAlias {
		if v := r.live(); v == nil || v.alias != a || ts.nodes[r.id] != r {
			// Aliases are user data (often names): messages name IDs only.
			return fmt.Errorf("the live-alias index maps to node %s, which does not hold that alias live", r.id)
		}
	}
	if len(fresh.liveNodeAlias) != len(ts.liveNodeAlias) || fresh.liveNodes != ts.liveNodes || fresh.liveEdges != ts.liveEdges {
		return fmt.Errorf("live counts or aliases differ between index and storage")
	}
	seen := map[string]*nodeRec{}
	for _, r := range ts.nodes {
		if v := r.live(); v != nil && v.alias != "" {
			if o := seen[v.alias]; o != nil {
				return fmt.Errorf("nodes %s and %s hold the same alias live", o.id, r.id)
			}
			seen[v.alias] = r
		}
	}
	return nil
}

// checkOrder checks that the node and edge lists and every node's
// adjacency are sorted by ID, complete, and hold no stale edge.
func (ts *tenantState) checkOrder() error {
	isSorted := func(n int, less func(i int) bool) bool {
		for i := 1; i < n; i++ {
			if !less(i) {
				return false
			}
		}
		return true
	}
	if len(ts.allNodes) != len(ts.nodes) || !isSorted(len(ts.allNodes), func(i int) bool { return ts.allNodes[i-1].id.less(ts.allNodes[i].id) }) {
		return errors.New("node list unsorted or incomplete")
	}
	if !isSorted(len(ts.allEdges), func(i int) bool { return ts.allEdges[i-1].id.less(ts.allEdges[i].id) }) {
		return errors.New("edge list unsorted or incomplete")
	}
	for _, r := range ts.nodes {
		if !isSorted(len(r.out), func(i int) bool { return r.out[i-1].id.less(r.out[i].id) }) ||
			!isSorted(len(r.in), func(i int) bool { return r.in[i-1].id.less(r.in[i].id) }) {
			return fmt.Errorf("node %s: adjacency unsorted", r.id)
		}
		for _, e := range r.out {
			if ts.edgeByID(e.id) != e || e.from != r {
				return fmt.Errorf("node %s: stale out edge %s", r.id, e.id)
			}
		}
		for _, e := range r.in {
			if ts.edgeByID(e.id) != e || e.to != r {
				return fmt.Errorf("node %s: stale in edge %s", r.id, e.id)
			}
		}
	}
	return nil
}

func checkNodeVersions(r *nodeRec) error {
	for i := range r.vers {
		v := &r.vers[i]
		if v.txEnd <= v.txStart {
			return fmt.Errorf("node %s: version %d has tx_end ≤ tx_start", r.id, i)
		}
		if i > 0 && r.vers[i-1].txEnd > v.txStart {
			return fmt.Errorf("node %s: versions %d and %d overlap", r.id, i-1, i)
		}
	}
	return nil
}

func checkEdgeVersions(r *edgeRec) error {
	for i := range r.vers {
		v := &r.vers[i]
		if v.txEnd <= v.txStart {
			return fmt.Errorf("edge %s: version %d has tx_end ≤ tx_start", r.id, i)
		}
		if v.vt <= v.vf {
			return fmt.Errorf("edge %s: version %d has valid_to ≤ valid_from", r.id, i)
		}
		if i > 0 && r.vers[i-1].txEnd > v.txStart {
			return fmt.Errorf("edge %s: versions %d and %d overlap", r.id, i-1, i)
		}
	}
	return nil
}
