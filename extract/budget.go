package extract

import (
	"context"
	"sync"
	"time"

	"github.com/telamentis/telamentis"
)

// Ledger counts each tenant's LLM spending per UTC day. MemoryLedger is the
// in-process implementation; a deployment with several replicas gives each
// replica its own share of the budget unless it plugs in a shared one.
type Ledger interface {
	// Spent returns what tenant used on day (a UTC date "2006-01-02").
	Spent(ctx context.Context, tenant, day string) (tokens int64, costUSD float64, err error)
	// Add records usage.
	Add(ctx context.Context, tenant, day string, tokens int64, costUSD float64) error
}

// MemoryLedger is a Ledger in memory. Days other than the latest seen are
// dropped.
type MemoryLedger struct {
	mu   sync.Mutex
	day  string
	used map[string]spend
}

type spend struct {
	tokens int64
	cost   float64
}

// NewMemoryLedger returns an empty MemoryLedger.
func NewMemoryLedger() *MemoryLedger { return &MemoryLedger{used: map[string]spend{}} }

// Spent implements Ledger.
func (l *MemoryLedger) Spent(_ context.Context, tenant, day string) (int64, float64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if day != l.day {
		return 0, 0, nil
	}
	s := l.used[tenant]
	return s.tokens, s.cost, nil
}

// Add implements Ledger.
func (l *MemoryLedger) Add(_ context.Context, tenant, day string, tokens int64, cost float64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if day > l.day {
		l.day = day
		clear(l.used)
	} else if day < l.day {
		return nil
	}
	s := l.used[tenant]
	s.tokens += tokens
	s.cost += cost
	l.used[tenant] = s
	return nil
}

func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func nextDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// budgetErr returns the budget-exceeded error for tenant.
func budgetErr(tenant, limit string, now time.Time) error {
	return &telamentis.Error{Code: telamentis.CodeRateLimited,
		Message: "daily llm " + limit + " budget of the tenant is spent",
		Err:     &telamentis.BudgetError{Tenant: tenant, Limit: limit, ResetAt: nextDay(now)}}
}

// estimateTokens is a cheap upper-side guess of a prompt's tokens (about
// three bytes a token), used to refuse a call that would cross the budget.
func estimateTokens(req telamentis.LLMRequest) int64 {
	n := len(req.System)
	for _, m := range req.Messages {
		n += len(m.Content)
	}
	return int64(n/3 + 1)
}
