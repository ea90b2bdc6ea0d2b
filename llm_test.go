package telamentis_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/telamentis/telamentis"
)

func TestBudgetAndProviderErrors(t *testing.T) {
	err := error(&telamentis.Error{Code: telamentis.CodeRateLimited, Err: &telamentis.BudgetError{Tenant: "a", Limit: "tokens"}})
	if !errors.Is(err, telamentis.ErrBudgetExceeded) {
		t.Error("BudgetError does not match ErrBudgetExceeded")
	}
	pe := telamentis.NewProviderError("openai", telamentis.ProviderRateLimited, 429, strings.Repeat("x", 2000), nil)
	var p *telamentis.ProviderError
	if pe.Code != telamentis.CodeRateLimited || !errors.As(pe, &p) || !p.Retryable() || len(p.Detail) > 512 {
		t.Errorf("provider error = %+v", pe)
	}
	if telamentis.NewProviderError("x", telamentis.ProviderRefused, 0, "", nil).Err.(*telamentis.ProviderError).Retryable() {
		t.Error("refusal retryable")
	}
	if c := (telamentis.LLMPrice{InputPerMTok: 2, OutputPerMTok: 10}).Cost(telamentis.LLMUsage{InputTokens: 1_000_000, OutputTokens: 500_000}); c != 7 {
		t.Errorf("cost = %v", c)
	}
}
