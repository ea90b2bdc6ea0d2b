package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/client"
)

// IngestOptions are the options of ingest csv and ingest jsonl.
type IngestOptions struct {
	Format    string // csv or jsonl
	Files     []string
	Delimiter string
	Header    bool
	Mapping   CSVMapping
	Strict    bool
	// MaxErrors is how many rejected rows still let ingest exit 0.
	MaxErrors int
	BatchSize int
	// Progress forces progress output on (true) or off (false); nil =
	// a bar when stderr is a terminal, periodic lines otherwise.
	Progress *bool
	Interval time.Duration
	// Parallel is how many ingest streams a CSV file is spread over.
	Parallel int
	// MaxRequestTime bounds one ingest request (default 20s): a longer
	// stream continues in a new request.
	MaxRequestTime time.Duration
}

// ingestTotals is the summary kgctl prints.
type ingestTotals struct {
	Files     int `json:"files"`
	Rows      int `json:"rows"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Rejected  int `json:"rejected"`
	Batches   int `json:"batches"`
	// Aborted names why a stream stopped early.
	Aborted string  `json:"aborted,omitempty"`
	Seconds float64 `json:"seconds"`
}

func newIngestCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "ingest", Short: "Stream nodes and edges into a tenant (CSV or NDJSON)"}
	var o IngestOptions
	csvCmd := &cobra.Command{
		Use:   "csv",
		Short: "Ingest CSV files with a column mapping",
		Long: "Each row becomes a node (--type node) or an edge (--type edge; relationship is the same). Columns\n" +
			"are named by header name or 0-based index. Nodes and edges are keyed by --id-col (their alias):\n" +
			"ingesting a row again updates it. Edge endpoints are node aliases. Dates are RFC 3339\n" +
			"unless --date-format (strftime: %Y-%m-%d %H:%M:%S%z …); dates without a zone need --timezone.\n" +
			"Bad rows are reported with file and line; the rest carries on unless --strict. Rejected rows\n" +
			"make kgctl exit 5 after the rest is committed, unless --max-errors allows that many.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Format = "csv"
			return ingestRun(cmd.Context(), f, &o)
		},
	}
	fl := csvCmd.Flags()
	m := &o.Mapping
	fl.StringVar(&m.Type, "type", "node", "node or edge (relationship is the same as edge)")
	fl.StringVar(&o.Delimiter, "delimiter", ",", `field delimiter (one character; "\t" for tab)`)
	fl.BoolVar(&o.Header, "header", true, "the first row is a header")
	fl.StringVar(&m.IDCol, "id-col", "", "column with the node/edge alias (its key)")
	fl.StringVar(&m.Label, "label", "", "label of every node")
	fl.StringVar(&m.LabelCol, "label-col", "", "column with the node label")
	fl.StringSliceVar(&m.PropsCols, "props-cols", nil, "columns stored as string props (comma-separated or repeated)")
	fl.StringVar(&m.PropsJSON, "props-json-col", "", "column holding a JSON object of props")
	fl.StringVar(&m.FromCol, "from-col", "", "column with the source node alias")
	fl.StringVar(&m.ToCol, "to-col", "", "column with the target node alias")
	fl.StringVar(&m.RelTypeVal, "rel-type-val", "", "kind of every edge")
	fl.StringVar(&m.RelTypeCol, "rel-type-col", "", "column with the edge kind")
	fl.StringVar(&m.ValidFrom, "valid-from-col", "", "column with the start of valid time")
	fl.StringVar(&m.ValidTo, "valid-to-col", "", "column with the end of valid time (empty = still true)")
	fl.StringArrayVar(&m.OpenValues, "open-value", nil, "a valid-to value meaning 'still true' (e.g. 9999-12-31)")
	fl.StringVar(&m.DateFormat, "date-format", "", "strftime-style date format (default RFC 3339)")
	fl.StringVar(&m.Timezone, "timezone", "", "zone of dates without one (IANA name, e.g. UTC)")
	fl.IntVar(&o.Parallel, "parallel", 2, "concurrent ingest streams; rows are spread by id, so one id's rows keep their order (1-16)")
	jsonlCmd := &cobra.Command{
		Use:   "jsonl",
		Short: "Ingest NDJSON: ingest lines {\"node\":…}/{\"edge\":…} or the lines of kgctl export --format jsonl",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Format = "jsonl"
			return ingestRun(cmd.Context(), f, &o)
		},
	}
	for _, c := range []*cobra.Command{csvCmd, jsonlCmd} {
		c.Flags().StringArrayVar(&o.Files, "file", nil, "input file (repeatable; - = stdin)")
		c.Flags().BoolVar(&o.Strict, "strict", false, "stop at the first bad row and exit 5")
		c.Flags().IntVar(&o.MaxErrors, "max-errors", 0, "rejected rows that still exit 0 (more exit 5; the good rows are committed either way)")
		c.Flags().IntVar(&o.BatchSize, "batch-size", 5000, "rows per atomic server batch (1-10000)")
		c.Flags().DurationVar(&o.Interval, "progress-interval", 0, "progress update interval (default 250ms on a terminal, 5s otherwise)")
		_ = c.Flags().MarkHidden("progress-interval")
		c.Flags().DurationVar(&o.MaxRequestTime, "max-request-time", 0, "longest one ingest request may stream before kgctl starts the next (default 20s)")
		_ = c.Flags().MarkHidden("max-request-time")
		_ = c.MarkFlagRequired("file")
	}
	cmd.AddCommand(csvCmd, jsonlCmd)
	return cmd
}

func parseDelimiter(d string) (rune, error) {
	switch d {
	case `\t`, "tab":
		return '\t', nil
	}
	r, n := utf8.DecodeRuneInString(d)
	if n == 0 || n != len(d) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
		return 0, usagef("--delimiter %q: must be one character other than a quote or line break", d)
	}
	return r, nil
}

func ingestRun(ctx context.Context, f *Factory, o *IngestOptions) error {
	if len(o.Files) == 0 {
		return usagef("give at least one --file")
	}
	if o.Format == "csv" && (o.Parallel < 1 || o.Parallel > 16) {
		return usagef("--parallel: must be 1 to 16")
	}
	if o.BatchSize < 1 || o.BatchSize > 10000 {
		return usagef("--batch-size: must be 1 to 10000")
	}
	if o.MaxErrors < 0 {
		return usagef("--max-errors: must not be negative")
	}
	if o.Strict && o.MaxErrors > 0 {
		return usagef("--strict stops at the first bad row: it does not go with --max-errors")
	}
	var comma rune
	if o.Format == "csv" {
		var err error
		if comma, err = parseDelimiter(o.Delimiter); err != nil {
			return err
		}
		// Check the mapping before anything is sent (header-independent
		// parts; column names are checked per file).
		if err := o.Mapping.checkType(); err != nil {
			return err
		}
		if _, err := newDateParser(o.Mapping.DateFormat, nil); err != nil {
			return usagef("--date-format: %v", err)
		}
		if !o.Header {
			m := o.Mapping
			if _, err := m.compile(nil); err != nil {
				return err
			}
		}
	}
	tenant, cli, err := f.scope(ctx, false)
	if err != nil {
		return err
	}
	start := time.Now()
	var tot ingestTotals
	var firstErr error
	for _, file := range o.Files {
		sum, err := ingestFile(ctx, f, cli, tenant, o, file, comma)
		tot.Files++
		tot.Rows += sum.rows
		tot.Created += sum.Created
		tot.Updated += sum.Updated
		tot.Unchanged += sum.Unchanged
		tot.Rejected += sum.Rejected + sum.clientRejected
		tot.Batches += sum.Batches
		if sum.Aborted != "" && tot.Aborted == "" {
			tot.Aborted = file + ": " + sum.Aborted
		}
		if err != nil {
			firstErr = err
			break
		}
		if o.Strict && (sum.Rejected+sum.clientRejected > 0 || sum.Aborted != "") {
			break
		}
	}
	tot.Seconds = time.Since(start).Seconds()
	var ue *usageError
	if errors.As(firstErr, &ue) && tot.Rows == 0 {
		return firstErr
	}
	if perr := printOne(f, tot, func() [][2]string {
		rate := 0.0
		if tot.Seconds > 0 {
			rate = float64(tot.Rows) / tot.Seconds
		}
		r := [][2]string{{"files", strconv.Itoa(tot.Files)}, {"rows", strconv.Itoa(tot.Rows)},
			{"created", strconv.Itoa(tot.Created)}, {"updated", strconv.Itoa(tot.Updated)},
			{"unchanged", strconv.Itoa(tot.Unchanged)}, {"rejected", strconv.Itoa(tot.Rejected)},
			{"batches", strconv.Itoa(tot.Batches)}, {"seconds", strconv.FormatFloat(tot.Seconds, 'f', 2, 64)},
			{"rows_per_second", strconv.FormatFloat(rate, 'f', 0, 64)}}
		if tot.Aborted != "" {
			r = append(r, [2]string{"aborted", tot.Aborted})
		}
		return r
	}); perr != nil && firstErr == nil {
		firstErr = perr
	}
	if firstErr != nil {
		return firstErr
	}
	if tot.Aborted != "" {
		return &silentError{code: exitError}
	}
	if o.Strict && tot.Rejected > 0 {
		return &silentError{code: exitInvalid}
	}
	if tot.Rejected > o.MaxErrors {
		fmt.Fprintf(f.IO.ErrOut, "kgctl: %d rejected row(s), more than --max-errors %d allows; the other rows were committed\n", tot.Rejected, o.MaxErrors)
		return &silentError{code: exitInvalid}
	}
	return nil
}

// fileSummary is one file's server summary plus client-side counts.
type fileSummary struct {
	client.IngestSummary
	rows           int
	clientRejected int
}

// countingReader counts bytes read, for progress.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

var errStrict = errors.New("stopped at the first bad row (--strict)")

func ingestFile(ctx context.Context, f *Factory, cli *client.Client, tenant string, o *IngestOptions, file string, comma rune) (fileSummary, error) {
	var sum fileSummary
	var in io.Reader
	var size int64 = -1
	if file == "-" {
		in = f.IO.In
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return sum, usagef("%v", err)
		}
		defer fh.Close()
		if fi, err := fh.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		in = fh
	}
	cr := &countingReader{r: in}
	var rows atomic.Int64
	var mu sync.Mutex // guards stderr writes between the producer and the progress
	report := func(line int, msg string) {
		mu.Lock()
		fmt.Fprintf(f.IO.ErrOut, "%s:%d: %s\n", file, line, cell(msg))
		mu.Unlock()
	}
	// Rows go to n streams by their id, so that the versions of one node
	// or edge keep their order. NDJSON lines may refer to nodes earlier in
	// the stream: one stream.
	n := o.Parallel
	if n < 1 || o.Format != "csv" {
		n = 1
	}
	maxAge := o.MaxRequestTime
	if maxAge == 0 {
		maxAge = 20 * time.Second
	}
	fan := newFanout(n, maxAge, func(body io.Reader) (client.IngestSummary, error) {
		return cli.Ingest(ctx, tenant, body, o.BatchSize)
	})
	prodErr := make(chan error, 1)
	go func() {
		var err error
		if o.Format == "csv" {
			err = produceCSV(cr, fan.emit, o, comma, &rows, &sum.clientRejected, report)
		} else {
			err = produceJSONL(cr, fan.emit, o, &rows, &sum.clientRejected, report)
		}
		fan.close(err)
		prodErr <- err
	}()
	stop := startProgress(f, o, file, size, cr, &rows, &mu)
	perr := <-prodErr
	fan.wait()
	stop()
	sum.rows = int(rows.Load())
	var err error
	for _, seg := range fan.all {
		res := seg.res
		if err == nil && seg.err != nil && !errors.Is(seg.err, errClosedByPeer) {
			err = seg.err
		}
		sum.Lines += res.Lines
		sum.Created += res.Created
		sum.Updated += res.Updated
		sum.Unchanged += res.Unchanged
		sum.Rejected += res.Rejected
		sum.Batches += res.Batches
		if res.Aborted != "" && sum.Aborted == "" {
			sum.Aborted = res.Aborted
		}
		for _, e := range res.Errors {
			line := e.Line
			if e.Line >= 1 && e.Line <= len(seg.lineOf) {
				line = int(seg.lineOf[e.Line-1])
			}
			msg := e.Message
			if e.Field != "" {
				msg = e.Field + ": " + msg
			}
			report(line, msg)
		}
		if res.ErrorsTruncated {
			fmt.Fprintf(f.IO.ErrOut, "%s: more rejected rows than the server lists\n", file)
		}
	}
	if errors.Is(perr, errAborted) {
		perr = nil
	}
	if perr != nil && !errors.Is(perr, errStrict) {
		var ue *usageError
		if errors.As(perr, &ue) {
			return sum, perr
		}
		if err == nil {
			return sum, fmt.Errorf("%s: %w", file, perr)
		}
	}
	return sum, err
}

// segment is one ingest request: the body being written and, once it
// has finished, the server's answer.
type segment struct {
	pw     *io.PipeWriter
	w      *bufio.Writer
	lineOf []int32 // lineOf[i]: the input line of the request's line i+1
	start  time.Time
	done   chan struct{}
	res    client.IngestSummary
	err    error
}

// fanout spreads NDJSON lines over n concurrent ingest streams by key, and
// splits each stream into requests of at most maxAge (the server bounds
// how long one request body may take to arrive). A stream's next request
// starts when its previous one has committed, so lines may refer to
// earlier ones.
type fanout struct {
	send   func(io.Reader) (client.IngestSummary, error)
	maxAge time.Duration
	cur    []*segment
	all    []*segment
	next   int
}

var (
	// errAborted stops the producer when a finished request reports that
	// the server stopped the stream (quota, store failure).
	errAborted = errors.New("the server stopped the ingest")
	// errClosedByPeer closes the other streams' bodies after a failure.
	errClosedByPeer = errors.New("another stream failed")
)

func newFanout(n int, maxAge time.Duration, send func(io.Reader) (client.IngestSummary, error)) *fanout {
	f := &fanout{send: send, maxAge: maxAge, cur: make([]*segment, n)}
	for k := range n {
		f.open(k)
	}
	return f
}

func (f *fanout) open(k int) {
	pr, pw := io.Pipe()
	s := &segment{pw: pw, w: bufio.NewWriterSize(pw, 256<<10), start: time.Now(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.res, s.err = f.send(pr)
		pr.CloseWithError(errors.New("ingest finished"))
	}()
	f.cur[k] = s
	f.all = append(f.all, s)
}

// emit sends one line, read at input line src, to the stream of key (any
// stream, in turn, for an empty key).
func (f *fanout) emit(key string, line []byte, src int) error {
	k := 0
	if n := len(f.cur); n > 1 {
		if key == "" {
			k, f.next = f.next, (f.next+1)%n
		} else {
			h := uint32(2166136261) // FNV-1a
			for i := 0; i < len(key); i++ {
				h = (h ^ uint32(key[i])) * 16777619
			}
			k = int(h % uint32(n))
		}
	}
	s := f.cur[k]
	if f.maxAge > 0 && len(s.lineOf) > 0 && time.Since(s.start) > f.maxAge {
		if err := s.w.Flush(); err != nil {
			return err
		}
		s.pw.Close()
		<-s.done
		if s.err != nil {
			return s.err
		}
		if s.res.Aborted != "" {
			return errAborted
		}
		f.open(k)
		s = f.cur[k]
	}
	s.lineOf = append(s.lineOf, int32(src))
	_, err := s.w.Write(line)
	return err
}

// close ends the open requests: cleanly when err is nil, errStrict or
// errAborted (what was sent is committed), with an error otherwise (the
// requests fail).
func (f *fanout) close(err error) {
	for _, s := range f.cur {
		ferr := s.w.Flush()
		switch {
		case err == nil && ferr == nil, errors.Is(err, errStrict), errors.Is(err, errAborted):
			s.pw.Close()
		case err != nil:
			s.pw.CloseWithError(errClosedByPeer)
		default:
			s.pw.CloseWithError(ferr)
		}
	}
}

// wait waits for every request to finish.
func (f *fanout) wait() {
	for _, s := range f.all {
		<-s.done
	}
}

// emitFunc sends one NDJSON line keyed by the row's id, read at input line
// src.
type emitFunc func(key string, line []byte, src int) error

func produceCSV(in io.Reader, emit emitFunc, o *IngestOptions, comma rune, rows *atomic.Int64, rejected *int, report func(int, string)) error {
	r := csv.NewReader(bufio.NewReaderSize(in, 256<<10))
	r.Comma = comma
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	m := o.Mapping
	var header []string
	if o.Header {
		h, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return usagef("header: %v", err)
		}
		header = append([]string(nil), h...)
	}
	ci, err := m.compile(header)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 4096)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				*rejected++
				rows.Add(1)
				report(pe.StartLine, "malformed CSV: "+pe.Err.Error())
				if o.Strict {
					return errStrict
				}
				continue
			}
			return err
		}
		rows.Add(1)
		out, merr := m.mapRow(buf[:0], ci, rec)
		if merr != nil {
			*rejected++
			report(line, merr.Error())
			if o.Strict {
				return errStrict
			}
			continue
		}
		buf = out
		key := ""
		if ci.id >= 0 {
			key = rec[ci.id]
		}
		if err := emit(key, out, line); err != nil {
			return err
		}
	}
}

// exportish is the shape of a line of kgctl export --format jsonl (and of
// the server's export): versions with ids and times.
type exportish struct {
	Node *telamentis.Node `json:"node"`
	Edge *telamentis.Edge `json:"edge"`
}

func produceJSONL(in io.Reader, emit emitFunc, o *IngestOptions, rows *atomic.Int64, rejected *int, report func(int, string)) error {
	br := bufio.NewReaderSize(in, 256<<10)
	aliasOf := map[string]string{} // exported id → alias, for export lines
	lineNo := 0
	var buf []byte
	bad := func(msg string) error {
		*rejected++
		report(lineNo, msg)
		if o.Strict {
			return errStrict
		}
		return nil
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		lineNo++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			if err == io.EOF {
				return nil
			}
			continue
		}
		rows.Add(1)
		out, cerr := convertJSONLine(buf[:0], line, aliasOf)
		if cerr != nil {
			if e := bad(cerr.Error()); e != nil {
				return e
			}
		} else {
			buf = out
			if werr := emit("", out, lineNo); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// convertJSONLine passes an ingest line through, or turns an export line
// (a version with id and tx times) into an ingest line keyed by alias: an
// object without an alias gets its exported id as alias, and edges name
// their endpoints by those aliases.
func convertJSONLine(dst, line []byte, aliasOf map[string]string) ([]byte, error) {
	if !json.Valid(line) || line[0] != '{' {
		return dst, errors.New("not a JSON object")
	}
	if !bytes.Contains(line, []byte(`"tx_start"`)) {
		dst = append(dst, line...)
		return append(dst, '\n'), nil
	}
	var x exportish
	if err := json.Unmarshal(line, &x); err != nil || (x.Node == nil) == (x.Edge == nil) {
		return dst, errors.New("neither an ingest line nor an export line")
	}
	var out client.IngestLine
	if n := x.Node; n != nil {
		alias := n.Alias
		if alias == "" {
			alias = n.ID
		}
		if n.ID != "" {
			aliasOf[n.ID] = alias
		}
		out.Node = &telamentis.NodeInput{Alias: alias, Label: n.Label, Props: nonEmptyProps(n.Props)}
	} else {
		e := x.Edge
		alias := e.Alias
		if alias == "" {
			alias = e.ID
		}
		ref := func(id string) telamentis.Ref {
			if a, ok := aliasOf[id]; ok {
				return telamentis.Ref{Alias: a}
			}
			return telamentis.Ref{Alias: id}
		}
		out.Edge = &telamentis.EdgeInput{Alias: alias, From: ref(e.From), To: ref(e.To), Kind: e.Kind,
			Props: nonEmptyProps(e.Props), ValidFrom: e.ValidFrom, ValidTo: e.ValidTo}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return dst, err
	}
	dst = append(dst, b...)
	return append(dst, '\n'), nil
}

func nonEmptyProps(p json.RawMessage) json.RawMessage {
	if len(p) == 0 || string(p) == "null" || string(p) == "{}" {
		return nil
	}
	return p
}

// startProgress shows progress until the returned stop is called: a bar
// with rows/s and ETA on a terminal, a line every Interval (default 5 s)
// otherwise.
func startProgress(f *Factory, o *IngestOptions, file string, size int64, cr *countingReader, rows *atomic.Int64, mu *sync.Mutex) func() {
	tty := f.IO.StderrTTY
	if o.Progress != nil {
		if !*o.Progress {
			return func() {}
		}
	}
	every := o.Interval
	if every == 0 {
		every = 5 * time.Second
		if tty {
			every = 250 * time.Millisecond
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					mu.Lock()
					fmt.Fprint(f.IO.ErrOut, "\r\033[K")
					mu.Unlock()
				}
				return
			case <-t.C:
			}
			el := time.Since(start).Seconds()
			n := rows.Load()
			rate := float64(n) / el
			eta := "?"
			if size > 0 {
				read := cr.n.Load()
				if read > 0 && read < size {
					eta = time.Duration(el * float64(size-read) / float64(read) * float64(time.Second)).Round(time.Second).String()
				} else if read >= size {
					eta = "0s"
				}
			}
			if size < 0 { // a stream of unknown length: a count and a rate
				mu.Lock()
				if tty {
					fmt.Fprintf(f.IO.ErrOut, "\r\033[K%s: %d records, %.0f records/s", file, n, rate)
				} else {
					fmt.Fprintf(f.IO.ErrOut, "kgctl: %s: %d records, %.0f records/s\n", file, n, rate)
				}
				mu.Unlock()
				continue
			}
			mu.Lock()
			if tty {
				bar := ""
				if size > 0 {
					frac := float64(cr.n.Load()) / float64(size)
					w := int(frac * 30)
					bar = "[" + strings.Repeat("=", w) + strings.Repeat(" ", 30-w) + "] " + strconv.Itoa(int(frac*100)) + "% "
				}
				fmt.Fprintf(f.IO.ErrOut, "\r\033[K%s%s %d rows %.0f rows/s ETA %s", bar, file, n, rate, eta)
			} else {
				fmt.Fprintf(f.IO.ErrOut, "kgctl: %s: %d rows, %.0f rows/s, ETA %s\n", file, n, rate, eta)
			}
			mu.Unlock()
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
