// Package metrics exposes the server's Prometheus metrics on a registry of
// its own, an admin handler that serves them with pprof (and nothing else
// serves pprof), and optional OpenTelemetry tracing with W3C trace-context
// propagation.
//
// Labels are bounded: routes are patterns ("GET /v1/graph/{tenant}/nodes"),
// never raw paths; tenants are validated tenant IDs; everything else comes
// from small fixed sets chosen by the caller. No label or metric ever holds
// a credential, a request body or a client address.
package metrics

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/telamentis/telamentis"
)

const namespace = "telamentis"

// Metrics holds the server's collectors. Its methods are safe for
// concurrent use; a nil *Metrics ignores every call, so callers need no
// checks when metrics are off.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	inFlight      prometheus.Gauge
	graphOps      *prometheus.CounterVec
	storeLatency  *prometheus.HistogramVec
	authFailures  *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	quotaExceeded *prometheus.CounterVec
	auditWrites   *prometheus.CounterVec
	tlsReloads    *prometheus.CounterVec
}

// New returns Metrics registered on a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests by route pattern, method, status code and tenant.",
		}, []string{"route", "method", "status", "tenant"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		graphOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "graph", Name: "operations_total",
			Help: "Graph operations by operation name, tenant and error code (\"ok\" on success).",
		}, []string{"op", "tenant", "code"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "store", Name: "operation_duration_seconds",
			Help:    "Store call latency by backend, operation and outcome.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"backend", "op", "outcome"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "auth", Name: "failures_total",
			Help: "Failed authentications by method (api_key, jwt, mtls) and reason.",
		}, []string{"method", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "ratelimit", Name: "rejections_total",
			Help: "Requests refused by a rate limit, by scope (tenant, key, ip, concurrency) and tenant.",
		}, []string{"scope", "tenant"}),
		quotaExceeded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "quota", Name: "exceeded_total",
			Help: "Writes refused by a tenant quota, by resource (nodes, edges, llm_spend).",
		}, []string{"resource", "tenant"}),
		auditWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "audit", Name: "writes_total",
			Help: "Audit record appends by outcome (ok, error). Errors refuse sensitive operations.",
		}, []string{"outcome"}),
		tlsReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "tls", Name: "reloads_total",
			Help: "TLS certificate and secret reloads by kind and outcome.",
		}, []string{"kind", "outcome"}),
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.inFlight, m.graphOps, m.storeLatency,
		m.authFailures, m.rateLimited, m.quotaExceeded, m.auditWrites, m.tlsReloads} {
		f(c)
	}
	return m
}

// Registry returns the registry, for extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format. Mount
// it on the admin listener only (see NewAdminHandler).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

var tenantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,62}$`)

// tenantLabel keeps only valid tenant IDs; anything else would let a
// caller mint label values.
func tenantLabel(t string) string {
	switch {
	case t == "":
		return "none"
	case tenantRE.MatchString(t):
		return t
	}
	return "invalid"
}

var wordRE = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,39}$`)

// word keeps a short lowercase identifier from the fixed vocabulary the
// caller uses ("node.upsert", "unknown_key") and collapses anything else to
// "other", so no free text (and no credential) becomes a label value.
func word(s string) string {
	if wordRE.MatchString(s) {
		return s
	}
	return "other"
}

var methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}

func methodLabel(m string) string {
	if methods[m] {
		return m
	}
	return "OTHER"
}

// ObserveRequest records one finished HTTP request. route must be the
// matched pattern (e.g. "GET /v1/graph/{tenant}/nodes/{id}"), or "" when no
// route matched; tenant is the authenticated principal's tenant or "".
func (m *Metrics) ObserveRequest(route, method string, status int, tenant string, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" || len(route) > 160 {
		route = "unmatched"
	}
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status), tenantLabel(tenant)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// GraphOp counts one graph operation ("node.upsert", "query.paths", …)
// with the telamentis error code of err, or "ok".
func (m *Metrics) GraphOp(op, tenant string, err error) {
	if m == nil {
		return
	}
	code := "ok"
	if err != nil {
		code = string(telamentis.ErrorCode(err))
	}
	m.graphOps.WithLabelValues(word(op), tenantLabel(tenant), code).Inc()
}

// StoreCall records the latency of one store call on backend ("badger",
// "postgres", "memory").
func (m *Metrics) StoreCall(backend, op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = string(telamentis.ErrorCode(err))
	}
	m.storeLatency.WithLabelValues(word(backend), word(op), outcome).Observe(d.Seconds())
}

// AuthFailure counts a failed authentication. reason is a fixed word
// ("malformed", "unknown_key", "bad_secret", "expired", "revoked",
// "bad_signature", "bad_claims", …), never the presented credential.
func (m *Metrics) AuthFailure(method, reason string) {
	if m == nil {
		return
	}
	m.authFailures.WithLabelValues(word(method), word(reason)).Inc()
}

// RateLimited counts a request refused by a limit of the given scope
// ("tenant", "key", "ip", "unauthenticated", "concurrency").
func (m *Metrics) RateLimited(scope, tenant string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(word(scope), tenantLabel(tenant)).Inc()
}

// QuotaExceeded counts a write refused by a tenant quota.
func (m *Metrics) QuotaExceeded(resource, tenant string) {
	if m == nil {
		return
	}
	m.quotaExceeded.WithLabelValues(word(resource), tenantLabel(tenant)).Inc()
}

// AuditWrite counts an audit append and whether it failed.
func (m *Metrics) AuditWrite(err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.auditWrites.WithLabelValues(outcome).Inc()
}

// Reload counts a reload of kind ("tls", "secrets").
func (m *Metrics) Reload(kind string, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.tlsReloads.WithLabelValues(word(kind), outcome).Inc()
}

// Labels returns the route pattern and tenant of a served request, for
// Middleware. It is called after the handler returned.
type Labels func(r *http.Request) (route, tenant string)

// PatternLabels reads r.Pattern, which http.ServeMux sets on the request it
// was given; it works when the mux receives the same *http.Request the
// middleware passed on. The tenant is not known to it.
func PatternLabels(r *http.Request) (string, string) { return r.Pattern, "" }

// Middleware records request metrics for next. labels names the route
// pattern and tenant after next returns; nil means PatternLabels. Requests
// with no route are counted under "unmatched", so raw paths never become
// labels.
func (m *Metrics) Middleware(next http.Handler, labels Labels) http.Handler {
	if m == nil {
		return next
	}
	if labels == nil {
		labels = PatternLabels
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			route, tenant := labels(r)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			if v := recover(); v != nil {
				m.ObserveRequest(route, r.Method, http.StatusInternalServerError, tenant, time.Since(start))
				panic(v)
			}
			m.ObserveRequest(route, r.Method, status, tenant, time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var errNoMetrics = errors.New("metrics: admin handler: metrics are required")
