package audit

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/telamentis/telamentis"
)

// genesis is the PrevHash of the first record.
var genesis = string(bytes.Repeat([]byte("0"), 64))

// maxLine bounds one stored record; longer lines are a broken chain.
const maxLine = 1 << 20

// ChainError reports the first record at which a log fails verification.
// Seq is the sequence number expected at that position: for an altered
// record it is the record's own number, for a removed one the number that
// is missing, for reordered ones the first out-of-place position.
type ChainError struct {
	Seq    uint64
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit: chain broken at seq %d: %s", e.Seq, e.Reason)
}

// Result sums up a verified log.
type Result struct {
	Records  uint64 // number of records
	LastSeq  uint64
	LastHash string
}

// HashID returns a keyed hash of s (HMAC-SHA256, hex) for audit records:
// identifiers of erased data and PII are recorded only this way, so the
// trail can show that the same value recurs without holding it. Without the
// key the hash cannot be recomputed from a guessed value.
func HashID(key []byte, s string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return "hmac:" + hex.EncodeToString(m.Sum(nil))
}

// sealer computes record hashes under one key.
type sealer struct{ key []byte }

// canonical is the record as hashed: its JSON encoding with Hash empty.
// encoding/json writes struct fields in declaration order and map keys
// sorted, so the encoding is deterministic.
func canonical(rec telamentis.AuditRecord) ([]byte, error) {
	rec.Hash = ""
	return json.Marshal(rec)
}

func (s sealer) mac(rec telamentis.AuditRecord) (string, error) {
	c, err := canonical(rec)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, s.key)
	m.Write(c)
	return hex.EncodeToString(m.Sum(nil)), nil
}

// seal sets rec.Hash and returns the stored line, newline included.
func (s sealer) seal(rec *telamentis.AuditRecord) ([]byte, error) {
	h, err := s.mac(*rec)
	if err != nil {
		return nil, err
	}
	rec.Hash = h
	line, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return append(line, '\n'), nil
}

// decodeLine parses one stored line strictly: unknown fields are refused,
// so nothing can ride along outside the hash.
func decodeLine(line []byte) (telamentis.AuditRecord, error) {
	var rec telamentis.AuditRecord
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&rec); err != nil {
		return rec, err
	}
	if d.More() {
		return rec, fmt.Errorf("trailing data")
	}
	return rec, nil
}

// check verifies one record at the position where seq and prev are
// expected.
func (s sealer) check(rec telamentis.AuditRecord, seq uint64, prev string) *ChainError {
	if rec.Seq != seq {
		return &ChainError{Seq: seq, Reason: fmt.Sprintf("found seq %d", rec.Seq)}
	}
	if rec.PrevHash != prev {
		return &ChainError{Seq: seq, Reason: "prev_hash does not match the previous record"}
	}
	want, err := s.mac(rec)
	if err != nil {
		return &ChainError{Seq: seq, Reason: "cannot encode record"}
	}
	if !hmac.Equal([]byte(want), []byte(rec.Hash)) {
		return &ChainError{Seq: seq, Reason: "hash mismatch"}
	}
	return nil
}

// scan reads a log from r, verifying the chain, and calls fn (if not nil)
// with each good record, its offset and its length. A final line without a
// newline is reported as torn (tornAt >= 0 is its offset) rather than as a
// broken chain: it is a write that never returned success.
func (s sealer) scan(r io.Reader, fn func(rec telamentis.AuditRecord, off int64, n int)) (res Result, tornAt int64, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	prev := genesis
	var off int64
	tornAt = -1
	for {
		line, rerr := br.ReadSlice('\n')
		for rerr == bufio.ErrBufferFull {
			if len(line) > maxLine {
				return res, -1, &ChainError{Seq: res.LastSeq + 1, Reason: "record too long"}
			}
			// ReadSlice's buffer is reused: copy before reading on.
			line = append([]byte(nil), line...)
			var more []byte
			more, rerr = br.ReadSlice('\n')
			line = append(line, more...)
		}
		if rerr == io.EOF {
			if len(line) > 0 {
				tornAt = off
			}
			return res, tornAt, nil
		}
		if rerr != nil {
			return res, -1, rerr
		}
		n := len(line)
		seq := res.LastSeq + 1
		rec, derr := decodeLine(line[:n-1])
		if derr != nil {
			return res, -1, &ChainError{Seq: seq, Reason: "malformed record"}
		}
		if cerr := s.check(rec, seq, prev); cerr != nil {
			return res, -1, cerr
		}
		// Byte-exact: a change that decodes to the same record (an escape
		// spelled differently, added spaces) is still a change to the file.
		if again, err := json.Marshal(rec); err != nil || !bytes.Equal(again, line[:n-1]) {
			return res, -1, &ChainError{Seq: seq, Reason: "record not in canonical form"}
		}
		if fn != nil {
			fn(rec, off, n)
		}
		prev = rec.Hash
		res.Records++
		res.LastSeq = seq
		res.LastHash = rec.Hash
		off += int64(n)
	}
}

// Verify reads a whole audit log from r and checks its chain under key. It
// returns a *ChainError naming the first broken sequence number if a record
// was altered, removed, inserted or reordered, or if the log ends in a torn
// record. Removing records from the end cannot be seen from the file alone:
// compare Result.LastSeq and LastHash with a copy held elsewhere (the SIEM
// sink).
func Verify(r io.Reader, key []byte) (Result, error) {
	res, torn, err := sealer{key: key}.scan(r, nil)
	if err != nil {
		return res, err
	}
	if torn >= 0 {
		return res, &ChainError{Seq: res.LastSeq + 1, Reason: "torn final record"}
	}
	return res, nil
}
