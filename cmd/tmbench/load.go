package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/telamentis/telamentis"
)

// importBatch is one Import call: rows of one tenant.
type importBatch struct {
	tenant string
	nodes  []telamentis.Node
	edges  []telamentis.Edge
}

// batcher groups streamed rows into per-tenant batches of about size rows.
// A batch of edges is cut only between two edge IDs, so every version of an
// ID lands in one Import call, as telamentis.Importer requires.
type batcher struct {
	size    int
	emit    func(importBatch) error
	pending map[int]*importBatch
	lastID  map[int]int64 // per tenant: bench id of the last edge row
	lastVer map[int]int
}

func newBatcher(size int, emit func(importBatch) error) *batcher {
	return &batcher{size: max(size, 1), emit: emit, pending: map[int]*importBatch{},
		lastID: map[int]int64{}, lastVer: map[int]int{}}
}

func (b *batcher) get(t int) *importBatch {
	p := b.pending[t]
	if p == nil {
		p = &importBatch{tenant: tenantID(t)}
		b.pending[t] = p
	}
	return p
}

// batchCap is the room a new batch reserves: size rows and the few more
// versions that finish the ID at the cut, so that filling it copies
// nothing (growing the rows by appending showed in the loader's CPU
// profile).
func (b *batcher) batchCap() int { return b.size + 64 }

func (b *batcher) flush(t int) error {
	p := b.pending[t]
	if p == nil || len(p.nodes)+len(p.edges) == 0 {
		return nil
	}
	delete(b.pending, t)
	return b.emit(*p)
}

func (b *batcher) node(t int, n telamentis.Node) error {
	p := b.get(t)
	if p.nodes == nil {
		p.nodes = make([]telamentis.Node, 0, b.batchCap())
	}
	p.nodes = append(p.nodes, n)
	if len(p.nodes) >= b.size {
		return b.flush(t)
	}
	return nil
}

// edge adds one edge row. Rows of an ID must be consecutive with versions
// 1, 2, …, and IDs must increase within a tenant (kggen writes them so).
func (b *batcher) edge(r edgeRow) error {
	last, seen := b.lastID[r.Tenant]
	switch {
	case seen && r.ID == last:
		if r.Version != b.lastVer[r.Tenant]+1 {
			return fmt.Errorf("edge %d: version %d follows version %d", r.ID, r.Version, b.lastVer[r.Tenant])
		}
	case seen && r.ID < last:
		return fmt.Errorf("edge %d comes after edge %d of the same tenant: the file must be ordered by edge id", r.ID, last)
	default:
		if r.Version != 1 {
			return fmt.Errorf("edge %d starts with version %d", r.ID, r.Version)
		}
		// A new ID: the pending batch holds only complete IDs, cut it here.
		if p := b.pending[r.Tenant]; p != nil && len(p.edges) >= b.size {
			if err := b.flush(r.Tenant); err != nil {
				return err
			}
		}
	}
	b.lastID[r.Tenant], b.lastVer[r.Tenant] = r.ID, r.Version
	p := b.get(r.Tenant)
	if p.edges == nil {
		p.edges = make([]telamentis.Edge, 0, b.batchCap())
	}
	p.edges = append(p.edges, r.Edge)
	return nil
}

func (b *batcher) close() error {
	for t := range b.pending {
		if err := b.flush(t); err != nil {
			return err
		}
	}
	return nil
}

// loadFile streams path through parse (readNodes or readEdges wired to a
// batcher) on one goroutine and imports the batches on `workers` others, so
// parsing overlaps with the store's work. It returns the rows imported.
func loadFile(ctx context.Context, imp telamentis.Importer, path string, workers, size int,
	parse func(f *os.File, b *batcher) error) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan importBatch, workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	rows := 0
	for range max(workers, 1) {
		wg.Go(func() {
			for b := range ch {
				if ctx.Err() != nil {
					continue // drain
				}
				if err := imp.Import(ctx, b.tenant, b.nodes, b.edges); err != nil {
					cancel(fmt.Errorf("import %d nodes, %d edge rows into %s: %w", len(b.nodes), len(b.edges), b.tenant, err))
					continue
				}
				mu.Lock()
				rows += len(b.nodes) + len(b.edges)
				mu.Unlock()
			}
		})
	}
	bt := newBatcher(size, func(b importBatch) error {
		select {
		case ch <- b:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	perr := parse(f, bt)
	if perr == nil {
		perr = bt.close()
	}
	close(ch)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return rows, err
	}
	if perr != nil {
		return rows, fmt.Errorf("%s: %w", path, perr)
	}
	return rows, nil
}

func parseNodesInto(f *os.File, b *batcher) error { return readNodes(f, b.node) }
func parseEdgesInto(f *os.File, b *batcher) error { return readEdges(f, b.edge) }
