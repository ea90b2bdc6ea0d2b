package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

func FuzzDateParser(f *testing.F) {
	for _, s := range [][2]string{
		{"%Y-%m-%d", "2024-02-29"},
		{"%Y-%m-%d %H:%M:%S%z", "2024-01-02 03:04:05+00"},
		{"%Y-%m-%dT%H:%M:%S.%f%z", "2024-01-02T03:04:05.123456789+05:30"},
		{"%d/%m/%y %I:%M %p", "31/12/99 11:59 PM"},
		{"%e %b %Y", " 1 Jan 2020"},
		{"%s", "1700000000"},
		{"%Y%j", "2024366"},
		{"%F %T %Z", "2024-01-02 03:04:05 UTC"},
		{"%%%Y", "%2024"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, format, value string) {
		p, err := newDateParser(format, time.UTC)
		if err != nil {
			return
		}
		tm, err := p.Parse(value)
		if err != nil {
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("%q %q: not UTC", format, value)
		}
		// A date read with %Y-%m-%dT%H:%M:%S%z round-trips through RFC 3339.
		if format == "%Y-%m-%dT%H:%M:%S%z" && tm.Year() >= 1 && tm.Year() <= 9999 {
			back, err := p.Parse(tm.Format("2006-01-02T15:04:05Z"))
			if err != nil || !back.Equal(tm) {
				t.Fatalf("%q: %v does not round-trip: %v %v", value, tm, back, err)
			}
		}
	})
}

func TestDateParser(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	cases := []struct {
		format, value string
		loc           *time.Location
		want          string // RFC 3339 UTC, or "" for an error
	}{
		{"%Y-%m-%d", "2024-02-29", time.UTC, "2024-02-29T00:00:00Z"},
		{"%Y-%m-%d", "2023-02-29", time.UTC, ""},
		{"%Y-%m-%d", "2024-02-29", nil, ""}, // no zone, no --timezone
		{"%Y-%m-%d %H:%M", "2024-07-01 12:00", paris, "2024-07-01T10:00:00Z"},
		{"%Y-%m-%d %H:%M:%S%z", "2018-01-24 13:16:12+00", nil, "2018-01-24T13:16:12Z"},
		{"%Y-%m-%d %H:%M:%S%z", "2018-01-24 13:16:12-0130", nil, "2018-01-24T14:46:12Z"},
		{"%Y-%m-%dT%H:%M:%S.%f%z", "2024-01-02T03:04:05.5Z", nil, "2024-01-02T03:04:05.5Z"},
		{"%d/%m/%Y %I:%M %p", "01/02/2024 12:15 AM", time.UTC, "2024-02-01T00:15:00Z"},
		{"%d/%m/%Y %I:%M %p", "01/02/2024 12:15 pm", time.UTC, "2024-02-01T12:15:00Z"},
		{"%d %B %Y", "3 march 2021", time.UTC, "2021-03-03T00:00:00Z"},
		{"%s", "0", nil, "1970-01-01T00:00:00Z"},
		{"%Y-%m-%d", "2024-01-01 ", time.UTC, ""},
		{"%Y-%m-%d", "2024-1-1", time.UTC, "2024-01-01T00:00:00Z"},
		{"%H:%M", "24:00", time.UTC, ""},
		{"%%F %s", "%F 0", nil, "1970-01-01T00:00:00Z"}, // a literal %F is not %Y-%m-%d
		{"%Y-%m-%dT%H:%M%z", "2024-03-01T00:30+05:30", nil, "2024-02-29T19:00:00Z"},
	}
	for _, c := range cases {
		p, err := newDateParser(c.format, c.loc)
		if err != nil {
			t.Fatalf("%q: %v", c.format, err)
		}
		got, err := p.Parse(c.value)
		if c.want == "" {
			if err == nil {
				t.Errorf("%q %q: %v, want an error", c.format, c.value, got)
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339Nano) != c.want {
			t.Errorf("%q %q: %v %v, want %s", c.format, c.value, got, err, c.want)
		}
	}
	if _, err := newDateParser("%Q", nil); err == nil {
		t.Error("unknown directive accepted")
	}
}

func FuzzCSVMapper(f *testing.F) {
	f.Add("node", "alice", "Person", "Alice", "", "", "", "", "")
	f.Add("relationship", "j1", "WORKS_AT", `x"y`, "alice", "acme", "2021-01-01", "2024-01-01", "")
	f.Add("relationship", "", "KNOWS", "\x00", "a", "b", "2021-13-01", "", "{}")
	f.Add("node", "id\nwith newline", "1bad", "é", "", "", "", "", `{"a":1}`)
	f.Add("node", strings.Repeat("x", 300), "L", "", "", "", "", "", `{"a":`)
	f.Fuzz(func(t *testing.T, typ, id, labelOrKind, prop, from, to, vf, vt, pj string) {
		m := CSVMapping{Type: typ, IDCol: "id", PropsCols: []string{"p"}, PropsJSON: "pj", DateFormat: "%Y-%m-%d", Timezone: "UTC"}
		header := []string{"id", "lk", "p", "from", "to", "vf", "vt", "pj"}
		if typ == "node" {
			m.LabelCol = "lk"
		} else {
			m.FromCol, m.ToCol, m.RelTypeCol, m.ValidFrom, m.ValidTo = "from", "to", "lk", "vf", "vt"
		}
		ci, err := m.compile(header)
		if err != nil {
			return
		}
		line, err := m.mapRow(nil, ci, []string{id, labelOrKind, prop, from, to, vf, vt, pj})
		if err != nil {
			return
		}
		// Whatever the cells, a mapped row is one JSON line the server's
		// rules accept, and it carries the cells unchanged.
		if strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("not one line: %q", line)
		}
		var l struct {
			Node *telamentis.NodeInput `json:"node"`
			Edge *telamentis.EdgeInput `json:"edge"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		var props map[string]json.RawMessage
		if l.Node != nil {
			n, err := l.Node.Normalize()
			if err != nil {
				t.Fatalf("server would reject %q: %v", line, err)
			}
			if n.Alias != id || n.Label != labelOrKind {
				t.Fatalf("node changed: %+v", n)
			}
			json.Unmarshal(n.Props, &props)
		} else {
			e, err := l.Edge.Normalize()
			if err != nil {
				t.Fatalf("server would reject %q: %v", line, err)
			}
			if e.Alias != id || e.From.Alias != from || e.To.Alias != to || e.Kind != labelOrKind {
				t.Fatalf("edge changed: %+v", e)
			}
			json.Unmarshal(e.Props, &props)
		}
		var p string
		if err := json.Unmarshal(props["p"], &p); err != nil || p != prop {
			t.Fatalf("prop changed: %q -> %q (%v)", prop, p, err)
		}
	})
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"=1": "'=1", "+1": "'+1", "-1": "'-1", "@x": "'@x", "\tx": "'\tx", "\rx": "'\rx", "＝1": "'＝1",
		"a=1": "a=1", "": "", "ok": "ok", "\xff": "\uFFFD",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCypherQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"a'b":      `'a\'b'`,
		`a\b`:      `'a\\b'`,
		"a\nb\x00": `'a\nb\u0000'`,
		"\u2028":   `'\u2028'`,
	} {
		if got := cypherString(in); got != want {
			t.Errorf("cypherString(%q) = %s, want %s", in, got, want)
		}
	}
	if got := cypherName("a`b\nc"); got != "`a``b\uFFFDc`" {
		t.Errorf("cypherName: %s", got)
	}
}

// TestCSVMapperNames checks that one mapping reused over many rows, as
// ingest does, accepts exactly the labels and kinds ValidIdentifier
// accepts, however often each repeats, and remembers a bounded number.
func TestCSVMapperNames(t *testing.T) {
	for _, typ := range []string{"node", "relationship"} {
		t.Run(typ, func(t *testing.T) {
			m := CSVMapping{Type: typ, IDCol: "id"}
			if typ == "node" {
				m.LabelCol = "lk"
			} else {
				m.FromCol, m.ToCol, m.RelTypeCol = "from", "to", "lk"
			}
			ci, err := m.compile([]string{"id", "lk", "from", "to"})
			if err != nil {
				t.Fatal(err)
			}
			names := []string{"Person", "1bad", "Person", "", "P_2", "a-b", strings.Repeat("A", 64), strings.Repeat("A", 65), "P_2", "1bad"}
			for i := range 3 * maxNames {
				names = append(names, fmt.Sprintf("N%d", i), fmt.Sprintf("%d", i))
			}
			for round := range 2 {
				for i, n := range names {
					_, err := m.mapRow(nil, ci, []string{fmt.Sprint(i), n, "a", "b"})
					if (err == nil) != telamentis.ValidIdentifier(n) {
						t.Fatalf("round %d: %q: err = %v", round, n, err)
					}
				}
			}
			if len(m.names) > maxNames {
				t.Fatalf("%d names remembered", len(m.names))
			}
		})
	}
}
