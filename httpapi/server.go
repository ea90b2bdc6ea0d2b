// Package httpapi is TelaMentis's REST API: the HTTP transport of the
// domain services, with an OpenAPI 3.1 description generated from the Go
// types (huma), strict input decoding, RFC 9457 problem responses,
// authentication from the Authorization header, role and tenant checks, and
// the request pipeline around every operation.
//
// It takes the domain interfaces (telamentis.Store, Authenticator,
// KeyManager, AuditLog) and a pipeline Runner in a plain Config; cmd wires
// the concrete adapters. See docs/api.md for the routes and
// docs/security/authorization.md for who may call which.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/telamentis/telamentis"
)

// Runner runs an operation through the request pipeline; *pipeline.Chain
// is one.
type Runner interface {
	Run(ctx context.Context, op *telamentis.Operation, h telamentis.Handler) error
}

// Config configures a Server. Store, Auth and Keys are required.
type Config struct {
	Store telamentis.Store
	Auth  telamentis.Authenticator
	Keys  telamentis.KeyManager
	// Pipeline runs every operation (tenant guard, rate limits, audit, …).
	// Nil runs operations directly; the transport's own role and tenant
	// checks apply either way.
	Pipeline Runner
	// Audit, if set, receives authentication events and serves GET
	// /v1/audit. If it has a Ready(ctx) error method (audit.Log does),
	// /readyz answers 503 while it returns an error.
	Audit telamentis.AuditLog
	// AuditAuthSuccess also records every successful authentication (one
	// durable audit write per request). Failures are always recorded.
	AuditAuthSuccess bool
	// AuthSuccess, if set with AuditAuthSuccess, records successful
	// authentications instead of a record per request (the audit package's
	// AuthEvents.Success: once per actor and client IP per interval).
	AuthSuccess func(ctx context.Context, p *telamentis.Principal, requestID, clientIP string) error
	// PIIKey keys the pseudonyms of PII properties (tenant policy mode
	// "pseudonymise"). Required; at least 32 bytes.
	PIIKey []byte
	// Logger receives the access log and errors. Nil discards.
	Logger *slog.Logger
	// Version is shown in the OpenAPI document.
	Version string
	// AuthGuard, if set, throttles failed authentication per client IP
	// (*ratelimit.Limiter is one): once an IP has used up its budget, its
	// failures get 429 instead of 401. A credential that verifies is never
	// refused by it.
	AuthGuard AuthGuard
	// Extractor, if set, serves POST /v1/llm/{tenant}/extract (package
	// extract); without it that route answers 503.
	Extractor telamentis.Extractor
	// OnRequest, if set, is called once per finished request with the
	// matched route pattern ("GET /v1/graph/{tenant}/nodes", "" when no
	// API route matched), the method, the authenticated tenant ("" if
	// none), the status and the duration: the hook for request metrics and
	// span names. It runs on the request's goroutine and must not block.
	OnRequest func(ctx context.Context, route, method, tenant string, status int, d time.Duration)
}

// AuthGuard is the brute-force guard on authentication. AuthFailed counts
// a failed authentication from ip and, once ip has used up its budget,
// returns an error carrying RetryAfter. Only failures reach it: every
// tenant's valid keys may share a client IP (a proxy, a NAT), and a
// failure flood from that IP must not lock them out.
type AuthGuard interface {
	AuthFailed(ctx context.Context, ip string) error
}

// Server is the HTTP API. It is an http.Handler and safe for concurrent
// use.
type Server struct {
	store    telamentis.Store
	auth     telamentis.Authenticator
	keys     telamentis.KeyManager
	pipeline Runner
	audit    telamentis.AuditLog
	auditOK  bool
	piiKey   []byte
	logger   *slog.Logger
	guard    AuthGuard

	api     huma.API
	handler http.Handler
	spec    []byte
	shapes  map[string]*shape // of request bodies, by operation id

	onRequest   func(ctx context.Context, route, method, tenant string, status int, d time.Duration)
	authSuccess func(ctx context.Context, p *telamentis.Principal, requestID, clientIP string) error
}

var installHumaError sync.Once

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("httpapi: new: store required")
	case cfg.Auth == nil:
		return nil, errors.New("httpapi: new: authenticator required")
	case cfg.Keys == nil:
		return nil, errors.New("httpapi: new: key manager required")
	case len(cfg.PIIKey) < 32:
		return nil, errors.New("httpapi: new: PII key of at least 32 bytes required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	installHumaError.Do(func() {
		huma.NewErrorWithContext = humaError
		// NewError also names the error schema in the OpenAPI document.
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			return humaError(nil, status, msg, errs...)
		}
	})

	s := &Server{
		store: cfg.Store, auth: cfg.Auth, keys: cfg.Keys, pipeline: cfg.Pipeline,
		audit: cfg.Audit, auditOK: cfg.AuditAuthSuccess, logger: cfg.Logger,
		piiKey: append([]byte(nil), cfg.PIIKey...),
		guard:  cfg.AuthGuard, onRequest: cfg.OnRequest, authSuccess: cfg.AuthSuccess,
	}

	mux := http.NewServeMux()
	hc := huma.DefaultConfig("TelaMentis API", cfg.Version)
	hc.OpenAPIPath = ""
	hc.DocsPath = ""
	hc.SchemasPath = ""
	hc.CreateHooks = nil // no $schema links in bodies
	hc.Formats = map[string]huma.Format{
		"application/json": jsonFormat,
		"json":             jsonFormat,
	}
	hc.RejectUnknownQueryParameters = true
	hc.Info.Description = "Multi-tenant bitemporal knowledge-graph memory. Authenticate with " +
		"`Authorization: Bearer <api key or OIDC token>`. Errors are RFC 9457 problem details."
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "API key (tm_…) or OIDC JWT"},
	}
	hc.Security = []map[string][]string{{"bearer": {}}}
	hc.Servers = apiServers
	hc.Info.License = apiLicense
	s.api = humago.New(mux, hc)
	s.api.UseMiddleware(func(ctx huma.Context, next func(huma.Context)) {
		if info := infoFrom(ctx.Context()); info != nil {
			op := ctx.Operation()
			info.route = op.Method + " " + op.Path
			info.op = op.OperationID
			// The body is scanned against the operation's shape before
			// huma decodes any of it (strictBody only read it).
			if len(info.body) > 0 {
				if err := checkBody(info.body, s.shapes[op.OperationID]); err != nil {
					_, w := humago.Unwrap(ctx)
					writeProblem(w, problemFor(err, telamentis.RequestIDFromContext(ctx.Context())))
					return
				}
			}
		}
		next(ctx)
	})
	s.registerRoutes()
	s.registerExtractRoute(cfg.Extractor)
	s.shapes = bodyShapes(s.api)

	spec, err := s.api.OpenAPI().MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("httpapi: new: openapi: %w", err)
	}
	s.spec = spec

	for _, r := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"GET /healthz", s.healthz}, {"GET /readyz", s.readyz}, {"GET /openapi.json", s.openapi},
		{"GET /docs", s.docs}, {"GET /docs/{file}", s.docsAsset},
	} {
		mux.HandleFunc(r.pattern, routed(r.pattern, r.h))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		id := telamentis.RequestIDFromContext(r.Context())
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, newProblem(http.StatusMethodNotAllowed, id, "method not allowed on this route", nil))
			return
		}
		writeProblem(w, newProblem(http.StatusNotFound, id, "no such route", nil))
	})

	s.handler = s.outer(s.authenticate(cleanPaths(s.strictBody(mux))))
	return s, nil
}

// routed names a plain (non-huma) route in the access log and metrics,
// as the huma middleware does for the API's operations.
func routed(pattern string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if info := infoFrom(r.Context()); info != nil {
			info.route = pattern
		}
		h(w, r)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// OpenAPI returns the OpenAPI 3.1 document as JSON.
func (s *Server) OpenAPI() []byte { return s.spec }

// reqInfo collects what the access log reports about a request.
type reqInfo struct {
	route, op, tenant, keyID, clientIP string
	body                               []byte     // the JSON body read by strictBody, for checkBody
	query                              url.Values // the parsed query string (queryOf)
}

type infoKey struct{}

// queryOf returns the request's parsed query, parsed once per request.
func queryOf(r *http.Request) url.Values {
	info := infoFrom(r.Context())
	if info == nil {
		return r.URL.Query()
	}
	if info.query == nil {
		info.query = r.URL.Query()
	}
	return info.query
}

func infoFrom(ctx context.Context) *reqInfo {
	i, _ := ctx.Value(infoKey{}).(*reqInfo)
	return i
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestID returns the client's X-Request-ID if it is short and safe
// (1–64 of [A-Za-z0-9._-]), else a new random id.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-ID"); id != "" && len(id) <= 64 && safeID(id) {
		return id
	}
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func safeID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// outer assigns the request id, sets the common headers, recovers panics
// and writes the access log line.
func (s *Server) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		info := &reqInfo{clientIP: clientIP(r)}
		ctx := telamentis.NewContextWithRequestID(r.Context(), id)
		ctx = context.WithValue(ctx, infoKey{}, info)
		r = r.WithContext(ctx)
		h := w.Header()
		h.Set("X-Request-ID", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.Error("panic in handler", slog.String("request_id", id),
					slog.Any("err", v), slog.String("stack", string(debug.Stack())))
				if sw.status == 0 {
					writeProblem(sw, newProblem(http.StatusInternalServerError, id, "internal error", nil))
				}
			}
			if s.onRequest != nil {
				status := sw.status
				if status == 0 {
					status = http.StatusOK
				}
				s.onRequest(ctx, info.route, r.Method, info.tenant, status, time.Since(start))
			}
			route := info.route
			if route == "" {
				route = r.Method + " (unmatched)"
			}
			s.logger.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", id),
				slog.String("route", route),
				slog.String("op", info.op),
				slog.String("tenant", info.tenant),
				slog.String("key_id", info.keyID),
				slog.Int("status", sw.status),
				slog.Int64("bytes", sw.bytes),
				slog.Duration("duration", time.Since(start)))
		}()
		next.ServeHTTP(sw, r)
	})
}

// credentialParams are the query parameter names that carry credentials.
var credentialParams = []string{"api_key", "apikey", "api-key", "key", "token", "access_token",
	"id_token", "auth", "authorization", "bearer", "jwt", "secret", "password"}

// credentialInQuery reports whether the query string has a parameter named
// like a credential (case-insensitively). Such requests are refused even
// when the Authorization header is valid: a credential in a URL ends up in
// logs and browser histories and must be rotated. Values are never judged
// by their shape: a PostgreSQL cursor is base64 of JSON ("eyJ…") and an
// alias may well start with "tm_".
func credentialInQuery(q url.Values) bool {
	for k := range q {
		for _, c := range credentialParams {
			if strings.EqualFold(k, c) {
				return true
			}
		}
	}
	return false
}

const unauthenticatedDetail = "missing or invalid credentials"

// authenticate resolves the principal of every /v1/ request from the
// Authorization header. Every failure answers the same 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		id := telamentis.RequestIDFromContext(ctx)
		ip := clientIP(r)
		// Every credential is tried, from any IP: verifying one is cheap
		// (docs/security/threat-model.md), and only failures are throttled.
		fail := func(detail string) {
			if s.guard != nil {
				if err := s.guard.AuthFailed(ctx, ip); err != nil {
					// Over budget: 429, recorded by the guard (throttled),
					// not as one audit record per request.
					writeProblem(w, problemFor(err, id))
					return
				}
			}
			s.auditAuth(ctx, r, nil, telamentis.AuditAuthFailure, telamentis.OutcomeDenied)
			// The cause is not logged: a credential parser's error could
			// quote the credential. The authenticator logs its own reasons.
			s.logger.Info("authentication failed", slog.String("request_id", id), slog.String("ip", ip))
			writeProblem(w, newProblem(http.StatusUnauthorized, id, detail, nil))
		}
		if r.URL.RawQuery != "" && credentialInQuery(queryOf(r)) {
			fail("credentials are accepted only in the Authorization header")
			return
		}
		hv := r.Header.Values("Authorization")
		if len(hv) != 1 || hv[0] == "" || len(hv[0]) > 8192 {
			fail(unauthenticatedDetail)
			return
		}
		p, err := s.auth.Authenticate(ctx, hv[0])
		if err != nil || p == nil || !p.Role.Valid() {
			if code := telamentis.ErrorCode(err); code != "" && code != telamentis.CodeUnauthenticated {
				// The authenticator could not decide (store down): not the
				// caller's fault, and not an authentication failure.
				logError(s.logger, id, err)
				writeProblem(w, problemFor(err, id))
				return
			}
			fail(unauthenticatedDetail)
			return
		}
		if info := infoFrom(ctx); info != nil {
			info.tenant, info.keyID = p.Tenant, p.KeyID
		}
		switch {
		case s.auditOK && s.authSuccess != nil:
			if err := s.authSuccess(ctx, p, id, ip); err != nil {
				s.logger.Error("audit append failed", slog.String("request_id", id),
					slog.String("op", telamentis.AuditAuthSuccess), slog.String("err", err.Error()))
			}
		case s.auditOK:
			s.auditAuth(ctx, r, p, telamentis.AuditAuthSuccess, telamentis.OutcomeSuccess)
		}
		next.ServeHTTP(w, r.WithContext(telamentis.NewContextWithPrincipal(ctx, p)))
	})
}

func (s *Server) auditAuth(ctx context.Context, r *http.Request, p *telamentis.Principal, action, outcome string) {
	if s.audit == nil {
		return
	}
	rec := telamentis.AuditRecord{
		RequestID: telamentis.RequestIDFromContext(ctx),
		Action:    action,
		Outcome:   outcome,
		ClientIP:  clientIP(r),
		Target:    r.Method + " " + telamentis.RedactCredentials(r.URL.Path),
	}
	if p != nil {
		rec.Actor, rec.Tenant = p.Actor(), p.Tenant
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.audit.Append(actx, rec); err != nil {
		s.logger.Error("audit append failed", slog.String("request_id", rec.RequestID),
			slog.String("op", action), slog.String("err", err.Error()))
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// strictBody reads the body of every JSON request before huma sees it and
// checks its size (1 MiB, 16 MiB for batches) and content type; the
// operation's middleware scans it (checkBody) once the route, and so the
// body's shape, is known. The ingest and import streams are checked line
// by line by their handlers.
func (s *Server) strictBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkQuery(r); err != nil {
			writeProblem(w, problemFor(err, telamentis.RequestIDFromContext(r.Context())))
			return
		}
		if r.Body == nil || r.Body == http.NoBody || !bodyChecked(r.Method, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		id := telamentis.RequestIDFromContext(r.Context())
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
				writeProblem(w, newProblem(http.StatusUnsupportedMediaType, id, "request bodies are application/json", nil))
				return
			}
		}
		limit := int64(MaxBodyBytes)
		if strings.HasSuffix(r.URL.Path, "/batch") {
			limit = MaxBatchBodyBytes
		}
		if r.ContentLength > limit {
			writeProblem(w, newProblem(http.StatusRequestEntityTooLarge, id, "request body too large", nil))
			return
		}
		body, err := readBody(r, limit)
		if err != nil {
			writeProblem(w, newProblem(http.StatusBadRequest, id, "cannot read request body", nil))
			return
		}
		if int64(len(body)) > limit {
			writeProblem(w, newProblem(http.StatusRequestEntityTooLarge, id, "request body too large", nil))
			return
		}
		if info := infoFrom(r.Context()); info != nil {
			info.body = body
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Type", "application/json")
		next.ServeHTTP(w, r)
	})
}

// allowedMethods returns the methods that have a route for r's path,
// for the Allow header of a 405.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		r2 := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(r2); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// listParams are the query parameters that may repeat.
var listParams = map[string]bool{"kind": true, "include": true}

// checkQuery refuses a malformed query string and repeated parameters
// (parameter pollution: which of two values wins differs between parsers).
func checkQuery(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		return telamentis.Invalid("query", "malformed query string")
	}
	for k, vs := range queryOf(r) {
		if len(vs) > 1 && !listParams[k] {
			return telamentis.Invalid("query."+k, "given more than once")
		}
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"ok"}`+"\n")
}

// auditReadier is an AuditLog that can tell whether it takes records
// (the audit package's Log.Ready): while it cannot, every sensitive
// operation is refused, so the replica is not ready.
type auditReadier interface {
	Ready(ctx context.Context) error
}

// readyz answers 200 when the store answers and the audit log, if it can
// tell, takes records; 503 otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	_, err := s.store.GetTenant(ctx, "readyz-probe")
	if telamentis.ErrorCode(err) == telamentis.CodeNotFound {
		err = nil
	}
	if a, ok := s.audit.(auditReadier); ok && err == nil {
		err = a.Ready(ctx)
	}
	if err != nil {
		id := telamentis.RequestIDFromContext(r.Context())
		logError(s.logger, id, fmt.Errorf("httpapi: readyz: %w", err))
		writeProblem(w, newProblem(http.StatusServiceUnavailable, id, "not ready", nil))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"ready"}`+"\n")
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(s.spec)
}
