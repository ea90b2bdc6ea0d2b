package llm

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/telamentis/telamentis"
)

// Retry is a bounded retry policy for provider calls.
type Retry struct {
	// MaxAttempts counts the first try; 0 means 3.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// BaseDelay is the first backoff (doubled each retry); 0 means 500ms.
	BaseDelay time.Duration `json:"base_delay,omitempty"`
	// MaxDelay caps one wait, Retry-After included: a provider asking for
	// longer is treated as down; 0 means 30s.
	MaxDelay time.Duration `json:"max_delay,omitempty"`
}

// Attempts returns MaxAttempts with its default.
func (p Retry) Attempts() int {
	if p.MaxAttempts <= 0 {
		return 3
	}
	return p.MaxAttempts
}

// Delay returns how long to wait before retry number n (1 for the first
// retry), given the Retry-After header value of the failed answer (may be
// empty). ok is false when the wait would exceed MaxDelay.
func (p Retry) Delay(n int, retryAfter string, now time.Time) (d time.Duration, ok bool) {
	base, maxD := p.BaseDelay, p.MaxDelay
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxD <= 0 {
		maxD = 30 * time.Second
	}
	if ra, has := parseRetryAfter(retryAfter, now); has {
		return ra, ra <= maxD
	}
	d = base << min(n-1, 16)
	return min(d, maxD), true
}

// Do runs a provider call under the policy, one call per attempt. call
// returns the answer, or a classified error (a *ProviderError where it can
// be) with the failed answer's Retry-After header value. Only rate-limited
// and unavailable errors that carry an HTTP status are tried again, while
// the policy allows another attempt and its delay; any other error, or the
// answer, is returned at once with Attempts set. A wait cut short by ctx
// ends as a ProviderTimeout of provider.
func (p Retry) Do(ctx context.Context, provider string, call func() (telamentis.LLMResponse, string, error)) (telamentis.LLMResponse, error) {
	var lastErr error
	for attempt := 1; ; attempt++ {
		resp, retryAfter, err := call()
		if err == nil {
			resp.Attempts = attempt
			return resp, nil
		}
		lastErr = err
		var pe *telamentis.ProviderError
		if !errors.As(err, &pe) || (pe.Kind != telamentis.ProviderRateLimited && pe.Kind != telamentis.ProviderUnavailable) || pe.Status == 0 {
			resp.Attempts = attempt
			return resp, err
		}
		if attempt >= p.Attempts() {
			break
		}
		d, ok := p.Delay(attempt, retryAfter, time.Now())
		if !ok {
			break
		}
		if err := sleepCtx(ctx, d); err != nil {
			return telamentis.LLMResponse{Attempts: attempt}, telamentis.NewProviderError(provider, telamentis.ProviderTimeout, 0, "", err)
		}
	}
	return telamentis.LLMResponse{}, lastErr
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || s > 86400*7 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleepCtx waits d or until ctx ends, returning ctx's error in that case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
