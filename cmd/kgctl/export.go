package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/client"
)

// ExportOptions are the options of export.
type ExportOptions struct {
	Format       string
	AsOf         string // valid time
	AsAt         string // transaction time
	AllVersions  bool
	IncludeNodes bool
	IncludeEdges bool
	Output       string
	// PII asks for PII properties unmasked when kgctl borrows a key for a
	// system admin (a tenant key's own permission applies otherwise).
	PII bool
}

func newExportCmd(f *Factory) *cobra.Command {
	var o ExportOptions
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Stream a tenant's graph as GraphML, JSON lines, Cypher or CSV",
		Long: "Exports the versions current at --as-at (transaction time; default now), keeping edges valid at\n" +
			"--as-of (valid time) when given. --all-versions exports every stored version instead (jsonl, csv).\n" +
			"Output is streamed; --output writes FILE.partial and renames it when complete.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return exportRun(cmd.Context(), f, &o) },
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Format, "format", "jsonl", "graphml, jsonl, cypher or csv")
	fl.StringVar(&o.AsOf, "as-of", "", "valid time: keep edges true at this time (RFC 3339)")
	fl.StringVar(&o.AsAt, "as-at", "", "transaction time: the graph as the database knew it then (RFC 3339)")
	fl.BoolVar(&o.AllVersions, "all-versions", false, "every stored version (jsonl and csv only)")
	fl.BoolVar(&o.IncludeNodes, "include-nodes", true, "export nodes")
	fl.BoolVar(&o.IncludeEdges, "include-edges", true, "export edges")
	fl.StringVar(&o.Output, "output", "", "output file (default stdout)")
	fl.BoolVar(&o.PII, "pii", false, "with a system admin key: export PII properties unmasked")
	return cmd
}

// selector decides which versions an export keeps.
type selector struct {
	asAt, asOf  time.Time
	allVersions bool
}

func (s selector) node(n *telamentis.Node) bool {
	if s.allVersions {
		return true
	}
	if s.asAt.IsZero() {
		return n.TxEnd.IsZero()
	}
	return !n.TxStart.After(s.asAt) && (n.TxEnd.IsZero() || s.asAt.Before(n.TxEnd))
}

func (s selector) edge(e *telamentis.Edge) bool {
	if !s.allVersions {
		if s.asAt.IsZero() {
			if !e.TxEnd.IsZero() {
				return false
			}
		} else if e.TxStart.After(s.asAt) || (!e.TxEnd.IsZero() && !s.asAt.Before(e.TxEnd)) {
			return false
		}
	}
	if !s.asOf.IsZero() {
		return !e.ValidFrom.After(s.asOf) && (e.ValidTo.IsZero() || s.asOf.Before(e.ValidTo))
	}
	return true
}

// graphWriter writes one export format.
type graphWriter interface {
	begin(tenant string) error
	node(n *telamentis.Node, raw []byte) error
	edge(e *telamentis.Edge, raw []byte) error
	end() error
}

func newGraphWriter(format string, w *bufio.Writer) (graphWriter, error) {
	switch format {
	case "jsonl":
		return &jsonlWriter{w: w}, nil
	case "graphml":
		return &graphmlWriter{w: w}, nil
	case "cypher":
		return &cypherWriter{w: w}, nil
	case "csv":
		return &csvWriter{w: csv.NewWriter(w)}, nil
	}
	return nil, usagef("--format %q: must be graphml, jsonl, cypher or csv", format)
}

// outputFile opens the export destination: stdout, or path.partial that
// commit renames to path.
type outputFile struct {
	w      io.Writer
	file   *os.File
	path   string
	closed bool
}

func openOutput(f *Factory, path string) (*outputFile, error) {
	if path == "" || path == "-" {
		return &outputFile{w: f.IO.Out}, nil
	}
	fh, err := os.OpenFile(path+".partial", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, usagef("output: %v", err)
	}
	return &outputFile{w: fh, file: fh, path: path}, nil
}

func (o *outputFile) commit() error {
	if o.file == nil {
		return nil
	}
	o.closed = true
	if err := o.file.Sync(); err != nil {
		o.file.Close()
		return err
	}
	if err := o.file.Close(); err != nil {
		return err
	}
	return os.Rename(o.path+".partial", o.path)
}

func (o *outputFile) abort() {
	if o.file == nil || o.closed {
		return
	}
	o.file.Close()
	os.Remove(o.path + ".partial")
}

func exportRun(ctx context.Context, f *Factory, o *ExportOptions) error {
	sel := selector{allVersions: o.AllVersions}
	var err error
	if sel.asAt, err = parseTimeFlag("as-at", o.AsAt); err != nil {
		return err
	}
	if sel.asOf, err = parseTimeFlag("as-of", o.AsOf); err != nil {
		return err
	}
	if o.AllVersions && !sel.asAt.IsZero() {
		return usagef("--all-versions and --as-at exclude each other")
	}
	if o.AllVersions && (o.Format == "graphml" || o.Format == "cypher") {
		return usagef("--all-versions is for jsonl and csv: a graph holds one version of each node")
	}
	if !o.IncludeNodes && !o.IncludeEdges {
		return usagef("nothing to export: --include-nodes=false and --include-edges=false")
	}
	switch o.Format {
	case "graphml", "jsonl", "cypher", "csv":
	default:
		return usagef("--format %q: must be graphml, jsonl, cypher or csv", o.Format)
	}
	tenant, err := f.tenant(ctx)
	if err != nil {
		return err
	}
	cli, cleanup, err := f.tenantAdminClient(ctx, tenant, "export", o.PII)
	if err != nil {
		return err
	}
	defer cleanup()
	out, err := openOutput(f, o.Output)
	if err != nil {
		return err
	}
	defer out.abort()
	start := time.Now()
	n, err := exportTo(ctx, f, cli, tenant, o, sel, out.w)
	if err != nil {
		return err
	}
	if err := out.commit(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	el := time.Since(start).Seconds()
	fmt.Fprintf(f.IO.ErrOut, "kgctl: exported %d records in %.2fs (%.0f records/s)\n", n, el, float64(n)/el)
	return nil
}

var (
	nodePrefix = []byte(`{"node":`)
	edgePrefix = []byte(`{"edge":`)
)

// exportTo streams the tenant's export through the format's writer. Edges
// are spooled to a temporary file while nodes stream, so that every node
// comes before the edges that use it, whatever the versions' order.
func exportTo(ctx context.Context, f *Factory, cli *client.Client, tenant string, o *ExportOptions, sel selector, dst io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(dst, 256<<10)
	gw, err := newGraphWriter(o.Format, bw)
	if err != nil {
		return 0, err
	}
	// A past as_at or an as-of is a snapshot the server selects (nodes,
	// then edges); the current state is selected here from every version,
	// so that "now" is the server's, not this machine's clock. The
	// selector checks every version either way.
	var eo client.ExportOptions
	if !sel.allVersions && (!sel.asAt.IsZero() || !sel.asOf.IsZero()) {
		eo = client.ExportOptions{AsAt: sel.asAt, ValidAt: sel.asOf, NodesOnly: !o.IncludeEdges, EdgesOnly: !o.IncludeNodes}
	}
	st, err := cli.Export(ctx, tenant, eo)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var count atomic.Int64
	stop := startProgress(f, &IngestOptions{}, "export", -1, nil, &count, &sync.Mutex{})
	defer stop()
	if err := gw.begin(tenant); err != nil {
		return 0, err
	}
	// JSON lines are copied as the server wrote them: only the times that
	// select a version are decoded.
	full := o.Format != "jsonl"
	raw := o.Format == "jsonl" && o.AllVersions && o.IncludeNodes && o.IncludeEdges && sel.asOf.IsZero()
	var spool *os.File
	var spoolW *bufio.Writer
	var written map[string]struct{} // ids of the nodes already written
	if o.IncludeNodes && o.IncludeEdges && !raw {
		spool, err = os.CreateTemp("", "kgctl-export-*.jsonl")
		if err != nil {
			return 0, fmt.Errorf("export: spool: %w", err)
		}
		defer func() { spool.Close(); os.Remove(spool.Name()) }()
		spoolW = bufio.NewWriterSize(spool, 256<<10)
		written = map[string]struct{}{}
	}
	for {
		line, err := st.NextRaw()
		if err == io.EOF {
			break
		}
		if err != nil {
			return count.Load(), err
		}
		if raw {
			bw.Write(line)
			if err := bw.WriteByte('\n'); err != nil {
				return count.Load(), err
			}
			count.Add(1)
			continue
		}
		switch {
		case bytes.HasPrefix(line, nodePrefix):
			if !o.IncludeNodes {
				continue
			}
			l, err := decodeLine(line, full)
			if err != nil || l.Node == nil {
				return count.Load(), fmt.Errorf("export: bad line from the server")
			}
			if !sel.node(l.Node) {
				continue
			}
			if err := gw.node(l.Node, line); err != nil {
				return count.Load(), err
			}
			if written != nil {
				if id := fieldAfter(line, nodeIDKey); id != nil {
					written[string(id)] = struct{}{}
				}
			}
			count.Add(1)
		case bytes.HasPrefix(line, edgePrefix):
			if !o.IncludeEdges {
				continue
			}
			l, err := decodeLine(line, full)
			if err != nil || l.Edge == nil {
				return count.Load(), fmt.Errorf("export: bad line from the server")
			}
			if !sel.edge(l.Edge) {
				continue
			}
			if spoolW != nil && !endpointsWritten(written, line) {
				spoolW.Write(line)
				if err := spoolW.WriteByte('\n'); err != nil {
					return count.Load(), fmt.Errorf("export: spool: %w", err)
				}
				continue
			}
			if err := gw.edge(l.Edge, line); err != nil {
				return count.Load(), err
			}
			count.Add(1)
		default:
			return count.Load(), fmt.Errorf("export: unexpected line from the server")
		}
	}
	if spoolW != nil {
		if err := spoolW.Flush(); err != nil {
			return count.Load(), fmt.Errorf("export: spool: %w", err)
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return count.Load(), err
		}
		br := bufio.NewReaderSize(spool, 256<<10)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 1 {
				line = line[:len(line)-1]
				l, err := decodeLine(line, full)
				if err != nil || l.Edge == nil {
					return count.Load(), fmt.Errorf("export: spool: bad line")
				}
				if err := gw.edge(l.Edge, line); err != nil {
					return count.Load(), err
				}
				count.Add(1)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return count.Load(), err
			}
		}
	}
	if err := gw.end(); err != nil {
		return count.Load(), err
	}
	return count.Load(), bw.Flush()
}

// exportAllVersions writes every stored version of tenant, as the server's
// export lines, to path; it returns how many.
func exportAllVersions(ctx context.Context, f *Factory, tenant, path string) (int64, error) {
	cli, cleanup, err := f.tenantAdminClient(ctx, tenant, "export-first", true)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	out, err := openOutput(f, path)
	if err != nil {
		return 0, err
	}
	defer out.abort()
	n, err := exportTo(ctx, f, cli, tenant, &ExportOptions{Format: "jsonl", AllVersions: true, IncludeNodes: true, IncludeEdges: true},
		selector{allVersions: true}, out.w)
	if err != nil {
		return n, err
	}
	return n, out.commit()
}

// jsonlWriter writes the server's export lines unchanged.
type jsonlWriter struct{ w *bufio.Writer }

func (j *jsonlWriter) begin(string) error { return nil }
func (j *jsonlWriter) node(_ *telamentis.Node, raw []byte) error {
	j.w.Write(raw)
	return j.w.WriteByte('\n')
}
func (j *jsonlWriter) edge(_ *telamentis.Edge, raw []byte) error {
	j.w.Write(raw)
	return j.w.WriteByte('\n')
}
func (j *jsonlWriter) end() error { return nil }

// graphmlWriter writes GraphML. Every text and attribute goes through
// xmlText, which escapes markup and replaces characters XML 1.0 forbids.
type graphmlWriter struct{ w *bufio.Writer }

var graphmlKeys = [][3]string{
	{"n_label", "node", "label"}, {"n_alias", "node", "alias"}, {"n_props", "node", "props"},
	{"n_tx_start", "node", "tx_start"}, {"n_tx_end", "node", "tx_end"},
	{"e_kind", "edge", "kind"}, {"e_alias", "edge", "alias"}, {"e_props", "edge", "props"},
	{"e_valid_from", "edge", "valid_from"}, {"e_valid_to", "edge", "valid_to"},
	{"e_tx_start", "edge", "tx_start"}, {"e_tx_end", "edge", "tx_end"},
}

func (g *graphmlWriter) begin(tenant string) error {
	g.w.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` +
		`xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">` + "\n")
	for _, k := range graphmlKeys {
		fmt.Fprintf(g.w, `  <key id="%s" for="%s" attr.name="%s" attr.type="string"/>`+"\n", k[0], k[1], k[2])
	}
	g.w.WriteString(`  <graph id="`)
	xmlText(g.w, tenant)
	_, err := g.w.WriteString(`" edgedefault="directed">` + "\n")
	return err
}

func (g *graphmlWriter) data(key, v string) {
	if v == "" {
		return
	}
	g.w.WriteString(`      <data key="` + key + `">`)
	xmlText(g.w, v)
	g.w.WriteString("</data>\n")
}

func (g *graphmlWriter) node(n *telamentis.Node, _ []byte) error {
	g.w.WriteString(`    <node id="`)
	xmlText(g.w, n.ID)
	g.w.WriteString("\">\n")
	g.data("n_label", n.Label)
	g.data("n_alias", n.Alias)
	g.data("n_props", string(n.Props))
	g.data("n_tx_start", tsOrEmpty(n.TxStart))
	g.data("n_tx_end", tsOrEmpty(n.TxEnd))
	_, err := g.w.WriteString("    </node>\n")
	return err
}

func (g *graphmlWriter) edge(e *telamentis.Edge, _ []byte) error {
	g.w.WriteString(`    <edge id="`)
	xmlText(g.w, e.ID)
	g.w.WriteString(`" source="`)
	xmlText(g.w, e.From)
	g.w.WriteString(`" target="`)
	xmlText(g.w, e.To)
	g.w.WriteString("\">\n")
	g.data("e_kind", e.Kind)
	g.data("e_alias", e.Alias)
	g.data("e_props", string(e.Props))
	g.data("e_valid_from", tsOrEmpty(e.ValidFrom))
	g.data("e_valid_to", tsOrEmpty(e.ValidTo))
	g.data("e_tx_start", tsOrEmpty(e.TxStart))
	g.data("e_tx_end", tsOrEmpty(e.TxEnd))
	_, err := g.w.WriteString("    </edge>\n")
	return err
}

func (g *graphmlWriter) end() error {
	_, err := g.w.WriteString("  </graph>\n</graphml>\n")
	return err
}

// xmlText writes s escaped for XML text and attribute values: markup
// characters and whitespace controls become character references and
// characters XML 1.0 forbids (C0 controls other than tab/LF/CR, U+FFFE,
// U+FFFF, lone surrogates, invalid UTF-8) become U+FFFD.
func xmlText(w *bufio.Writer, s string) {
	xml.EscapeText(w, []byte(s))
}

func tsOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// cypherWriter writes Cypher CREATE statements. Labels, kinds and property
// keys are backtick-quoted (backticks doubled); strings are single-quoted
// with every quote, backslash and control character escaped.
type cypherWriter struct{ w *bufio.Writer }

func (c *cypherWriter) begin(string) error { return nil }

func (c *cypherWriter) node(n *telamentis.Node, _ []byte) error {
	c.w.WriteString("CREATE (:")
	c.w.WriteString(cypherName(n.Label))
	c.w.WriteString(" {`_id`: ")
	c.w.WriteString(cypherString(n.ID))
	if n.Alias != "" {
		c.w.WriteString(", `_alias`: ")
		c.w.WriteString(cypherString(n.Alias))
	}
	if err := c.props(n.Props); err != nil {
		return err
	}
	_, err := c.w.WriteString("});\n")
	return err
}

func (c *cypherWriter) edge(e *telamentis.Edge, _ []byte) error {
	c.w.WriteString("MATCH (a {`_id`: ")
	c.w.WriteString(cypherString(e.From))
	c.w.WriteString("}), (b {`_id`: ")
	c.w.WriteString(cypherString(e.To))
	c.w.WriteString("}) CREATE (a)-[:")
	c.w.WriteString(cypherName(e.Kind))
	c.w.WriteString(" {`_id`: ")
	c.w.WriteString(cypherString(e.ID))
	if e.Alias != "" {
		c.w.WriteString(", `_alias`: ")
		c.w.WriteString(cypherString(e.Alias))
	}
	c.w.WriteString(", `_valid_from`: ")
	c.w.WriteString(cypherString(tsOrEmpty(e.ValidFrom)))
	if !e.ValidTo.IsZero() {
		c.w.WriteString(", `_valid_to`: ")
		c.w.WriteString(cypherString(tsOrEmpty(e.ValidTo)))
	}
	if err := c.props(e.Props); err != nil {
		return err
	}
	_, err := c.w.WriteString("}]->(b);\n")
	return err
}

func (c *cypherWriter) end() error { return nil }

func (c *cypherWriter) props(p json.RawMessage) error {
	if len(p) == 0 || string(p) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("export: props: %w", err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := cypherValue(m[k], true)
		if v == "" {
			continue
		}
		c.w.WriteString(", ")
		c.w.WriteString(cypherName(k))
		c.w.WriteString(": ")
		c.w.WriteString(v)
	}
	return nil
}

// cypherValue renders a JSON value as a Cypher literal. Property values
// may be primitives or lists of primitives; maps and nested lists are
// stored as their JSON text. Null is dropped ("").
func cypherValue(v any, top bool) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		if x {
			return "true"
		}
		return "false"
	case json.Number:
		return x.String()
	case string:
		return cypherString(x)
	case []any:
		if top {
			parts := make([]string, 0, len(x))
			ok := true
			for _, e := range x {
				switch e.(type) {
				case bool, json.Number, string:
					parts = append(parts, cypherValue(e, false))
				default:
					ok = false
				}
			}
			if ok {
				return "[" + strings.Join(parts, ", ") + "]"
			}
		}
	}
	b, _ := json.Marshal(v)
	return cypherString(string(b))
}

// cypherString quotes s as a Cypher string literal.
func cypherString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 {
				fmt.Fprintf(&b, `\u%04x`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// cypherName backtick-quotes a label, kind or property key. Backticks are
// doubled; control characters (which a quoted name cannot escape) become
// U+FFFD.
func cypherName(s string) string {
	var b strings.Builder
	b.WriteByte('`')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '`':
			b.WriteString("``")
		case r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('`')
	return b.String()
}

// csvWriter writes RFC 4180 CSV (CRLF line ends, quoted as needed) with
// one row per version. Cells that a spreadsheet would read as a formula
// are neutralised with a leading apostrophe.
type csvWriter struct{ w *csv.Writer }

var csvHeader = []string{"type", "id", "alias", "label_or_kind", "from", "to", "valid_from", "valid_to", "tx_start", "tx_end", "props"}

func (c *csvWriter) begin(string) error {
	c.w.UseCRLF = true
	return c.w.Write(csvHeader)
}

func (c *csvWriter) row(cells []string) error {
	for i, s := range cells {
		cells[i] = csvSafe(s)
	}
	return c.w.Write(cells)
}

func (c *csvWriter) node(n *telamentis.Node, _ []byte) error {
	return c.row([]string{"node", n.ID, n.Alias, n.Label, "", "", "", "", tsOrEmpty(n.TxStart), tsOrEmpty(n.TxEnd), string(n.Props)})
}

func (c *csvWriter) edge(e *telamentis.Edge, _ []byte) error {
	return c.row([]string{"edge", e.ID, e.Alias, e.Kind, e.From, e.To, tsOrEmpty(e.ValidFrom), tsOrEmpty(e.ValidTo),
		tsOrEmpty(e.TxStart), tsOrEmpty(e.TxEnd), string(e.Props)})
}

func (c *csvWriter) end() error {
	c.w.Flush()
	return c.w.Error()
}

// csvSafe neutralises spreadsheet formula injection (OWASP): a cell that
// starts with = + - @, a tab or a carriage return (or their full-width
// forms) gets a leading apostrophe. Invalid UTF-8 becomes U+FFFD.
func csvSafe(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if s == "" {
		return s
	}
	r, _ := utf8.DecodeRuneInString(s)
	switch r {
	case '=', '+', '-', '@', '\t', '\r', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20':
		return "'" + s
	}
	return s
}

// versionTimes are the fields of an export line that select it.
type versionTimes struct {
	ValidFrom time.Time `json:"valid_from"`
	ValidTo   time.Time `json:"valid_to"`
	TxStart   time.Time `json:"tx_start"`
	TxEnd     time.Time `json:"tx_end"`
}

var (
	txStartKey   = []byte(`,"tx_start":"`)
	validFromKey = []byte(`,"valid_from":"`)
)

// decodeLine decodes an export line: fully, or (full false) only its
// times. The server writes a version's fields in a fixed order with the
// times after props ({"node":{…,"props":{…},"tx_start":…,"tx_end":…}},
// edges with valid_from and valid_to before tx_start), so the last
// `,"tx_start":"` (or `,"valid_from":"`) of the line starts the real
// times whatever props hold; a line that does not fit is decoded fully.
func decodeLine(line []byte, full bool) (client.ExportLine, error) {
	var l client.ExportLine
	if !full {
		isEdge := bytes.HasPrefix(line, edgePrefix)
		key := txStartKey
		if isEdge {
			key = validFromKey
		}
		if i := bytes.LastIndex(line, key); i > 0 && bytes.HasSuffix(line, []byte("}}")) {
			if vt, ok := tailTimes(line[i:]); ok {
				if isEdge {
					l.Edge = &telamentis.Edge{ValidFrom: vt.ValidFrom, ValidTo: vt.ValidTo, TxStart: vt.TxStart, TxEnd: vt.TxEnd}
				} else {
					l.Node = &telamentis.Node{TxStart: vt.TxStart, TxEnd: vt.TxEnd}
				}
				return l, nil
			}
		}
	}
	err := json.Unmarshal(line, &l)
	return l, err
}

var (
	nodeIDKey = []byte(`{"node":{"id":"`)
	fromKey   = []byte(`,"from":"`)
	toKey     = []byte(`,"to":"`)
)

// fieldAfter returns the string value that follows the first occurrence
// of key (which ends with its opening quote), or nil. The fields it reads
// (id, from, to) come before props and cannot hold an unescaped quote, so
// the first occurrence is the real one.
func fieldAfter(line, key []byte) []byte {
	i := bytes.Index(line, key)
	if i < 0 {
		return nil
	}
	v := line[i+len(key):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return nil
	}
	return v[:j]
}

// endpointsWritten reports whether both endpoints of an edge line were
// already written, so that the edge may follow at once.
func endpointsWritten(written map[string]struct{}, line []byte) bool {
	from, to := fieldAfter(line, fromKey), fieldAfter(line, toKey)
	if from == nil || to == nil {
		return false
	}
	_, a := written[string(from)]
	_, b := written[string(to)]
	return a && b
}

var timeKeys = [][]byte{[]byte(`"valid_from":"`), []byte(`"valid_to":"`), []byte(`"tx_start":"`), []byte(`"tx_end":"`)}

// tailTimes reads the times of the tail of an export line
// (,"valid_from":"…","valid_to":"…","tx_start":"…","tx_end":"…"}}).
func tailTimes(tail []byte) (versionTimes, bool) {
	var vt versionTimes
	dst := []*time.Time{&vt.ValidFrom, &vt.ValidTo, &vt.TxStart, &vt.TxEnd}
	for k, key := range timeKeys {
		v := fieldAfter(tail, key)
		if v == nil {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, string(v))
		if err != nil {
			return vt, false
		}
		*dst[k] = t
	}
	return vt, !vt.TxStart.IsZero()
}
