package telamentis

import (
	"math"
	"strings"
	"sync"
	"time"
)

// Open is the micros value of an open interval end (no ValidTo, no TxEnd).
const Open int64 = math.MaxInt64

// Micros returns t as microseconds since the Unix epoch, and Open for the
// zero time. All stored times have microsecond precision.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return Open
	}
	return t.UnixMicro()
}

// FromMicros is the inverse of Micros: Open becomes the zero time.
func FromMicros(us int64) time.Time {
	if us == Open {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// NormalizeTime returns t in UTC truncated to microseconds; the zero time
// stays zero.
func NormalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// minTime and maxTime bound accepted instants: year 1 would collide with the
// zero time, and beyond year 9999 RFC 3339 cannot be written.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// ParseTime parses an RFC 3339 timestamp. A timestamp without a zone
// ("2024-01-02T03:04:05") is rejected: a fact's time must not depend on the
// server's location. The result is normalised with NormalizeTime.
func ParseTime(s string) (time.Time, error) {
	if !strings.ContainsAny(s, "Tt") {
		return time.Time{}, Errorf(CodeInvalid, "time %q is not RFC 3339 (date and time with a zone)", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, Errorf(CodeInvalid, "time %q is not RFC 3339 with a zone, such as 2024-01-02T15:04:05Z", s)
	}
	t = NormalizeTime(t) // before the range check: …59.9999999Z truncates into range
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, Errorf(CodeInvalid, "time %q is out of range", s)
	}
	return t, nil
}

// CheckTime returns a CodeInvalid error naming field if t is set and
// outside the instants TelaMentis accepts (years 1 to 9999, see ParseTime);
// the zero time passes.
func CheckTime(field string, t time.Time) error { return checkTime(field, t) }

func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return Invalid(field, "time out of range")
	}
	return nil
}

// Interval is a half-open interval [Start, End). A zero End is open (+∞).
// Start is required wherever an Interval is accepted as input.
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
}

// Validate reports whether the interval is well formed: Start set, End after
// Start when set.
func (iv Interval) Validate(field string) error {
	if iv.Start.IsZero() {
		return Invalid(field+".start", "required")
	}
	if err := checkTime(field+".start", iv.Start); err != nil {
		return err
	}
	if err := checkTime(field+".end", iv.End); err != nil {
		return err
	}
	if !iv.End.IsZero() && !iv.End.After(iv.Start) {
		return Invalid(field+".end", "must be after start")
	}
	return nil
}

// Span is an interval in microseconds, End == Open for an open end. Stores
// use it on hot paths.
type Span struct{ Start, End int64 }

// SpanOf converts an Interval to a Span.
func SpanOf(iv Interval) Span { return Span{Micros(iv.Start), Micros(iv.End)} }

// Contains reports whether instant t lies in [Start, End).
func (s Span) Contains(t int64) bool { return s.Start <= t && t < s.End }

// Overlaps reports whether s and o share an instant: s.Start < o.End and
// s.End > o.Start.
func (s Span) Overlaps(o Span) bool { return s.Start < o.End && s.End > o.Start }

// Allen is one of Allen's thirteen interval relations, read "a REL b".
type Allen string

// Allen's thirteen relations.
const (
	Before       Allen = "before"
	Meets        Allen = "meets"
	Overlaps     Allen = "overlaps"
	Starts       Allen = "starts"
	During       Allen = "during"
	Finishes     Allen = "finishes"
	Equals       Allen = "equals"
	FinishedBy   Allen = "finished_by"
	Contains     Allen = "contains"
	StartedBy    Allen = "started_by"
	OverlappedBy Allen = "overlapped_by"
	MetBy        Allen = "met_by"
	After        Allen = "after"
)

// AllenRelations lists the thirteen relations.
var AllenRelations = []Allen{Before, Meets, Overlaps, Starts, During, Finishes, Equals,
	FinishedBy, Contains, StartedBy, OverlappedBy, MetBy, After}

// Valid reports whether r is one of the thirteen relations.
func (r Allen) Valid() bool {
	for _, a := range AllenRelations {
		if a == r {
			return true
		}
	}
	return false
}

// Relate returns the one Allen relation that holds between a and b. Both
// spans must be non-empty (Start < End). Open ends compare equal to each
// other and after every instant.
func Relate(a, b Span) Allen {
	switch {
	case a.End < b.Start:
		return Before
	case a.End == b.Start:
		return Meets
	case b.End < a.Start:
		return After
	case b.End == a.Start:
		return MetBy
	}
	// The spans overlap.
	switch {
	case a.Start == b.Start && a.End == b.End:
		return Equals
	case a.Start == b.Start:
		if a.End < b.End {
			return Starts
		}
		return StartedBy
	case a.End == b.End:
		if a.Start > b.Start {
			return Finishes
		}
		return FinishedBy
	case a.Start < b.Start:
		if a.End < b.End {
			return Overlaps
		}
		return Contains
	default: // a.Start > b.Start
		if a.End < b.End {
			return During
		}
		return OverlappedBy
	}
}

// TxClock hands out transaction times. Per tenant they are strictly
// increasing, even when the wall clock steps back or two writes fall in the
// same microsecond. It is safe for concurrent use.
type TxClock struct {
	now  func() time.Time
	mu   sync.Mutex
	last map[string]int64
}

// NewTxClock returns a clock reading now, or time.Now if now is nil.
func NewTxClock(now func() time.Time) *TxClock {
	if now == nil {
		now = time.Now
	}
	return &TxClock{now: now, last: make(map[string]int64)}
}

// Next returns the next transaction time of tenant in microseconds: the wall
// clock, or one microsecond after the last time handed out if the clock has
// not moved past it.
func (c *TxClock) Next(tenant string) int64 {
	us := c.now().UnixMicro()
	c.mu.Lock()
	defer c.mu.Unlock()
	if last := c.last[tenant]; us <= last {
		us = last + 1
	}
	c.last[tenant] = us
	return us
}

// Observe tells the clock that tenant already has a transaction time us (as
// found when a store reopens or restores), so later times come after it.
func (c *TxClock) Observe(tenant string, us int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if us > c.last[tenant] {
		c.last[tenant] = us
	}
}

// Forget drops tenant's state, after the tenant is dropped.
func (c *TxClock) Forget(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.last, tenant)
}
