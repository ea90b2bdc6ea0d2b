package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Call is one JSON endpoint of a provider's API, as a connector builds it
// once: each provider's API is a single POST of a JSON document answered
// by a JSON document, which is all the connectors need of an SDK.
type Call struct {
	// Provider is the routing name errors carry.
	Provider string
	// Client is the endpoint's client (Endpoint.Prepare).
	Client *http.Client
	URL    string
	// Header holds the credentials and version headers; Post adds the
	// content type.
	Header http.Header
	// ErrorInfo, when set, reads a failed answer's body (at most
	// maxErrorBody bytes) for a short detail for the log — an error type or
	// status, never a message, which may quote the request — and a retry
	// hint in Retry-After syntax, used when the answer has no Retry-After
	// header (Gemini's RetryInfo).
	ErrorInfo func(body []byte) (detail, retryAfter string)
}

// maxErrorBody bounds what Post reads of a failed answer.
const maxErrorBody = 64 << 10

// Post sends in, encoded as JSON, and decodes a 2xx answer's body into
// out. It returns errors already classified for Retry.Do, with the
// Retry-After value of a failed answer: an HTTP error answer by
// StatusError, a call without one (network, timeout, an undecodable or
// oversized body) by CallError.
func (c *Call) Post(ctx context.Context, in, out any) (retryAfter string, err error) {
	body, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("llm: %s: encode request: %w", c.Provider, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("llm: %s: %w", c.Provider, err)
	}
	req.Header = c.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "telamentis")
	resp, err := c.Client.Do(req)
	if err != nil {
		return "", CallError(ctx, c.Provider, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var detail, hint string
		if c.ErrorInfo != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			detail, hint = c.ErrorInfo(b)
		}
		ra := resp.Header.Get("Retry-After")
		if ra == "" {
			ra = hint
		}
		return StatusError(c.Provider, resp.StatusCode, detail, ra)
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		return "", CallError(ctx, c.Provider, err)
	}
	return "", nil
}
