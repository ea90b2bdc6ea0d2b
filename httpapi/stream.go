package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/telamentis/telamentis"
)

// ExportLine is one line of an export stream: one stored version of a node
// or an edge, with its transaction times, in the order of their TxStart.
type ExportLine struct {
	Node *telamentis.Node `json:"node,omitempty"`
	Edge *telamentis.Edge `json:"edge,omitempty"`
}

// IngestError names one rejected ingest line.
type IngestError struct {
	Line    int    `json:"line" doc:"1-based line number in the request body."`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// IngestSummary is the answer to an ingest stream.
type IngestSummary struct {
	Lines     int `json:"lines" doc:"Lines read, blank lines included."`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Rejected  int `json:"rejected"`
	Batches   int `json:"batches" doc:"Batches committed."`
	// Errors lists rejected lines, at most MaxIngestErrors of them.
	Errors          []IngestError `json:"errors,omitempty"`
	ErrorsTruncated bool          `json:"errors_truncated,omitempty"`
	// Aborted is set when the stream stopped early (quota, store failure);
	// lines after the last committed batch were not applied.
	Aborted string `json:"aborted,omitempty"`
}

// Ingest limits.
const (
	DefaultIngestBatch = 1000
	MaxIngestBatch     = 10_000
	MaxIngestErrors    = 1000
)

func (s *Server) registerStreamRoutes() {
	huma.Register(s.api, s.operation(specExport, huma.Operation{
		OperationID: "graph.export", Method: http.MethodGet, Path: "/v1/graph/{tenant}/export",
		Summary: "Stream every stored version of every node and edge as JSON lines, or a snapshot",
		Description: "Content type application/x-ndjson; one ExportLine per line. Without as_at and valid_at: every stored version " +
			"(the tenant's full history, ordered by tx_start; POST /v1/tenants/{tenant}/import restores it). With as_at and/or " +
			"valid_at: the nodes and then the edges visible at as_at (default now) and, for edges, valid at valid_at. A failure " +
			"after the first line ends the stream with a line {\"error\": problem}.",
		Tags: []string{"graph"},
		Responses: map[string]*huma.Response{"200": {Description: "JSON lines of ExportLine",
			Content: map[string]*huma.MediaType{"application/x-ndjson": {Schema: s.api.OpenAPI().Components.Schemas.Schema(reflectType[ExportLine](), true, "ExportLine")}}}},
	}), func(ctx context.Context, in *struct {
		TenantParam
		ExportParams
	}) (*huma.StreamResponse, error) {
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			_, w := humago.Unwrap(hctx)
			s.export(ctx, w, in.Tenant, in.ExportParams)
		}}, nil
	})

	huma.Register(s.api, s.operation(specIngest, huma.Operation{
		OperationID: "graph.ingest", Method: http.MethodPost, Path: "/v1/graph/{tenant}/ingest",
		Summary: "Ingest a stream of nodes and edges (NDJSON), committed in batches",
		Description: "The body is application/x-ndjson: one IngestLine per line, `{\"node\": NodeInput}` or `{\"edge\": EdgeInput}`; " +
			"edges name their endpoints by alias and may refer to nodes earlier in the stream. Each line is checked like a request body " +
			"(at most 1 MiB). Valid lines are committed in atomic batches of batch_size; a rejected line is reported with its line number " +
			"and does not stop the stream.",
		Tags: []string{"graph"},
		Responses: map[string]*huma.Response{"200": {Description: "Summary",
			Content: map[string]*huma.MediaType{"application/json": {Schema: s.api.OpenAPI().Components.Schemas.Schema(reflectType[IngestSummary](), true, "IngestSummary")}}}},
	}), func(ctx context.Context, in *struct {
		TenantParam
		BatchSize int `query:"batch_size" minimum:"0" maximum:"10000" doc:"Lines per committed batch (default 1000)."`
	}) (*huma.StreamResponse, error) {
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			r, w := humago.Unwrap(hctx)
			s.ingest(ctx, w, r.Body, in.Tenant, in.BatchSize)
		}}, nil
	})
	// The stream is documented after registration: declared on the
	// operation, huma would read the whole body into memory.
	if pi := s.api.OpenAPI().Paths["/v1/graph/{tenant}/ingest"]; pi != nil && pi.Post != nil {
		pi.Post.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/x-ndjson": {Schema: s.api.OpenAPI().Components.Schemas.Schema(reflectType[IngestLine](), true, "IngestLine")}}}
	}
}

// ExportParams are the query parameters of an export.
type ExportParams struct {
	AsAt    string   `query:"as_at" maxLength:"64" doc:"Snapshot as the database knew it at this transaction time: only the versions visible then."`
	ValidAt string   `query:"valid_at" maxLength:"64" doc:"Snapshot of the edges valid at this time (implies a snapshot)."`
	Include []string `query:"include" enum:"nodes,edges" maxItems:"2" doc:"What to export (default both)."`
}

// exportQueries turns export parameters into the queries to page through:
// the changes feed (every version) by default, or node and edge snapshots.
func exportQueries(in ExportParams) (qs []telamentis.Query, nodes, edges bool, err error) {
	nodes, edges = len(in.Include) == 0, len(in.Include) == 0
	for _, k := range in.Include {
		nodes = nodes || k == "nodes"
		edges = edges || k == "edges"
	}
	asAt, err := parseTime("as_at", in.AsAt)
	if err != nil {
		return nil, false, false, err
	}
	validAt, err := parseTime("valid_at", in.ValidAt)
	if err != nil {
		return nil, false, false, err
	}
	if asAt.IsZero() && validAt.IsZero() {
		return []telamentis.Query{{Kind: telamentis.QueryChanges, Limit: telamentis.MaxLimit}}, nodes, edges, nil
	}
	if asAt.IsZero() {
		asAt = telamentis.NormalizeTime(time.Now()) // one instant for both queries
	}
	if nodes {
		qs = append(qs, telamentis.Query{Kind: telamentis.QueryNodes, AsAt: asAt, Limit: telamentis.MaxLimit})
	}
	if edges {
		qs = append(qs, telamentis.Query{Kind: telamentis.QueryEdges, AsAt: asAt, ValidAt: validAt, Limit: telamentis.MaxLimit})
	}
	return qs, nodes, edges, nil
}

func (s *Server) export(ctx context.Context, w http.ResponseWriter, tenant string, in ExportParams) {
	wrote := false
	err := s.do(ctx, specExport, tenant, "", func(ctx context.Context, c *call) error {
		qs, wantNodes, wantEdges, err := exportQueries(in)
		if err != nil {
			return err
		}
		m := s.maskerFor(c)
		dl := newStreamDeadlines(w)
		dl.extendWrite()
		bw := bufio.NewWriterSize(w, 64<<10)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		emit := func(n *telamentis.Node, e *telamentis.Edge) error {
			var line ExportLine
			switch {
			case n != nil && wantNodes:
				m.node(n)
				line.Node = n
			case e != nil && wantEdges:
				m.edge(e)
				line.Edge = e
			default:
				return nil
			}
			if err := enc.Encode(line); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			return nil
		}
		for _, q := range qs {
			err := telamentis.EachPage(ctx, s.store, tenant, q, func(p telamentis.Page) error {
				if !wrote {
					w.Header().Set("Content-Type", "application/x-ndjson")
					w.WriteHeader(http.StatusOK)
					wrote = true
				}
				for i := range p.Nodes {
					if err := emit(&p.Nodes[i], nil); err != nil {
						return err
					}
				}
				for i := range p.Edges {
					if err := emit(nil, &p.Edges[i]); err != nil {
						return err
					}
				}
				for _, ch := range p.Changes {
					if ch.Op != telamentis.ChangeWrite {
						continue
					}
					if err := emit(ch.Node, ch.Edge); err != nil {
						return err
					}
				}
				dl.extendWrite()
				if err := bw.Flush(); err != nil {
					return fmt.Errorf("write: %w", err)
				}
				if f, ok := w.(http.Flusher); ok {
					f.Flush()
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	var p *Problem
	if !errors.As(err, &p) {
		p = problemFor(err, telamentis.RequestIDFromContext(ctx))
	}
	if !wrote {
		writeProblem(w, p)
		return
	}
	b, _ := json.Marshal(struct {
		Error *Problem `json:"error"`
	}{p})
	w.Write(append(b, '\n'))
}

// pendingItem is a valid ingest line waiting for its batch.
type pendingItem struct {
	line int
	node *telamentis.NodeInput
	edge *telamentis.EdgeInput
}

// ingester runs one ingest stream: the request goroutine reads and parses
// lines while a committer goroutine applies the previous batch, so parsing
// and committing overlap. Batches commit one at a time, in stream order.
type ingester struct {
	s      *Server
	tenant string
	size   int

	mu  sync.Mutex // guards sum (Lines is the reader's alone)
	sum IngestSummary
}

func (g *ingester) reject(line int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sum.Rejected++
	if len(g.sum.Errors) >= MaxIngestErrors {
		g.sum.ErrorsTruncated = true
		return
	}
	fields := telamentis.ErrorFields(err)
	if len(fields) == 0 {
		g.sum.Errors = append(g.sum.Errors, IngestError{Line: line, Message: telamentis.ErrorMessage(err)})
		return
	}
	for _, f := range fields {
		g.sum.Errors = append(g.sum.Errors, IngestError{Line: line, Field: f.Field, Message: f.Message})
	}
}

func (s *Server) ingest(ctx context.Context, w http.ResponseWriter, body io.Reader, tenant string, size int) {
	if size <= 0 {
		size = DefaultIngestBatch
	}
	g := &ingester{s: s, tenant: tenant, size: size}
	dl := newStreamDeadlines(w)
	body = dl.reader(body)
	err := s.do(ctx, specIngest, tenant, "", func(ctx context.Context, c *call) error {
		batches := make(chan []pendingItem, 1)
		var commitErr error
		var failed atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for items := range batches {
				if commitErr != nil {
					continue // drain after a fatal error
				}
				if err := g.commit(ctx, items); err != nil {
					commitErr = err
					failed.Store(true)
				}
			}
		}()
		readErr := g.read(body, batches, &failed)
		close(batches)
		<-done
		if commitErr != nil {
			return commitErr
		}
		return readErr
	})
	dl.extendWrite() // the answer follows a read of any length
	if err != nil && g.sum.Batches == 0 && g.sum.Created+g.sum.Updated+g.sum.Unchanged == 0 {
		var p *Problem
		if !errors.As(err, &p) {
			p = problemFor(err, telamentis.RequestIDFromContext(ctx))
		}
		writeProblem(w, p)
		return
	}
	if err != nil {
		g.sum.Aborted = telamentis.ErrorMessage(err)
		var p *Problem
		if errors.As(err, &p) {
			g.sum.Aborted = p.Detail
		}
	}
	slices.SortStableFunc(g.sum.Errors, func(a, b IngestError) int { return a.Line - b.Line })
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(g.sum)
}

// read parses the stream into batches for the committer. It stops early
// when the committer failed. One line buffer and one decoder serve the
// whole stream, and each batch's items live in two slabs, so a line costs
// a few allocations rather than one per field.
func (g *ingester) read(body io.Reader, batches chan<- []pendingItem, failed *atomic.Bool) error {
	br := bufio.NewReaderSize(body, 64<<10)
	dec := newLineDecoder(64 << 10)
	var sl slabs
	pending := make([]pendingItem, 0, g.size)
	var buf []byte
	lines := 0
	defer func() {
		g.mu.Lock()
		g.sum.Lines = lines
		g.mu.Unlock()
	}()
	for !failed.Load() {
		line, tooLong, rerr := readLineInto(br, buf, MaxIngestLine)
		if !tooLong {
			buf = line[:0]
		}
		if rerr != nil && rerr != io.EOF {
			return telamentis.Errorf(telamentis.CodeInvalid, "cannot read line %d of the body", lines+1)
		}
		if len(line) > 0 || tooLong || rerr == nil {
			lines++
		}
		switch {
		case tooLong:
			g.reject(lines, telamentis.Invalid("line", "longer than %d bytes", MaxIngestLine))
		case len(bytes.TrimSpace(line)) > 0:
			n, e, err := dec.decode(line)
			if err != nil {
				g.reject(lines, err)
				break
			}
			it := pendingItem{line: lines}
			if n != nil {
				it.node = sl.node(*n, g.size)
			} else {
				it.edge = sl.edge(*e, g.size)
			}
			pending = append(pending, it)
			if len(pending) >= g.size {
				batches <- pending
				pending = make([]pendingItem, 0, g.size)
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if len(pending) > 0 {
		batches <- pending
	}
	return nil
}

// slabs hand out the items of pending batches from blocks of size
// entries: one allocation per block instead of one per item. A block is
// never reused, so items stay valid while any batch refers to them.
type slabs struct {
	nodes []telamentis.NodeInput
	edges []telamentis.EdgeInput
}

func (s *slabs) node(n telamentis.NodeInput, size int) *telamentis.NodeInput {
	if len(s.nodes) == cap(s.nodes) {
		s.nodes = make([]telamentis.NodeInput, 0, min(size, 1024))
	}
	s.nodes = append(s.nodes, n)
	return &s.nodes[len(s.nodes)-1]
}

func (s *slabs) edge(e telamentis.EdgeInput, size int) *telamentis.EdgeInput {
	if len(s.edges) == cap(s.edges) {
		s.edges = make([]telamentis.EdgeInput, 0, min(size, 1024))
	}
	s.edges = append(s.edges, e)
	return &s.edges[len(s.edges)-1]
}

// readLine reads one line (without its newline). A line longer than max is
// consumed and reported as tooLong.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	return readLineInto(br, nil, max)
}

// readLineInto is readLine reading into buf[:0], which it may grow, so a
// stream can reuse one buffer. A line longer than max is not kept in buf.
func readLineInto(br *bufio.Reader, buf []byte, max int) (line []byte, tooLong bool, err error) {
	buf = buf[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+1 { // +1: the newline
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
			return bytes.TrimSuffix(buf, []byte("\n")), tooLong, nil
		default:
			return buf, tooLong, err
		}
	}
}

// commit applies the pending items as one batch. Items the store rejects
// (by position in its field errors) are reported and the rest retried; if
// the store cannot say which item failed, items are applied one by one.
func (g *ingester) commit(ctx context.Context, items []pendingItem) error {
	for attempt := 0; len(items) > 0; attempt++ {
		b, nodeAt, edgeAt := batchOf(items)
		res, err := g.s.store.ApplyBatch(ctx, g.tenant, b)
		if err == nil {
			g.tally(res)
			return nil
		}
		if !itemError(err) {
			return err
		}
		bad := badPositions(err, nodeAt, edgeAt)
		if len(bad) == 0 || attempt >= 2 {
			return g.oneByOne(ctx, items)
		}
		keep := items[:0:0]
		for i, it := range items {
			if e, ok := bad[i]; ok {
				g.reject(it.line, e)
				continue
			}
			keep = append(keep, it)
		}
		items = keep
	}
	return nil
}

func (g *ingester) oneByOne(ctx context.Context, items []pendingItem) error {
	for _, it := range items {
		b, _, _ := batchOf([]pendingItem{it})
		res, err := g.s.store.ApplyBatch(ctx, g.tenant, b)
		if err != nil {
			if !itemError(err) {
				return err
			}
			g.reject(it.line, stripPosition(err))
			continue
		}
		g.tally(res)
	}
	return nil
}

// itemError reports whether err is about the items of a batch (rather than
// the store or the tenant's quota).
func itemError(err error) bool {
	switch telamentis.ErrorCode(err) {
	case telamentis.CodeInvalid, telamentis.CodeNotFound, telamentis.CodeConflict:
		return true
	}
	return false
}

func (g *ingester) tally(res telamentis.BatchResult) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sum.Batches++
	for _, n := range res.Nodes {
		g.count(n.Created, n.Changed)
	}
	for _, e := range res.Edges {
		g.count(e.Created, e.Changed)
	}
}

func (g *ingester) count(created, changed bool) {
	switch {
	case created:
		g.sum.Created++
	case changed:
		g.sum.Updated++
	default:
		g.sum.Unchanged++
	}
}

// batchOf builds a batch of items; nodeAt[i] and edgeAt[i] are the item
// indexes of the batch's i-th node and edge.
func batchOf(items []pendingItem) (b telamentis.Batch, nodeAt, edgeAt []int) {
	nodes := 0
	for _, it := range items {
		if it.node != nil {
			nodes++
		}
	}
	// Sized once: appending from empty reallocated a 5000-item batch a
	// dozen times, the server's largest allocation during ingest.
	b.Nodes, nodeAt = make([]telamentis.NodeInput, 0, nodes), make([]int, 0, nodes)
	b.Edges, edgeAt = make([]telamentis.EdgeInput, 0, len(items)-nodes), make([]int, 0, len(items)-nodes)
	for i, it := range items {
		if it.node != nil {
			b.Nodes = append(b.Nodes, *it.node)
			nodeAt = append(nodeAt, i)
		} else {
			b.Edges = append(b.Edges, *it.edge)
			edgeAt = append(edgeAt, i)
		}
	}
	return b, nodeAt, edgeAt
}

// badPositions maps the field errors of a failed batch ("nodes[3].label")
// to item indexes, with each item's error re-rooted at "node"/"edge".
func badPositions(err error, nodeAt, edgeAt []int) map[int]error {
	bad := map[int]error{}
	for _, f := range telamentis.ErrorFields(err) {
		var at []int
		var rest, root string
		switch {
		case strings.HasPrefix(f.Field, "nodes["):
			at, rest, root = nodeAt, f.Field[len("nodes["):], "node"
		case strings.HasPrefix(f.Field, "edges["):
			at, rest, root = edgeAt, f.Field[len("edges["):], "edge"
		default:
			continue
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			continue
		}
		i, perr := strconv.Atoi(rest[:end])
		if perr != nil || i < 0 || i >= len(at) {
			continue
		}
		field := root + rest[end+1:]
		bad[at[i]] = &telamentis.Error{Code: telamentis.ErrorCode(err), Message: "invalid " + field,
			Fields: []telamentis.FieldError{{Field: field, Message: f.Message}}}
	}
	return bad
}

// stripPosition re-roots the field errors of a one-item batch.
func stripPosition(err error) error {
	fields := telamentis.ErrorFields(err)
	if len(fields) == 0 {
		return err
	}
	out := make([]telamentis.FieldError, len(fields))
	for i, f := range fields {
		name := f.Field
		for _, p := range [][2]string{{"nodes[0]", "node"}, {"edges[0]", "edge"}} {
			if rest, ok := strings.CutPrefix(name, p[0]); ok {
				name = p[1] + rest
			}
		}
		out[i] = telamentis.FieldError{Field: name, Message: f.Message}
	}
	return &telamentis.Error{Code: telamentis.ErrorCode(err), Message: telamentis.ErrorMessage(err), Fields: out}
}
