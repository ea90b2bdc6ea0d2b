package badger

import (
	"math/rand/v2"
	"slices"
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

func TestGallopAndInsertAtMatchSortedInsert(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	mk := func(v uint16) *edgeRec {
		var id id16
		id[14], id[15] = byte(v>>8), byte(v)
		return &edgeRec{id: id}
	}
	for round := range 300 {
		seen := map[uint16]bool{}
		var old, add []*edgeRec
		for range r.IntN(50) {
			if v := uint16(r.IntN(200)); !seen[v] {
				seen[v] = true
				old = append(old, mk(v))
			}
		}
		for range r.IntN(50) {
			if v := uint16(r.IntN(200)); !seen[v] {
				seen[v] = true
				add = append(add, mk(v))
			}
		}
		less := func(a, b *edgeRec) int { return cmpID(a.id, b.id) }
		slices.SortFunc(old, less)
		slices.SortFunc(add, less)
		pos := make([]int, len(add))
		lo := 0
		for k, e := range add {
			j := gallopID(old, lo, e.id)
			if want := searchID(old, e.id); j != want {
				t.Fatalf("round %d: gallopID = %d, want %d", round, j, want)
			}
			pos[k], lo = j, j
		}
		want := slices.SortedFunc(slices.Values(append(slices.Clone(old), add...)), less)
		got := insertAt(old, add, pos)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: insertAt gave a different list", round)
		}
	}
}

func TestSortTailMergesWithoutDuplicates(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for round := range 300 {
		var s []kindEntry
		seen := map[byte]bool{}
		for range r.IntN(40) {
			v := byte(r.IntN(100))
			if !seen[v] {
				seen[v] = true
				s = append(s, kindEntry{id: id16{15: v}})
			}
		}
		slices.SortFunc(s, func(a, b kindEntry) int { return cmpID(a.id, b.id) })
		from := len(s)
		want := map[byte]bool{}
		for v := range seen {
			want[v] = true
		}
		for range r.IntN(40) {
			v := byte(r.IntN(100))
			want[v] = true
			s = append(s, kindEntry{id: id16{15: v}, vf: 1})
		}
		got := sortTail(s, from)
		if from == 0 {
			continue // the tail is only sorted
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: %d elements, want %d", round, len(got), len(want))
		}
		for i := range got {
			if i > 0 && !got[i-1].id.less(got[i].id) {
				t.Fatalf("round %d: not sorted at %d", round, i)
			}
			if v := got[i].id[15]; seen[v] && got[i].vf != 0 {
				t.Fatalf("round %d: an appended duplicate replaced the existing element %d", round, v)
			}
		}
	}
}
