package postgres

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
