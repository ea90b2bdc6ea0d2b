package graph

import (
	"encoding/csv"
	"os"
	"slices"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"John Smith", "john smith"},
		{"  JOHN\t\tSMITH ", "john smith"},
		{"José García", "jose garcia"},
		{"Straße", "strasse"},
		{"Søren Łukasz Đorđe", "soren lukasz dorde"},
		{"Ærø Cœur", "aero coeur"},
		{"O'Brien", "obrien"},
		{"Jean-Luc Picard", "jean luc picard"},
		{"J. R. R. Tolkien", "jrr tolkien"},
		{"John F. Kennedy", "john f kennedy"},
		{"Acme™ Inc.", "acme inc"},
		{"Ｔｏｙｏｔａ", "toyota"},
		{"ﬁnance", "finance"},
		{"Kreuz\u00adberg", "kreuzberg"},
		{"Cafe\u0301", "cafe"},
		{"İstanbul", "istanbul"},
		{"ΣΩΚΡΑΤΗΣ", "σωκρατησ"},
		{"Hawaiʻi", "hawaii"},
		{"王 小 明", "王小明"},
		{"서울", "서울"}, // NFD takes Hangul apart; the result is recomposed
		{"Acme-Inc_2", "acme inc 2"},
		{"™ — ©", ""},
		{"", ""},
	} {
		if got := NormalizeName(c.in); got != c.want {
			t.Errorf("NormalizeName(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := NormalizeName(NormalizeName(c.in)); got != c.want {
			t.Errorf("NormalizeName is not idempotent on %q: %q", c.in, got)
		}
	}
}

func TestNameKeys(t *testing.T) {
	for _, c := range []struct {
		alias, props, prop string
		want               []string
	}{
		{"acme-inc", `{"name":"ACME, Inc."}`, "name", []string{"acme inc"}},
		{"a1", `{"name":"Acme"}`, "name", []string{"a1", "acme"}},
		{"", `{"name":"Acme"}`, "name", []string{"acme"}},
		{"", `{"title":"Acme"}`, "name", nil},
		{"", `{"title":"Acme"}`, "title", []string{"acme"}},
		{"", `{"name":42}`, "name", nil},
		{"", `{"nested":{"name":"x"}}`, "name", nil},
		{"", `{"full name":"Ada"}`, "full name", []string{"ada"}},
		{"---", `{}`, "name", nil},
	} {
		if got := NameKeys(c.alias, c.props, c.prop); !slices.Equal(got, c.want) {
			t.Errorf("NameKeys(%q, %s, %q) = %q, want %q", c.alias, c.props, c.prop, got, c.want)
		}
	}
}

// TestNameFixture measures NormalizeName on testdata/names.csv: pairs of
// names of one entity and of different entities. A pair matches when both
// names normalise to the same key. Precision must stay at least 0.99
// (merging two different entities is far worse than missing a duplicate);
// recall is reported. docs/benchmarks.md records both.
func TestNameFixture(t *testing.T) {
	f, err := os.Open("testdata/names.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	r.FieldsPerRecord = 4
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var dups, distinct, tp, fp int
	for _, row := range rows[1:] {
		label, variation, a, b := row[0], row[1], row[2], row[3]
		match := NormalizeName(a) == NormalizeName(b)
		switch label {
		case "duplicate":
			dups++
			if match {
				tp++
			} else {
				t.Logf("missed duplicate (%s): %q ≠ %q", variation, a, b)
			}
		case "distinct":
			distinct++
			if match {
				fp++
				t.Logf("false match (%s): %q = %q → %q", variation, a, b, NormalizeName(a))
			}
		default:
			t.Fatalf("row %q: label must be duplicate or distinct", row)
		}
	}
	if dups < 200 || distinct < 200 {
		t.Fatalf("fixture has %d duplicate and %d distinct pairs; it needs at least 200 of each", dups, distinct)
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(dups)
	t.Logf("%d duplicate pairs, %d distinct pairs: %d true matches, %d false matches; precision %.4f, recall %.4f",
		dups, distinct, tp, fp, precision, recall)
	if precision < 0.99 {
		t.Errorf("precision %.4f is below 0.99", precision)
	}
}

func BenchmarkNormalizeName(b *testing.B) {
	for b.Loop() {
		NormalizeName("Dr. Martin Luther King, Jr.")
	}
}
