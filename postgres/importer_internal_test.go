package postgres

import (
	"testing"

	"github.com/google/uuid"
)

func TestUUIDOf(t *testing.T) {
	for range 100 {
		id := uuid.New()
		if u := uuidOf(id.String()); !u.Valid || u.Bytes != id {
			t.Fatalf("uuidOf(%s) = %x, %v", id, u.Bytes, u.Valid)
		}
	}
	if u := uuidOf("6e6f6465-0000-8000-8000-00000000ABCD"); !u.Valid || u.Bytes[15] != 0xcd || u.Bytes[0] != 0x6e {
		t.Errorf("uuidOf upper case: %x", u.Bytes)
	}
	if u := uuidOf("short"); u.Valid {
		t.Errorf("uuidOf of a short string is valid: %x", u.Bytes)
	}
}
