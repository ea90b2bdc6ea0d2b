package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// recordSpans returns ended spans: "one" (server, child of a remote
// parent, every attribute type, an event, a link, status error) and "two"
// (another scope, status ok).
func recordSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc"))))
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	psid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: psid, TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	_, s := tp.Tracer("scope-a", trace.WithInstrumentationVersion("1.2")).Start(ctx, "one",
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithLinks(trace.Link{SpanContext: parent, Attributes: []attribute.KeyValue{attribute.String("l", "1")}}),
		trace.WithAttributes(attribute.Bool("b", true), attribute.Int("i", 7), attribute.Float64("f", 1.5),
			attribute.String("s", "v"), attribute.StringSlice("ss", []string{"x", "y"}), attribute.IntSlice("is", []int{1, 2})))
	s.AddEvent("ev", trace.WithAttributes(attribute.Int("n", 1)), trace.WithTimestamp(time.Unix(5, 6)))
	s.SetStatus(codes.Error, "bad")
	s.End()
	_, s2 := tp.Tracer("scope-b").Start(context.Background(), "two")
	s2.SetStatus(codes.Ok, "")
	s2.End()
	return rec.Ended()
}

// TestOTLPExporterWireFormat decodes what the exporter sends as the
// collector's ExportTraceServiceRequest and checks each field the OTLP
// data model defines for the spans.
func TestOTLPExporterWireFormat(t *testing.T) {
	col := &collector{}
	cs := httptest.NewServer(col)
	defer cs.Close()
	if err := newOTLPExporter(cs.URL+"/v1/traces", nil).ExportSpans(t.Context(), recordSpans(t)); err != nil {
		t.Fatal(err)
	}
	if len(col.reqs) != 1 || col.hdrs[0].Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("requests %d, headers %v", len(col.reqs), col.hdrs)
	}
	rss := col.reqs[0].ResourceSpans
	if len(rss) != 1 || len(rss[0].ScopeSpans) != 2 {
		t.Fatalf("resource spans = %v", rss)
	}
	if a := rss[0].Resource.Attributes; len(a) != 1 || a[0].Key != "service.name" || a[0].Value.GetStringValue() != "svc" {
		t.Errorf("resource = %v", rss[0].Resource)
	}
	sa, sb := rss[0].ScopeSpans[0], rss[0].ScopeSpans[1]
	if sa.Scope.Name != "scope-a" || sa.Scope.Version != "1.2" || sb.Scope.Name != "scope-b" || len(sa.Spans) != 1 || len(sb.Spans) != 1 {
		t.Fatalf("scopes = %v / %v", sa, sb)
	}
	one, two := sa.Spans[0], sb.Spans[0]
	if one.Name != "one" || one.Kind != tracepb.Span_SPAN_KIND_SERVER || hexs(one.TraceId) != "4bf92f3577b34da6a3ce929d0e0e4736" ||
		hexs(one.ParentSpanId) != "00f067aa0ba902b7" || len(one.SpanId) != 8 {
		t.Errorf("span one = %v", one)
	}
	// sampled (1) | has-is-remote (256) | is-remote (512)
	if one.Flags != 769 || two.Flags != 257 {
		t.Errorf("flags %d, %d; want 769, 257", one.Flags, two.Flags)
	}
	if one.StartTimeUnixNano == 0 || one.EndTimeUnixNano < one.StartTimeUnixNano {
		t.Errorf("times %d..%d", one.StartTimeUnixNano, one.EndTimeUnixNano)
	}
	want := map[string]*commonpb.AnyValue{
		"b": {Value: &commonpb.AnyValue_BoolValue{BoolValue: true}},
		"i": {Value: &commonpb.AnyValue_IntValue{IntValue: 7}},
		"f": {Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1.5}},
		"s": {Value: &commonpb.AnyValue_StringValue{StringValue: "v"}},
		"ss": {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{
			{Value: &commonpb.AnyValue_StringValue{StringValue: "x"}}, {Value: &commonpb.AnyValue_StringValue{StringValue: "y"}}}}}},
		"is": {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{
			{Value: &commonpb.AnyValue_IntValue{IntValue: 1}}, {Value: &commonpb.AnyValue_IntValue{IntValue: 2}}}}}},
	}
	if len(one.Attributes) != len(want) {
		t.Errorf("attributes = %v", one.Attributes)
	}
	for _, kv := range one.Attributes {
		if !proto.Equal(kv.Value, want[kv.Key]) {
			t.Errorf("attribute %s = %v, want %v", kv.Key, kv.Value, want[kv.Key])
		}
	}
	if len(one.Events) != 1 || one.Events[0].Name != "ev" || one.Events[0].TimeUnixNano != 5_000_000_006 || one.Events[0].Attributes[0].Value.GetIntValue() != 1 {
		t.Errorf("events = %v", one.Events)
	}
	if len(one.Links) != 1 || hexs(one.Links[0].SpanId) != "00f067aa0ba902b7" || one.Links[0].Attributes[0].Key != "l" || one.Links[0].Flags != 769 {
		t.Errorf("links = %v", one.Links)
	}
	if one.Status.Code != tracepb.Status_STATUS_CODE_ERROR || one.Status.Message != "bad" || two.Status.Code != tracepb.Status_STATUS_CODE_OK {
		t.Errorf("status %v, %v", one.Status, two.Status)
	}
}

// TestOTLPExporterRetries checks which collector answers are tried again:
// 429/502/503/504 after Retry-After, bounded; nothing else, and no
// redirect is followed (the headers may hold the collector's key).
func TestOTLPExporterRetries(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	for _, tc := range []struct {
		name    string
		answers []int // per request; the last repeats
		calls   int
		ok      bool
	}{
		{"success", []int{200}, 1, true},
		{"503 then success", []int{503, 200}, 2, true},
		{"429 then success", []int{429, 200}, 2, true},
		{"504 until attempts run out", []int{504}, otlpMaxAttempts, false},
		{"400 not retried", []int{400, 200}, 1, false},
		{"redirect not followed", []int{307}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				status := tc.answers[min(n, len(tc.answers))-1]
				if status == 307 {
					http.Redirect(w, r, other.URL+"/v1/traces", status)
					return
				}
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(status)
			}))
			defer srv.Close()
			err := newOTLPExporter(srv.URL+"/v1/traces", nil).ExportSpans(t.Context(), recordSpans(t))
			if (err == nil) != tc.ok || int(calls.Load()) != tc.calls {
				t.Errorf("err %v after %d calls; want ok=%v after %d", err, calls.Load(), tc.ok, tc.calls)
			}
		})
	}
	if elsewhere.Load() != 0 {
		t.Error("a redirect was followed")
	}
	t.Run("cancelled wait", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(503)
		}))
		defer srv.Close()
		ctx, cancel := context.WithCancel(t.Context())
		go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		err := newOTLPExporter(srv.URL+"/v1/traces", nil).ExportSpans(ctx, recordSpans(t))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want cancelled", err)
		}
	})
}
