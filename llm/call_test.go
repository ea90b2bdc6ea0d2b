package llm_test

import (
	"encoding/json"
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

// TestCallPost runs Call.Post against a loopback server answering with a
// fixed status, headers and body, and checks what it returns to the retry
// policy: the decoded answer, or the classified error with the retry hint.
func TestCallPost(t *testing.T) {
	type answer struct {
		Text string `json:"text"`
	}
	for _, tc := range []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		errorInfo  bool
		want       string // decoded text on success
		kind       telamentis.ProviderErrorKind
		detail     string
		retryAfter string
	}{
		{name: "ok", status: 200, body: `{"text":"hi"}`, want: "hi"},
		{name: "ok with unknown fields", status: 200, body: `{"text":"hi","extra":[1,2]}`, want: "hi"},
		{name: "not json", status: 200, body: `<html>bad gateway</html>`, kind: telamentis.ProviderMalformed, detail: "undecodable answer"},
		{name: "cut off", status: 200, body: `{"text":"h`, kind: telamentis.ProviderMalformed, detail: "undecodable answer"},
		{name: "two documents", status: 200, body: `{"text":"a"}{"text":"b"}`, kind: telamentis.ProviderMalformed, detail: "undecodable answer"},
		{name: "429 header", status: 429, header: map[string]string{"Retry-After": "7"}, body: `{}`, kind: telamentis.ProviderRateLimited, retryAfter: "7"},
		{name: "429 hint from body", status: 429, body: `{"hint":"3"}`, errorInfo: true, kind: telamentis.ProviderRateLimited, detail: "typed", retryAfter: "3"},
		{name: "429 header wins over hint", status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"hint":"3"}`, errorInfo: true,
			kind: telamentis.ProviderRateLimited, detail: "typed", retryAfter: "7"},
		{name: "503", status: 503, header: map[string]string{"Retry-After": "1"}, kind: telamentis.ProviderUnavailable, retryAfter: "1"},
		{name: "400 no retry hint", status: 400, header: map[string]string{"Retry-After": "1"}, kind: telamentis.ProviderRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got http.Header
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			hc, err := llm.HTTPClient(5*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := llm.Call{Provider: "p", Client: hc, URL: srv.URL + "/x", Header: http.Header{"X-Key": {"k"}}}
			if tc.errorInfo {
				c.ErrorInfo = func(b []byte) (string, string) {
					var e struct{ Hint string }
					json.Unmarshal(b, &e)
					return "typed", e.Hint
				}
			}
			var out answer
			ra, err := c.Post(t.Context(), map[string]string{"q": "x"}, &out)
			if got.Get("X-Key") != "k" || got.Get("Content-Type") != "application/json" || got.Get("User-Agent") != "telamentis" {
				t.Errorf("request headers = %v", got)
			}
			if c.Header.Get("Content-Type") != "" {
				t.Error("Post changed the call's headers")
			}
			var pe *telamentis.ProviderError
			if tc.kind == "" {
				if err != nil || out.Text != tc.want {
					t.Fatalf("Post = %q, %v; want %q", out.Text, err, tc.want)
				}
				return
			}
			if !errors.As(err, &pe) || pe.Kind != tc.kind || pe.Detail != tc.detail || ra != tc.retryAfter {
				t.Fatalf("Post = retry %q, %v (detail %q); want kind %s, detail %q, retry %q", ra, err, detailOf(pe), tc.kind, tc.detail, tc.retryAfter)
			}
			if strings.Contains(fmt.Sprint(err), "bad gateway") {
				t.Errorf("error quotes the body: %v", err)
			}
		})
	}
}

func detailOf(pe *telamentis.ProviderError) string {
	if pe == nil {
		return ""
	}
	return pe.Detail
}

// TestCallPostUnreachable checks that a refused connection is a network
// failure (unavailable, no status: not retried on the same route).
func TestCallPostUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	hc, err := llm.HTTPClient(5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := llm.Call{Provider: "p", Client: hc, URL: url}
	_, err = c.Post(t.Context(), struct{}{}, &struct{}{})
	var pe *telamentis.ProviderError
	if !errors.As(err, &pe) || pe.Kind != telamentis.ProviderUnavailable || pe.Status != 0 {
		t.Fatalf("err = %v, want unavailable without status", err)
	}
}
