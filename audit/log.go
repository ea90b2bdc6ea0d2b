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
//
// A log that cannot write (a full disk) is down, not dead: the next Append
// or Ready tries again, and the first write that succeeds puts an
// ActionOutage record into the chain before anything else, followed by the
// records of events that happened while it was down (see Append). A log
// whose file was removed or replaced stays down until it is reopened: its
// chain is in doubt and an operator must look.
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

// File is the log file as a Log uses it; *os.File is one.
type File interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

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
	// OpenFile opens the log file; os.OpenFile if nil. Tests put a file
	// that runs out of space under the log with it.
	OpenFile func(name string, flag int, perm os.FileMode) (File, error)
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
	f       File
	fi      os.FileInfo // identity of the open file
	seq     uint64
	last    string
	lastT   time.Time
	size    int64
	index   []entry // index[i] is the record with Seq i+1
	closed  bool
	durable int // number of records known to be on disk
	// headSeq and headHash name the last durable record.
	headSeq  uint64
	headHash string
	// epoch counts recoveries: a record written in an earlier epoch and
	// not durable then was cut off by the recovery.
	epoch uint64
	cuts  []int // cuts[e]: the records kept by the recovery that ended epoch e
	down  outage

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
	openFile := cfg.OpenFile
	if openFile == nil {
		openFile = func(name string, flag int, perm os.FileMode) (File, error) { return os.OpenFile(name, flag, perm) }
	}
	f, err := openFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
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

// Append writes rec durably; see telamentis.AuditLog. It fails with
// CodeUnavailable when the file cannot be written or synced, when the log
// file was removed or replaced under the running process, and after Close.
//
// A failed write or sync leaves the log down, and every Append fails until
// the log can write again: each later Append (and Ready) first cuts the
// file back to its last durable record and writes an ActionOutage record,
// then the records kept from the outage, and only once those are durable
// its own record. Kept are the records that report what already happened:
// every outcome but OutcomeAttempt, whose operation the caller refuses
// when its record fails (up to a bound; each carries its original time in
// the detail "occurred_at"). So an operation that ran but whose outcome
// could not be recorded shows in the chain as its attempt, the outage
// record and its late outcome; if the process stops before the log can
// write again, as an attempt without an outcome. A log whose file was
// removed or replaced stays down until it is reopened.
func (l *Log) Append(ctx context.Context, rec telamentis.AuditRecord) error {
	err := l.append(rec)
	if err != nil {
		l.failures.Add(1)
	} else {
		l.appends.Add(1)
	}
	return err
}

// tryResult says how one try at an Append ended.
type tryResult int

const (
	tryDone tryResult = iota // written, or failed for a reason other than the log being down
	tryDown                  // the log is down, or a recovery cut the record off
)

func (l *Log) append(rec telamentis.AuditRecord) error {
	if rec.Action == "" || rec.Outcome == "" {
		return fmt.Errorf("audit: append: action and outcome are required")
	}
	if rec.Time.IsZero() {
		rec.Time = l.now()
	}
	rec.Time = rec.Time.UTC().Round(0)
	for {
		res, err := l.try(rec)
		if res == tryDone {
			return err
		}
		l.mu.Lock()
		if l.down.err == nil && !l.closed {
			// A recovery cut the record off after it was written and the
			// log is up again: write it again. (Only another outage can
			// cut it again.)
			l.mu.Unlock()
			continue
		}
		if l.down.err != nil && !l.down.sticky {
			l.down.refused++
			if rec.Outcome != telamentis.OutcomeAttempt {
				if len(l.down.owed) < maxOwed {
					l.down.owed = append(l.down.owed, rec)
				} else {
					l.down.dropped++
				}
			}
		}
		l.mu.Unlock()
		return err
	}
}

// try writes rec and waits until it is durable.
func (l *Log) try(rec telamentis.AuditRecord) (tryResult, error) {
	l.mu.Lock()
	if l.down.err != nil && !l.down.sticky && !l.closed {
		l.mu.Unlock()
		if err := l.recover(); err != nil {
			return tryDown, err
		}
		l.mu.Lock()
	}
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		if l.closed {
			return tryDone, err
		}
		return tryDown, err
	}
	if rec.Time.Before(l.lastT) {
		rec.Time = l.lastT // keep times ordered for time-range queries
	}
	rec.Seq = l.seq + 1
	rec.PrevHash = l.last
	line, err := l.seal.seal(&rec)
	if err != nil {
		l.mu.Unlock()
		return tryDone, fmt.Errorf("audit: append: %w", err)
	}
	if len(line) > maxLine {
		l.mu.Unlock()
		return tryDone, fmt.Errorf("audit: append: record too long")
	}
	n, err := l.f.Write(line)
	if err != nil {
		// A partial line would break every later record: cut it.
		if n > 0 {
			_ = l.f.Truncate(l.size)
		}
		err = l.failLocked("append", err)
		l.mu.Unlock()
		return tryDown, err
	}
	l.index = append(l.index, entry{off: l.size, n: int32(n), unix: rec.Time.UnixNano()})
	l.size += int64(n)
	l.seq, l.last, l.lastT = rec.Seq, rec.Hash, rec.Time
	mine, epoch := len(l.index), l.epoch
	l.mu.Unlock()

	if err := l.sync(mine, epoch); err != nil {
		return tryDown, err
	}
	l.toSink(line)
	return tryDone, nil
}

func (l *Log) toSink(lines []byte) {
	if l.sink == nil {
		return
	}
	l.sinkMu.Lock()
	defer l.sinkMu.Unlock()
	if _, err := l.sink.Write(lines); err != nil {
		l.logger.Error("audit sink write", "err", err)
	}
}

// usableLocked checks that the log can take a record: open, up, and the
// file at the path still the one open.
func (l *Log) usableLocked() error {
	if l.closed {
		return unavailable("append", os.ErrClosed)
	}
	if l.down.err != nil {
		return l.down.err
	}
	return l.checkFileLocked()
}

// sync makes the first upto records of epoch durable. Appends that arrive
// while a sync runs wait for it and are then usually covered by the next
// one, so concurrent writers share fsyncs.
func (l *Log) sync(upto int, epoch uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if epoch != l.epoch {
		// A recovery kept the first cuts[epoch] records and cut the rest.
		kept := upto <= l.cuts[epoch]
		l.mu.Unlock()
		if kept {
			return nil
		}
		return unavailable("append", errCut)
	}
	if l.durable >= upto {
		l.mu.Unlock()
		return nil
	}
	if l.down.err != nil {
		err := l.down.err
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
		// The records after the last durable one may or may not be on
		// disk: the recovery cuts them off and writes them again.
		return l.failLocked("sync", err)
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
