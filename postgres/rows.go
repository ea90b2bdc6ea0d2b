package postgres

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/telamentis/telamentis"
)

// Decoding rows straight from the wire.

// rawRow decodes the current row of a scopedRows straight from the wire
// (RawValues), for the reads whose pages are short and many (edges with
// their endpoints, paths): pgx plans a scan for every column of every
// query anew, a cost that shows on one-row reads (docs/perf-log/postgres-rounds.md, round 3). It
// understands the binary and the text form of the column types these
// reads return (uuid, int8, int4, text, bool); anything else is an error. The
// first bad column is kept in err.
type rawRow struct {
	vals [][]byte
	fds  []pgconn.FieldDescription
	err  error
	last *lastDecoded
}

// lastDecoded remembers the last UUID and the last edge kind a
// statement's rows decoded: the same endpoint or start node repeats on
// row after row, and so does a kind (a page of one kind, a node's edges).
type lastDecoded struct {
	b    [16]byte
	s    string
	kind string
}

// raw returns the decoder of the current row, past the leading tm_row
// of tenantScopedRead.
func (r *scopedRows) raw() rawRow {
	if r.last == nil {
		r.last = new(lastDecoded)
	}
	return rawRow{vals: r.Rows.RawValues()[1:], fds: r.Rows.FieldDescriptions()[1:], last: r.last}
}

// edge decodes an edge version from the ten columns of edgeCols at o.
func (r *rawRow) edge(o int) telamentis.Edge {
	return telamentis.Edge{ID: r.uuid(o), Alias: r.str(o + 1), From: r.uuid(o + 2), To: r.uuid(o + 3), Kind: r.kind(o + 4),
		Props: r.bytes(o + 5), ValidFrom: telamentis.FromMicros(r.int(o + 6)), ValidTo: telamentis.FromMicros(r.int(o + 7)),
		TxStart: telamentis.FromMicros(r.int(o + 8)), TxEnd: telamentis.FromMicros(r.int(o + 9))}
}

// node decodes a node version from the six columns of nodeCols at o.
func (r *rawRow) node(o int) telamentis.Node {
	return telamentis.Node{ID: r.uuid(o), Alias: r.str(o + 1), Label: r.str(o + 2), Props: r.bytes(o + 3),
		TxStart: telamentis.FromMicros(r.int(o + 4)), TxEnd: telamentis.FromMicros(r.int(o + 5))}
}

func (r *rawRow) bad(i int, what string) {
	if r.err == nil {
		r.err = fmt.Errorf("column %d (%s): cannot decode %s", i, r.fds[i].Name, what)
	}
}

func (r *rawRow) null(i int) bool { return r.vals[i] == nil }

// kind is str for an edge kind, reusing the last one decoded when equal.
func (r *rawRow) kind(i int) string {
	if r.last == nil || r.vals[i] == nil {
		return r.str(i)
	}
	if string(r.vals[i]) != r.last.kind {
		r.last.kind = string(r.vals[i])
	}
	return r.last.kind
}

func (r *rawRow) str(i int) string {
	if r.vals[i] == nil {
		r.bad(i, "NULL as text")
	}
	return string(r.vals[i])
}

func (r *rawRow) bytes(i int) []byte {
	if r.vals[i] == nil {
		r.bad(i, "NULL as text")
	}
	return append([]byte(nil), r.vals[i]...)
}

func (r *rawRow) int(i int) int64 {
	b := r.vals[i]
	if r.fds[i].Format == pgx.BinaryFormatCode {
		switch len(b) {
		case 8:
			return int64(binary.BigEndian.Uint64(b))
		case 4:
			return int64(int32(binary.BigEndian.Uint32(b)))
		}
		r.bad(i, "an integer")
		return 0
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		r.bad(i, "an integer")
	}
	return v
}

func (r *rawRow) bool(i int) bool {
	b := r.vals[i]
	if len(b) != 1 {
		r.bad(i, "a boolean")
		return false
	}
	// binary: 1 or 0; text: t or f
	return b[0] == 1 || b[0] == 't'
}

func (r *rawRow) uuid(i int) string {
	b := r.vals[i]
	if r.fds[i].Format != pgx.BinaryFormatCode {
		if len(b) != 36 {
			r.bad(i, "a uuid")
		}
		return string(b)
	}
	if len(b) != 16 {
		r.bad(i, "a uuid")
		return ""
	}
	if r.last != nil && r.last.s != "" && string(b) == string(r.last.b[:]) {
		return r.last.s
	}
	id := uuid.UUID(b).String() // canonical lower case, as badger's IDs
	if r.last != nil {
		copy(r.last.b[:], b)
		r.last.s = id
	}
	return id
}
