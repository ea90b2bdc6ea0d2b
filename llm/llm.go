// Package llm holds the machinery every LLM connector (llm/openai,
// llm/anthropic, llm/gemini) shares: the endpoint policy (https, plain
// http to loopback only), the settings every connector's Config embeds,
// the HTTP client (TLS 1.2+, certificate verification, a body cap, a
// transport that refuses redirects off the policy), one bounded retry
// policy and the classification of failed calls into the root package's
// *telamentis.Error and *telamentis.ProviderError. The contracts
// themselves (Connector, LLMRequest, ProviderError …) live in the root
// package; this one is the infrastructure under them, kept out of the
// domain so that the root imports no network package.
package llm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/telamentis/telamentis"
)

// CheckBaseURL checks a provider base URL: https, or http to a loopback
// address only (local models and tests), and no credentials in it. It
// returns the parsed URL, or a CodeInvalid error on field base_url.
func CheckBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, telamentis.Invalid("base_url", "must be an absolute URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopbackHost(u.Hostname()) {
			return nil, telamentis.Invalid("base_url", "must use https (http only for loopback addresses)")
		}
	default:
		return nil, telamentis.Invalid("base_url", "must use https")
	}
	if u.User != nil {
		return nil, telamentis.Invalid("base_url", "must not carry credentials")
	}
	return u, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Endpoint holds the settings every connector shares; each connector's
// Config embeds it.
type Endpoint struct {
	// Name is the routing name; default the provider's ("openai", …).
	Name string
	// BaseURL defaults to the provider's public endpoint; http is
	// accepted only for loopback addresses (a local Ollama).
	BaseURL string
	APIKey  telamentis.Secret
	Model   string
	// Timeout bounds one HTTP attempt; default 60s.
	Timeout time.Duration
	Retry   Retry
	// Price is the model's price; zero for free local models.
	Price telamentis.LLMPrice
	// MaxOutputTokens is the default answer bound; default 8192.
	MaxOutputTokens int
	// CAPEM optionally replaces the system roots for this endpoint.
	CAPEM []byte
}

// Prepare fills the defaults (the connector's name and base URL, a 60s
// timeout, 8192 output tokens), checks the endpoint, the model and, when
// keyRequired, the API key, and returns the endpoint's HTTP client
// (HTTPClient).
func (c *Endpoint) Prepare(name, baseURL string, keyRequired bool) (*http.Client, error) {
	if c.Name == "" {
		c.Name = name
	}
	if c.BaseURL == "" {
		c.BaseURL = baseURL
	}
	if _, err := CheckBaseURL(c.BaseURL); err != nil {
		return nil, err
	}
	if c.Model == "" {
		return nil, telamentis.Invalid("model", "required")
	}
	if keyRequired && c.APIKey.IsZero() {
		return nil, telamentis.Invalid("api_key", "required")
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.MaxOutputTokens <= 0 {
		c.MaxOutputTokens = 8192
	}
	return HTTPClient(c.Timeout, c.CAPEM)
}

// HTTPClient returns the HTTP client every connector uses: TLS 1.2 or
// later with certificate verification (against caPEM when given, else the
// system pool), the overall timeout, a body cap of MaxResponseBytes, and a
// transport that refuses any request (a redirect included) to a URL
// CheckBaseURL would refuse.
func HTTPClient(timeout time.Duration, caPEM []byte) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, telamentis.Invalid("ca", "no certificate found in the PEM data")
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{Transport: endpointGuard{tr}, Timeout: timeout}, nil
}

type endpointGuard struct{ rt http.RoundTripper }

func (g endpointGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, err := CheckBaseURL(r.URL.String()); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("refused url %s://%s: %w", r.URL.Scheme, r.URL.Host, err)
	}
	resp, err := g.rt.RoundTrip(r)
	if err == nil {
		resp.Body = &limitedBody{rc: resp.Body, left: MaxResponseBytes}
	}
	return resp, err
}

// MaxResponseBytes bounds a provider's answer body; a longer one fails to
// read, so an oversized answer is refused before it is parsed.
const MaxResponseBytes = 8 << 20

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, errors.New("llm response larger than limit")
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// StatusError classifies a provider's HTTP error answer with the given
// status: 429 rate limited, 5xx (529 overloaded included) unavailable, 408
// timed out, anything else rejected. It returns retryAfter for the kinds
// worth retrying ("" for a rejection) with the error.
func StatusError(provider string, status int, detail, retryAfter string) (string, error) {
	switch {
	case status == http.StatusTooManyRequests:
		return retryAfter, telamentis.NewProviderError(provider, telamentis.ProviderRateLimited, status, detail, nil)
	case status >= 500:
		return retryAfter, telamentis.NewProviderError(provider, telamentis.ProviderUnavailable, status, detail, nil)
	case status == http.StatusRequestTimeout:
		return retryAfter, telamentis.NewProviderError(provider, telamentis.ProviderTimeout, status, detail, nil)
	}
	return "", telamentis.NewProviderError(provider, telamentis.ProviderRejected, status, detail, nil)
}

// CallError classifies a failed call that got no HTTP error answer: a
// timeout (ctx's or the transport's), a transport failure (unavailable),
// else an answer that could not be decoded (malformed). A decode error
// quotes the body, which may hold the tenant's data, so it is not kept as
// the cause.
func CallError(ctx context.Context, provider string, err error) error {
	var ne net.Error
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return telamentis.NewProviderError(provider, telamentis.ProviderTimeout, 0, "", err)
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return telamentis.NewProviderError(provider, telamentis.ProviderUnavailable, 0, "", err)
	}
	return telamentis.NewProviderError(provider, telamentis.ProviderMalformed, 0, "undecodable answer", nil)
}
