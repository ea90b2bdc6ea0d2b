package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/telamentis/telamentis"
)

// IngestError names one rejected ingest line.
type IngestError struct {
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// IngestSummary is the server's answer to an ingest stream.
type IngestSummary struct {
	Lines           int           `json:"lines"`
	Created         int           `json:"created"`
	Updated         int           `json:"updated"`
	Unchanged       int           `json:"unchanged"`
	Rejected        int           `json:"rejected"`
	Batches         int           `json:"batches"`
	Errors          []IngestError `json:"errors,omitempty"`
	ErrorsTruncated bool          `json:"errors_truncated,omitempty"`
	Aborted         string        `json:"aborted,omitempty"`
}

// IngestLine is one line of an ingest stream: exactly one of Node and Edge.
type IngestLine struct {
	Node *telamentis.NodeInput `json:"node,omitempty"`
	Edge *telamentis.EdgeInput `json:"edge,omitempty"`
}

// Ingest streams NDJSON ingest lines from body to the tenant's ingest route
// (POST /v1/graph/{tenant}/ingest), committed by the server in atomic
// batches of batchSize lines (0 = the server's default). Line numbers in the
// summary count lines of body. A summary with Aborted set means the stream
// stopped early; it is returned with a nil error.
func (c *Client) Ingest(ctx context.Context, tenant string, body io.Reader, batchSize int) (IngestSummary, error) {
	q := url.Values{}
	if batchSize > 0 {
		q.Set("batch_size", strconv.Itoa(batchSize))
	}
	var out IngestSummary
	err := c.call(ctx, request{method: http.MethodPost, path: graphPath(tenant, "ingest"), query: q,
		raw: body, ctype: "application/x-ndjson"}, &out)
	return out, err
}

// ExportLine is one line of an export stream: one stored version of a node
// or an edge with its transaction times.
type ExportLine struct {
	Node *telamentis.Node `json:"node,omitempty"`
	Edge *telamentis.Edge `json:"edge,omitempty"`
}

// ExportStream reads an export (GET /v1/graph/{tenant}/export): every
// stored version of every node and edge, in transaction-time order. Close
// it when done.
type ExportStream struct {
	body io.ReadCloser
	br   *bufio.Reader
	line int
	err  error
}

// ExportOptions select what an export holds. With no times set it is
// every stored version in transaction-time order; with AsAt or ValidAt it
// is a snapshot: the node versions and then the edge versions visible at
// AsAt (zero = now), edges only those valid at ValidAt when set.
type ExportOptions struct {
	AsAt    time.Time
	ValidAt time.Time
	// NodesOnly and EdgesOnly restrict the export to one kind.
	NodesOnly, EdgesOnly bool
}

// Export opens the tenant's export stream (tenant_admin).
func (c *Client) Export(ctx context.Context, tenant string, opts ExportOptions) (*ExportStream, error) {
	q := url.Values{}
	timeParam(q, "as_at", opts.AsAt)
	timeParam(q, "valid_at", opts.ValidAt)
	switch {
	case opts.NodesOnly && !opts.EdgesOnly:
		q.Set("include", "nodes")
	case opts.EdgesOnly && !opts.NodesOnly:
		q.Set("include", "edges")
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: graphPath(tenant, "export"), query: q, accept: "application/x-ndjson, application/problem+json"})
	if err != nil {
		return nil, err
	}
	return &ExportStream{body: resp.Body, br: bufio.NewReaderSize(resp.Body, 256<<10)}, nil
}

// errorPrefix starts the line a server writes when a stream fails after it
// began.
var errorPrefix = []byte(`{"error":`)

// NextRaw returns the next line (without its newline; valid until the next
// call) or io.EOF at the end. A server failure in the middle of the
// stream is returned as a *ProblemError.
func (s *ExportStream) NextRaw() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		line, err := s.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			buf := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = s.br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		if err != nil && err != io.EOF {
			s.err = fmt.Errorf("client: export: read: %w", err)
			return nil, s.err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if err == io.EOF {
				s.err = io.EOF
				return nil, io.EOF
			}
			continue
		}
		s.line++
		if bytes.HasPrefix(line, errorPrefix) {
			var e struct {
				Error problemJSON `json:"error"`
			}
			if json.Unmarshal(line, &e) == nil {
				s.err = problemFrom(e.Error, nil)
			} else {
				s.err = errors.New("client: export: the server ended the stream with an error")
			}
			return nil, s.err
		}
		return line, nil
	}
}

// Next decodes the next version, or returns io.EOF at the end.
func (s *ExportStream) Next() (ExportLine, error) {
	raw, err := s.NextRaw()
	if err != nil {
		return ExportLine{}, err
	}
	var l ExportLine
	if err := json.Unmarshal(raw, &l); err != nil || (l.Node == nil) == (l.Edge == nil) {
		s.err = fmt.Errorf("client: export: line %d: not a node or edge version", s.line)
		return ExportLine{}, s.err
	}
	return l, nil
}

// Close releases the stream.
func (s *ExportStream) Close() error { return s.body.Close() }

// ImportSummary is the server's answer to an import.
type ImportSummary struct {
	Lines        int `json:"lines"`
	NodeVersions int `json:"node_versions"`
	EdgeVersions int `json:"edge_versions"`
}

// Import writes versions with their original transaction times through
// the server's import route (POST /v1/tenants/{tenant}/import; system
// admin; the tenant must be empty; all or nothing). It implements
// telamentis.Importer.
func (c *Client) Import(ctx context.Context, tenant string, nodes []telamentis.Node, edges []telamentis.Edge) error {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		var err error
		for i := range nodes {
			if err = enc.Encode(ExportLine{Node: &nodes[i]}); err != nil {
				break
			}
		}
		for i := range edges {
			if err != nil {
				break
			}
			err = enc.Encode(ExportLine{Edge: &edges[i]})
		}
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	_, err := c.ImportStream(ctx, tenant, pr)
	pr.CloseWithError(errors.New("import finished"))
	return err
}

// ImportStream sends an NDJSON body of ExportLine records (the lines of
// an export of every version) to the import route.
func (c *Client) ImportStream(ctx context.Context, tenant string, body io.Reader) (ImportSummary, error) {
	var out ImportSummary
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/tenants/" + seg(tenant) + "/import", raw: body, ctype: "application/x-ndjson"}, &out)
	return out, err
}
