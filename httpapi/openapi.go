package httpapi

import (
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// The OpenAPI document's error responses are derived, not written per
// route: what an operation can answer follows from the checks every request
// passes (authentication, the query and body checks, the role and tenant
// checks of do, the pipeline's limits) and from what its spec says it does
// (writes, path parameters). operation applies the rules; each route names
// only what is its own (opSpec.statuses).

// apiServers is the document's servers list: one relative URL, which
// OpenAPI resolves against the URL the document was fetched from, so a
// client generated from https://host/openapi.json calls https://host/v1/….
// A fixed URL would be wrong behind every proxy and port but one.
var apiServers = []*huma.Server{{URL: "/", Description: "The server this document was fetched from."}}

// apiLicense matches the repository's LICENSE file.
var apiLicense = &huma.License{Name: "Apache 2.0", Identifier: "Apache-2.0"}

// statusText explains, per status, why an operation may answer it.
var statusText = map[int]string{
	http.StatusBadRequest: "Invalid request: a malformed or unknown query parameter, a path parameter " +
		"that breaks its pattern, or a body that breaks the schema or a rule (field errors in errors).",
	http.StatusUnauthorized: "Missing or invalid credentials (always the same body).",
	http.StatusForbidden: "The credential's role may not run this operation, its tenant is suspended, " +
		"or a write would pass the tenant's quota (type quota-exceeded).",
	http.StatusNotFound: "No such record, or a tenant in the path that is not the credential's " +
		"(answered exactly like a missing record).",
	http.StatusConflict: "The write conflicts with a record (an alias or id in use, a revoked key, " +
		"a non-empty tenant) or with a concurrent write (retry).",
	http.StatusRequestEntityTooLarge: "The request body is larger than the limit (1 MiB; 16 MiB for a batch).",
	http.StatusUnsupportedMediaType:  "The request body is not application/json.",
	http.StatusUnprocessableEntity:   "The input was understood but refused (type unprocessable); nothing was written.",
	http.StatusTooManyRequests: "A rate limit (tenant, key, client IP, concurrency, failed authentications) " +
		"or a budget refused the request; retry after Retry-After seconds.",
	http.StatusServiceUnavailable: "The store, the audit log or a provider is unavailable; retry later.",
}

// operation returns op with the error responses an operation of spec can
// answer, each a Problem as application/problem+json, and a default
// response for the rest (500). The statuses:
//
//   - 400, 401, 429, 503: every operation (the query checks, the
//     authentication, the rate limits and the failed-authentication guard,
//     a store that does not answer);
//   - 403: every operation, since each refuses some role or a suspended
//     tenant;
//   - 404: a path parameter, or a role a tenant credential holds (its
//     tenant must exist);
//   - 409: a write (conflicting records, a concurrent write);
//   - 413, 415: a JSON body read by strictBody (bodyChecked);
//   - spec.statuses: what the operation's own service adds.
func (s *Server) operation(spec opSpec, op huma.Operation) huma.Operation {
	statuses := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden,
		http.StatusTooManyRequests, http.StatusServiceUnavailable}
	if strings.Contains(op.Path, "{") || spec.allowed&anyTenantRole != 0 {
		statuses = append(statuses, http.StatusNotFound)
	}
	if spec.write {
		statuses = append(statuses, http.StatusConflict)
	}
	if bodyChecked(op.Method, op.Path) {
		statuses = append(statuses, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	statuses = append(statuses, spec.statuses...)
	slices.Sort(statuses)
	statuses = slices.Compact(statuses)

	problem := s.api.OpenAPI().Components.Schemas.Schema(reflectType[Problem](), true, "Problem")
	content := map[string]*huma.MediaType{"application/problem+json": {Schema: problem}}
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	for _, st := range statuses {
		r := &huma.Response{Description: statusText[st], Content: content}
		switch st {
		case http.StatusUnauthorized:
			r.Headers = map[string]*huma.Header{"WWW-Authenticate": {
				Description: `Bearer realm="telamentis"`, Schema: &huma.Schema{Type: "string"}}}
		case http.StatusTooManyRequests:
			r.Headers = map[string]*huma.Header{"Retry-After": {
				Description: "Seconds until a retry may succeed.", Schema: &huma.Schema{Type: "integer", Minimum: ptr(1.0)}}}
		}
		op.Responses[strconv.Itoa(st)] = r
	}
	op.Responses["default"] = &huma.Response{Description: "Internal error (500): a generic detail; the cause is " +
		"in the server log under the request id.", Content: content}
	return op
}

// createdResponse documents the 201 of an upsert, which answers 201 when
// it created the record and 200 otherwise (the same body).
func (s *Server) createdResponse(t reflect.Type, name string) map[string]*huma.Response {
	schema := s.api.OpenAPI().Components.Schemas.Schema(t, true, name)
	return map[string]*huma.Response{"201": {Description: "Created",
		Content: map[string]*huma.MediaType{"application/json": {Schema: schema}}}}
}

func ptr[T any](v T) *T { return &v }

// bodyChecked reports whether strictBody reads and checks the body of a
// request with method to path: every request that may carry a body but
// the ingest and import streams, which their handlers read line by line.
func bodyChecked(method, path string) bool {
	if method == http.MethodGet || method == http.MethodHead {
		return false
	}
	return !strings.HasSuffix(path, "/ingest") && !strings.HasSuffix(path, "/import")
}
