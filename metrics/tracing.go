package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/telamentis/telamentis"
)

// TracingConfig configures OpenTelemetry tracing. It is off by default.
type TracingConfig struct {
	Enabled bool
	// OTLPEndpoint is the OTLP/HTTP traces URL of a collector, e.g.
	// "https://otel-collector:4318/v1/traces". Plain http is accepted only
	// for loopback collectors or when Insecure is set.
	OTLPEndpoint string
	Insecure     bool
	// Headers are sent with every export (e.g. a collector API key).
	Headers map[string]telamentis.Secret
	// ServiceName names the service in traces; default "telamentis".
	ServiceName string
	// SampleRatio is the fraction of new root traces recorded, in (0, 1];
	// a sampled parent from traceparent is always followed.
	SampleRatio float64
}

// Tracing starts server spans for HTTP requests, continuing W3C
// traceparent/tracestate from callers, and exports them over OTLP/HTTP. A
// nil or disabled *Tracing passes requests through untouched.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
}

// NewTracing returns a Tracing for cfg; with cfg.Enabled false it returns a
// disabled one and never contacts anything. It uses no global OpenTelemetry
// state.
func NewTracing(ctx context.Context, cfg TracingConfig, logger *slog.Logger) (*Tracing, error) {
	if !cfg.Enabled {
		return &Tracing{tracer: noop.NewTracerProvider().Tracer(""), prop: propagation.TraceContext{}}, nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SampleRatio <= 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("metrics: tracing: sample ratio must be in (0, 1], got %v", cfg.SampleRatio)
	}
	u, err := url.Parse(cfg.OTLPEndpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("metrics: tracing: otlp endpoint must be an http(s) URL")
	}
	if u.Scheme == "http" && !cfg.Insecure && !isLoopbackHost(u.Hostname()) {
		return nil, errors.New("metrics: tracing: plaintext otlp endpoint off loopback needs insecure: true")
	}
	exp := newOTLPExporter(cfg.OTLPEndpoint, cfg.Headers)
	name := cfg.ServiceName
	if name == "" {
		name = "telamentis"
	}
	res := resource.NewSchemaless(attribute.String("service.name", name))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(loggingExporter{SpanExporter: exp, logger: logger}),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	logger.Info("tracing enabled", slog.String("endpoint", u.Scheme+"://"+u.Host), slog.Float64("sample_ratio", cfg.SampleRatio))
	return &Tracing{
		provider: tp,
		tracer:   tp.Tracer("github.com/telamentis/telamentis"),
		prop:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}),
	}, nil
}

// loggingExporter reports failed exports to the server's logger. The
// batch processor would hand them to OpenTelemetry's process-wide error
// handler, which writes to the standard library's default logger.
type loggingExporter struct {
	sdktrace.SpanExporter
	logger *slog.Logger
}

func (e loggingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		e.logger.Warn("tracing export failed", slog.Int("spans", len(spans)), slog.String("err", err.Error()))
	}
	return nil
}

// Tracer returns the tracer, for spans around store and LLM calls.
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer("")
	}
	return t.tracer
}

// Shutdown flushes pending spans and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.provider == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("metrics: tracing: shutdown: %w", err)
	}
	return nil
}

// Middleware starts a server span per request, as a child of the caller's
// traceparent if present. The span is named by the route pattern from labels
// (nil means PatternLabels), or by a handler calling NameSpan; with neither
// it keeps the method as its name. It records method, route and status
// only: no path, query, headers or client address. When tracing is disabled
// it returns next.
func (t *Tracing) Middleware(next http.Handler, labels Labels) http.Handler {
	if t == nil || t.provider == nil {
		return next
	}
	if labels == nil {
		labels = PatternLabels
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", methodLabel(r.Method))))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if route, _ := labels(r); route != "" {
			NameSpan(ctx, route)
		}
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

// Inject writes the current span's traceparent into an outgoing request's
// headers, for calls to services inside the trust boundary. Do not use it on
// calls to third parties.
func (t *Tracing) Inject(ctx context.Context, h http.Header) {
	if t == nil || t.provider == nil {
		return
	}
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
}

// NameSpan names the current server span after the matched route pattern
// and records it as http.route. A handler that knows its route (but hides it
// from r.Pattern, e.g. behind its own middleware) calls it; it does nothing
// without a recording span.
func NameSpan(ctx context.Context, route string) {
	span := trace.SpanFromContext(ctx)
	if route == "" || !span.IsRecording() {
		return
	}
	span.SetName(route)
	span.SetAttributes(attribute.String("http.route", route))
}
