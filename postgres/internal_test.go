package postgres

import (
	"testing"

	"github.com/telamentis/telamentis"
	"unsafe"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestRawRow(t *testing.T) {
	id := uuid.New()
	bin, txt := pgconn.FieldDescription{Format: pgx.BinaryFormatCode}, pgconn.FieldDescription{Format: pgx.TextFormatCode}
	r := rawRow{
		vals: [][]byte{id[:], []byte(id.String()), {0, 0, 0, 0, 0, 0, 1, 0}, {0xff, 0xff, 0xff, 0xfe}, []byte("-42"), []byte("x"), nil},
		fds:  []pgconn.FieldDescription{bin, txt, bin, bin, txt, txt, bin},
	}
	if got := r.uuid(0); got != id.String() {
		t.Errorf("binary uuid %s, want %s", got, id)
	}
	if got := r.uuid(1); got != id.String() {
		t.Errorf("text uuid %s, want %s", got, id)
	}
	if a, b, c := r.int(2), r.int(3), r.int(4); a != 256 || b != -2 || c != -42 {
		t.Errorf("ints %d %d %d, want 256 -2 -42", a, b, c)
	}
	if r.str(5) != "x" || !r.null(6) || r.err != nil {
		t.Errorf("text, null: %q %v %v", r.str(5), r.null(6), r.err)
	}
	if r.uuid(5); r.err == nil {
		t.Error("a one-byte uuid decoded without an error")
	}
}

func TestPageAppend(t *testing.T) {
	const limit = 1000
	var s []int
	var caps []int
	for i := range limit + 1 {
		before := cap(s)
		s = pageAppend(s, limit, i)
		if cap(s) != before {
			caps = append(caps, cap(s))
		}
	}
	for i, v := range s {
		if v != i {
			t.Fatalf("s[%d] = %d", i, v)
		}
	}
	// One growth for a small page, one more for the whole page.
	if len(caps) != 2 || caps[0] < 16 || caps[1] < limit+1 {
		t.Errorf("capacities %v, want 16 then at least %d", caps, limit+1)
	}
	// A page that stays small never holds room for the limit.
	if small := pageAppend([]int(nil), limit, 1); cap(small) > 64 {
		t.Errorf("a one-row page has capacity %d", cap(small))
	}
}

func TestRawRowKindReusesTheLastKind(t *testing.T) {
	txt := pgconn.FieldDescription{Format: pgx.TextFormatCode}
	last := new(lastDecoded)
	buf := []byte("KNOWS")
	r := rawRow{vals: [][]byte{buf}, fds: []pgconn.FieldDescription{txt}, last: last}
	a := r.kind(0)
	copy(buf, "LIKES") // the driver reuses its buffer for the next row
	b := r.kind(0)
	copy(buf, "LIKES")
	c := r.kind(0)
	if a != "KNOWS" || b != "LIKES" || c != "LIKES" {
		t.Errorf("kinds %q %q %q", a, b, c)
	}
	if unsafe.StringData(b) != unsafe.StringData(c) {
		t.Error("an unchanged kind was decoded again")
	}
}

// TestClosedPoolUnavailable: a call on a closed store's pool is
// unavailable (a retry may reach another replica), not internal. The pool
// never connects: Acquire on a closed pool fails before dialling.
func TestClosedPoolUnavailable(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	_, err = pool.Acquire(t.Context())
	if err == nil {
		t.Fatal("acquire on a closed pool succeeded")
	}
	if code := telamentis.ErrorCode(mapErr(err)); code != telamentis.CodeUnavailable {
		t.Errorf("closed pool (%v) maps to %q, want %q", err, code, telamentis.CodeUnavailable)
	}
}
