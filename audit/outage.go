package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/telamentis/telamentis"
)

// ActionOutage is the action of the record a Log writes when it can write
// again after an outage. Its details: "since", the time of the first failed
// write (RFC 3339); "error", that failure; "refused", how many Appends
// failed meanwhile; "late", how many records follow it that were kept from
// the outage; "dropped", how many more were lost because too many piled up
// (absent when none).
const ActionOutage = "audit.outage"

// maxOwed bounds the records kept while the log is down.
const maxOwed = 1000

// outage is the state of a log that cannot write. err == nil: the log is
// up.
type outage struct {
	err     error     // the first failure, as Append returns it
	cause   error     // the underlying error of the first failure
	sticky  bool      // the file was removed or replaced: no recovery
	since   time.Time // first failure
	refused uint64    // Appends that failed
	owed    []telamentis.AuditRecord
	dropped uint64 // owed records not kept (over maxOwed)
}

// checkFileLocked puts the log down for good if the file at the path is
// gone or is no longer the one open: someone moved the trail away or
// replaced it, and an operator must look before it records more.
func (l *Log) checkFileLocked() error {
	fi, err := os.Stat(l.path)
	if err == nil && !os.SameFile(fi, l.fi) {
		err = errors.New("log file replaced")
	}
	if err != nil {
		l.failLocked("append", err)
		l.down.sticky = true
		return l.down.err
	}
	return nil
}

// failLocked puts the log down after err, unless it already is, and
// returns the error for the caller.
func (l *Log) failLocked(op string, err error) error {
	uerr := unavailable(op, err)
	if l.down.err == nil {
		l.down = outage{err: uerr, cause: err, since: l.now().UTC().Round(0)}
		l.logger.Error("audit log down", "err", uerr)
	}
	return uerr
}

// errCut is why an Append fails whose record was written but cut off by a
// recovery before it was durable.
var errCut = errors.New("record cut off by the recovery from an outage")

// recover tries to bring a down log back up: it cuts the file back to the
// last durable record (records after it were never acknowledged) and
// writes, durably, the outage record and the records kept from the
// outage. On success the log is up; on failure it stays down.
//
// Records up to the last successful fsync are on disk. A failed fsync
// leaves the pages after them in doubt; cutting the file there and
// writing them again, followed by a successful fsync, makes the file what
// the log believes it is.
func (l *Log) recover() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	lines, err := l.recoverLocked()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	l.toSink(lines)
	return nil
}

func (l *Log) recoverLocked() ([]byte, error) {
	if l.closed {
		return nil, unavailable("append", os.ErrClosed)
	}
	if l.down.err == nil {
		return nil, nil // another caller recovered the log
	}
	if l.down.sticky {
		return nil, l.down.err
	}
	if err := l.checkFileLocked(); err != nil {
		return nil, err
	}
	var size int64
	if l.durable > 0 {
		e := l.index[l.durable-1]
		size = e.off + int64(e.n)
	}
	if err := l.f.Truncate(size); err != nil {
		return nil, unavailable("recover", err)
	}
	if len(l.index) > l.durable {
		// Appends of the cut records are waiting in sync: tell them.
		l.cuts = append(l.cuts, l.durable)
		l.epoch++
	}
	l.index, l.size = l.index[:l.durable], size
	l.seq, l.last = l.headSeq, l.headHash

	t := l.now().UTC().Round(0)
	if t.Before(l.lastT) {
		t = l.lastT
	}
	recs := []telamentis.AuditRecord{{
		Time: t, Action: ActionOutage, Outcome: telamentis.OutcomeFailure,
		Details: map[string]string{
			"since":   l.down.since.Format(time.RFC3339Nano),
			"error":   l.down.cause.Error(),
			"refused": fmt.Sprint(l.down.refused),
			"late":    fmt.Sprint(len(l.down.owed)),
		},
	}}
	if l.down.dropped > 0 {
		recs[0].Details["dropped"] = fmt.Sprint(l.down.dropped)
	}
	for _, r := range l.down.owed {
		d := make(map[string]string, len(r.Details)+1)
		for k, v := range r.Details {
			d[k] = v
		}
		d["occurred_at"] = r.Time.Format(time.RFC3339Nano)
		r.Details, r.Time = d, t
		recs = append(recs, r)
	}
	var buf []byte
	entries := make([]entry, 0, len(recs))
	seq, prev, off := l.seq, l.last, l.size
	for i := range recs {
		recs[i].Seq, recs[i].PrevHash = seq+1, prev
		line, err := l.seal.seal(&recs[i])
		if err != nil {
			return nil, fmt.Errorf("audit: recover: %w", err)
		}
		entries = append(entries, entry{off: off, n: int32(len(line)), unix: recs[i].Time.UnixNano()})
		buf = append(buf, line...)
		seq, prev, off = seq+1, recs[i].Hash, off+int64(len(line))
	}
	n, err := l.f.Write(buf)
	if err == nil {
		err = l.f.Sync()
		l.syncs.Add(1)
	}
	if err != nil {
		if n > 0 {
			_ = l.f.Truncate(size)
		}
		return nil, unavailable("recover", err)
	}
	l.logger.Warn("audit log recovered", "since", l.down.since, "refused", l.down.refused, "late", len(l.down.owed), "dropped", l.down.dropped)
	l.index = append(l.index, entries...)
	l.size, l.seq, l.last, l.lastT = off, seq, prev, t
	l.durable, l.headSeq, l.headHash = len(l.index), seq, prev
	l.down = outage{}
	return buf, nil
}

// Ready reports whether the log can take records. A log that is down
// tries to recover first (see Append), so that a readiness probe both
// takes a replica whose trail cannot be written out of service and brings
// it back, with the outage on record, once the trail can be written again
// — even when no other request arrives meanwhile. A log that is up is not
// written to: Ready then only checks that its file is still in place.
func (l *Log) Ready(ctx context.Context) error {
	l.mu.Lock()
	down := l.down.err != nil && !l.down.sticky
	err := l.usableLocked()
	l.mu.Unlock()
	if down {
		return l.recover()
	}
	return err
}
