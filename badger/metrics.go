package badger

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/telamentis/telamentis"
)

var _ telamentis.StoreMetrics = (*Store)(nil)

// StoreMetrics implements telamentis.StoreMetrics: file sizes, the LSM
// tree's levels and Badger's compaction priority per level, block cache
// hits, and rewrites by Compact, summed over the main database and every
// open dedicated tenant's. A database being rewritten by Compact is left
// out of that scrape rather than waited for.
//
// Badger counts its own compactions only in process-wide expvars that
// WithMetricsEnabled turns on for every read and write; the level scores
// show compaction debt per database instead.
func (s *Store) StoreMetrics() []telamentis.StoreMetric {
	if s.closed.Load() {
		return nil
	}
	s.mu.RLock()
	hs := []*dbHandle{s.main}
	for _, ts := range s.tenants {
		if ts.h != s.main {
			hs = append(hs, ts.h)
		}
	}
	s.mu.RUnlock()
	var t lsmTotals
	for _, h := range hs {
		t.add(h)
	}
	return t.metrics(len(hs))
}

// lsmTotals sums the databases' values.
type lsmTotals struct {
	lsm, vlog, rewrites int64
	hits, misses        uint64
	tables, size        []int64
	score               []float64
}

func (t *lsmTotals) add(h *dbHandle) {
	t.rewrites += h.rewrites.Load()
	if !h.mu.TryRLock() {
		return // Compact is rewriting it, or a drop is closing it
	}
	defer h.mu.RUnlock()
	if h.db == nil {
		return
	}
	for _, l := range h.db.Levels() {
		for len(t.tables) <= l.Level {
			t.tables, t.size, t.score = append(t.tables, 0), append(t.size, 0), append(t.score, 0)
		}
		t.tables[l.Level] += int64(l.NumTables)
		t.size[l.Level] += l.Size
		t.score[l.Level] = max(t.score[l.Level], l.Score)
		t.lsm += l.Size
	}
	bc := h.db.BlockCacheMetrics()
	t.hits += bc.Hits()
	t.misses += bc.Misses()
	t.vlog += vlogBytes(h.dir)
}

// vlogBytes is the size of the value log files in dir (0 in memory).
func vlogBytes(dir string) int64 {
	if dir == "" {
		return 0
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".vlog" {
			continue
		}
		if info, err := e.Info(); err == nil {
			n += info.Size()
		}
	}
	return n
}

func (t *lsmTotals) metrics(databases int) []telamentis.StoreMetric {
	g := func(name, help string, v float64) telamentis.StoreMetric {
		return telamentis.StoreMetric{Name: name, Help: help, Value: v}
	}
	c := func(name, help string, v float64) telamentis.StoreMetric {
		return telamentis.StoreMetric{Name: name, Help: help, Kind: telamentis.StoreCounter, Value: v}
	}
	out := []telamentis.StoreMetric{
		g("databases", "Open Badger databases: the main one and each open dedicated tenant's.", float64(databases)),
		g("lsm_size_bytes", "Bytes in the LSM tree's tables (SSTables), all databases.", float64(t.lsm)),
		g("vlog_size_bytes", "Bytes in value log files, all databases.", float64(t.vlog)),
		c("block_cache_hits_total", "Block cache hits since the databases opened.", float64(t.hits)),
		c("block_cache_misses_total", "Block cache misses since the databases opened.", float64(t.misses)),
		c("rewrites_total", "Databases rewritten by Compact to drop erased bytes.", float64(t.rewrites)),
	}
	for i := range t.tables {
		lv := map[string]string{"level": strconv.Itoa(i)}
		out = append(out,
			telamentis.StoreMetric{Name: "level_tables", Help: "Tables per LSM level, all databases.", Labels: lv, Value: float64(t.tables[i])},
			telamentis.StoreMetric{Name: "level_size_bytes", Help: "Bytes per LSM level, all databases.", Labels: lv, Value: float64(t.size[i])},
			telamentis.StoreMetric{Name: "level_compaction_score", Help: "Badger's compaction priority of the level, highest over the databases; 1 or more means a compaction is due.",
				Labels: lv, Value: t.score[i]})
	}
	return out
}
