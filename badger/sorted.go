package badger

import (
	"slices"
	"sort"
)

// The index keeps its records in slices sorted by ID; these helpers
// search, insert, remove and merge in them.

// keyed is a record of an ID-sorted slice.
type keyed interface{ key() id16 }

func searchID[T keyed](s []T, id id16) int {
	return sort.Search(len(s), func(i int) bool { return !s[i].key().less(id) })
}

// searchAfter returns the index of the first element with an ID > id.
func searchAfter[T keyed](s []T, id id16) int {
	return sort.Search(len(s), func(i int) bool { return id.less(s[i].key()) })
}

func insertSorted[T keyed](s []T, x T) []T {
	n := len(s)
	id := x.key()
	if n == 0 || s[n-1].key().less(id) {
		return append(s, x)
	}
	i := searchID(s, id)
	if i < n && s[i].key() == id {
		return s
	}
	return slices.Insert(s, i, x)
}

func removeSorted[T keyed](s []T, id id16) []T {
	i := searchID(s, id)
	if i < len(s) && s[i].key() == id {
		var zero T
		s = slices.Delete(s, i, i+1)
		s = append(s, zero)[:len(s)] // clear the tail for the GC
		return s
	}
	return s
}

// sortTail sorts s[from:] (appended unsorted) and merges it into the sorted
// s[:from], dropping duplicates. The appended elements are placed by a
// galloping search, so merging a few elements into a long list does not
// compare (or, for records, dereference) every element of the list.
func sortTail[T keyed](s []T, from int) []T {
	if from >= len(s) {
		return s
	}
	tail := s[from:]
	slices.SortFunc(tail, func(a, b T) int { return cmpID(a.key(), b.key()) })
	if from == 0 || s[from-1].key().less(tail[0].key()) {
		return s
	}
	head := s[:from]
	xs := slices.Clone(tail) // the insert overwrites tail's memory
	pos := make([]int, 0, len(xs))
	n, lo := 0, 0
	for _, x := range xs {
		k := x.key()
		j := gallopID(head, lo, k)
		if (j < len(head) && head[j].key() == k) || (n > 0 && xs[n-1].key() == k) {
			continue
		}
		xs[n] = x
		n++
		pos = append(pos, j)
		lo = j
	}
	return insertAt(head, xs[:n], pos)
}

// gallopID returns the index of the first element of s[lo:] with an ID ≥
// id, probing forward from lo in growing steps before a binary search, so
// a sorted run of look-ups costs little more than a merge.
func gallopID[T keyed](s []T, lo int, id id16) int {
	hi, step := lo, 1
	for hi < len(s) && s[hi].key().less(id) {
		lo = hi + 1
		hi += step
		step *= 2
	}
	hi = min(hi, len(s))
	return lo + searchID(s[lo:hi], id)
}

// insertAt inserts xs[k] before s[pos[k]] for every k (pos ascending, as
// returned for xs in order) in one backward pass.
func insertAt[T any](s []T, xs []T, pos []int) []T {
	n, m := len(s), len(xs)
	s = slices.Grow(s, m)[:n+m]
	j := n
	for k := m - 1; k >= 0; k-- {
		p := pos[k]
		copy(s[p+k+1:j+k+1], s[p:j])
		s[p+k] = xs[k]
		j = p
	}
	return s
}

func removeRec[T comparable](s []T, x T) []T {
	for i, y := range s {
		if y == x {
			return slices.Delete(s, i, i+1)
		}
	}
	return s
}
