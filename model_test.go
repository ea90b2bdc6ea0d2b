package telamentis

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const uuidA = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

// wantInvalid reports unless err is CodeInvalid naming exactly field first.
func wantInvalid(t *testing.T, err error, field, what string) {
	t.Helper()
	fs := ErrorFields(err)
	if ErrorCode(err) != CodeInvalid || len(fs) == 0 || fs[0].Field != field {
		t.Errorf("%s: %v (fields %v), want invalid naming %q", what, err, fs, field)
	}
}

func TestValidTenantID(t *testing.T) {
	for id, want := range map[string]bool{
		"ab": true, "acme": true, "0a": true, "a-b_c": true, "a" + strings.Repeat("b", 62): true, "9-": true,
		"": false, "a": false, "A1": false, "aB": false, "-ab": false, "_ab": false, "ab cd": false, "ab.c": false,
		"a" + strings.Repeat("b", 63): false, "ab\n": false, "äb": false, "ab/c": false,
	} {
		if got := ValidTenantID(id); got != want {
			t.Errorf("ValidTenantID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestValidIdentifier(t *testing.T) {
	for s, want := range map[string]bool{
		"P": true, "Person": true, "WORKS_AT": true, "a1_b2": true, "A" + strings.Repeat("x", 63): true,
		"": false, "1P": false, "_P": false, "P Q": false, "P-Q": false, "A" + strings.Repeat("x", 64): false,
		"Pé": false, "P\n": false, "P.Q": false,
	} {
		if got := ValidIdentifier(s); got != want {
			t.Errorf("ValidIdentifier(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		uuidA: true, "00000000-0000-0000-0000-000000000000": true,
		strings.ToUpper(uuidA): false, "0190a1b2c3d47e5f8a9b0c1d2e3f4a5b": false, uuidA[:35]: false, uuidA + "0": false,
		"0190a1b2-c3d4-7e5f-8a9b_0c1d2e3f4a5b": false, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g": false, "": false,
		"{0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5}": false,
	} {
		if got := ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseID(t *testing.T) {
	for range 100 {
		var want [16]byte
		rand.Read(want[:])
		h := hex.EncodeToString(want[:])
		s := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		if got, ok := ParseID(s); !ok || got != want {
			t.Fatalf("ParseID(%s) = %x, %v", s, got, ok)
		}
	}
	// IDs are canonical: upper case, braces, URNs and short strings are
	// not IDs (uuid.Parse alone would accept the first three).
	for _, s := range []string{"6e6f6465-0000-8000-8000-00000000ABCD", "{6e6f6465-0000-8000-8000-00000000abcd}",
		"urn:uuid:6e6f6465-0000-8000-8000-00000000abcd", "6e6f646500008000800000000000abcd", "short", ""} {
		if u, ok := ParseID(s); ok {
			t.Errorf("ParseID(%q) = %x, accepted", s, u)
		}
	}
}

func TestRefValidate(t *testing.T) {
	for _, c := range []struct {
		r     Ref
		field string
	}{
		{Ref{ID: uuidA}, ""},
		{Ref{Alias: "alice"}, ""},
		{Ref{Alias: "ünïcode alias / with spaces"}, ""},
		{Ref{Alias: strings.Repeat("a", 256)}, ""},
		{Ref{}, "from"},
		{Ref{ID: uuidA, Alias: "a"}, "from"},
		{Ref{ID: "x"}, "from.id"},
		{Ref{Alias: strings.Repeat("a", 257)}, "from.alias"},
		{Ref{Alias: "a\x00"}, "from.alias"},
		{Ref{Alias: "a\tb"}, "from.alias"},
		{Ref{Alias: "a\x7fb"}, "from.alias"},
		{Ref{Alias: "a\xffb"}, "from.alias"},
	} {
		err := c.r.Validate("from")
		if c.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.r, err)
			}
			continue
		}
		wantInvalid(t, err, c.field, "Ref "+c.r.String())
	}
	if (Ref{Alias: "a"}).String() != "alias:a" || (Ref{ID: uuidA}).String() != uuidA {
		t.Error("Ref.String")
	}
}

func TestTenantValidate(t *testing.T) {
	tn := Tenant{ID: "acme"}
	if err := tn.Validate(); err != nil || tn.Isolation != IsolationShared || tn.Status != TenantActive {
		t.Errorf("defaults: %+v, %v", tn, err)
	}
	for _, c := range []struct {
		tn    Tenant
		field string
	}{
		{Tenant{ID: "A"}, "id"},
		{Tenant{ID: "acme", Name: strings.Repeat("n", 257)}, "name"},
		{Tenant{ID: "acme", Name: "a\x00"}, "name"},
		{Tenant{ID: "acme", Isolation: "own"}, "isolation"},
		{Tenant{ID: "acme", Status: "gone"}, "status"},
		{Tenant{ID: "acme", Quotas: Quotas{MaxEdges: -1}}, "quotas"},
		{Tenant{ID: "acme", Quotas: Quotas{LLMCostPerDayUSD: -0.5}}, "quotas"},
		{Tenant{ID: "acme", RetentionDays: -1}, "retention_days"},
		{Tenant{ID: "acme", PII: PIIPolicy{Mode: "hash"}}, "pii.mode"},
		{Tenant{ID: "acme", PII: PIIPolicy{LLM: "send"}}, "pii.llm"},
		{Tenant{ID: "acme", PII: PIIPolicy{Fields: []string{""}}}, "pii.fields"},
	} {
		wantInvalid(t, c.tn.Validate(), c.field, "tenant "+c.field)
	}
	ok := Tenant{ID: "acme", Name: "Acme", Isolation: IsolationDedicated, Status: TenantSuspended,
		PII: PIIPolicy{Fields: []string{"email"}, Mode: "pseudonymise", LLM: "block"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid tenant: %v", err)
	}
}

func TestNodeInputNormalize(t *testing.T) {
	n, err := NodeInput{Alias: "a", Label: "P", Props: json.RawMessage(` {"b":1, "a":2} `)}.Normalize()
	if err != nil || string(n.Props) != `{"a":2,"b":1}` {
		t.Errorf("Normalize canonicalises props: %s, %v", n.Props, err)
	}
	n, err = NodeInput{Label: "P"}.Normalize()
	if err != nil || string(n.Props) != `{}` {
		t.Errorf("absent props become {}: %s, %v", n.Props, err)
	}
	for _, c := range []struct {
		in    NodeInput
		field string
	}{
		{NodeInput{Label: ""}, "label"},
		{NodeInput{Label: "1"}, "label"},
		{NodeInput{ID: "x", Label: "P"}, "id"},
		{NodeInput{Alias: "a\nb", Label: "P"}, "alias"},
		{NodeInput{Label: "P", Props: json.RawMessage(`[]`)}, "props"},
		{NodeInput{Label: "P", Props: json.RawMessage(`{"a":1,"a":1}`)}, "props.a"},
		{NodeInput{Label: "P", Props: json.RawMessage(`{"a":{"b":"\u0000"}}`)}, "props.a.b"},
	} {
		_, err := c.in.Normalize()
		wantInvalid(t, err, c.field, "node input "+c.field)
	}
}

func TestEdgeInputNormalize(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	in := EdgeInput{From: Ref{Alias: "a"}, To: Ref{ID: uuidA}, Kind: "K",
		ValidFrom: time.Date(2024, 1, 1, 1, 0, 0, 999, cet), ValidTo: time.Date(2024, 1, 2, 0, 0, 0, 0, cet)}
	e, err := in.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if !e.ValidFrom.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) || e.ValidFrom.Location() != time.UTC || e.ValidTo.Location() != time.UTC || string(e.Props) != "{}" {
		t.Errorf("Normalize: times in UTC at microseconds, props {}: %+v", e)
	}
	ok := func(f func(*EdgeInput)) EdgeInput {
		in := EdgeInput{From: Ref{Alias: "a"}, To: Ref{Alias: "b"}, Kind: "K", ValidFrom: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
		f(&in)
		return in
	}
	for _, c := range []struct {
		in    EdgeInput
		field string
	}{
		{ok(func(in *EdgeInput) { in.Kind = "" }), "kind"},
		{ok(func(in *EdgeInput) { in.Kind = "a-b" }), "kind"},
		{ok(func(in *EdgeInput) { in.ID = "e" }), "id"},
		{ok(func(in *EdgeInput) { in.Alias = strings.Repeat("x", 300) }), "alias"},
		{ok(func(in *EdgeInput) { in.From = Ref{} }), "from"},
		{ok(func(in *EdgeInput) { in.To = Ref{ID: "bad"} }), "to.id"},
		{ok(func(in *EdgeInput) { in.To = Ref{Alias: "\x00"} }), "to.alias"},
		{ok(func(in *EdgeInput) { in.ValidTo = in.ValidFrom }), "valid_to"},
		{ok(func(in *EdgeInput) { in.ValidTo = in.ValidFrom.Add(-time.Second) }), "valid_to"},
		// equal after truncation to microseconds
		{ok(func(in *EdgeInput) { in.ValidTo = in.ValidFrom.Add(500 * time.Nanosecond) }), "valid_to"},
		{ok(func(in *EdgeInput) { in.ValidFrom = time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC) }), "valid_from"},
		{ok(func(in *EdgeInput) { in.ValidTo = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), "valid_to"},
		{ok(func(in *EdgeInput) { in.Props = json.RawMessage(`{"x":`) }), "props.x"},
	} {
		_, err := c.in.Normalize()
		wantInvalid(t, err, c.field, "edge input "+c.field)
	}
	if _, err := ok(func(in *EdgeInput) {
		in.ValidFrom = time.Time{}
		in.ValidTo = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}).Normalize(); err != nil {
		t.Errorf("a zero valid_from is resolved by the store, so valid_to alone passes Normalize: %v", err)
	}
}

// TestNormalizeEveryField: an input with several bad fields is refused
// with all of them, in the order of the input's fields, and a message
// naming the first.
func TestNormalizeEveryField(t *testing.T) {
	fields := func(err error) string {
		var got []string
		for _, f := range ErrorFields(err) {
			got = append(got, f.Field+": "+f.Message)
		}
		return strings.Join(got, "; ")
	}
	_, err := NodeInput{ID: "x", Alias: "a\x00", Label: "1", Props: json.RawMessage(`[]`)}.Normalize()
	want := "id: must be a UUID; alias: must be valid UTF-8 without NUL or control characters; " +
		"label: must match ^[A-Za-z][A-Za-z0-9_]{0,63}$; props: must be a JSON object"
	if ErrorCode(err) != CodeInvalid || ErrorMessage(err) != "invalid id" || fields(err) != want {
		t.Errorf("node input with four bad fields: %q %q, want invalid id with %q", ErrorMessage(err), fields(err), want)
	}
	_, err = EdgeInput{ID: "e", From: Ref{}, To: Ref{ID: "x"}, Kind: "a-b",
		ValidFrom: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), ValidTo: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Props: json.RawMessage(`{"a":1,"a":2}`)}.Normalize()
	want = "id: must be a UUID; from: id or alias required; to.id: must be a UUID; " +
		"kind: must match ^[A-Za-z][A-Za-z0-9_]{0,63}$; valid_to: must be after valid_from; props.a: duplicate key"
	if ErrorCode(err) != CodeInvalid || ErrorMessage(err) != "invalid id" || fields(err) != want {
		t.Errorf("edge input with six bad fields: %q %q, want invalid id with %q", ErrorMessage(err), fields(err), want)
	}
	_, err = EdgeInput{From: Ref{Alias: "a"}, To: Ref{Alias: "b"}, Kind: "K",
		ValidFrom: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), ValidTo: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}.Normalize()
	if want := "valid_from: time out of range"; fields(err) != want {
		t.Errorf("a valid_to is compared only with a valid_from in range: %q, want %q", fields(err), want)
	}
}

func TestErrors(t *testing.T) {
	if ErrorCode(nil) != "" || ErrorCode(errString("x")) != CodeInternal || ErrorMessage(errString("secret")) != "internal error" {
		t.Error("errors without a code are internal, and their text is hidden")
	}
	e := &Error{Code: CodeConflict, Message: "alias taken", Err: errString("disk detail")}
	wrapped := wrapErr{e}
	if ErrorCode(wrapped) != CodeConflict || ErrorMessage(wrapped) != "alias taken" {
		t.Errorf("codes and messages are found through wrapping: %v", wrapped)
	}
	if !strings.Contains(e.Error(), "disk detail") || strings.Contains(ErrorMessage(e), "disk detail") {
		t.Error("Error() includes the cause for logs; ErrorMessage does not")
	}
	if ErrorMessage(&Error{Code: CodeInternal, Message: "db path /x"}) != "internal error" {
		t.Error("internal messages are not shown")
	}
	if ErrorCode(&Error{}) != CodeInternal {
		t.Error("an Error without a code is internal")
	}
	nf := NotFound("node")
	if nf.Code != CodeNotFound || nf.Message != "node not found" {
		t.Errorf("NotFound: %+v", nf)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

type wrapErr struct{ err error }

func (w wrapErr) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapErr) Unwrap() error { return w.err }
