package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/client"
)

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// seed ingests a small graph with history: people, orgs, jobs with valid
// times (one of them later closed).
func seed(t testing.TB, e env) {
	t.Helper()
	nodes := writeFile(t, "people.csv", "id,name,kind,city\n"+
		"alice,Alice,Person,Paris\n"+
		"bob,Bob,Person,Berlin\n"+
		"acme,Acme,Org,\n"+
		"globex,Globex,Org,\n"+
		"broken,Broken,9bad,\n")
	// A rejected row makes the exit code 5 (the good rows are committed).
	r := kgctl(t, e, "", "ingest", "csv", "--type", "node", "--file", nodes, "--id-col", "id", "--label-col", "kind", "--props-cols", "name,city", "-o", "json")
	var sum ingestTotals
	json.Unmarshal([]byte(r.out), &sum)
	if r.code != exitInvalid || sum.Created != 4 || sum.Rejected != 1 || sum.Rows != 5 ||
		!strings.Contains(r.err, "people.csv:6: label") || !strings.Contains(r.err, "--max-errors 0") {
		t.Fatalf("ingest nodes: exit %d %+v %q", r.code, sum, r.err)
	}
	// Relationships: local dates in Paris time, tab-separated, no header.
	rels := writeFile(t, "jobs.tsv", ""+
		"j1\talice\tacme\tWORKS_AT\t01/01/2021 00:00\t01/01/2024 00:00\n"+
		"j2\talice\tglobex\tWORKS_AT\t01/01/2024 00:00\t\n"+
		"j3\tbob\tacme\tWORKS_AT\t15/06/2022 12:30\tnever\n"+
		"k1\talice\tbob\tKNOWS\t01/01/2020 00:00\t\n"+
		"bad\talice\tnobody\tKNOWS\t01/01/2020 00:00\t\n"+
		"bad2\talice\tbob\tKNOWS\t31/02/2020 00:00\t\n")
	args := []string{"ingest", "csv", "--type", "edge", "--file", rels, "--header=false", "--delimiter", `\t`,
		"--id-col", "0", "--from-col", "1", "--to-col", "2", "--rel-type-col", "3", "--valid-from-col", "4", "--valid-to-col", "5",
		"--date-format", "%d/%m/%Y %H:%M", "--open-value", "never", "--max-errors", "2", "-o", "json"}
	if r := kgctl(t, e, "", args...); r.code != exitUsage || !strings.Contains(r.err, "--timezone") {
		t.Fatalf("zoneless dates without --timezone: exit %d %q", r.code, r.err)
	}
	r = kgctl(t, e, "", append(args, "--timezone", "Europe/Paris")...)
	must(t, r, "ingest relationships")
	json.Unmarshal([]byte(r.out), &sum)
	if sum.Created != 4 || sum.Rejected != 2 || !strings.Contains(r.err, "jobs.tsv:5: edge.to") || !strings.Contains(r.err, "jobs.tsv:6: 4: date") {
		t.Fatalf("ingest relationships: %+v %q", sum, r.err)
	}
	// The same two rejected rows against --max-errors 1: exit 5.
	r = kgctl(t, e, "", append(args, "--timezone", "Europe/Paris", "--max-errors", "1")...)
	json.Unmarshal([]byte(r.out), &sum)
	if r.code != exitInvalid || sum.Rejected != 2 || sum.Unchanged != 4 {
		t.Fatalf("two rejected rows over --max-errors 1: exit %d %+v %q", r.code, sum, r.err)
	}
}

func edgeAliases(t testing.TB, e env, args ...string) []string {
	t.Helper()
	r := run(t, e, append([]string{"query", "edges", "-o", "json", "--all"}, args...)...)
	var p telamentis.Page
	if err := json.Unmarshal([]byte(r.out), &p); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ed := range p.Edges {
		out = append(out, ed.Alias)
	}
	sort.Strings(out)
	return out
}

func TestIngestCSVAsOf(t *testing.T) {
	_, e := newTenant(t, "tenant_admin")
	seed(t, e)
	cases := []struct {
		at   string
		want []string
	}{
		{"2020-06-01T00:00:00Z", []string{"k1"}},
		{"2022-06-15T10:29:00Z", []string{"j1", "k1"}},       // 12:30 Paris is 10:30 UTC
		{"2022-06-15T10:31:00Z", []string{"j1", "j3", "k1"}}, // bob joined
		{"2023-12-31T22:59:00Z", []string{"j1", "j3", "k1"}}, // 2024-01-01 00:00 Paris = 2023-12-31T23:00Z
		{"2023-12-31T23:00:00Z", []string{"j2", "j3", "k1"}}, // alice moved
		{"2030-01-01T00:00:00Z", []string{"j2", "j3", "k1"}}, // "never" is open
	}
	for _, c := range cases {
		if got := edgeAliases(t, e, "--valid-at", c.at); !slices.Equal(got, c.want) {
			t.Errorf("valid at %s: %v, want %v", c.at, got, c.want)
		}
	}
	// Re-ingesting is idempotent; a change updates (and as_at keeps the
	// old belief).
	before := time.Now().UTC().Format(time.RFC3339Nano)
	upd := writeFile(t, "upd.csv", "id,name,kind\nalice,Alice B.,Person\nbob,Bob,Person\n")
	r := run(t, e, "ingest", "csv", "--file", upd, "--id-col", "id", "--label-col", "kind", "--props-cols", "name", "-o", "json")
	var sum ingestTotals
	json.Unmarshal([]byte(r.out), &sum)
	if sum.Updated != 2 || sum.Created != 0 {
		// bob loses his city prop: an update too.
		t.Fatalf("update: %+v", sum)
	}
	r = run(t, e, "get", "node", "alice", "--as-at", before, "-o", "json")
	var n telamentis.Node
	json.Unmarshal([]byte(r.out), &n)
	if !strings.Contains(string(n.Props), `"Alice"`) {
		t.Fatalf("as-at before the update: %s", n.Props)
	}
	r = run(t, e, "get", "node", "alice", "-o", "json")
	json.Unmarshal([]byte(r.out), &n)
	if !strings.Contains(string(n.Props), `"Alice B."`) {
		t.Fatalf("now: %s", n.Props)
	}
	// History, changes, paths and the golden table of a history.
	r = run(t, e, "query", "history", "--node", "alice", "-o", "json")
	var p telamentis.Page
	json.Unmarshal([]byte(r.out), &p)
	if len(p.Nodes) != 2 {
		t.Fatalf("history: %d versions", len(p.Nodes))
	}
	golden(t, "query_history", run(t, e, "query", "history", "--node", "alice").out)
	golden(t, "get_edge_json", run(t, e, "get", "edge", "j1", "-o", "json").out)
	r = run(t, e, "query", "paths", "--start", "alice", "--valid-at", "2025-01-01T00:00:00Z", "--depth", "2", "-o", "json")
	json.Unmarshal([]byte(r.out), &p)
	if len(p.Neighbors) != 3 { // globex, bob (1 hop), acme (via bob)
		t.Fatalf("paths: %s", r.out)
	}
	r = run(t, e, "query", "changes", "--since", before, "-o", "json")
	json.Unmarshal([]byte(r.out), &p)
	if len(p.Changes) != 4 { // two writes, two closes
		t.Fatalf("changes: %s", r.out)
	}
	r = run(t, e, "query", "nodes", "--label", "Org")
	if strings.Count(r.out, "\n") != 3 {
		t.Fatalf("nodes table: %q", r.out)
	}
	r = run(t, e, "query", "nodes", "--prop", "name=Globex", "-o", "json")
	json.Unmarshal([]byte(r.out), &p)
	if len(p.Nodes) != 1 || p.Nodes[0].Alias != "globex" {
		t.Fatalf("prop filter: %s", r.out)
	}
	// --strict stops at the first bad row (exit 5) and keeps earlier rows.
	strict := writeFile(t, "strict.csv", "id,kind\nc1,Thing\nc2,1bad\nc3,Thing\n")
	r = kgctl(t, e, "", "ingest", "csv", "--file", strict, "--id-col", "id", "--label-col", "kind", "--strict", "-o", "json")
	json.Unmarshal([]byte(r.out), &sum)
	if r.code != exitInvalid || sum.Created != 1 || !strings.Contains(r.err, "strict.csv:3") {
		t.Fatalf("strict: exit %d %+v %q", r.code, sum, r.err)
	}
}

// versionKey identifies what a round trip must keep of a node or edge.
func snapshot(t testing.TB, e env) []string {
	t.Helper()
	r := run(t, e, "export", "--format", "jsonl")
	alias := map[string]string{}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
		var l client.ExportLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		if l.Node != nil {
			alias[l.Node.ID] = l.Node.Alias
			out = append(out, "node "+l.Node.Alias+" "+l.Node.Label+" "+string(l.Node.Props))
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
		var l client.ExportLine
		json.Unmarshal([]byte(line), &l)
		if ed := l.Edge; ed != nil {
			out = append(out, "edge "+ed.Alias+" "+alias[ed.From]+" "+ed.Kind+" "+alias[ed.To]+" "+ts(ed.ValidFrom)+" "+ts(ed.ValidTo)+" "+string(ed.Props))
		}
	}
	sort.Strings(out)
	return out
}

func TestExportImportJSONL(t *testing.T) {
	_, a := newTenant(t, "tenant_admin")
	seed(t, a)
	out := filepath.Join(t.TempDir(), "a.jsonl")
	r := run(t, a, "export", "--format", "jsonl", "--output", out)
	if _, err := os.Stat(out + ".partial"); !os.IsNotExist(err) {
		t.Fatal("partial file left behind")
	}
	if !strings.Contains(r.err, "exported 8 records") {
		t.Fatalf("export: %q", r.err)
	}
	_, b := newTenant(t, "tenant_admin")
	r = run(t, b, "ingest", "jsonl", "--file", out, "-o", "json")
	var sum ingestTotals
	json.Unmarshal([]byte(r.out), &sum)
	if sum.Created != 8 || sum.Rejected != 0 {
		t.Fatalf("import: %+v %s", sum, r.err)
	}
	sa, sb := snapshot(t, a), snapshot(t, b)
	if !slices.Equal(sa, sb) || len(sa) != 8 {
		t.Fatalf("round trip differs:\n%s\n---\n%s", strings.Join(sa, "\n"), strings.Join(sb, "\n"))
	}
	// Plain ingest lines too, and bad lines by number.
	lines := writeFile(t, "in.jsonl", `{"node":{"alias":"x","label":"Thing"}}`+"\n\n"+`{"node":{"alias":"y","label":"no good"}}`+"\nnot json\n"+
		`{"edge":{"from":{"alias":"x"},"to":{"alias":"alice"},"kind":"KNOWS"}}`+"\n")
	r = run(t, b, "ingest", "jsonl", "--file", lines, "--max-errors", "2", "-o", "json")
	json.Unmarshal([]byte(r.out), &sum)
	if sum.Created != 2 || sum.Rejected != 2 || !strings.Contains(r.err, "in.jsonl:3: node.label") || !strings.Contains(r.err, "in.jsonl:4: not a JSON object") {
		t.Fatalf("jsonl: %+v %q", sum, r.err)
	}
	// --all-versions keeps every version with its tx times; --as-at the
	// past.
	r = run(t, a, "export", "--format", "csv", "--all-versions")
	if n := strings.Count(r.out, "\r\n"); n != 9 {
		t.Fatalf("all versions csv: %d lines", n)
	}
	r = run(t, a, "export", "--format", "jsonl", "--as-of", "2022-01-01T00:00:00Z", "--include-nodes=false")
	if n := strings.Count(r.out, "\n"); n != 2 { // j1, k1
		t.Fatalf("as-of edges: %d\n%s", n, r.out)
	}
	if r := kgctl(t, a, "", "export", "--format", "graphml", "--all-versions"); r.code != exitUsage {
		t.Fatalf("graphml all versions: exit %d", r.code)
	}
}

// hostile are values an export must carry without breaking its format.
var hostile = []string{
	"=HYPERLINK(\"http://evil\")", "+1+1", "-2", "@SUM(A1)", "\tx", "\rx", "＝1", "a,b\"c\nd",
	"</data></node><node id=\"x\">", "]]><!--", "&amp;&lt;", "\x01\x02\x1b[31m\x7f", "\u2028\u2029", "\uFFFE",
	"' }) DETACH DELETE n //", "\\' RETURN 1 //", "`) MATCH (n) DELETE n //", "é😀",
}

func hostileTenant(t testing.TB) env {
	t.Helper()
	_, e := newTenant(t, "tenant_admin")
	var b bytes.Buffer
	for i, h := range hostile {
		props, _ := json.Marshal(map[string]string{"v": h, h: "key"})
		alias, _ := json.Marshal(strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, h) + string(rune('a'+i)))
		b.WriteString(`{"node":{"alias":` + string(alias) + `,"label":"Hostile","props":` + string(props) + "}}\n")
		if i > 0 {
			prev, _ := json.Marshal(strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return -1
				}
				return r
			}, hostile[i-1]) + string(rune('a'+i-1)))
			b.WriteString(`{"edge":{"from":{"alias":` + string(prev) + `},"to":{"alias":` + string(alias) + `},"kind":"NEXT","props":` + string(props) + "}}\n")
		}
	}
	f := writeFile(t, "hostile.jsonl", b.String())
	r := run(t, e, "ingest", "jsonl", "--file", f, "-o", "json")
	var sum ingestTotals
	json.Unmarshal([]byte(r.out), &sum)
	if sum.Created != 2*len(hostile)-1 {
		t.Fatalf("hostile ingest: %+v %s", sum, r.err)
	}
	return e
}

func TestExportGraphML(t *testing.T) {
	e := hostileTenant(t)
	r := run(t, e, "export", "--format", "graphml")
	dec := xml.NewDecoder(strings.NewReader(r.out))
	nodes, edges, datas := 0, 0, 0
	var texts []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("GraphML is not well formed: %v", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			switch x.Name.Local {
			case "node":
				nodes++
			case "edge":
				edges++
			case "data":
				datas++
			}
		case xml.CharData:
			texts = append(texts, string(x))
		}
	}
	if nodes != len(hostile) || edges != len(hostile)-1 {
		t.Fatalf("GraphML: %d nodes, %d edges", nodes, edges)
	}
	// Markup in values stays text.
	joined := strings.Join(texts, "")
	if !strings.Contains(joined, `</data></node><node id=\"x\">`) || !strings.Contains(joined, "]]><!--") {
		t.Fatal("markup in values was not kept as text")
	}
	for _, c := range []string{"\x01", "\x02", "\x1b", "\uFFFE"} {
		if strings.Contains(r.out, c) {
			t.Fatalf("GraphML holds the forbidden character %q", c)
		}
	}
}

func TestExportCSVHostile(t *testing.T) {
	e := hostileTenant(t)
	r := run(t, e, "export", "--format", "csv")
	rd := csv.NewReader(strings.NewReader(r.out))
	rd.FieldsPerRecord = len(csvHeader)
	recs, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	if len(recs) != 1+2*len(hostile)-1 {
		t.Fatalf("CSV: %d records", len(recs))
	}
	for _, rec := range recs {
		for _, c := range rec {
			if c == "" {
				continue
			}
			switch c[0] {
			case '=', '+', '-', '@', '\t', '\r':
				t.Fatalf("formula cell not neutralised: %q", c)
			}
			if strings.HasPrefix(c, "＝") {
				t.Fatalf("full-width formula cell not neutralised: %q", c)
			}
		}
	}
	// The neutralised alias is still recognisable.
	if !strings.Contains(r.out, `'=HYPERLINK(""http://evil"")a`) {
		t.Fatalf("alias cell: %s", r.out)
	}
}

func TestExportCypher(t *testing.T) {
	e := hostileTenant(t)
	r := run(t, e, "export", "--format", "cypher")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 2*len(hostile)-1 {
		t.Fatalf("cypher: %d statements", len(lines))
	}
	for _, l := range lines {
		// Every statement is one line, and its quotes balance: no literal
		// or name ends early.
		if !strings.HasSuffix(l, ");") {
			t.Fatalf("statement: %q", l)
		}
		if err := scanCypher(l); err != nil {
			t.Fatalf("%v in %q", err, l)
		}
	}
}

// scanCypher walks a statement's string literals and quoted names and
// checks that outside them only the shapes kgctl writes appear.
func scanCypher(s string) error {
	var outside strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			i++
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' {
					i++
				}
				if i < len(s) && s[i] < 0x20 {
					return errors.New("raw control character in a literal")
				}
			}
			if i >= len(s) {
				return errors.New("unterminated literal")
			}
			outside.WriteString("S")
		case '`':
			i++
			for ; i < len(s); i++ {
				if s[i] == '`' {
					if i+1 < len(s) && s[i+1] == '`' {
						i++
						continue
					}
					break
				}
			}
			if i >= len(s) {
				return errors.New("unterminated name")
			}
			outside.WriteString("N")
		default:
			outside.WriteByte(s[i])
		}
	}
	o := outside.String()
	for _, bad := range []string{"DELETE", "RETURN", "//", "DETACH"} {
		if strings.Contains(o, bad) {
			return errors.New("escaped into code: " + o)
		}
	}
	return nil
}

func TestBackupRestore(t *testing.T) {
	tenant, e := newTenant(t, "tenant_admin")
	seed(t, e)
	t1 := time.Now().UTC()
	upd := writeFile(t, "upd.csv", "id,name,kind\nalice,Alice B.,Person\n")
	run(t, e, "ingest", "csv", "--file", upd, "--id-col", "id", "--label-col", "kind", "--props-cols", "name")
	// Bob's job ends after all (a new version of j3).
	end := writeFile(t, "end.csv", "id,from,to,kind,start,end\nj3,bob,acme,WORKS_AT,2022-06-15T10:30:00Z,2023-06-01T00:00:00Z\n")
	run(t, e, "ingest", "csv", "--type", "relationship", "--file", end, "--id-col", "id", "--from-col", "from", "--to-col", "to",
		"--rel-type-col", "kind", "--valid-from-col", "start", "--valid-to-col", "end")
	dir := t.TempDir()
	rcp := run(t, env{}, "backup", "keygen", "--output", filepath.Join(dir, "id.txt")).out
	run(t, env{}, "backup", "keygen", "--output", filepath.Join(dir, "other.txt"))
	if fi, _ := os.Stat(filepath.Join(dir, "id.txt")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity mode %v", fi.Mode())
	}
	bk := filepath.Join(dir, "b.age")
	// The admin key works too: kgctl borrows a temporary tenant_admin key.
	r := run(t, admin(), "--tenant", tenant, "backup", "--recipient", strings.TrimSpace(rcp), "--output", bk)
	if !strings.Contains(r.err, "backed up 10 versions") || !strings.Contains(r.err, "temporary tenant_admin key") {
		t.Fatalf("backup: %q", r.err)
	}
	raw := readAll(t, bk)
	if strings.Contains(raw, "alice") || strings.Contains(raw, "WORKS_AT") {
		t.Fatal("backup is not encrypted")
	}
	// The backup holds every version with its tx times: what the export
	// of all versions says.
	idf, _ := os.Open(filepath.Join(dir, "id.txt"))
	ids, err := age.ParseIdentities(idf)
	idf.Close()
	if err != nil {
		t.Fatal(err)
	}
	fh, _ := os.Open(bk)
	br, hdr, err := openBackup(fh, ids)
	if err != nil || hdr.Tenant.ID != tenant {
		t.Fatalf("open backup: %v %+v", err, hdr)
	}
	body, _ := io.ReadAll(br)
	fh.Close()
	all := run(t, e, "export", "--format", "jsonl", "--all-versions").out
	if !strings.HasPrefix(string(body), all) || !strings.HasSuffix(string(body), `{"kgctl_backup_end":{"versions":10}}`+"\n") {
		t.Fatalf("backup body differs from the export:\n%s\n---\n%s", body, all)
	}
	// A key that sees PII masked may not take a backup that would lose it.
	run(t, admin(), "tenant", "update", tenant, "--pii-fields", "name", "--pii-mode", "mask")
	nopii := keyEnv(t, strings.TrimSpace(run(t, admin(), "--tenant", tenant, "key", "create", "--role", "tenant_admin").out))
	if r := kgctl(t, nopii, "", "backup", "--recipient", strings.TrimSpace(rcp), "--output", bk+".masked"); r.code != exitAuth || !strings.Contains(r.err, "masked") {
		t.Fatalf("masked backup: exit %d %q", r.code, r.err)
	}
	run(t, nopii, "backup", "--recipient", strings.TrimSpace(rcp), "--output", bk+".masked", "--allow-masked-pii")
	// The wrong identity cannot restore.
	r = kgctl(t, admin(), "", "--tenant", tenant+"-r", "restore", "--input", bk, "--identity", filepath.Join(dir, "other.txt"))
	if r.code != exitInvalid || !strings.Contains(r.err, "no identity matches") {
		t.Fatalf("wrong identity: exit %d %q", r.code, r.err)
	}
	if r := kgctl(t, admin(), "", "tenant", "describe", tenant+"-r"); r.code != exitNotFound {
		t.Fatal("a failed restore created the tenant")
	}
	// A truncated backup is refused.
	for _, cut := range []int{40, 70000} {
		fh, _ := os.Open(bk)
		full, _ := io.ReadAll(fh)
		fh.Close()
		if cut > len(full) {
			cut = len(full) / 2
		}
		br, _, err := openBackup(bytes.NewReader(full[:len(full)-cut]), ids)
		if err == nil {
			_, err = copyBackup(br, io.Discard)
		}
		if err == nil {
			t.Fatalf("a backup cut by %d bytes reads as complete", cut)
		}
	}
	br, _, _ = openBackup(bytes.NewReader([]byte(raw)), ids)
	if n, err := copyBackup(br, io.Discard); err != nil || n != 10 {
		t.Fatalf("copy backup: %d %v", n, err)
	}

	// Restore into a new tenant, then the same answers at every (as_at,
	// valid_at) point.
	target := tenant + "-r"
	r = kgctl(t, admin(), "", "--tenant", target, "restore", "--input", bk, "--identity", filepath.Join(dir, "id.txt"))
	must(t, r, "restore")
	var sum client.ImportSummary
	if err := json.Unmarshal([]byte(r.out), &sum); err == nil {
		t.Fatalf("restore printed JSON in table mode: %q", r.out)
	}
	if !strings.Contains(r.out, "node_versions:  5") || !strings.Contains(r.out, "edge_versions:  5") {
		t.Fatalf("restore summary: %q", r.out)
	}
	// A second restore into the same (now not empty) tenant is refused.
	if r := kgctl(t, admin(), "", "--tenant", target, "restore", "--input", bk, "--identity", filepath.Join(dir, "id.txt")); r.code != exitInvalid {
		t.Fatalf("restore into a non-empty tenant: exit %d %q", r.code, r.err)
	}
	kr := run(t, admin(), "--tenant", target, "key", "create", "--role", "tenant_admin", "--pii")
	re := keyEnv(t, strings.TrimSpace(kr.out))
	seen := map[string]bool{}
	for _, asAt := range []time.Time{t1.Add(-time.Hour), t1, time.Now().UTC()} {
		for _, vt := range []string{"2020-06-01T00:00:00Z", "2022-06-15T10:31:00Z", "2023-12-31T23:00:00Z", "2030-01-01T00:00:00Z"} {
			at := asAt.Format(time.RFC3339Nano)
			a, b := edgeAliases(t, e, "--valid-at", vt, "--as-at", at), edgeAliases(t, re, "--valid-at", vt, "--as-at", at)
			if !slices.Equal(a, b) {
				t.Errorf("as_at %s valid_at %s: %v, restored %v", at, vt, a, b)
			}
			seen[strings.Join(a, ",")] = true
		}
		at := asAt.Format(time.RFC3339Nano)
		a := run(t, e, "query", "nodes", "--as-at", at, "-o", "json").out
		seen[a] = true
		b := run(t, re, "query", "nodes", "--as-at", at, "-o", "json").out
		if a != b {
			t.Errorf("nodes as_at %s differ", at)
		}
	}
	// The grid is not trivial: the answers differ from point to point
	// (empty, before and after bob's job ended, before and after alice's
	// update).
	if len(seen) < 7 {
		t.Fatalf("only %d distinct answers over the grid", len(seen))
	}
	// The restored tenant's export is the original's, version for
	// version, transaction times included.
	if a, b := run(t, e, "export", "--all-versions").out, run(t, re, "export", "--all-versions").out; a != b {
		t.Fatalf("exports differ after restore:\n%s\n---\n%s", a, b)
	}
}

func TestIngestProgress(t *testing.T) {
	_, e := newTenant(t, "writer")
	var b strings.Builder
	b.WriteString("id,label\n")
	for i := range 30000 {
		b.WriteString("n" + strings.Repeat("x", i%7) + "-" + time.Duration(i).String() + ",Thing\n")
	}
	f := writeFile(t, "many.csv", b.String())
	args := []string{"ingest", "csv", "--file", f, "--id-col", "id", "--label-col", "label", "--batch-size", "1000", "--progress-interval", "1ms"}
	// Not a terminal: plain lines.
	r := kgctlIO(t, e, &IOStreams{In: strings.NewReader("")}, args...)
	must(t, r, "ingest")
	if !strings.Contains(r.err, "kgctl: "+f+": ") || !strings.Contains(r.err, "rows/s, ETA") || strings.Contains(r.err, "\r") {
		t.Fatalf("plain progress: %q", r.err)
	}
	// A terminal: a bar redrawn in place, cleared at the end.
	r = kgctlIO(t, e, &IOStreams{In: strings.NewReader(""), StderrTTY: true}, args...)
	must(t, r, "ingest")
	if !strings.Contains(r.err, "\r\033[K[") || !strings.Contains(r.err, "rows/s ETA") || !strings.HasSuffix(r.err, "\r\033[K") {
		t.Fatalf("terminal progress: %q", r.err[:min(len(r.err), 300)])
	}
	if !strings.Contains(normalize(r.out), "unchanged:  30000") {
		t.Fatalf("summary: %q", r.out)
	}
}

func TestIngestParallelKeepsOrder(t *testing.T) {
	_, e := newTenant(t, "tenant_admin")
	var b strings.Builder
	b.WriteString("id,label,v\n")
	for round := range 3 {
		for i := range 50 {
			b.WriteString("n" + time.Duration(i).String() + ",Thing," + string(rune('a'+round)) + "\n")
		}
	}
	nodes := writeFile(t, "nodes.csv", b.String())
	// Short requests too: each stream goes on in new requests, in order.
	r := run(t, e, "ingest", "csv", "--file", nodes, "--id-col", "id", "--label-col", "label", "--props-cols", "v",
		"--parallel", "4", "--batch-size", "7", "--max-request-time", "2ms", "-o", "json")
	var sum ingestTotals
	json.Unmarshal([]byte(r.out), &sum)
	if sum.Created != 50 || sum.Updated != 100 {
		t.Fatalf("parallel ingest: %+v", sum)
	}
	// Every node ends with its last row's value, after three versions.
	r = run(t, e, "query", "nodes", "--all", "--limit", "1000", "-o", "json")
	var p telamentis.Page
	json.Unmarshal([]byte(r.out), &p)
	if len(p.Nodes) != 50 {
		t.Fatalf("%d nodes", len(p.Nodes))
	}
	for _, n := range p.Nodes {
		var v map[string]string
		if json.Unmarshal(n.Props, &v) != nil || len(v) != 1 || v["v"] != "c" {
			t.Fatalf("node %s ends with %s", n.Alias, n.Props)
		}
	}
	// Server-side rejections name the right file line from any stream.
	rels := writeFile(t, "rels.csv", "id,from,to\n"+
		"r1,n0s,n1ns\nr2,n0s,missing-1\nr3,n1ns,n2ns\nr4,missing-2,n2ns\nr5,n2ns,n3ns\n")
	r = run(t, e, "ingest", "csv", "--type", "relationship", "--file", rels, "--id-col", "id", "--from-col", "from", "--to-col", "to",
		"--rel-type-val", "NEXT", "--parallel", "3", "--max-request-time", "1ns", "--max-errors", "2", "-o", "json")
	json.Unmarshal([]byte(r.out), &sum)
	if sum.Created != 3 || sum.Rejected != 2 || !strings.Contains(r.err, "rels.csv:3: edge.to") || !strings.Contains(r.err, "rels.csv:5: edge.from") {
		t.Fatalf("parallel rejections: %+v %q", sum, r.err)
	}
	if r := kgctl(t, e, "", "ingest", "csv", "--file", rels, "--parallel", "0", "--id-col", "id", "--label", "X"); r.code != exitUsage {
		t.Fatalf("--parallel 0: exit %d", r.code)
	}
}

// TestIngestSplitsLongStreams: a stream longer than one request goes on in
// the next request only after the previous one committed, so lines may
// refer to nodes sent in an earlier request.
func TestIngestSplitsLongStreams(t *testing.T) {
	_, e := newTenant(t, "writer")
	var b strings.Builder
	for i := range 40 {
		b.WriteString(`{"node":{"alias":"n` + time.Duration(i).String() + `","label":"Thing"}}` + "\n")
		if i > 0 {
			b.WriteString(`{"edge":{"alias":"e` + time.Duration(i).String() + `","from":{"alias":"n` + time.Duration(i-1).String() +
				`"},"to":{"alias":"n` + time.Duration(i).String() + `"},"kind":"NEXT"}}` + "\n")
		}
	}
	b.WriteString(`{"edge":{"from":{"alias":"n0s"},"to":{"alias":"nowhere"},"kind":"NEXT"}}` + "\n")
	f := writeFile(t, "chain.jsonl", b.String())
	r := run(t, e, "ingest", "jsonl", "--file", f, "--batch-size", "3", "--max-request-time", "1ns", "--max-errors", "1", "-o", "json")
	var sum ingestTotals
	json.Unmarshal([]byte(r.out), &sum)
	if sum.Created != 79 || sum.Rejected != 1 || sum.Batches < 20 || !strings.Contains(r.err, "chain.jsonl:80: edge.to") {
		t.Fatalf("split stream: %+v %q", sum, r.err)
	}
}
