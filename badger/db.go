package badger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bdb "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/skl"
	"github.com/dgraph-io/ristretto/v2/z"

	"github.com/telamentis/telamentis"
)

// kv is one key to set (value non-nil) or delete (value nil).
type kv struct {
	key, value []byte
}

// commitReq is one writer's atomic change, queued for the committer.
type commitReq struct {
	kvs   []kv
	size  int64
	after func() // runs on success, before done is signalled
	done  chan error
}

// dbHandle is one Badger database (the main one or a dedicated tenant's)
// with its committer. The committer merges the changes of concurrent
// writers into one Badger transaction, so they share one fsync (group
// commit), while each writer's change stays atomic.
type dbHandle struct {
	dir    string // "" in memory
	opts   bdb.Options
	logger *slog.Logger

	mu sync.RWMutex // RLock to use db for writing; Lock to swap or drop
	db *bdb.DB

	reqs     chan *commitReq
	closeMu  sync.RWMutex // RLock to queue; Lock to stop queueing
	closing  bool
	stop     chan struct{}
	stopped  chan struct{}
	failed   atomic.Pointer[error]
	dirty    atomic.Bool  // erased or dropped data may remain in files
	groups   atomic.Int64 // Badger transactions the committer made
	changes  atomic.Int64 // writers' changes they carried
	rewrites atomic.Int64 // completed rewrites by compact
	maxSize  int64
	maxCount int64
}

// badgerOptions returns the options of a database in dir ("" = in memory).
func badgerOptions(dir string, key []byte, cfg *Config, logger *slog.Logger, memTable int64) bdb.Options {
	var o bdb.Options
	if dir == "" {
		o = bdb.DefaultOptions("").WithInMemory(true)
	} else {
		o = bdb.DefaultOptions(dir)
	}
	o = o.WithLogger(badgerLogger{logger}).
		WithSyncWrites(!cfg.NoSync && dir != "").
		WithMemTableSize(memTable).
		WithValueThreshold(min(1<<20, 15*memTable/100)).
		WithNumMemtables(2).
		WithNumLevelZeroTables(8).
		WithNumLevelZeroTablesStall(20).
		WithBaseTableSize(8 << 20).
		WithBaseLevelSize(64 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(4).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		// Compression would hide plaintext from the erasure proof's byte
		// scan; values are small and encryption covers confidentiality.
		WithCompression(options.None).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
	if len(key) > 0 {
		o = o.WithEncryptionKey(key)
	}
	return o
}

func openHandle(dir string, opts bdb.Options, logger *slog.Logger) (*dbHandle, error) {
	if dir != "" {
		if err := recoverSwap(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	db, err := bdb.Open(opts)
	if err != nil {
		return nil, err
	}
	if dir != "" {
		if err := privateFiles(dir); err != nil {
			db.Close()
			return nil, err
		}
	}
	maxBatch := 15 * opts.MemTableSize / 100
	h := &dbHandle{
		dir: dir, opts: opts, logger: logger, db: db,
		reqs:     make(chan *commitReq, 1024),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
		maxSize:  maxBatch * 8 / 10,
		maxCount: maxBatch / int64(skl.MaxNodeSize) * 8 / 10,
	}
	// Erasures made before a restart may still sit in the files: the first
	// Compact after opening always rewrites.
	h.dirty.Store(dir != "")
	go h.committer()
	return h, nil
}

// recoverSwap finishes or rolls back a compaction that a crash interrupted.
// A complete rewrite is renamed into place only after it was closed, so a
// ".compact" directory next to a missing main directory is complete.
func recoverSwap(dir string) error {
	cdir, odir := dir+".compact", dir+".old"
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(cdir); err == nil {
			if err := os.Rename(cdir, dir); err != nil {
				return err
			}
		}
	}
	if err := os.RemoveAll(cdir); err != nil {
		return err
	}
	return os.RemoveAll(odir)
}

func entrySize(k, v []byte) int64 { return int64(len(k)+len(v)) + 32 }

// fits reports whether a change of n entries and size bytes can commit in
// one Badger transaction.
func (h *dbHandle) fits(n int, size int64) bool {
	return int64(n) < h.maxCount && size < h.maxSize
}

func (h *dbHandle) usable() error {
	if p := h.failed.Load(); p != nil {
		return &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "store unavailable after a write error", Err: *p}
	}
	return nil
}

// submit queues a change. The caller holds its tenant's plan lock, so each
// tenant's changes are queued, committed and made visible in order.
func (h *dbHandle) submit(kvs []kv, size int64, after func()) (*commitReq, error) {
	if err := h.usable(); err != nil {
		return nil, err
	}
	r := &commitReq{kvs: kvs, size: size, after: after, done: make(chan error, 1)}
	h.closeMu.RLock()
	defer h.closeMu.RUnlock()
	if h.closing {
		return nil, errClosed
	}
	h.reqs <- r // the committer runs until closing is set, so this returns
	return r, nil
}

// barrier returns once every change queued before it has committed.
func (h *dbHandle) barrier() error {
	r, err := h.submit(nil, 0, nil)
	if err != nil {
		return err
	}
	return <-r.done
}

var errClosed = &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "store closed"}

func (h *dbHandle) committer() {
	defer close(h.stopped)
	var carry *commitReq
	// Writers acknowledged by a commit usually come straight back with
	// their next change. With one commit in flight at a time, concurrent
	// writers would otherwise settle into two cohorts that alternate, each
	// committing (and syncing) half of them. So the next group waits
	// briefly, for a fraction of the last commit's duration, until as many
	// changes as the last group carried plus those queued meanwhile have
	// arrived; a lone writer never waits, nor does anyone without syncing.
	want := 0
	var lastDur time.Duration
	for {
		var r *commitReq
		if carry != nil {
			r, carry = carry, nil
		} else {
			select {
			case r = <-h.reqs:
			case <-h.stop:
				h.drain()
				return
			}
		}
		group := []*commitReq{r}
		size, count := r.size, int64(len(r.kvs))
		// join adds r2 to the group, or keeps it for the next one when the
		// group would outgrow one Badger transaction.
		join := func(r2 *commitReq) bool {
			if size+r2.size >= h.maxSize || count+int64(len(r2.kvs)) >= h.maxCount {
				carry = r2
				return false
			}
			group = append(group, r2)
			size += r2.size
			count += int64(len(r2.kvs))
			return true
		}
	gather:
		for {
			select {
			case r2 := <-h.reqs:
				if !join(r2) {
					break gather
				}
			default:
				break gather
			}
		}
		if carry == nil && len(group) < want && lastDur > 0 && h.opts.SyncWrites {
			timer := time.NewTimer(min(lastDur/2, 2*time.Millisecond))
		wait:
			for len(group) < want {
				select {
				case r2 := <-h.reqs:
					if !join(r2) {
						break wait
					}
				case <-timer.C:
					break wait
				case <-h.stop:
					break wait
				}
			}
			timer.Stop()
		}
		began := time.Now()
		err := h.usable()
		if err == nil && count > 0 {
			h.groups.Add(1)
			h.changes.Add(int64(len(group)))
			err = h.commitGroup(group)
			if errors.Is(err, bdb.ErrTxnTooBig) && len(group) > 1 {
				// The size estimate was off for the group; each change
				// alone was checked to fit.
				for _, r := range group {
					if err = h.commitGroup([]*commitReq{r}); err != nil {
						break
					}
				}
			}
			if err != nil {
				// The index already holds the change (invisibly); only
				// refusing every later write keeps it from showing.
				h.logger.Error("badger commit failed; refusing further writes", "err", err)
				h.failed.CompareAndSwap(nil, &err)
				err = h.usable()
			}
		}
		lastDur = time.Since(began)
		want = len(group) + len(h.reqs)
		if carry != nil {
			want++
		}
		for _, r := range group {
			if err == nil && r.after != nil {
				r.after()
			}
			r.done <- err
		}
	}
}

func (h *dbHandle) drain() {
	for {
		select {
		case r := <-h.reqs:
			r.done <- errClosed
		default:
			return
		}
	}
}

func (h *dbHandle) commitGroup(group []*commitReq) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.db == nil {
		return errClosed
	}
	txn := h.db.NewTransaction(true)
	defer txn.Discard()
	for _, r := range group {
		for _, e := range r.kvs {
			var err error
			if e.value == nil {
				err = txn.Delete(e.key)
			} else {
				err = txn.Set(e.key, e.value)
			}
			if err != nil {
				return fmt.Errorf("badger: set: %w", err)
			}
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("badger: commit: %w", err)
	}
	return nil
}

// writeBatch writes kvs with a Badger WriteBatch (not atomic as a whole;
// used by Import) and syncs.
func (h *dbHandle) writeBatch(kvs []kv) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.usable(); err != nil {
		return err
	}
	wb := h.db.NewWriteBatch()
	defer wb.Cancel()
	for _, e := range kvs {
		if err := wb.Set(e.key, e.value); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	if !h.opts.SyncWrites {
		return nil
	}
	// Each WriteBatch transaction synced the active memtable's WAL; this
	// also covers the value log.
	return h.db.Sync()
}

// dropPrefix physically drops every key under prefix; writes pause meanwhile.
func (h *dbHandle) dropPrefix(prefix []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dirty.Store(true)
	return h.db.DropPrefix(prefix)
}

// compact rewrites the database into a fresh directory with only its live
// keys and swaps it in, so no file keeps bytes of erased or dropped data.
// Badger's own compaction, DropPrefix and value-log GC leave superseded
// bytes in SSTables, memtable WALs and value logs until some later
// compaction happens to reach them; a rewrite removes them for certain.
func (h *dbHandle) compact(ctx context.Context) error {
	if h.dir == "" || !h.dirty.Load() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.db == nil {
		return nil // closed (a dropped dedicated tenant)
	}
	cdir, odir := h.dir+".compact", h.dir+".old"
	if err := os.RemoveAll(cdir); err != nil {
		return err
	}
	nopts := h.opts
	nopts.Dir, nopts.ValueDir = cdir, cdir
	ndb, err := bdb.Open(nopts)
	if err != nil {
		return fmt.Errorf("open rewrite: %w", err)
	}
	sw := ndb.NewStreamWriter()
	if err := sw.Prepare(); err != nil {
		ndb.Close()
		return err
	}
	st := h.db.NewStream()
	st.LogPrefix = "telamentis.compact"
	st.Send = func(buf *z.Buffer) error { return sw.Write(buf) }
	if err := st.Orchestrate(ctx); err != nil {
		sw.Cancel()
		ndb.Close()
		os.RemoveAll(cdir)
		return fmt.Errorf("stream: %w", err)
	}
	if err := sw.Flush(); err != nil {
		ndb.Close()
		os.RemoveAll(cdir)
		return fmt.Errorf("flush rewrite: %w", err)
	}
	if err := ndb.Close(); err != nil {
		return fmt.Errorf("close rewrite: %w", err)
	}
	if err := h.db.Close(); err != nil {
		return fmt.Errorf("close old: %w", err)
	}
	h.db = nil
	if err := os.Rename(h.dir, odir); err != nil {
		return err
	}
	if err := os.Rename(cdir, h.dir); err != nil {
		return err
	}
	syncDir(filepath.Dir(h.dir))
	if err := os.RemoveAll(odir); err != nil {
		return err
	}
	db, err := bdb.Open(h.opts)
	if err != nil {
		err = fmt.Errorf("reopen: %w", err)
		h.failed.CompareAndSwap(nil, &err)
		return err
	}
	h.db = db
	h.dirty.Store(false)
	h.rewrites.Add(1)
	return privateFiles(h.dir)
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// close stops the committer and closes the database.
func (h *dbHandle) close() error {
	h.closeMu.Lock()
	if h.closing {
		h.closeMu.Unlock()
		return nil
	}
	h.closing = true
	h.closeMu.Unlock()
	close(h.stop)
	<-h.stopped
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.db == nil {
		return nil
	}
	err := h.db.Close()
	h.db = nil
	return err
}

// badgerLogger adapts slog to Badger's logger; Badger's info chatter goes to
// debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error("badger: " + trimNL(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn("badger: " + trimNL(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug("badger: " + trimNL(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Debugf(f string, a ...any) {}

func trimNL(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s
}
