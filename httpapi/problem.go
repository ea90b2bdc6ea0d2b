package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/telamentis/telamentis"
)

// ProblemBase is the prefix of every problem type URI. Types are stable:
// clients may match on them.
const ProblemBase = "https://telamentis.dev/problems/"

// Problem is an RFC 9457 problem details object, the body of every error
// response (Content-Type application/problem+json).
type Problem struct {
	Type      string                  `json:"type" doc:"Stable URI naming the kind of problem."`
	Title     string                  `json:"title" doc:"Short summary of the problem type."`
	Status    int                     `json:"status" doc:"HTTP status code."`
	Detail    string                  `json:"detail,omitempty" doc:"Explanation safe to show to the caller."`
	Instance  string                  `json:"instance,omitempty" doc:"URI of this occurrence (names the request id)."`
	RequestID string                  `json:"request_id,omitempty" doc:"The request id, also in the X-Request-ID header."`
	Errors    []telamentis.FieldError `json:"errors,omitempty" doc:"Field-level problems."`

	headers http.Header
}

// Error implements error.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// GetStatus implements huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType implements huma.ContentTypeFilter: problems are
// application/problem+json.
func (p *Problem) ContentType(string) string { return "application/problem+json" }

// GetHeaders implements huma.HeadersError (Retry-After and RateLimit).
func (p *Problem) GetHeaders() http.Header { return p.headers }

var (
	_ huma.StatusError  = (*Problem)(nil)
	_ huma.HeadersError = (*Problem)(nil)
)

// problemKind is the stable type and title of a status or code.
type problemKind struct {
	slug   string
	title  string
	status int
}

var codeKinds = map[telamentis.Code]problemKind{
	telamentis.CodeInvalid:         {"invalid", "Invalid Request", http.StatusBadRequest},
	telamentis.CodeNotFound:        {"not-found", "Not Found", http.StatusNotFound},
	telamentis.CodeConflict:        {"conflict", "Conflict", http.StatusConflict},
	telamentis.CodeUnauthenticated: {"unauthenticated", "Unauthenticated", http.StatusUnauthorized},
	telamentis.CodeForbidden:       {"forbidden", "Forbidden", http.StatusForbidden},
	telamentis.CodeRateLimited:     {"rate-limited", "Too Many Requests", http.StatusTooManyRequests},
	telamentis.CodeQuota:           {"quota-exceeded", "Quota Exceeded", http.StatusForbidden},
	telamentis.CodeUnavailable:     {"unavailable", "Service Unavailable", http.StatusServiceUnavailable},
	telamentis.CodeInternal:        {"internal", "Internal Server Error", http.StatusInternalServerError},
}

// statusKinds covers statuses produced by the HTTP layer itself.
var statusKinds = map[int]problemKind{
	http.StatusBadRequest:            codeKinds[telamentis.CodeInvalid],
	http.StatusUnprocessableEntity:   codeKinds[telamentis.CodeInvalid],
	http.StatusUnauthorized:          codeKinds[telamentis.CodeUnauthenticated],
	http.StatusForbidden:             codeKinds[telamentis.CodeForbidden],
	http.StatusNotFound:              codeKinds[telamentis.CodeNotFound],
	http.StatusConflict:              codeKinds[telamentis.CodeConflict],
	http.StatusTooManyRequests:       codeKinds[telamentis.CodeRateLimited],
	http.StatusServiceUnavailable:    codeKinds[telamentis.CodeUnavailable],
	http.StatusInternalServerError:   codeKinds[telamentis.CodeInternal],
	http.StatusMethodNotAllowed:      {"method-not-allowed", "Method Not Allowed", http.StatusMethodNotAllowed},
	http.StatusNotAcceptable:         {"not-acceptable", "Not Acceptable", http.StatusNotAcceptable},
	http.StatusRequestEntityTooLarge: {"too-large", "Request Too Large", http.StatusRequestEntityTooLarge},
	http.StatusUnsupportedMediaType:  {"unsupported-media-type", "Unsupported Media Type", http.StatusUnsupportedMediaType},
	http.StatusRequestTimeout:        {"timeout", "Request Timeout", http.StatusRequestTimeout},
}

// newProblem returns the problem for a status with a safe detail.
func newProblem(status int, requestID, detail string, fields []telamentis.FieldError) *Problem {
	k, ok := statusKinds[status]
	if !ok {
		k = problemKind{"http-" + strconv.Itoa(status), http.StatusText(status), status}
	}
	return &Problem{
		Type:      ProblemBase + k.slug,
		Title:     k.title,
		Status:    k.status,
		Detail:    detail,
		Instance:  instance(requestID),
		RequestID: requestID,
		Errors:    fields,
	}
}

// instance names the occurrence by its request id, not by its path: two
// requests that fail alike get bodies that differ only in the request id.
func instance(requestID string) string {
	if requestID == "" {
		return ""
	}
	return "urn:telamentis:request:" + requestID
}

// retryAfterer is implemented by errors of the rate limiter and by anything
// else that knows when a refused request may be retried.
type retryAfterer interface{ RetryAfter() time.Duration }

// headerer is implemented by errors that carry response headers (such as
// the RateLimit fields).
type headerer interface{ HTTPHeaders() http.Header }

// problemFor converts a domain error into a problem. Internal errors get a
// generic detail; the caller logs the full error.
func problemFor(err error, requestID string) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	code := telamentis.ErrorCode(err)
	k, ok := codeKinds[code]
	if !ok {
		k = codeKinds[telamentis.CodeInternal]
	}
	p = &Problem{
		Type:      ProblemBase + k.slug,
		Title:     k.title,
		Status:    k.status,
		Detail:    telamentis.ErrorMessage(err),
		Instance:  instance(requestID),
		RequestID: requestID,
		Errors:    telamentis.ErrorFields(err),
	}
	if code == telamentis.CodeInternal || !ok {
		p.Errors = nil
	}
	var h headerer
	if errors.As(err, &h) {
		p.headers = h.HTTPHeaders().Clone()
	}
	var ra retryAfterer
	if errors.As(err, &ra) {
		if p.headers == nil {
			p.headers = http.Header{}
		}
		secs := int((ra.RetryAfter() + time.Second - 1) / time.Second)
		p.headers.Set("Retry-After", strconv.Itoa(max(secs, 1)))
	} else if code == telamentis.CodeRateLimited {
		if p.headers == nil {
			p.headers = http.Header{}
		}
		if p.headers.Get("Retry-After") == "" {
			p.headers.Set("Retry-After", "1")
		}
	}
	refineLLMProblem(p, err) // 422 unprocessable, 429 budget-exceeded
	return p
}

// writeProblem writes p as the response, outside huma.
func writeProblem(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	for k, vs := range p.headers {
		h[k] = vs
	}
	h.Set("Content-Type", "application/problem+json")
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="telamentis"`)
	}
	w.WriteHeader(p.Status)
	b, _ := json.Marshal(p)
	w.Write(append(b, '\n'))
}

// logError logs an error that reached a client as a 5xx with its full
// text, under the request id.
func logError(logger *slog.Logger, requestID string, err error) {
	logger.Error("request failed",
		slog.String("request_id", requestID),
		slog.String("err", err.Error()))
}

// humaError is installed as huma.NewErrorWithContext: huma's own errors
// (validation, body parsing, content negotiation) become problems with the
// request id; 422 becomes 400 with field errors.
func humaError(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
	requestID := ""
	if ctx != nil {
		requestID = telamentis.RequestIDFromContext(ctx.Context())
	}
	var fields []telamentis.FieldError
	for _, e := range errs {
		if e == nil {
			continue
		}
		var p *Problem
		if errors.As(e, &p) {
			return p
		}
		var d *huma.ErrorDetail
		if errors.As(e, &d) {
			field := fieldName(d.Location)
			if rest, ok := strings.CutPrefix(d.Message, "expected required property "); ok {
				if name, _, ok := strings.Cut(rest, " "); ok {
					if field == "body" {
						field = name
					} else {
						field += "." + name
					}
				}
			}
			fields = append(fields, telamentis.FieldError{Field: field, Message: d.Message})
			continue
		}
		if status < 500 {
			fields = append(fields, telamentis.FieldError{Field: "body", Message: safeHumaMessage(e)})
		}
	}
	detail := msg
	switch {
	case status >= 500:
		detail = "internal error"
		fields = nil
	case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
		status = http.StatusBadRequest
		detail = "invalid request"
		if len(fields) > 0 {
			detail = "invalid " + fields[0].Field
		}
	case status == http.StatusRequestEntityTooLarge:
		detail = "request body too large"
	}
	return newProblem(status, requestID, detail, fields)
}

// fieldName turns a huma location ("body.edges[3].kind", "path.tenant",
// "query.as_at") into a field path in the API's JSON names.
func fieldName(loc string) string {
	if rest, ok := strings.CutPrefix(loc, "body."); ok {
		return rest
	}
	if loc == "body" {
		return "body"
	}
	return loc
}

// jsonFormat is huma's JSON format with decoding errors in the API's own
// words: huma quotes the decoder's error text to the client, and
// encoding/json's names Go types ("cannot unmarshal number 1e30 into Go
// struct field Query.limit of type int"). The strict scan and the schema
// walk before huma (checkExactKeys) refuse what would fail here with the
// exact field; this is the net under them.
var jsonFormat = huma.Format{
	Marshal: huma.DefaultJSONFormat.Marshal,
	Unmarshal: func(data []byte, v any) error {
		if err := json.Unmarshal(data, v); err != nil {
			return errors.New(safeHumaMessage(err))
		}
		return nil
	},
}

// safeHumaMessage words a decoding error for a client: the position of a
// syntax error, the field of a wrong type, never the decoder's own text
// (Go type names, the value, time layouts).
func safeHumaMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "malformed JSON at offset " + strconv.FormatInt(se.Offset, 10)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "wrong type for body"
		}
		return "wrong type for " + te.Field
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return timeMessage
	}
	return "malformed body"
}

// timeMessage is the message of a time that does not parse.
const timeMessage = "time is not RFC 3339 with a zone, such as 2024-01-02T15:04:05Z"
