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

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/telamentis/telamentis"
)

// MaxImportLines bounds one import stream (it is applied in one call).
const MaxImportLines = 20_000_000

// ImportSummary is the answer to an import.
type ImportSummary struct {
	Lines        int `json:"lines"`
	NodeVersions int `json:"node_versions"`
	EdgeVersions int `json:"edge_versions"`
}

var specImport = opSpec{name: "tenant.import", allowed: rAdmin, write: true, sensitive: true}

// exportShape is the shape of an export line: exact keys, props under
// their limits.
var exportShape = &shape{Members: map[string]*shape{
	"node": {Members: map[string]*shape{"id": nil, "alias": nil, "label": nil, "props": propsShape,
		"tx_start": nil, "tx_end": nil}},
	"edge": {Members: map[string]*shape{"id": nil, "alias": nil, "from": nil, "to": nil, "kind": nil,
		"props": propsShape, "valid_from": nil, "valid_to": nil, "tx_start": nil, "tx_end": nil}},
}}

// ParseExportLine decodes one line of an export stream with the strict
// rules of request bodies.
func ParseExportLine(line []byte) (ExportLine, error) {
	var out ExportLine
	line = bytes.TrimSpace(line)
	if len(line) > MaxIngestLine {
		return out, telamentis.Invalid("line", "longer than %d bytes", MaxIngestLine)
	}
	if len(line) == 0 || line[0] != '{' {
		return out, telamentis.Invalid("line", "must be a JSON object")
	}
	if err := checkBody(line, exportShape); err != nil {
		return out, err
	}
	if err := json.Unmarshal(line, &out); err != nil {
		return out, telamentis.Invalid("line", "%s", safeHumaMessage(err))
	}
	if (out.Node == nil) == (out.Edge == nil) {
		return ExportLine{}, telamentis.Invalid("line", "give node or edge")
	}
	return out, nil
}

func (s *Server) registerImportRoute() {
	huma.Register(s.api, s.operation(specImport, huma.Operation{
		OperationID: "tenant.import", Method: http.MethodPost, Path: "/v1/tenants/{tenant}/import",
		Summary: "Restore a tenant's full history from an export stream (admin; empty tenant only)",
		Description: "The body is application/x-ndjson in the format of GET /v1/graph/{tenant}/export: every version with its " +
			"transaction times. The tenant must be empty; the stream is applied in one call, all or nothing. Quotas do not apply.",
		Tags: []string{"tenants"},
		Responses: map[string]*huma.Response{"200": {Description: "Summary",
			Content: map[string]*huma.MediaType{"application/json": {Schema: s.api.OpenAPI().Components.Schemas.Schema(reflectType[ImportSummary](), true, "ImportSummary")}}}},
	}), func(ctx context.Context, in *TenantParam) (*huma.StreamResponse, error) {
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			r, w := humago.Unwrap(hctx)
			s.importStream(ctx, w, r.Body, in.Tenant)
		}}, nil
	})
	if pi := s.api.OpenAPI().Paths["/v1/tenants/{tenant}/import"]; pi != nil && pi.Post != nil {
		pi.Post.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/x-ndjson": {Schema: s.api.OpenAPI().Components.Schemas.Schema(reflectType[ExportLine](), true, "ExportLine")}}}
	}
}

func (s *Server) importStream(ctx context.Context, w http.ResponseWriter, body io.Reader, tenant string) {
	var sum ImportSummary
	dl := newStreamDeadlines(w)
	body = dl.reader(body)
	err := s.do(ctx, specImport, tenant, "", func(ctx context.Context, c *call) error {
		imp, ok := s.store.(telamentis.Importer)
		if !ok {
			return telamentis.Errorf(telamentis.CodeUnavailable, "this store cannot import")
		}
		st, err := s.store.Stats(ctx, tenant)
		if err != nil {
			return err
		}
		if st.NodeVersions+st.EdgeVersions > 0 {
			return telamentis.Errorf(telamentis.CodeConflict, "tenant is not empty")
		}
		var nodes []telamentis.Node
		var edges []telamentis.Edge
		br := bufio.NewReaderSize(body, 64<<10)
		for {
			line, tooLong, rerr := readLine(br, MaxIngestLine)
			if rerr != nil && rerr != io.EOF {
				return telamentis.Errorf(telamentis.CodeInvalid, "cannot read line %d of the body", sum.Lines+1)
			}
			if len(line) > 0 || tooLong || rerr == nil {
				sum.Lines++
			}
			if sum.Lines > MaxImportLines {
				return telamentis.Errorf(telamentis.CodeInvalid, "more than %d lines", MaxImportLines)
			}
			if tooLong {
				return telamentis.Invalid(fmt.Sprintf("line %d", sum.Lines), "longer than %d bytes", MaxIngestLine)
			}
			if len(bytes.TrimSpace(line)) > 0 {
				l, err := ParseExportLine(line)
				if err != nil {
					return lineError(sum.Lines, err)
				}
				if l.Node != nil {
					nodes = append(nodes, *l.Node)
				} else {
					edges = append(edges, *l.Edge)
				}
			}
			if rerr == io.EOF {
				break
			}
		}
		slices.SortStableFunc(nodes, func(a, b telamentis.Node) int { return a.TxStart.Compare(b.TxStart) })
		slices.SortStableFunc(edges, func(a, b telamentis.Edge) int { return a.TxStart.Compare(b.TxStart) })
		if err := imp.Import(ctx, tenant, nodes, edges); err != nil {
			return err
		}
		sum.NodeVersions, sum.EdgeVersions = len(nodes), len(edges)
		return nil
	})
	dl.extendWrite() // the answer follows a read and an import of any length
	if err != nil {
		var p *Problem
		if !errors.As(err, &p) {
			p = problemFor(err, telamentis.RequestIDFromContext(ctx))
		}
		writeProblem(w, p)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(sum)
}

// lineError names the line of an invalid stream line in its field paths.
func lineError(line int, err error) error {
	if telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		return err
	}
	return prefixField(err, fmt.Sprintf("line %d", line))
}
