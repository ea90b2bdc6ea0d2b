package badger

import (
	"math/rand/v2"
	"testing"
)

func TestPutIDHexMatchesUUIDString(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	b := make([]byte, 36)
	for i := range 1000 {
		var id id16
		for j := range id {
			id[j] = byte(r.Uint32())
		}
		if i == 0 {
			id = id16{}
		}
		if i == 1 {
			for j := range id {
				id[j] = 0xff
			}
		}
		putIDHex(b, id)
		if string(b) != id.String() {
			t.Fatalf("putIDHex(%x) = %s, want %s", id[:], b, id.String())
		}
	}
}
