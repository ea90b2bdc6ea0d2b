// Package badger is the embedded TelaMentis store: telamentis.Store (with
// Compactor, Importer, Checker) and telamentis.KeyStore on Badger v4.
//
// Badger is the durable, encrypted record store: one key per version in a
// compact binary encoding. Each tenant also has an in-memory index, rebuilt
// at Open, that answers every read: nodes and edges by ID with all their
// versions, aliases, adjacency, per-label and per-kind lists and the
// changes feed. Writes of one tenant are planned one at a time, applied to
// the index invisibly (their transaction time is after the tenant's
// visible watermark), committed by a per-database committer that merges
// concurrent writers into one synced Badger transaction (group commit),
// and become visible when that commit returns.
//
// Encryption at rest is on unless explicitly disabled. Dedicated tenants
// live in their own Badger directory under Dir/tenants/<id>, encrypted with
// their own random data key, which is stored wrapped (AES-GCM) by the
// master key and destroyed when the tenant is dropped. Erasures and drops
// become physical on disk with Compact, which rewrites the database files.
//
// Directories are created 0700. Files get no group or other permission
// bits when a database opens, after Compact and at Close; files Badger
// creates in between follow the process umask, so run under umask 077 (the
// telamentis binary sets it).
//
// The index lives in the Go heap (about 300 bytes per edge version), and
// with the default GOGC the heap may grow to twice the live size before a
// collection; processes holding large stores should set a memory limit
// (GOMEMLIMIT or debug.SetMemoryLimit) to keep resident memory near it.
package badger

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telamentis/telamentis"
)

var (
	_ telamentis.Store     = (*Store)(nil)
	_ telamentis.Compactor = (*Store)(nil)
	_ telamentis.Importer  = (*Store)(nil)
	_ telamentis.Checker   = (*Store)(nil)
	_ telamentis.KeyStore  = (*Store)(nil)
)

// Config configures a Store.
type Config struct {
	// Dir holds the data: Dir/data is the main database, Dir/tenants/<id>
	// a dedicated tenant's. Required unless InMemory.
	Dir string
	// InMemory keeps everything in memory (tests); nothing touches disk and
	// encryption does not apply.
	InMemory bool
	// MasterKey is the 32-byte key that encrypts the main database and
	// wraps dedicated tenants' data keys. Required on disk unless
	// Unencrypted is set.
	MasterKey []byte
	// Unencrypted explicitly turns encryption at rest off (tests, the
	// erasure proof). It must not be combined with a MasterKey.
	Unencrypted bool
	// CursorKey keys the HMAC of page cursors. Empty: derived from the
	// master key, or random (cursors then die with the process).
	CursorKey []byte
	// NoSync turns off syncing commits to disk: an acknowledged write may
	// then be lost on power failure (never on a process crash).
	NoSync bool
	// MemTableSize is the main database's memtable size in bytes (default
	// 64 MiB); a single atomic write may use up to 12% of it. Dedicated
	// tenants' databases use at most 16 MiB each (about 70 MiB of memory
	// per open dedicated tenant with caches).
	MemTableSize int64
	// Now is the wall clock (default time.Now); tests inject one.
	Now func() time.Time
	// NameProperty is the node property whose string value entity
	// resolution indexes besides aliases (default
	// graph.DefaultNameProperty, "name").
	NameProperty string
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case !c.InMemory && c.Dir == "":
		return errors.New("badger: config: dir required")
	case c.InMemory && c.Dir != "":
		return errors.New("badger: config: dir and in-memory are exclusive")
	case len(c.MasterKey) != 0 && len(c.MasterKey) != 32:
		return errors.New("badger: config: master key must be 32 bytes")
	case c.Unencrypted && len(c.MasterKey) != 0:
		return errors.New("badger: config: unencrypted with a master key")
	case !c.InMemory && !c.Unencrypted && len(c.MasterKey) == 0:
		return errors.New("badger: config: master key required (or explicitly unencrypted)")
	case c.MemTableSize != 0 && c.MemTableSize < 4<<20:
		return errors.New("badger: config: memtable size below 4 MiB")
	}
	return nil
}

// Store is the embedded store. It is safe for concurrent use.
type Store struct {
	cfg     Config
	logger  *slog.Logger
	clock   *telamentis.TxClock
	cursors *telamentis.CursorCodec
	kek     []byte // wraps dedicated tenants' data keys; nil if unencrypted
	main    *dbHandle
	closed  atomic.Bool

	tenantMu sync.Mutex // serialises tenant creation and drops
	mu       sync.RWMutex
	tenants  map[string]*tenantState

	keysMu sync.RWMutex
	keys   map[string]*keyEntry
}

// Open opens (or creates) the store described by cfg and rebuilds its
// in-memory indexes.
func Open(cfg Config, logger *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MemTableSize == 0 {
		cfg.MemTableSize = 64 << 20
	}
	s := &Store{
		cfg:     cfg,
		logger:  logger,
		clock:   telamentis.NewTxClock(cfg.Now),
		tenants: make(map[string]*tenantState),
		keys:    make(map[string]*keyEntry),
	}
	ck := cfg.CursorKey
	if len(cfg.MasterKey) > 0 {
		s.kek = deriveKey(cfg.MasterKey, "telamentis/badger/tenant-key-wrap/v1")
		if len(ck) == 0 {
			ck = deriveKey(cfg.MasterKey, "telamentis/badger/cursor/v1")
		}
	}
	if len(ck) == 0 {
		ck = make([]byte, 32)
		rand.Read(ck)
	}
	s.cursors = telamentis.NewCursorCodec(ck)

	dir := ""
	if !cfg.InMemory {
		dir = filepath.Join(cfg.Dir, "data")
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("badger: open: %w", err)
		}
	}
	key := cfg.MasterKey
	if cfg.InMemory {
		key = nil
	}
	h, err := openHandle(dir, badgerOptions(dir, key, &cfg, logger, cfg.MemTableSize), logger)
	if err != nil {
		return nil, fmt.Errorf("badger: open: %w", err)
	}
	s.main = h
	if err := s.load(); err != nil {
		s.Close()
		return nil, fmt.Errorf("badger: open: %w", err)
	}
	if !cfg.InMemory {
		if err := privateFiles(cfg.Dir); err != nil {
			s.Close()
			return nil, fmt.Errorf("badger: open: %w", err)
		}
	}
	return s, nil
}

// Close stops the committers and closes every database.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, ts := range s.tenants {
		if ts.h != s.main {
			errs = append(errs, ts.h.close())
		}
	}
	if s.main != nil {
		errs = append(errs, s.main.close())
	}
	if !s.cfg.InMemory {
		// Files Badger created while open, under a lax umask.
		errs = append(errs, privateFiles(s.cfg.Dir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("badger: close: %w", err)
	}
	return nil
}

func (s *Store) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

func (s *Store) tenant(id string) (*tenantState, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	s.mu.RLock()
	ts := s.tenants[id]
	s.mu.RUnlock()
	if ts == nil {
		return nil, telamentis.NotFound("tenant")
	}
	return ts, nil
}

func (s *Store) dedicatedDir(id string) string {
	return filepath.Join(s.cfg.Dir, "tenants", id)
}

func (s *Store) openDedicated(id string, dek []byte) (*dbHandle, error) {
	dir := ""
	if !s.cfg.InMemory {
		dir = s.dedicatedDir(id)
	}
	mt := min(s.cfg.MemTableSize, 16<<20)
	return openHandle(dir, badgerOptions(dir, dek, &s.cfg, s.logger, mt), s.logger)
}

// CreateTenant implements telamentis.Store.
func (s *Store) CreateTenant(ctx context.Context, t telamentis.Tenant) (telamentis.Tenant, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	if err := ctx.Err(); err != nil {
		return t, err
	}
	if s.closed.Load() {
		return t, errClosed
	}
	s.tenantMu.Lock()
	defer s.tenantMu.Unlock()
	s.mu.RLock()
	_, taken := s.tenants[t.ID]
	s.mu.RUnlock()
	if taken {
		return t, telamentis.Errorf(telamentis.CodeConflict, "tenant %s already exists", t.ID)
	}
	now := s.now()
	t.CreatedAt, t.UpdatedAt = now, now
	rec, err := json.Marshal(t)
	if err != nil {
		return t, fmt.Errorf("badger: create tenant: %w", err)
	}
	kvs := []kv{{key: append(slices.Clip(sysTenantPrefix), t.ID...), value: rec}}
	h := s.main
	if t.Isolation == telamentis.IsolationDedicated {
		var dek []byte
		if s.kek != nil {
			dek = make([]byte, 32)
			rand.Read(dek)
			wrapped, err := wrapKey(s.kek, dek, t.ID)
			if err != nil {
				return t, fmt.Errorf("badger: create tenant: %w", err)
			}
			kvs = append(kvs, kv{key: append(slices.Clip(sysWrapPrefix), t.ID...), value: wrapped})
		}
		if !s.cfg.InMemory {
			if err := os.RemoveAll(s.dedicatedDir(t.ID)); err != nil {
				return t, fmt.Errorf("badger: create tenant: %w", err)
			}
		}
		if h, err = s.openDedicated(t.ID, dek); err != nil {
			return t, fmt.Errorf("badger: create tenant: %w", err)
		}
	}
	if err := s.commitSys(kvs); err != nil {
		if h != s.main {
			h.close()
			if !s.cfg.InMemory {
				os.RemoveAll(s.dedicatedDir(t.ID))
			}
		}
		return t, fmt.Errorf("badger: create tenant: %w", err)
	}
	ts := newTenantState(t, h)
	ts.visible.Store(s.clock.Next(t.ID))
	s.mu.Lock()
	s.tenants[t.ID] = ts
	s.mu.Unlock()
	return t, nil
}

// commitSys commits system records on the main database and waits.
func (s *Store) commitSys(kvs []kv) error {
	var size int64
	for _, e := range kvs {
		size += entrySize(e.key, e.value)
	}
	r, err := s.main.submit(kvs, size, nil)
	if err != nil {
		return err
	}
	return <-r.done
}

// GetTenant implements telamentis.Store.
func (s *Store) GetTenant(ctx context.Context, id string) (telamentis.Tenant, error) {
	ts, err := s.tenant(id)
	if err != nil {
		return telamentis.Tenant{}, err
	}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.rec, nil
}

// ListTenants implements telamentis.Store.
func (s *Store) ListTenants(ctx context.Context) ([]telamentis.Tenant, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	s.mu.RLock()
	out := make([]telamentis.Tenant, 0, len(s.tenants))
	for _, ts := range s.tenants {
		ts.mu.RLock()
		out = append(out, ts.rec)
		ts.mu.RUnlock()
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b telamentis.Tenant) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// UpdateTenant implements telamentis.Store.
func (s *Store) UpdateTenant(ctx context.Context, t telamentis.Tenant) (telamentis.Tenant, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	ts, err := s.tenant(t.ID)
	if err != nil {
		return t, err
	}
	ts.planMu.Lock()
	defer ts.planMu.Unlock()
	if ts.dropped {
		return t, telamentis.NotFound("tenant")
	}
	ts.mu.RLock()
	old := ts.rec
	ts.mu.RUnlock()
	if t.Isolation != old.Isolation {
		return t, telamentis.Invalid("isolation", "cannot change")
	}
	t.CreatedAt, t.UpdatedAt = old.CreatedAt, s.now()
	rec, err := json.Marshal(t)
	if err != nil {
		return t, fmt.Errorf("badger: update tenant: %w", err)
	}
	if err := s.commitSys([]kv{{key: append(slices.Clip(sysTenantPrefix), t.ID...), value: rec}}); err != nil {
		return t, fmt.Errorf("badger: update tenant: %w", err)
	}
	ts.mu.Lock()
	ts.rec = t
	ts.mu.Unlock()
	return t, nil
}

// DropTenant implements telamentis.Store. The tenant record, its wrapped
// data key and its API keys go first, in one commit; then its data: a
// dedicated directory is closed and deleted, shared data is dropped by
// prefix (physically so after Compact). A crash in between leaves data
// without a tenant, which Open deletes.
func (s *Store) DropTenant(ctx context.Context, id string) error {
	ts, err := s.tenant(id)
	if err != nil {
		return err
	}
	s.tenantMu.Lock()
	defer s.tenantMu.Unlock()
	ts.planMu.Lock()
	defer ts.planMu.Unlock()
	if ts.dropped {
		return telamentis.NotFound("tenant")
	}
	if err := ts.h.barrier(); err != nil {
		return fmt.Errorf("badger: drop tenant: %w", err)
	}
	kvs := []kv{
		{key: append(slices.Clip(sysTenantPrefix), id...)},
		{key: append(slices.Clip(sysWrapPrefix), id...)},
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	var keyIDs []string
	for kid, k := range s.keys {
		if k.k.Tenant == id {
			keyIDs = append(keyIDs, kid)
			kvs = append(kvs, kv{key: append(slices.Clip(sysKeyPrefix), kid...)})
		}
	}
	if err := s.commitSys(kvs); err != nil {
		return fmt.Errorf("badger: drop tenant: %w", err)
	}
	for _, kid := range keyIDs {
		delete(s.keys, kid)
	}
	ts.dropped = true
	s.mu.Lock()
	delete(s.tenants, id)
	s.mu.Unlock()
	s.main.dirty.Store(true) // the tenant record and wrapped key
	if ts.h != s.main {
		err = ts.h.close()
		if !s.cfg.InMemory {
			err = errors.Join(err, os.RemoveAll(s.dedicatedDir(id)))
		}
	} else {
		err = s.main.dropPrefix(tenantPrefix(id))
	}
	s.clock.Forget(id)
	ts.mu.Lock()
	ts.nodes, ts.allNodes, ts.allEdges, ts.events = nil, nil, nil, nil
	ts.mu.Unlock()
	if err != nil {
		return fmt.Errorf("badger: drop tenant: %w", err)
	}
	return nil
}

// Compact implements telamentis.Compactor: every database that had
// erasures or drops since the last compaction is rewritten with only its
// live keys, so no file under Dir keeps bytes of erased data.
func (s *Store) Compact(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	s.mu.RLock()
	hs := []*dbHandle{s.main}
	for _, ts := range s.tenants {
		if ts.h != s.main {
			hs = append(hs, ts.h)
		}
	}
	s.mu.RUnlock()
	for _, h := range hs {
		if err := h.compact(ctx); err != nil {
			return fmt.Errorf("badger: compact: %w", err)
		}
	}
	return nil
}

// Stats implements telamentis.Store.
func (s *Store) Stats(ctx context.Context, tenant string) (telamentis.TenantStats, error) {
	ts, err := s.tenant(tenant)
	if err != nil {
		return telamentis.TenantStats{}, err
	}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return telamentis.TenantStats{
		Nodes: ts.liveNodes, Edges: ts.liveEdges,
		NodeVersions: ts.nodeVersions, EdgeVersions: ts.edgeVersions,
		Bytes: ts.bytes,
	}, nil
}
