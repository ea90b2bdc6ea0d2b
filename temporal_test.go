package telamentis

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// allenDefs defines each relation by its endpoints, independently of Relate.
var allenDefs = map[Allen]func(a, b Span) bool{
	Before:       func(a, b Span) bool { return a.End < b.Start },
	Meets:        func(a, b Span) bool { return a.End == b.Start },
	Overlaps:     func(a, b Span) bool { return a.Start < b.Start && b.Start < a.End && a.End < b.End },
	Starts:       func(a, b Span) bool { return a.Start == b.Start && a.End < b.End },
	During:       func(a, b Span) bool { return a.Start > b.Start && a.End < b.End },
	Finishes:     func(a, b Span) bool { return a.End == b.End && a.Start > b.Start },
	Equals:       func(a, b Span) bool { return a.Start == b.Start && a.End == b.End },
	FinishedBy:   func(a, b Span) bool { return a.End == b.End && a.Start < b.Start },
	Contains:     func(a, b Span) bool { return a.Start < b.Start && a.End > b.End },
	StartedBy:    func(a, b Span) bool { return a.Start == b.Start && a.End > b.End },
	OverlappedBy: func(a, b Span) bool { return b.Start < a.Start && a.Start < b.End && b.End < a.End },
	MetBy:        func(a, b Span) bool { return b.End == a.Start },
	After:        func(a, b Span) bool { return b.End < a.Start },
}

var allenInverse = map[Allen]Allen{
	Before: After, Meets: MetBy, Overlaps: OverlappedBy, Starts: StartedBy, During: Contains,
	Finishes: FinishedBy, Equals: Equals, FinishedBy: Finishes, Contains: During, StartedBy: Starts,
	OverlappedBy: Overlaps, MetBy: Meets, After: Before,
}

// spans returns every non-empty span over the points 0..n-1, with and
// without an open end.
func spans(n int64) []Span {
	var out []Span
	for s := int64(0); s < n; s++ {
		for e := s + 1; e < n; e++ {
			out = append(out, Span{s, e})
		}
		out = append(out, Span{s, Open})
	}
	return out
}

func TestRelateExhaustive(t *testing.T) {
	if len(AllenRelations) != 13 || len(allenDefs) != 13 {
		t.Fatalf("there are 13 Allen relations: list has %d", len(AllenRelations))
	}
	seenFinite := map[Allen]int{}
	seenOpen := map[Allen]int{}
	all := spans(6)
	for _, a := range all {
		for _, b := range all {
			var holds []Allen
			for _, r := range AllenRelations {
				if allenDefs[r](a, b) {
					holds = append(holds, r)
				}
			}
			if len(holds) != 1 {
				t.Fatalf("%v vs %v: %d relations hold by definition %v, want exactly one", a, b, len(holds), holds)
			}
			got := Relate(a, b)
			if got != holds[0] {
				t.Errorf("Relate(%v, %v) = %s, want %s", a, b, got, holds[0])
			}
			if inv := Relate(b, a); inv != allenInverse[got] {
				t.Errorf("Relate(%v, %v) = %s but Relate(%v, %v) = %s, want the inverse %s", a, b, got, b, a, inv, allenInverse[got])
			}
			if !got.Valid() {
				t.Errorf("Relate returned %q, which is not Valid", got)
			}
			if a.End == Open || b.End == Open {
				seenOpen[got]++
			} else {
				seenFinite[got]++
			}
		}
	}
	for _, r := range AllenRelations {
		if seenFinite[r] == 0 {
			t.Errorf("relation %s never occurred between finite spans", r)
		}
	}
	// With an open end some relations are impossible: an open span cannot
	// end before, or contain the end of, another open span.
	for _, r := range []Allen{Before, Meets, Overlaps, Starts, During, Finishes, Equals, FinishedBy, Contains, StartedBy, OverlappedBy, MetBy, After} {
		if seenOpen[r] == 0 {
			t.Errorf("relation %s never occurred with an open-ended span", r)
		}
	}
	for _, c := range []struct {
		a, b Span
		want Allen
	}{
		{Span{5, Open}, Span{5, Open}, Equals},
		{Span{3, Open}, Span{5, Open}, FinishedBy},
		{Span{7, Open}, Span{5, Open}, Finishes},
		{Span{5, Open}, Span{5, 9}, StartedBy},
		{Span{1, Open}, Span{5, 9}, Contains},
		{Span{9, Open}, Span{5, 9}, MetBy},
		{Span{1, 5}, Span{5, Open}, Meets},
		{Span{6, 8}, Span{5, Open}, During},
	} {
		if got := Relate(c.a, c.b); got != c.want {
			t.Errorf("Relate(%v, %v) = %s, want %s", c.a, c.b, got, c.want)
		}
	}
	if Allen("near").Valid() || Allen("").Valid() {
		t.Error("only the 13 relations are Valid")
	}
}

func TestSpan(t *testing.T) {
	s := Span{10, 20}
	for _, c := range []struct {
		t    int64
		want bool
	}{{9, false}, {10, true}, {19, true}, {20, false}} {
		if got := s.Contains(c.t); got != c.want {
			t.Errorf("%v.Contains(%d) = %v", s, c.t, got)
		}
	}
	if !(Span{10, Open}).Contains(Open - 1) {
		t.Error("an open span contains every later instant")
	}
	for _, c := range []struct {
		o    Span
		want bool
	}{{Span{0, 10}, false}, {Span{0, 11}, true}, {Span{19, 30}, true}, {Span{20, 30}, false}, {Span{12, 13}, true}, {Span{0, Open}, true}, {Span{20, Open}, false}} {
		if got := s.Overlaps(c.o); got != c.want || c.o.Overlaps(s) != got {
			t.Errorf("%v.Overlaps(%v) = %v, want %v (symmetric)", s, c.o, got, c.want)
		}
	}
}

func TestMicros(t *testing.T) {
	if Micros(time.Time{}) != Open || !FromMicros(Open).IsZero() {
		t.Error("the zero time is Open and back")
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("X", 3600))
	if got := FromMicros(Micros(at)); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("round trip of %v: %v", at, got)
	}
	if got := NormalizeTime(at.Add(789)); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("NormalizeTime truncates to microseconds in UTC: %v", got)
	}
	if !NormalizeTime(time.Time{}).IsZero() {
		t.Error("NormalizeTime keeps the zero time")
	}
	if got := SpanOf(Interval{Start: at}); got.Start != Micros(at) || got.End != Open {
		t.Errorf("SpanOf an open interval: %v", got)
	}
}

func TestIntervalValidate(t *testing.T) {
	d := func(n int) time.Time { return time.Date(2020, 1, n, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		iv    Interval
		field string
	}{
		{Interval{Start: d(1)}, ""},
		{Interval{Start: d(1), End: d(2)}, ""},
		{Interval{}, "w.start"},
		{Interval{End: d(2)}, "w.start"},
		{Interval{Start: d(2), End: d(2)}, "w.end"},
		{Interval{Start: d(2), End: d(1)}, "w.end"},
		{Interval{Start: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}, "w.start"},
		{Interval{Start: d(1), End: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "w.end"},
	} {
		err := c.iv.Validate("w")
		if c.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.iv, err)
			}
			continue
		}
		if ErrorCode(err) != CodeInvalid || len(ErrorFields(err)) != 1 || ErrorFields(err)[0].Field != c.field {
			t.Errorf("%+v: %v, want invalid naming %s", c.iv, err, c.field)
		}
	}
}

func TestParseTime(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time // zero: rejected
	}{
		{"2024-01-02T03:04:05Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2024-01-02T03:04:05+02:00", time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC)},
		{"2024-01-02T03:04:05-05:30", time.Date(2024, 1, 2, 8, 34, 5, 0, time.UTC)},
		{"2024-01-02T03:04:05.123456789Z", time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)},
		{"2024-01-02T03:04:05.9999999+00:00", time.Date(2024, 1, 2, 3, 4, 5, 999999000, time.UTC)},
		{"2024-01-02T03:04:05.1Z", time.Date(2024, 1, 2, 3, 4, 5, 100000000, time.UTC)},
		{"0001-01-01T00:00:01Z", time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)},
		{"9999-12-31T23:59:59.999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"9999-12-31T23:59:59.9999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		// rejected: no zone, not RFC 3339, out of range
		{"2024-01-02T03:04:05", time.Time{}},
		{"2024-01-02T03:04:05.123", time.Time{}},
		{"2024-01-02 03:04:05", time.Time{}},
		{"2024-01-02 03:04:05Z", time.Time{}},
		{"2024-01-02", time.Time{}},
		{"03:04:05Z", time.Time{}},
		{"2024-01-02T03:04:05+0200", time.Time{}},
		{"2024-01-02T03:04:05 UTC", time.Time{}},
		{"2024-02-30T03:04:05Z", time.Time{}},
		{"2024-01-02T25:04:05Z", time.Time{}},
		{"", time.Time{}},
		{"T", time.Time{}},
		{"1712000000", time.Time{}},
		{"0000-01-01T00:00:00Z", time.Time{}},
		{"0001-01-01T00:00:00Z", time.Time{}},
		{"9999-12-31T23:00:00-02:00", time.Time{}},
	} {
		got, err := ParseTime(c.in)
		if c.want.IsZero() {
			if ErrorCode(err) != CodeInvalid {
				t.Errorf("ParseTime(%q) = %v, %v; want invalid", c.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v in UTC", c.in, got, err, c.want)
		}
	}
}

// steppingClock returns the times in seq, then the last one forever.
func steppingClock(seq ...time.Time) func() time.Time {
	var mu sync.Mutex
	i := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := seq[min(i, len(seq)-1)]
		i++
		return t
	}
}

func TestTxClock(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(us int64) time.Time { return base.Add(time.Duration(us) * time.Microsecond) }
	b := Micros(base)

	t.Run("steps back and repeats", func(t *testing.T) {
		c := NewTxClock(steppingClock(at(10), at(10), at(5), at(11), at(20), at(20), at(19), at(100)))
		var got []int64
		for range 8 {
			got = append(got, c.Next("a")-b)
		}
		want := []int64{10, 11, 12, 13, 20, 21, 22, 100}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Next with a clock that repeats and steps back: %v, want %v", got, want)
		}
	})
	t.Run("tenants are independent", func(t *testing.T) {
		c := NewTxClock(steppingClock(at(50), at(50), at(40), at(40)))
		if a := c.Next("a") - b; a != 50 {
			t.Errorf("a: %d", a)
		}
		if x := c.Next("b") - b; x != 50 {
			t.Errorf("b's first time is the wall clock, not after a's: %d", x)
		}
		if a := c.Next("a") - b; a != 51 {
			t.Errorf("a after the clock stepped back: %d, want 51", a)
		}
		if x := c.Next("b") - b; x != 51 {
			t.Errorf("b after the clock stepped back: %d, want 51", x)
		}
	})
	t.Run("observe", func(t *testing.T) {
		c := NewTxClock(steppingClock(at(10)))
		c.Observe("a", b+1000)
		c.Observe("a", b+500) // never moves back
		if a := c.Next("a") - b; a != 1001 {
			t.Errorf("Next after Observe(1000): %d, want 1001", a)
		}
		if x := c.Next("b") - b; x != 10 {
			t.Errorf("Observe of a does not affect b: %d", x)
		}
		c.Forget("a")
		if a := c.Next("a") - b; a != 10 {
			t.Errorf("after Forget, a starts from the wall clock: %d", a)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		c := NewTxClock(steppingClock(at(7))) // a stuck clock
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				last := int64(0)
				for range 200 {
					v := c.Next("a")
					if v <= last {
						t.Errorf("one goroutine saw %d after %d", v, last)
					}
					last = v
					mu.Lock()
					if seen[v] {
						t.Errorf("time %d handed out twice", v)
					}
					seen[v] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != 1600 {
			t.Errorf("%d distinct times, want 1600", len(seen))
		}
	})
	t.Run("default clock", func(t *testing.T) {
		c := NewTxClock(nil)
		before := time.Now().UnixMicro()
		v := c.Next("a")
		if v < before || v > time.Now().UnixMicro()+1 {
			t.Errorf("the default clock reads time.Now: %d not in [%d, now]", v, before)
		}
	})
}
