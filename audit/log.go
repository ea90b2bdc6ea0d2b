// Package audit is TelaMentis's audit trail: an append-only, hash-chained,
// fail-closed log of security events, kept in its own directory apart from
// tenant data.
//
// Each record is one JSON line. Its hash is HMAC-SHA256 under the audit key
// of the record's canonical JSON (everything but the hash, previous record's
// hash included), so altering, removing, inserting or reordering records
// breaks the chain at a known sequence number, and someone without the key
// cannot recompute it. Append returns only once the record is on disk
// (fsync; concurrent appends share one fsync), and returns a
// CodeUnavailable error when it cannot write, so that callers can refuse
// security-sensitive operations.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telamentis/telamentis"
)

// FileName is the log's file inside Config.Dir.
const FileName = "audit.jsonl"

// Page sizes of Query.
const (
	DefaultPage = 100
	MaxPage     = 1000
)

// Config configures a Log.
type Config struct {
	// Dir is the log's own directory, created 0700 if missing. Keep it
	// apart from the data directory.
	Dir string
	// Key is the HMAC key of the chain, at least 32 bytes.
	Key telamentis.Secret
	// Sink, if set, receives a copy of each record as a JSON line after it
	// is durable (for a SIEM). Sink errors are logged, not returned: the
	// file is the record of truth. Writes to Sink are serialized.
	Sink io.Writer
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Log is the file-backed audit log. It implements telamentis.AuditLog.
type Log struct {
	path   string
	seal   sealer
	hidKey []byte
	sink   io.Writer
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex // guards the fields below and writes to f
	f       *os.File
	fi      os.FileInfo // identity of the open file
	seq     uint64
	last    string
	lastT   time.Time
	size    int64
	index   []entry // index[i] is the record with Seq i+1
	failed  error   // sticky: once a write or sync fails, every Append fails
	closed  bool
	durable int // number of records known to be on disk
	// headSeq and headHash name the last durable record.
	headSeq  uint64
	headHash string

	syncMu sync.Mutex // one fsync at a time; waiters share the next one
	sinkMu sync.Mutex

	appends, failures, syncs atomic.Uint64
}

// Stats counts a Log's work since Open, for metrics.
type Stats struct {
	Appends  uint64 // records written durably
	Failures uint64 // Appends that returned an error
	Syncs    uint64 // fsyncs (concurrent appends share them)
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	return Stats{Appends: l.appends.Load(), Failures: l.failures.Load(), Syncs: l.syncs.Load()}
}

// Head returns the sequence number and hash of the last durable record
// (0 and the genesis hash when empty). Recording it outside the log (a
// metric, the SIEM, an operator's notes) lets Verify's caller see records
// cut from the end, which the chain alone cannot show.
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.headSeq, l.headHash
}

type entry struct {
	off  int64
	n    int32
	unix int64 // record time, UnixNano
}

var _ telamentis.AuditLog = (*Log)(nil)

// Open opens or creates the log in cfg.Dir and verifies the existing chain,
// continuing it. A final record torn by a crash (no newline: its Append
// never returned) is cut off. A broken chain is an error (*ChainError):
// the operator must look at the file before the service records more.
func Open(cfg Config, logger *slog.Logger) (*Log, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("audit: open: no directory")
	}
	if len(cfg.Key.Reveal()) < 32 {
		return nil, fmt.Errorf("audit: open: key must be at least 32 bytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, unavailable("open", err)
	}
	path := filepath.Join(cfg.Dir, FileName)
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("audit: open: %s is not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, unavailable("open", err)
	}
	key := []byte(cfg.Key.Reveal())
	hk := hmac.New(sha256.New, key)
	hk.Write([]byte("telamentis audit hashid"))
	l := &Log{
		path:   path,
		seal:   sealer{key: key},
		hidKey: hk.Sum(nil),
		sink:   cfg.Sink,
		now:    cfg.Now,
		logger: logger,
		f:      f,
		last:   genesis,
	}
	res, torn, err := l.seal.scan(io.NewSectionReader(f, 0, 1<<62), func(rec telamentis.AuditRecord, off int64, n int) {
		l.index = append(l.index, entry{off: off, n: int32(n), unix: rec.Time.UnixNano()})
		l.lastT = rec.Time
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: open: %w", err)
	}
	if torn >= 0 {
		logger.Warn("audit torn record cut", "offset", torn)
		if err := f.Truncate(torn); err != nil {
			f.Close()
			return nil, unavailable("open", err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, unavailable("open", err)
	}
	if err := syncDir(cfg.Dir); err != nil {
		f.Close()
		return nil, unavailable("open", err)
	}
	l.fi, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, unavailable("open", err)
	}
	l.seq, l.last, l.durable = res.LastSeq, genesis, len(l.index)
	l.headSeq, l.headHash = res.LastSeq, genesis
	if res.Records > 0 {
		l.last, l.headHash = res.LastHash, res.LastHash
		l.size = l.index[len(l.index)-1].off + int64(l.index[len(l.index)-1].n)
	}
	return l, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func unavailable(op string, err error) error {
	return &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "audit log unavailable", Err: fmt.Errorf("audit: %s: %w", op, err)}
}

// HashID returns a keyed hash of s under a key derived from the audit key,
// for identifiers of erased data and PII in records.
func (l *Log) HashID(s string) string { return HashID(l.hidKey, s) }

// Append writes rec durably; see telamentis.AuditLog. It fails closed with
// CodeUnavailable when the file cannot be written or synced, when the log
// file was removed or replaced under the running process, and from then on
// until the log is reopened.
func (l *Log) Append(ctx context.Context, rec telamentis.AuditRecord) error {
	err := l.append(rec)
	if err != nil {
		l.failures.Add(1)
	} else {
		l.appends.Add(1)
	}
	return err
}

func (l *Log) append(rec telamentis.AuditRecord) error {
	if rec.Action == "" || rec.Outcome == "" {
		return fmt.Errorf("audit: append: action and outcome are required")
	}
	l.mu.Lock()
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	t := rec.Time
	if t.IsZero() {
		t = l.now()
	}
	t = t.UTC().Round(0)
	if t.Before(l.lastT) {
		t = l.lastT // keep times ordered for time-range queries
	}
	rec.Time = t
	rec.Seq = l.seq + 1
	rec.PrevHash = l.last
	line, err := l.seal.seal(&rec)
	if err != nil {
		l.mu.Unlock()
		return fmt.Errorf("audit: append: %w", err)
	}
	if len(line) > maxLine {
		l.mu.Unlock()
		return fmt.Errorf("audit: append: record too long")
	}
	n, err := l.f.Write(line)
	if err != nil {
		// A partial line would break every later record: cut it and stop.
		if n > 0 {
			_ = l.f.Truncate(l.size)
		}
		l.failed = unavailable("append", err)
		l.mu.Unlock()
		return l.failed
	}
	l.index = append(l.index, entry{off: l.size, n: int32(n), unix: t.UnixNano()})
	l.size += int64(n)
	l.seq, l.last, l.lastT = rec.Seq, rec.Hash, t
	mine := len(l.index)
	l.mu.Unlock()

	if err := l.sync(mine); err != nil {
		return err
	}
	if l.sink != nil {
		l.sinkMu.Lock()
		if _, err := l.sink.Write(line); err != nil {
			l.logger.Error("audit sink write", "err", err)
		}
		l.sinkMu.Unlock()
	}
	return nil
}

// usableLocked checks that the log can take a record: not failed, not
// closed, and the file at the path is still the one open.
func (l *Log) usableLocked() error {
	if l.failed != nil {
		return l.failed
	}
	if l.closed {
		return unavailable("append", os.ErrClosed)
	}
	fi, err := os.Stat(l.path)
	if err != nil {
		l.failed = unavailable("append", err)
		return l.failed
	}
	if !os.SameFile(fi, l.fi) {
		l.failed = unavailable("append", errors.New("log file replaced"))
		return l.failed
	}
	return nil
}

// sync makes the first upto records durable. Appends that arrive while a
// sync runs wait for it and are then usually covered by the next one, so
// concurrent writers share fsyncs.
func (l *Log) sync(upto int) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if l.durable >= upto {
		l.mu.Unlock()
		return nil
	}
	if l.failed != nil {
		err := l.failed
		l.mu.Unlock()
		return err
	}
	target, tseq, thash := len(l.index), l.seq, l.last
	f := l.f
	l.mu.Unlock()
	err := f.Sync()
	l.syncs.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		// After a failed fsync the page cache state is unknown: stop.
		l.failed = unavailable("sync", err)
		return l.failed
	}
	l.durable, l.headSeq, l.headHash = target, tseq, thash
	return nil
}

// Query returns matching durable records; see telamentis.AuditLog.
func (l *Log) Query(ctx context.Context, f telamentis.AuditFilter) ([]telamentis.AuditRecord, uint64, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPage
	}
	if limit > MaxPage {
		limit = MaxPage
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, 0, unavailable("query", os.ErrClosed)
	}
	idx := l.index[:l.durable]
	file := l.f
	l.mu.Unlock()

	start := 0
	if f.After > 0 {
		start = int(min(f.After, uint64(len(idx))))
	}
	if !f.Since.IsZero() {
		s := f.Since.UnixNano()
		start = max(start, sort.Search(len(idx), func(i int) bool { return idx[i].unix >= s }))
	}
	var out []telamentis.AuditRecord
	var buf []byte
	var untilNano int64
	if !f.Until.IsZero() {
		untilNano = f.Until.UnixNano()
	}
	for i := start; i < len(idx); i++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		e := idx[i]
		if untilNano != 0 && e.unix >= untilNano {
			break
		}
		if len(out) == limit {
			return out, out[len(out)-1].Seq, nil
		}
		if cap(buf) < int(e.n) {
			buf = make([]byte, e.n)
		}
		buf = buf[:e.n]
		if _, err := file.ReadAt(buf, e.off); err != nil {
			return nil, 0, unavailable("query", err)
		}
		var rec telamentis.AuditRecord
		if err := json.Unmarshal(buf, &rec); err != nil {
			return nil, 0, fmt.Errorf("audit: query: seq %d: %w", i+1, err)
		}
		if f.Tenant != "" && rec.Tenant != f.Tenant {
			continue
		}
		if f.Action != "" && !matchAction(f.Action, rec.Action) {
			continue
		}
		out = append(out, rec)
	}
	return out, 0, nil
}

func matchAction(filter, action string) bool {
	if strings.HasSuffix(filter, ".") {
		return strings.HasPrefix(action, filter)
	}
	return action == filter
}

// Verify re-reads the whole file and checks its chain; see Verify.
func (l *Log) Verify(ctx context.Context) (Result, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return Result{}, unavailable("verify", err)
	}
	defer f.Close()
	return Verify(f, l.seal.key)
}

// Close syncs and closes the file. Later Appends fail with CodeUnavailable.
func (l *Log) Close() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	serr := l.f.Sync()
	cerr := l.f.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("audit: close: %w", err)
	}
	return nil
}
