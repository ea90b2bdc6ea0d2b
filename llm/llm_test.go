package llm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/llm"
)

func TestCheckBaseURL(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://api.openai.com/v1", true},
		{"http://127.0.0.1:11434/v1", true},
		{"http://localhost:1234/v1", true},
		{"http://[::1]:8080", true},
		{"http://10.0.0.5:11434/v1", false},
		{"http://api.openai.com/v1", false},
		{"https://user:pw@api.openai.com", false},
		{"ftp://127.0.0.1", false},
		{"/v1", false},
	} {
		_, err := llm.CheckBaseURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("CheckBaseURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := llm.Retry{BaseDelay: time.Second, MaxDelay: 10 * time.Second}
	for _, tt := range []struct {
		n          int
		retryAfter string
		want       time.Duration
		ok         bool
	}{
		{1, "", time.Second, true},
		{3, "", 4 * time.Second, true},
		{10, "", 10 * time.Second, true},
		{1, "2", 2 * time.Second, true},
		{1, "0.5", 500 * time.Millisecond, true},
		{1, "60", 60 * time.Second, false},
		{1, now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second, true},
		{1, "garbage", time.Second, true},
		{1, "-1", time.Second, true},
	} {
		d, ok := p.Delay(tt.n, tt.retryAfter, now)
		if d != tt.want || ok != tt.ok {
			t.Errorf("Delay(%d, %q) = %v %v, want %v %v", tt.n, tt.retryAfter, d, ok, tt.want, tt.ok)
		}
	}
	if (llm.Retry{}).Attempts() != 3 {
		t.Error("default attempts")
	}
}

func TestHTTPClientLimits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/exact" {
			io.WriteString(w, strings.Repeat("a", llm.MaxResponseBytes))
			return
		}
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://example.com/", http.StatusFound)
			return
		}
		io.WriteString(w, strings.Repeat("a", llm.MaxResponseBytes+1))
	}))
	defer srv.Close()
	c, err := llm.HTTPClient(5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) error {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	if err := read("/exact"); err != nil {
		t.Errorf("body at the limit: %v", err)
	}
	if err := read("/over"); err == nil {
		t.Error("body over the limit read")
	}
	if err := read("/redirect"); err == nil {
		t.Error("redirect to plain http off loopback followed")
	}
	if _, err := llm.HTTPClient(time.Second, []byte("not pem")); err == nil {
		t.Error("bad CA accepted")
	}
}

func TestRetryDo(t *testing.T) {
	limited := telamentis.NewProviderError("p", telamentis.ProviderRateLimited, 429, "", nil)
	down := telamentis.NewProviderError("p", telamentis.ProviderUnavailable, 503, "", nil)
	dead := telamentis.NewProviderError("p", telamentis.ProviderUnavailable, 0, "", errors.New("connection refused"))
	refused := telamentis.NewProviderError("p", telamentis.ProviderRefused, 200, "", nil)
	policy := llm.Retry{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Second}
	for _, tc := range []struct {
		name     string
		errs     []error // one per attempt; nil = success
		ra       string
		calls    int
		wantErr  error
		attempts int
	}{
		{"success at once", []error{nil}, "", 1, nil, 1},
		{"429 then success", []error{limited, nil}, "0", 2, nil, 2},
		{"503 until attempts run out", []error{down, down, down, down}, "", 3, down, 0},
		{"no status: not retried", []error{dead, nil}, "", 1, dead, 1},
		{"refusal: not retried", []error{refused, nil}, "", 1, refused, 1},
		{"retry-after beyond max delay", []error{limited, nil}, "3600", 1, limited, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			resp, err := policy.Do(t.Context(), "p", func() (telamentis.LLMResponse, string, error) {
				err := tc.errs[calls]
				calls++
				return telamentis.LLMResponse{}, tc.ra, err
			})
			if calls != tc.calls || err != tc.wantErr || resp.Attempts != tc.attempts {
				t.Errorf("calls %d, err %v, attempts %d; want %d, %v, %d", calls, err, resp.Attempts, tc.calls, tc.wantErr, tc.attempts)
			}
		})
	}
	t.Run("cancelled wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := llm.Retry{MaxAttempts: 3, BaseDelay: time.Hour, MaxDelay: 2 * time.Hour}.Do(ctx, "p",
			func() (telamentis.LLMResponse, string, error) { return telamentis.LLMResponse{}, "", limited })
		var pe *telamentis.ProviderError
		if !errors.As(err, &pe) || pe.Kind != telamentis.ProviderTimeout {
			t.Errorf("cancelled wait: %v", err)
		}
	})
}

// TestEndpointPrepare checks the defaults and checks every connector
// shares.
func TestEndpointPrepare(t *testing.T) {
	c := llm.Endpoint{Model: "m", APIKey: telamentis.NewSecret("k")}
	if _, err := c.Prepare("prov", "https://api.example.com", true); err != nil {
		t.Fatal(err)
	}
	if c.Name != "prov" || c.BaseURL != "https://api.example.com" || c.Timeout != 60*time.Second || c.MaxOutputTokens != 8192 {
		t.Fatalf("defaults not filled: %+v", c)
	}
	kept := llm.Endpoint{Name: "mine", BaseURL: "http://127.0.0.1:11434/v1", Model: "m", Timeout: time.Second, MaxOutputTokens: 10}
	if _, err := kept.Prepare("prov", "https://api.example.com", false); err != nil {
		t.Fatal(err)
	}
	if kept.Name != "mine" || kept.BaseURL != "http://127.0.0.1:11434/v1" || kept.Timeout != time.Second || kept.MaxOutputTokens != 10 {
		t.Fatalf("settings overwritten: %+v", kept)
	}
	for name, bad := range map[string]llm.Endpoint{
		"model":    {APIKey: telamentis.NewSecret("k")},
		"api_key":  {Model: "m"},
		"base_url": {BaseURL: "http://api.example.com", Model: "m", APIKey: telamentis.NewSecret("k")},
	} {
		if _, err := bad.Prepare("prov", "https://api.example.com", true); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
	}
}

// TestErrorClassification checks the status and call-error mapping every
// connector uses, and that an undecodable answer's text (which may hold
// the tenant's data) is not kept in the error.
func TestErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   telamentis.ProviderErrorKind
		ra     string
	}{
		{429, telamentis.ProviderRateLimited, "7"},
		{503, telamentis.ProviderUnavailable, "7"},
		{529, telamentis.ProviderUnavailable, "7"},
		{408, telamentis.ProviderTimeout, "7"},
		{400, telamentis.ProviderRejected, ""},
		{401, telamentis.ProviderRejected, ""},
	} {
		ra, err := llm.StatusError("p", tc.status, "", "7")
		var pe *telamentis.ProviderError
		if !errors.As(err, &pe) || pe.Kind != tc.kind || pe.Status != tc.status || ra != tc.ra {
			t.Errorf("status %d: %v (retry %q), want %v (retry %q)", tc.status, err, ra, tc.kind, tc.ra)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var pe *telamentis.ProviderError
	if err := llm.CallError(ctx, "p", errors.New("x")); !errors.As(err, &pe) || pe.Kind != telamentis.ProviderTimeout {
		t.Errorf("cancelled call: %v", err)
	}
	body := errors.New(`invalid character in {"name":"Jane Doe"}`)
	err := llm.CallError(t.Context(), "p", body)
	if !errors.As(err, &pe) || pe.Kind != telamentis.ProviderMalformed || errors.Is(err, body) || strings.Contains(fmt.Sprint(err), "Jane") {
		t.Errorf("undecodable answer: %v", err)
	}
}
