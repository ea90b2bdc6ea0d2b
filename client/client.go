// Package client is a Go client of the TelaMentis REST API. A Client
// implements the domain interfaces the server serves — telamentis.Store for
// the graph and tenants, telamentis.KeyManager for API keys, and
// telamentis.Importer against the restore route — so one test body can drive
// a store in process or a server over HTTP. Problem responses (RFC 9457)
// come back as *ProblemError, which wraps a *telamentis.Error with the code,
// message and field errors and keeps the request id.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/telamentis/telamentis"
)

// Client talks to one TelaMentis server. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	hc        *http.Client
	key       telamentis.Secret
	userAgent string
	timeout   time.Duration
}

var (
	_ telamentis.Store      = (*Client)(nil)
	_ telamentis.KeyManager = (*Client)(nil)
	_ telamentis.Importer   = (*Client)(nil)
)

type options struct {
	key       telamentis.Secret
	tls       *tls.Config
	hc        *http.Client
	userAgent string
	timeout   time.Duration
}

// Option configures a Client.
type Option func(*options) error

// WithAPIKey authenticates every request with the API key (tm_<id>_<secret>)
// or bearer token.
func WithAPIKey(key telamentis.Secret) Option {
	return func(o *options) error {
		if strings.ContainsAny(key.Reveal(), "\r\n") {
			return errors.New("client: api key: contains a line break")
		}
		o.key = key
		return nil
	}
}

// WithTLS sets the TLS configuration (CA pool, client certificate) of the
// default transport. It is ignored with WithHTTPClient.
func WithTLS(c *tls.Config) Option {
	return func(o *options) error { o.tls = c; return nil }
}

// WithHTTPClient uses hc for every request instead of a client of its own.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return errors.New("client: http client: nil")
		}
		o.hc = hc
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(o *options) error { o.userAgent = ua; return nil }
}

// WithTimeout bounds each request that is not a stream (ingest, export
// and import streams are never cut); default none, ctx still applies.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error { o.timeout = d; return nil }
}

// New returns a client of the server at endpoint (http://host:port or
// https://host:port, optionally with a path prefix).
func New(endpoint string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(endpoint, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: endpoint %q: must be http(s)://host[:port]", endpoint)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: endpoint %q: must not carry credentials, a query or a fragment", u.Redacted())
	}
	o := options{userAgent: "telamentis-client"}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	hc := o.hc
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyFromEnvironment
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		tr.MaxIdleConnsPerHost = 16
		if o.tls != nil {
			tr.TLSClientConfig = o.tls
		}
		hc = &http.Client{Transport: tr}
	}
	// Never follow a redirect with the credential to another place.
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: u, hc: &c, key: o.key, userAgent: o.userAgent, timeout: o.timeout}, nil
}

// Endpoint returns the server's base URL.
func (c *Client) Endpoint() string { return c.base.String() }

// Close releases idle connections. It implements telamentis.Store.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// ProblemError is an error response of the server (RFC 9457). It wraps a
// *telamentis.Error, so errors.As and telamentis.ErrorCode work on it, and
// keeps the request id for support.
type ProblemError struct {
	Status    int
	Type      string
	Title     string
	Detail    string
	Instance  string
	RequestID string
	Fields    []telamentis.FieldError
	// RetryAfter is the server's Retry-After for rate-limited requests.
	RetryAfter time.Duration

	err *telamentis.Error
}

// Error returns one line: the detail (or title), field errors and the
// request id.
func (e *ProblemError) Error() string {
	var b strings.Builder
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	b.WriteString(msg)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
	}
	fmt.Fprintf(&b, " (%d %s", e.Status, e.Code())
	if e.RequestID != "" {
		fmt.Fprintf(&b, ", request id %s", e.RequestID)
	}
	b.WriteString(")")
	return b.String()
}

// Code returns the domain code of the problem.
func (e *ProblemError) Code() telamentis.Code { return e.err.Code }

// Unwrap returns the *telamentis.Error.
func (e *ProblemError) Unwrap() error { return e.err }

// codeOf maps a problem type (or, failing that, the status) to a code.
func codeOf(typ string, status int) telamentis.Code {
	switch strings.TrimPrefix(typ, "https://telamentis.dev/problems/") {
	case "invalid", "too-large", "unsupported-media-type", "method-not-allowed", "not-acceptable", "unprocessable":
		return telamentis.CodeInvalid
	case "not-found":
		return telamentis.CodeNotFound
	case "conflict":
		return telamentis.CodeConflict
	case "unauthenticated":
		return telamentis.CodeUnauthenticated
	case "forbidden":
		return telamentis.CodeForbidden
	case "rate-limited", "budget-exceeded":
		return telamentis.CodeRateLimited
	case "quota-exceeded":
		return telamentis.CodeQuota
	case "unavailable", "timeout":
		return telamentis.CodeUnavailable
	case "internal":
		return telamentis.CodeInternal
	}
	switch {
	case status == 401:
		return telamentis.CodeUnauthenticated
	case status == 403:
		return telamentis.CodeForbidden
	case status == 404:
		return telamentis.CodeNotFound
	case status == 409:
		return telamentis.CodeConflict
	case status == 429:
		return telamentis.CodeRateLimited
	case status == 502, status == 503, status == 504:
		return telamentis.CodeUnavailable
	case status >= 400 && status < 500:
		return telamentis.CodeInvalid
	}
	return telamentis.CodeInternal
}

// problemJSON is the wire form of a problem.
type problemJSON struct {
	Type      string                  `json:"type"`
	Title     string                  `json:"title"`
	Status    int                     `json:"status"`
	Detail    string                  `json:"detail"`
	Instance  string                  `json:"instance"`
	RequestID string                  `json:"request_id"`
	Errors    []telamentis.FieldError `json:"errors"`
}

// decodeProblem turns an error response into a *ProblemError.
func decodeProblem(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var p problemJSON
	if json.Unmarshal(body, &p) != nil || p.Status == 0 {
		p = problemJSON{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
	}
	if p.Status == 0 {
		p.Status = resp.StatusCode
	}
	return problemFrom(p, resp.Header)
}

func problemFrom(p problemJSON, h http.Header) *ProblemError {
	if p.RequestID == "" && h != nil {
		p.RequestID = h.Get("X-Request-ID")
	}
	if p.RequestID == "" {
		p.RequestID = strings.TrimPrefix(p.Instance, "urn:telamentis:request:")
	}
	code := codeOf(p.Type, p.Status)
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	e := &ProblemError{Status: p.Status, Type: p.Type, Title: p.Title, Detail: p.Detail, Instance: p.Instance,
		RequestID: p.RequestID, Fields: p.Errors,
		err: &telamentis.Error{Code: code, Message: msg, Fields: p.Errors}}
	// The LLM sentinels, so that errors.Is works as on the server side.
	switch strings.TrimPrefix(p.Type, "https://telamentis.dev/problems/") {
	case "unprocessable":
		e.err.Err = telamentis.ErrUnprocessable
	case "budget-exceeded":
		e.err.Err = telamentis.ErrBudgetExceeded
	}
	if h != nil {
		if s := h.Get("Retry-After"); s != "" {
			var secs int
			if _, err := fmt.Sscanf(s, "%d", &secs); err == nil && secs >= 0 {
				e.RetryAfter = time.Duration(secs) * time.Second
			}
		}
	}
	return e
}

// request is one API call.
type request struct {
	method string
	path   string // escaped path under the endpoint
	query  url.Values
	body   any       // JSON-encoded unless nil
	raw    io.Reader // streamed body (NDJSON) instead of body
	ctype  string
	accept string
}

func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + r.path
	u.RawPath = ""
	if strings.Contains(r.path, "%") {
		u.RawPath = strings.TrimRight(c.base.EscapedPath(), "/") + r.path
		if p, err := url.PathUnescape(u.RawPath); err == nil {
			u.Path = p
		}
	}
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	ctype := r.ctype
	switch {
	case r.raw != nil:
		body = r.raw
	case r.body != nil:
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("client: encode %s %s: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(b)
		if ctype == "" {
			ctype = "application/json"
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	} else {
		req.Header.Set("Accept", "application/json, application/problem+json")
	}
	req.Header.Set("User-Agent", c.userAgent)
	if !c.key.IsZero() {
		req.Header.Set("Authorization", "Bearer "+c.key.Reveal())
	}
	if id := telamentis.RequestIDFromContext(ctx); id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	return req, nil
}

// send runs r and returns the response when its status is 2xx; any other
// status is decoded into a *ProblemError.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &telamentis.Error{Code: telamentis.CodeUnavailable,
			Message: fmt.Sprintf("cannot reach %s", c.base.Redacted()), Err: fmt.Errorf("client: %s %s: %w", r.method, r.path, err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, decodeProblem(resp)
	}
	return resp, nil
}

// call runs r and decodes a JSON answer into out (unless nil).
func (c *Client) call(ctx context.Context, r request, out any) error {
	if c.timeout > 0 && r.raw == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: decode %s %s: %w", r.method, r.path, err)
	}
	return nil
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

func timeParam(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.UTC().Format(time.RFC3339Nano))
	}
}
