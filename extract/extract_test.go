package extract_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/audit"
	"github.com/telamentis/telamentis/extract"
)

const aliceEnvelope = `{"nodes":[
 {"alias":"person:alice","label":"Person","props":{"name":"Alice Smith","role":"engineer"},"confidence":0.95},
 {"alias":"org:acme","label":"Organization","props":{"name":"Acme"},"confidence":0.9}],
 "relations":[{"from":"person:alice","to":"org:acme","kind":"WORKS_AT","valid_from":"2020-03-01T00:00:00+01:00","confidence":0.9}]}`

func TestExtractWritesAndResolves(t *testing.T) {
	p := newProvider(t, fixed(aliceEnvelope))
	var sink bytes.Buffer
	alog, err := audit.Open(audit.Config{Dir: t.TempDir(), Key: telamentis.NewSecret(strings.Repeat("k", 32)), Sink: &sink}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })
	reg := prometheus.NewRegistry()
	e := newEnv(t, extract.Config{Routes: []telamentis.Connector{p.connector(t, "openai", telamentis.LLMPrice{InputPerMTok: 1, OutputPerMTok: 2})},
		Audit: alog, Registerer: reg})
	ctx := telamentis.NewContextWithRequestID(t.Context(), "req-1")
	ctx = telamentis.NewContextWithPrincipal(ctx, &telamentis.Principal{Tenant: "acme", Role: telamentis.RoleWriter, KeyID: "k1"})
	text := "Alice Smith has worked at Acme as an engineer since March 2020."
	res, err := e.svc.Extract(ctx, "acme", telamentis.ExtractRequest{Text: text})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Created) != 3 || len(res.Updated)+len(res.Unchanged)+len(res.Skipped) != 0 {
		t.Fatalf("result = %+v", res)
	}
	m := res.Meta
	if m.Provider != "openai" || m.Model != "fake-model-1" || m.InputTokens != 120 || m.OutputTokens != 30 || m.RequestID != "req-1" {
		t.Errorf("meta = %+v", m)
	}
	if want := (120*1.0 + 30*2.0) / 1e6; m.CostUSD < want*0.999 || m.CostUSD > want*1.001 {
		t.Errorf("cost = %v, want %v", m.CostUSD, want)
	}
	alice := e.node(t, "acme", "person:alice")
	ap := props(t, alice.Props)
	if alice.Label != "Person" || ap["name"] != "Alice Smith" {
		t.Errorf("alice = %+v", alice)
	}
	prov, _ := ap[extract.ProvenanceKey].(map[string]any)
	if prov["request_id"] != "req-1" || prov["provider"] != "openai" || prov["model"] != "fake-model-1" || prov["extracted_at"] == nil {
		t.Errorf("provenance = %v", ap[extract.ProvenanceKey])
	}
	page, err := e.store.Query(t.Context(), "acme", telamentis.Query{Kind: telamentis.QueryEdges, Kinds: []string{"WORKS_AT"}})
	if err != nil || len(page.Edges) != 1 {
		t.Fatalf("edges: %v %+v", err, page)
	}
	if ed := page.Edges[0]; !ed.ValidFrom.Equal(time.Date(2020, 2, 29, 23, 0, 0, 0, time.UTC)) || ed.From != alice.ID {
		t.Errorf("edge = %+v", ed)
	}

	// The same answer again changes nothing and writes nothing.
	before := e.stats(t, "acme")
	res, err = e.svc.Extract(ctx, "acme", telamentis.ExtractRequest{Text: text})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unchanged) != 3 || len(res.Created)+len(res.Updated) != 0 {
		t.Fatalf("second result = %+v", res)
	}
	if after := e.stats(t, "acme"); after != before {
		t.Errorf("stats changed: %+v → %+v", before, after)
	}

	// New props merge into the existing node: a new version, old props kept.
	p.answer = fixed(`{"nodes":[{"alias":"person:alice","label":"Person","props":{"city":"Berlin"},"confidence":0.8}],"relations":[]}`)
	res, err = e.svc.Extract(ctx, "acme", telamentis.ExtractRequest{Text: "Alice lives in Berlin."})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Updated) != 1 || res.Updated[0].ID != alice.ID {
		t.Fatalf("third result = %+v", res)
	}
	ap = props(t, e.node(t, "acme", "person:alice").Props)
	if ap["city"] != "Berlin" || ap["name"] != "Alice Smith" {
		t.Errorf("merged props = %v", ap)
	}
	if e.stats(t, "other").NodeVersions != 0 {
		t.Error("another tenant was written")
	}

	// Audit: one record per extraction, with counts and no text.
	recs, _, err := alog.Query(t.Context(), telamentis.AuditFilter{Action: "llm.extract"})
	if err != nil || len(recs) != 3 {
		t.Fatalf("audit: %v %d records", err, len(recs))
	}
	r0 := recs[0]
	if r0.Tenant != "acme" || r0.Actor != "key:k1" || r0.Outcome != telamentis.OutcomeSuccess || r0.Details["created"] != "3" ||
		r0.Details["input_tokens"] != "120" || r0.Details["provider"] != "openai" {
		t.Errorf("audit record = %+v", r0)
	}
	if strings.Contains(sink.String(), "Alice") || strings.Contains(sink.String(), "Berlin") {
		t.Error("audit holds extracted text")
	}
	// Metrics per tenant, provider and model.
	mfs, _ := reg.Gather()
	got := map[string]bool{}
	for _, mf := range mfs {
		for _, mt := range mf.Metric {
			for _, l := range mt.Label {
				if l.GetName() == "tenant" && l.GetValue() == "acme" {
					got[mf.GetName()] = true
				}
			}
		}
	}
	for _, n := range []string{"telamentis_llm_requests_total", "telamentis_llm_tokens_total", "telamentis_llm_cost_usd_total"} {
		if !got[n] {
			t.Errorf("metric %s missing for tenant acme", n)
		}
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	p := newProvider(t, fixed(aliceEnvelope))
	e := newEnv(t, extract.Config{Routes: []telamentis.Connector{p.connector(t, "openai", telamentis.LLMPrice{})}})
	res, err := e.svc.Extract(t.Context(), "acme", telamentis.ExtractRequest{Text: "Alice works at Acme.", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Envelope == nil || len(res.Envelope.Nodes) != 2 || len(res.Created) != 3 {
		t.Fatalf("result = %+v", res)
	}
	if s := e.stats(t, "acme"); s.NodeVersions+s.EdgeVersions != 0 {
		t.Errorf("dry run wrote: %+v", s)
	}
}

func TestMessagesAndReferenceTime(t *testing.T) {
	var user string
	p := newProvider(t, func(_, u string) string { user = u; return `{"nodes":[],"relations":[]}` })
	e := newEnv(t, extract.Config{Routes: []telamentis.Connector{p.connector(t, "openai", telamentis.LLMPrice{})}})
	ref := time.Date(2024, 5, 7, 10, 0, 0, 0, time.UTC)
	_, err := e.svc.Extract(t.Context(), "acme", telamentis.ExtractRequest{
		Messages:      []telamentis.LLMMessage{{Role: "user", Content: "I met Bob last Tuesday."}, {Role: "assistant", Content: "Noted."}},
		ReferenceTime: ref, Instructions: "Only people.", Labels: []string{"Person"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Reference time: 2024-05-07T10:00:00Z", "[user] I met Bob last Tuesday.", "[assistant] Noted.", "[caller notes] Only people.", "Allowed node labels: Person"} {
		if !strings.Contains(user, want) {
			t.Errorf("prompt lacks %q:\n%s", want, user)
		}
	}
}

func TestRequestValidation(t *testing.T) {
	p := newProvider(t, fixed(`{"nodes":[],"relations":[]}`))
	e := newEnv(t, extract.Config{Routes: []telamentis.Connector{p.connector(t, "openai", telamentis.LLMPrice{})}, MaxInputBytes: 1000})
	bad := -0.1
	tests := []struct {
		name   string
		tenant string
		req    telamentis.ExtractRequest
		code   telamentis.Code
	}{
		{"empty", "acme", telamentis.ExtractRequest{}, telamentis.CodeInvalid},
		{"text and messages", "acme", telamentis.ExtractRequest{Text: "a", Messages: []telamentis.LLMMessage{{Role: "user", Content: "b"}}}, telamentis.CodeInvalid},
		{"system role", "acme", telamentis.ExtractRequest{Messages: []telamentis.LLMMessage{{Role: "system", Content: "b"}}}, telamentis.CodeInvalid},
		{"too long", "acme", telamentis.ExtractRequest{Text: strings.Repeat("a", 1001)}, telamentis.CodeInvalid},
		{"bad min confidence", "acme", telamentis.ExtractRequest{Text: "a", MinConfidence: &bad}, telamentis.CodeInvalid},
		{"unknown provider", "acme", telamentis.ExtractRequest{Text: "a", Provider: "nope"}, telamentis.CodeInvalid},
		{"bad label", "acme", telamentis.ExtractRequest{Text: "a", Labels: []string{"not ok"}}, telamentis.CodeInvalid},
		{"unknown tenant", "ghost", telamentis.ExtractRequest{Text: "a"}, telamentis.CodeNotFound},
		{"malformed tenant", "../acme", telamentis.ExtractRequest{Text: "a"}, telamentis.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Extract(t.Context(), tt.tenant, tt.req)
			if telamentis.ErrorCode(err) != tt.code {
				t.Errorf("err = %v, want %s", err, tt.code)
			}
		})
	}
	if n := len(p.requests()); n != 0 {
		t.Errorf("provider called %d times for bad requests", n)
	}
}

func TestEnvelopeValidation(t *testing.T) {
	tests := []struct {
		name     string
		envelope string
		req      telamentis.ExtractRequest
		field    string // a rejected field ("" = accepted)
		skipped  int
	}{
		{"time without zone", `{"nodes":[{"alias":"a","label":"A","confidence":1},{"alias":"b","label":"B","confidence":1}],
			"relations":[{"from":"a","to":"b","kind":"K","valid_from":"2020-01-01T00:00:00","confidence":1}]}`, telamentis.ExtractRequest{}, "relations[0].valid_from", 0},
		{"date only", `{"nodes":[{"alias":"a","label":"A","confidence":1},{"alias":"b","label":"B","confidence":1}],
			"relations":[{"from":"a","to":"b","kind":"K","valid_from":"2020-01-01","confidence":1}]}`, telamentis.ExtractRequest{}, "relations[0].valid_from", 0},
		{"valid_to before valid_from", `{"nodes":[{"alias":"a","label":"A","confidence":1},{"alias":"b","label":"B","confidence":1}],
			"relations":[{"from":"a","to":"b","kind":"K","valid_from":"2021-01-01T00:00:00Z","valid_to":"2020-01-01T00:00:00Z","confidence":1}]}`, telamentis.ExtractRequest{}, "relations[0].valid_to", 0},
		{"valid_to equal valid_from", `{"nodes":[{"alias":"a","label":"A","confidence":1},{"alias":"b","label":"B","confidence":1}],
			"relations":[{"from":"a","to":"b","kind":"K","valid_from":"2021-01-01T00:00:00Z","valid_to":"2021-01-01T01:00:00+01:00","confidence":1}]}`, telamentis.ExtractRequest{}, "relations[0].valid_to", 0},
		{"unknown alias", `{"nodes":[{"alias":"a","label":"A","confidence":1}],
			"relations":[{"from":"a","to":"ghost","kind":"K","confidence":1}]}`, telamentis.ExtractRequest{}, "relations[0].to", 0},
		{"existing tenant node", `{"nodes":[{"alias":"a","label":"A","confidence":1}],
			"relations":[{"from":"a","to":"org:existing","kind":"K","confidence":1}]}`, telamentis.ExtractRequest{}, "", 0},
		{"node of another tenant is unknown", `{"nodes":[{"alias":"a","label":"A","confidence":1}],
			"relations":[{"from":"a","to":"org:other-only","kind":"K","confidence":1}]}`, telamentis.ExtractRequest{}, "relations[0].to", 0},
		{"label not allowed", `{"nodes":[{"alias":"a","label":"Admin","confidence":1}],"relations":[]}`,
			telamentis.ExtractRequest{Labels: []string{"Person"}}, "nodes[0].label", 0},
		{"kind not allowed", `{"nodes":[{"alias":"a","label":"Person","confidence":1}],"relations":[{"from":"a","to":"a","kind":"OWNS","confidence":1}]}`,
			telamentis.ExtractRequest{Kinds: []string{"KNOWS"}}, "relations[0].kind", 0},
		{"alias with control character", `{"nodes":[{"alias":"a\u0007b","label":"A","confidence":1}],"relations":[]}`, telamentis.ExtractRequest{}, "nodes[0].alias", 0},
		{"props too deep", `{"nodes":[{"alias":"a","label":"A","props":` + strings.Repeat(`{"x":`, 20) + `1` + strings.Repeat(`}`, 20) + `,"confidence":1}],"relations":[]}`, telamentis.ExtractRequest{}, "nodes[0].props", 0},
		{"props too large", `{"nodes":[{"alias":"a","label":"A","props":{"x":"` + strings.Repeat("y", telamentis.MaxPropsBytes) + `"},"confidence":1}],"relations":[]}`, telamentis.ExtractRequest{}, "nodes[0].props", 0},
		{"low confidence skipped with its relation", `{"nodes":[{"alias":"a","label":"A","confidence":0.9},{"alias":"b","label":"B","confidence":0.2}],
			"relations":[{"from":"a","to":"b","kind":"K","confidence":0.9},{"from":"a","to":"a","kind":"SELF","confidence":0.1}]}`, telamentis.ExtractRequest{}, "", 3},
		{"duplicate aliases merge", `{"nodes":[{"alias":"a","label":"A","props":{"x":1},"confidence":0.9},{"alias":"a","label":"A","props":{"y":2},"confidence":0.9}],"relations":[]}`, telamentis.ExtractRequest{}, "", 0},
		{"too many relations", bigEnvelope(10, extract.MaxRelations+1, "x"), telamentis.ExtractRequest{}, "relations", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, fixed(tt.envelope))
			e := newEnv(t, extract.Config{Routes: []telamentis.Connector{p.connector(t, "openai", telamentis.LLMPrice{})}})
			if _, err := e.store.UpsertNode(t.Context(), "acme", telamentis.NodeInput{Alias: "org:existing", Label: "Organization"}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.UpsertNode(t.Context(), "other", telamentis.NodeInput{Alias: "org:other-only", Label: "Organization"}); err != nil {
				t.Fatal(err)
			}
			before := e.stats(t, "acme")
			req := tt.req
			req.Text = "some text"
			res, err := e.svc.Extract(t.Context(), "acme", req)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if len(res.Skipped) != tt.skipped {
					t.Errorf("skipped = %+v, want %d", res.Skipped, tt.skipped)
				}
				return
			}
			if telamentis.ErrorCode(err) != telamentis.CodeInvalid || !errors.Is(err, telamentis.ErrUnprocessable) {
				t.Fatalf("err = %v, want invalid/unprocessable", err)
			}
			found := false
			for _, f := range telamentis.ErrorFields(err) {
				found = found || strings.HasPrefix(f.Field, tt.field)
			}
			if !found {
				t.Errorf("fields = %v, want %s", telamentis.ErrorFields(err), tt.field)
			}
			if after := e.stats(t, "acme"); after != before {
				t.Errorf("rejected envelope wrote: %+v → %+v", before, after)
			}
		})
	}
}

func TestEnvelopeDuplicateMerge(t *testing.T) {
	p := newProvider(t, fixed(`{"nodes":[{"alias":"a","label":"A","props":{"x":1},"confidence":0.9},{"alias":"a","label":"A","props":{"y":2},"confidence":0.9}],"relations":[]}`))
	e := newEnv(t, extract.Config{Routes: []telamentis.Connector{p.connector(t, "openai", telamentis.LLMPrice{})}})
	if _, err := e.svc.Extract(t.Context(), "acme", telamentis.ExtractRequest{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if m := props(t, e.node(t, "acme", "a").Props); m["x"] != 1.0 || m["y"] != 2.0 {
		t.Errorf("props = %v", m)
	}
}

func TestProviderAnswerCannotForgeProvenance(t *testing.T) {
	p := newProvider(t, fixed(`{"nodes":[{"alias":"a","label":"A","props":{"_extraction":{"request_id":"forged"}},"confidence":0.9}],"relations":[]}`))
	e := newEnv(t, extract.Config{Routes: []telamentis.Connector{p.connector(t, "openai", telamentis.LLMPrice{})}})
	ctx := telamentis.NewContextWithRequestID(t.Context(), "real-id")
	if _, err := e.svc.Extract(ctx, "acme", telamentis.ExtractRequest{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	prov, _ := props(t, e.node(t, "acme", "a").Props)[extract.ProvenanceKey].(map[string]any)
	if prov["request_id"] != "real-id" {
		t.Errorf("provenance = %v", prov)
	}
}

func TestEnvelopeJSONShape(t *testing.T) {
	// The result serialises with the API's field names.
	b, _ := json.Marshal(telamentis.ExtractResult{})
	for _, k := range []string{`"created"`, `"updated"`, `"unchanged"`, `"skipped"`, `"meta"`, `"dry_run"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("result JSON lacks %s: %s", k, b)
		}
	}
}

func TestConcurrentExtractionsConverge(t *testing.T) {
	p := newProvider(t, fixed(aliceEnvelope))
	e := newEnv(t, extract.Config{Routes: []telamentis.Connector{p.connector(t, "openai", telamentis.LLMPrice{})}})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := e.svc.Extract(t.Context(), "acme", telamentis.ExtractRequest{Text: "Alice works at Acme."})
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// Resolution by alias: one Alice, one Acme, one WORKS_AT, however
	// the requests interleaved.
	if s := e.stats(t, "acme"); s.Nodes != 2 || s.Edges != 1 {
		t.Errorf("stats = %+v, want 2 nodes and 1 edge", s)
	}
}
