package audit

import (
	"context"
	"sync"
	"time"

	"github.com/telamentis/telamentis"
)

// AuthEvents records authentication outcomes for the transport: every
// failure, and a success at most once per actor and client IP per
// interval, so that the trail shows who authenticated from where without
// an fsync on every request. Safe for concurrent use.
type AuthEvents struct {
	log      telamentis.AuditLog
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	seen map[authSeen]time.Time
}

type authSeen struct{ actor, ip string }

// NewAuthEvents returns an AuthEvents writing to log; interval defaults to
// one minute.
func NewAuthEvents(log telamentis.AuditLog, interval time.Duration) *AuthEvents {
	if interval <= 0 {
		interval = time.Minute
	}
	return &AuthEvents{log: log, interval: interval, now: time.Now, seen: map[authSeen]time.Time{}}
}

// Success records that p authenticated from clientIP, unless it was
// already recorded within the interval. Its error need not refuse the
// request (authentication itself is not a sensitive operation), but the
// transport should log it.
func (a *AuthEvents) Success(ctx context.Context, p *telamentis.Principal, requestID, clientIP string) error {
	now := a.now()
	k := authSeen{p.Actor(), clientIP}
	a.mu.Lock()
	if t, ok := a.seen[k]; ok && now.Sub(t) < a.interval {
		a.mu.Unlock()
		return nil
	}
	a.seen[k] = now
	if len(a.seen) > 100_000 {
		for s, t := range a.seen {
			if now.Sub(t) >= a.interval {
				delete(a.seen, s)
			}
		}
	}
	a.mu.Unlock()
	err := a.append(ctx, telamentis.AuditRecord{
		RequestID: requestID, Actor: p.Actor(), Tenant: p.Tenant, Action: telamentis.AuditAuthSuccess,
		Outcome: telamentis.OutcomeSuccess, ClientIP: clientIP, Details: map[string]string{"role": string(p.Role)},
	})
	if err != nil {
		a.mu.Lock()
		delete(a.seen, k) // try again on the next request
		a.mu.Unlock()
	}
	return err
}

// Failure records a failed authentication. kind and keyID come from
// auth.CredentialKind (never the credential itself); keyID, if any, is
// the ID the presented API key claimed.
func (a *AuthEvents) Failure(ctx context.Context, requestID, clientIP, kind, keyID string) error {
	rec := telamentis.AuditRecord{
		RequestID: requestID, Actor: "anonymous", Action: telamentis.AuditAuthFailure,
		Outcome: telamentis.OutcomeDenied, ClientIP: clientIP, Details: map[string]string{"credential": kind},
	}
	if keyID != "" {
		rec.Target = "key:" + keyID
	}
	return a.append(ctx, rec)
}

func (a *AuthEvents) append(ctx context.Context, rec telamentis.AuditRecord) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return a.log.Append(ctx, rec)
}
