package badger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"

	bdb "github.com/dgraph-io/badger/v4"

	"github.com/telamentis/telamentis"
)

// load reads the system records and rebuilds every tenant's index.
func (s *Store) load() error {
	wrapped := map[string][]byte{}
	var recs []telamentis.Tenant
	err := s.main.db.View(func(txn *bdb.Txn) error {
		it := txn.NewIterator(bdb.IteratorOptions{Prefix: []byte("s\x00")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			val, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			switch {
			case bytes.HasPrefix(k, sysTenantPrefix):
				var t telamentis.Tenant
				if err := json.Unmarshal(val, &t); err != nil {
					return fmt.Errorf("tenant record %q: %w", k[len(sysTenantPrefix):], err)
				}
				recs = append(recs, t)
			case bytes.HasPrefix(k, sysWrapPrefix):
				wrapped[string(k[len(sysWrapPrefix):])] = val
			case bytes.HasPrefix(k, sysKeyPrefix):
				var sk storedKey
				if err := json.Unmarshal(val, &sk); err != nil {
					return fmt.Errorf("api key record: %w", err)
				}
				k := sk.key()
				s.keys[k.ID] = &keyEntry{k: k, persistedUse: k.LastUsedAt}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range recs {
		h := s.main
		if t.Isolation == telamentis.IsolationDedicated {
			var dek []byte
			if w, ok := wrapped[t.ID]; ok {
				if s.kek == nil {
					return fmt.Errorf("tenant %s is encrypted but the store has no master key", t.ID)
				}
				if dek, err = unwrapKey(s.kek, w, t.ID); err != nil {
					return fmt.Errorf("tenant %s: %w", t.ID, err)
				}
			} else if s.kek != nil && !s.cfg.InMemory {
				return fmt.Errorf("tenant %s: data key missing", t.ID)
			}
			if h, err = s.openDedicated(t.ID, dek); err != nil {
				return fmt.Errorf("tenant %s: %w", t.ID, err)
			}
		}
		s.tenants[t.ID] = newTenantState(t, h)
	}
	if err := s.removeOrphans(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 0, len(s.tenants))
	var emu sync.Mutex
	sem := make(chan struct{}, 2)
	for _, ts := range s.tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			maxTx, err := loadTenant(ts)
			if err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("tenant %s: %w", ts.id, err))
				emu.Unlock()
				return
			}
			s.clock.Observe(ts.id, maxTx)
			ts.visible.Store(s.clock.Next(ts.id))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// removeOrphans deletes graph data of tenants without a record (a drop
// interrupted by a crash) and dedicated directories without a tenant.
func (s *Store) removeOrphans() error {
	var orphans [][]byte
	err := s.main.db.View(func(txn *bdb.Txn) error {
		it := txn.NewIterator(bdb.IteratorOptions{Prefix: graphPrefixAll})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			k := it.Item().Key()
			end := bytes.IndexByte(k, 0)
			if end < 0 {
				it.Next()
				continue
			}
			prefix := slices.Clone(k[:end+1])
			if ts := s.tenants[string(k[1:end])]; ts == nil || ts.h != s.main {
				orphans = append(orphans, prefix)
			}
			it.Seek(append(slices.Clone(k[:end]), 1))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range orphans {
		s.logger.Warn("removing data of a dropped tenant", "tenant", string(p[1:len(p)-1]))
		if err := s.main.dropPrefix(p); err != nil {
			return err
		}
	}
	if !s.cfg.InMemory {
		ents, _ := os.ReadDir(filepath.Join(s.cfg.Dir, "tenants"))
		for _, e := range ents {
			name := e.Name()
			if ts := s.tenants[name]; ts == nil || ts.h == s.main {
				if ts2 := s.tenants[trimSwapSuffix(name)]; ts2 != nil && ts2.h != s.main {
					continue // a compaction leftover, handled by openHandle
				}
				s.logger.Warn("removing directory of a dropped tenant", "tenant", name)
				if err := os.RemoveAll(filepath.Join(s.cfg.Dir, "tenants", name)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func trimSwapSuffix(name string) string {
	for _, suf := range []string{".compact", ".old"} {
		if len(name) > len(suf) && name[len(name)-len(suf):] == suf {
			return name[:len(name)-len(suf)]
		}
	}
	return name
}

// loadTenant rebuilds ts's index from its records and returns the largest
// transaction time found. Keys come sorted by (ID, tx_start), so records
// arrive in ID order and their versions in tx order.
func loadTenant(ts *tenantState) (int64, error) {
	maxTx := int64(math.MinInt64)
	see := func(t int64) {
		if t != open && t > maxTx {
			maxTx = t
		}
	}
	err := ts.h.db.View(func(txn *bdb.Txn) error {
		np := tagPrefix(ts.id, tagNode)
		it := txn.NewIterator(bdb.IteratorOptions{Prefix: np, PrefetchValues: true, PrefetchSize: 256})
		var cur *nodeRec
		var props strArena
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			id, txStart, ok := splitVersionKey(item.Key(), len(np))
			if !ok {
				it.Close()
				return fmt.Errorf("bad node key %x", item.Key())
			}
			var v nodeVer
			err := item.Value(func(b []byte) error { return decodeNodeInterned(b, &v, ts.internBytes, &props) })
			if err != nil {
				it.Close()
				return fmt.Errorf("node %s: %w", id, err)
			}
			v.txStart = txStart
			see(v.txStart)
			see(v.txEnd)
			if cur == nil || cur.id != id {
				cur = &nodeRec{id: id, idStr: id.String()}
				ts.nodes[id] = cur
				ts.allNodes = append(ts.allNodes, cur)
			}
			cur.vers = append(cur.vers, v)
		}
		it.Close()
		ep := tagPrefix(ts.id, tagEdge)
		it = txn.NewIterator(bdb.IteratorOptions{Prefix: ep, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		var cure *edgeRec
		var slab edgeSlab
		var kindProps kindArenas
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			id, txStart, ok := splitVersionKey(item.Key(), len(ep))
			if !ok {
				return fmt.Errorf("bad edge key %x", item.Key())
			}
			var v edgeVer
			var from, to id16
			if err := item.Value(func(b []byte) error { return decodeEdgeInterned(b, &from, &to, &v, ts.internBytes, &kindProps) }); err != nil {
				return fmt.Errorf("edge %s: %w", id, err)
			}
			v.txStart = txStart
			see(v.txStart)
			see(v.txEnd)
			if cure == nil || cure.id != id {
				fn, tn := ts.nodes[from], ts.nodes[to]
				if fn == nil || tn == nil {
					return fmt.Errorf("edge %s: endpoint node missing", id)
				}
				cure = slab.new(id, fn, tn)
				ts.allEdges = append(ts.allEdges, cure)
				fn.out = append(fn.out, cure)
				tn.in = append(tn.in, cure)
			} else if cure.from.id != from || cure.to.id != to {
				return fmt.Errorf("edge %s: endpoints differ between versions", id)
			}
			cure.vers = append(cure.vers, v)
		}
		return loadRedirects(ts, txn, see) // names.go
	})
	if err != nil {
		return 0, err
	}
	ts.indexLoaded(ts.allNodes, ts.allEdges)
	return maxTx, nil
}

// indexLoaded fills the secondary indexes (labels, kinds, aliases, events,
// counters) for records freshly added to the primary maps. Lists that
// gained elements out of order are re-sorted.
func (ts *tenantState) indexLoaded(nodes []*nodeRec, edges []*edgeRec) {
	labelStart := map[string]int{}
	for _, r := range nodes {
		for i := range r.vers {
			v := &r.vers[i]
			l := ts.byLabel[v.label]
			if _, ok := labelStart[v.label]; !ok {
				labelStart[v.label] = len(l)
			}
			if n := len(l); n == 0 || l[n-1] != r {
				ts.byLabel[v.label] = append(l, r)
			}
			if v.alias != "" {
				if al := ts.nodeAliases[v.alias]; !slices.Contains(al, r) {
					ts.nodeAliases[v.alias] = append(al, r)
				}
			}
			ts.nodeVersions++
			ts.bytes += nodeVerBytes(ts.id, v)
		}
		if v := r.live(); v != nil {
			ts.liveNodes++
			if v.alias != "" {
				ts.liveNodeAlias[v.alias] = r
			}
		}
	}
	for lb, from := range labelStart {
		ts.byLabel[lb] = sortTail(ts.byLabel[lb], from)
	}
	// Size each new kind list once (loading): the entries are large, and
	// append's growth would leave up to a quarter of a big list unused.
	// Lists that exist keep growing by append, amortised.
	kindAdd := map[string]int{}
	for _, r := range edges {
		for i := range r.vers {
			if k := r.vers[i].kind; i == 0 || !slices.ContainsFunc(r.vers[:i], func(v edgeVer) bool { return v.kind == k }) {
				kindAdd[k]++
			}
		}
	}
	for k, n := range kindAdd {
		if len(ts.byKind[k]) == 0 {
			ts.byKind[k] = make([]kindEntry, 0, n)
		}
	}
	kindStart := map[string]int{}
	for _, r := range edges {
		for i := range r.vers {
			v := &r.vers[i]
			l := ts.byKind[v.kind]
			if _, ok := kindStart[v.kind]; !ok {
				kindStart[v.kind] = len(l)
			}
			if n := len(l); n == 0 || l[n-1].r != r {
				ts.byKind[v.kind] = append(l, newKindEntry(r, v.kind))
			}
			if v.alias != "" {
				if al := ts.edgeAliases[v.alias]; !slices.Contains(al, r) {
					ts.edgeAliases[v.alias] = append(al, r)
				}
			}
			ts.edgeVersions++
			ts.bytes += edgeVerBytes(ts.id, v)
		}
		if v := r.live(); v != nil {
			ts.liveEdges++
			if v.alias != "" {
				ts.liveEdgeAlias[v.alias] = r
			}
		}
	}
	for k, from := range kindStart {
		ts.byKind[k] = sortTail(ts.byKind[k], from)
	}
	ts.nm.keys = nil // imported nodes: rebuilt on the next name lookup
	if ts.evBuilt {
		ts.evBuilt, ts.events = false, nil // rebuilt on the next changes query
	}
}

func ifClosed(t int64) int64 {
	if t == open {
		return math.MinInt64
	}
	return t
}
