// Package ratelimit is the rate-limiting pipeline step: token buckets per
// tenant, per credential (API key or token subject) and per client IP, a
// per-tenant cap on concurrent requests, and a much tighter per-IP bucket
// for failed authentication (a brute-force guard the transport drives
// through AuthFailed: only failures draw from it, so a valid credential is
// never refused by it).
//
// Buckets live in process (golang.org/x/time/rate) or, with Config.Redis,
// in Redis so that several replicas enforce one limit: a Lua script runs
// GCRA on Redis's clock for all of a request's buckets at once, taking a
// token from each only if every one has one. If Redis fails, the limiter
// falls back to its in-process buckets (per replica) and logs it. The
// concurrency cap is always per replica.
//
// Refusals are *LimitError values: telamentis.ErrorCode reports
// CodeRateLimited, and RetryAfter says when to try again (read it through
// interface{ RetryAfter() time.Duration } with errors.As).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/telamentis/telamentis"
)

// Limits is one bucket's rate and burst, and for tenants the concurrency
// cap. A zero RPS means unlimited. A zero Burst means ceil(RPS), at least 1.
type Limits struct {
	RPS           float64
	Burst         int
	MaxConcurrent int
}

func (l Limits) burst() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return max(1, int(math.Ceil(l.RPS)))
}

// Scopes name the bucket that refused a request.
const (
	ScopeTenant      = "tenant"
	ScopeKey         = "key"
	ScopeIP          = "ip"
	ScopeConcurrency = "concurrency"
	ScopeAuth        = "auth" // the failed-authentication guard
)

var scopes = [...]string{ScopeTenant, ScopeKey, ScopeIP, ScopeConcurrency, ScopeAuth}

// Stats counts a Limiter's refusals by scope and its Redis failures, for
// metrics.
type Stats struct {
	Refused     map[string]uint64 // by Scope*
	RedisErrors uint64
}

// Stats returns the counters.
func (l *Limiter) Stats() Stats {
	st := Stats{Refused: make(map[string]uint64, len(scopes)), RedisErrors: l.redisErrors.Load()}
	for i, s := range scopes {
		st.Refused[s] = l.refused[i].Load()
	}
	return st
}

func (l *Limiter) count(err error) {
	var le *LimitError
	if !errors.As(err, &le) {
		return
	}
	for i, s := range scopes {
		if s == le.Scope {
			l.refused[i].Add(1)
		}
	}
}

// LimitError is a refusal. It unwraps to a CodeRateLimited
// *telamentis.Error, so ErrorCode and ErrorMessage work on it.
type LimitError struct {
	Scope string        // the refusing bucket: ScopeTenant, ScopeKey…
	Retry time.Duration // when a retry may succeed
	// Limits is the refusing bucket's policy, for RateLimit-Policy
	// headers (only MaxConcurrent for ScopeConcurrency).
	Limits Limits
	err    *telamentis.Error
}

func newLimitError(scope string, retry time.Duration, lim Limits) *LimitError {
	retry = max(retry, time.Second/10)
	lim.Burst = lim.burst()
	return &LimitError{Scope: scope, Retry: retry, Limits: lim, err: telamentis.Errorf(telamentis.CodeRateLimited, "rate limit exceeded")}
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("ratelimit: %s: retry after %v: %v", e.Scope, e.Retry, e.err)
}

// Unwrap returns the domain error.
func (e *LimitError) Unwrap() error { return e.err }

// RetryAfter is how long the caller should wait before retrying.
func (e *LimitError) RetryAfter() time.Duration { return e.Retry }

// HTTPHeaders returns the RateLimit and RateLimit-Policy fields of
// draft-ietf-httpapi-ratelimit-headers (structured-field style) for the
// refusing bucket: the policy names the scope, its quota (the burst, or the
// concurrency cap) and window in seconds; RateLimit says nothing remains
// (r=0) and when the bucket has a token again (t, seconds, rounded up).
// Neither names the tenant, key or address the bucket belongs to.
func (e *LimitError) HTTPHeaders() http.Header {
	h := http.Header{}
	secs := max(1, int((e.Retry+time.Second-1)/time.Second))
	if e.Scope == ScopeConcurrency {
		h.Set("RateLimit-Policy", fmt.Sprintf("%q;q=%d", e.Scope, e.Limits.MaxConcurrent))
	} else {
		q := e.Limits.Burst
		w := 1
		if e.Limits.RPS > 0 {
			w = max(1, int(math.Ceil(float64(q)/e.Limits.RPS)))
		}
		h.Set("RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d", e.Scope, q, w))
	}
	h.Set("RateLimit", fmt.Sprintf("%q;r=0;t=%d", e.Scope, secs))
	return h
}

// Config configures a Limiter.
type Config struct {
	// Quotas returns a tenant's settings; RequestsPerSecond, Burst and
	// MaxConcurrent are used. Called on every request: make it a cache
	// read. Optional; without it every tenant gets Tenant.
	Quotas func(ctx context.Context, tenant string) (telamentis.Quotas, error)
	// Tenant is the default for tenants whose quotas leave a field zero.
	Tenant Limits
	// Key limits each credential (API key ID or token subject). Zero: a
	// credential gets its tenant's rate (system admin credentials, which
	// have no tenant, then get Tenant).
	Key Limits
	// IP limits each client IP (IPv6 by /64).
	IP Limits
	// FailedAuth limits failed authentications per client IP (default 1/s,
	// burst 10).
	FailedAuth Limits
	// Redis, if set, holds the buckets shared by all replicas.
	Redis redis.UniversalClient
	// RedisPrefix prefixes Redis keys (default "telamentis:rl:").
	RedisPrefix string
	// Audit, if set, records rate-limit trips, at most one per bucket per
	// minute and ten per second overall.
	Audit telamentis.AuditLog
	// Now is the clock of the in-process buckets; time.Now if nil.
	Now func() time.Time
}

// redisBackoff is how long the limiter uses its own buckets after Redis
// failed.
const redisBackoff = 5 * time.Second

// Limiter is the rate-limiting step. It implements telamentis.Step.
type Limiter struct {
	cfg    Config
	logger *slog.Logger
	seed   maphash.Seed

	tenants, keys, ips, fails table

	auditMu    sync.Mutex
	audited    map[string]time.Time
	auditQuota *rate.Limiter

	refused     [len(scopes)]atomic.Uint64 // refusals by scope, as scopes
	redisErrors atomic.Uint64

	redisWarn atomic.Int64 // UnixNano of the last Redis failure log
	redisDown atomic.Int64 // UnixNano until which Redis is not tried
	stop      chan struct{}
	stopOnce  sync.Once
}

var _ telamentis.Step = (*Limiter)(nil)

// New returns a Limiter and starts its sweeper of idle buckets; Close stops
// it.
func New(cfg Config, logger *slog.Logger) (*Limiter, error) {
	for name, l := range map[string]Limits{"tenant": cfg.Tenant, "key": cfg.Key, "ip": cfg.IP, "failed auth": cfg.FailedAuth} {
		if l.RPS < 0 || l.Burst < 0 || l.MaxConcurrent < 0 || math.IsNaN(l.RPS) || math.IsInf(l.RPS, 0) {
			return nil, fmt.Errorf("ratelimit: new: bad %s limits %+v", name, l)
		}
	}
	if cfg.FailedAuth.RPS == 0 {
		cfg.FailedAuth = Limits{RPS: 1, Burst: 10}
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = "telamentis:rl:"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{
		cfg: cfg, logger: logger, seed: maphash.MakeSeed(),
		audited: map[string]time.Time{}, auditQuota: rate.NewLimiter(10, 10),
		stop: make(chan struct{}),
	}
	for _, t := range []*table{&l.tenants, &l.keys, &l.ips, &l.fails} {
		t.init()
	}
	go l.sweep()
	return l, nil
}

// Close stops the sweeper.
func (l *Limiter) Close() error {
	l.stopOnce.Do(func() { close(l.stop) })
	return nil
}

// ID implements telamentis.Step.
func (l *Limiter) ID() string { return "telamentis.ratelimit" }

// check is one bucket a request draws from.
type check struct {
	scope string
	tab   *table
	id    string
	lim   Limits
	b     *bucket // the in-process bucket, if already looked up
}

// Handle implements telamentis.Step: it draws one token from the client
// IP's, the credential's and the tenant's buckets, holds a slot of the
// tenant's concurrency cap while next runs, and refuses with a
// *LimitError when any is exhausted.
func (l *Limiter) Handle(ctx context.Context, op *telamentis.Operation, next telamentis.Handler) error {
	tl := l.cfg.Tenant
	if op.Tenant != "" && l.cfg.Quotas != nil {
		q, err := l.cfg.Quotas(ctx, op.Tenant)
		if err != nil {
			return fmt.Errorf("ratelimit: quotas: %w", err)
		}
		if q.RequestsPerSecond > 0 {
			tl.RPS, tl.Burst = q.RequestsPerSecond, q.Burst
		}
		if q.MaxConcurrent > 0 {
			tl.MaxConcurrent = q.MaxConcurrent
		}
	}
	var checks [3]check
	n := 0
	if op.ClientIP != "" && l.cfg.IP.RPS > 0 {
		checks[n] = check{ScopeIP, &l.ips, ipKey(op.ClientIP), l.cfg.IP, nil}
		n++
	}
	if p := op.Principal; p != nil {
		id := p.KeyID
		if id == "" {
			id = "sub:" + p.Subject
		}
		kl := l.cfg.Key
		if kl.RPS == 0 {
			kl = tl
		}
		if kl.RPS > 0 {
			checks[n] = check{ScopeKey, &l.keys, id, kl, nil}
			n++
		}
	}
	var tb *bucket
	if op.Tenant != "" && (tl.RPS > 0 || tl.MaxConcurrent > 0) {
		tb = l.tenants.get(l.seed, op.Tenant, tl, l.cfg.Now())
	}
	if op.Tenant != "" && tl.RPS > 0 {
		checks[n] = check{ScopeTenant, &l.tenants, op.Tenant, tl, tb}
		n++
	}
	if err := l.take(ctx, checks[:n]); err != nil {
		l.trip(ctx, op, err)
		return err
	}
	if tb != nil && tl.MaxConcurrent > 0 {
		b := tb
		if b.inflight.Add(1) > int64(tl.MaxConcurrent) {
			b.inflight.Add(-1)
			err := newLimitError(ScopeConcurrency, time.Second, Limits{MaxConcurrent: tl.MaxConcurrent})
			l.trip(ctx, op, err)
			return err
		}
		defer b.inflight.Add(-1)
	}
	return next(ctx, op)
}

// AuthFailed records a failed authentication from ip: the transport calls
// it for every request whose credentials are missing or wrong, and only
// for those. It returns a *LimitError once ip has used up its
// failed-authentication budget; the transport then answers 429 instead of
// 401. There is deliberately no check before a credential is tried: all
// tenants' clients behind one proxy or NAT share an IP, and one client's
// failures must not lock out the others' valid keys. A guess is never
// right (256-bit secrets), so the guard limits its cost, not its chance.
func (l *Limiter) AuthFailed(ctx context.Context, ip string) error {
	err := l.take(ctx, []check{{ScopeAuth, &l.fails, ipKey(ip), l.cfg.FailedAuth, nil}})
	if err != nil {
		l.trip(ctx, &telamentis.Operation{Name: "auth", ClientIP: ip}, err)
	}
	return err
}

// ipKey returns the bucket id of a client IP: the address, or its /64 for
// IPv6 (one host easily holds a whole /64).
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		if err == nil && a.Is4In6() {
			return a.Unmap().String()
		}
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// take draws one token from every bucket in checks, all or nothing in
// shared mode.
func (l *Limiter) take(ctx context.Context, checks []check) error {
	if len(checks) == 0 {
		return nil
	}
	if l.cfg.Redis != nil && time.Now().UnixNano() >= l.redisDown.Load() {
		err := l.takeRedis(ctx, checks)
		if err == nil {
			return nil
		}
		var le *LimitError
		if errors.As(err, &le) {
			return err
		}
		l.redisFailed(err)
	}
	now := l.cfg.Now()
	for _, c := range checks {
		b := c.b
		if b == nil {
			b = c.tab.get(l.seed, c.id, c.lim, now)
		}
		if !b.lim.AllowN(now, 1) {
			return newLimitError(c.scope, retryIn(b.lim, now), c.lim)
		}
	}
	return nil
}

func retryIn(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	r := float64(lim.Limit())
	if missing <= 0 || r <= 0 {
		return time.Second
	}
	return time.Duration(missing / r * float64(time.Second))
}

// redisFailed logs a Redis failure (at most every 10 s) and stops trying
// Redis for redisBackoff, so that requests do not each wait for a dead
// server.
func (l *Limiter) redisFailed(err error) {
	l.redisErrors.Add(1)
	now := time.Now().UnixNano()
	l.redisDown.Store(now + int64(redisBackoff))
	last := l.redisWarn.Load()
	if now-last > int64(10*time.Second) && l.redisWarn.CompareAndSwap(last, now) {
		l.logger.Warn("ratelimit redis unavailable; using per-replica buckets", "err", err)
	}
}

// trip records a refusal in the audit log, throttled.
func (l *Limiter) trip(ctx context.Context, op *telamentis.Operation, err error) {
	l.count(err)
	if l.cfg.Audit == nil {
		return
	}
	var le *LimitError
	if !errors.As(err, &le) {
		return
	}
	actor := "anonymous"
	if op.Principal != nil {
		actor = op.Principal.Actor()
	}
	id := le.Scope + "|" + op.Tenant + "|" + actor + "|" + ipKey(op.ClientIP)
	now := time.Now()
	l.auditMu.Lock()
	if t, ok := l.audited[id]; ok && now.Sub(t) < time.Minute {
		l.auditMu.Unlock()
		return
	}
	if !l.auditQuota.Allow() {
		l.auditMu.Unlock()
		return
	}
	l.audited[id] = now
	if len(l.audited) > 100_000 {
		for k, t := range l.audited {
			if now.Sub(t) >= time.Minute {
				delete(l.audited, k)
			}
		}
	}
	l.auditMu.Unlock()
	rec := telamentis.AuditRecord{
		RequestID: op.RequestID, Actor: actor, Tenant: op.Tenant,
		Action: telamentis.AuditRateLimited, Target: op.Name, Outcome: telamentis.OutcomeDenied,
		ClientIP: op.ClientIP, Details: map[string]string{"scope": le.Scope},
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if aerr := l.cfg.Audit.Append(actx, rec); aerr != nil {
		l.logger.Error("audit rate-limit trip", "tenant", op.Tenant, "err", aerr)
	}
}

// table is a sharded map of in-process buckets.
type table struct {
	shards [32]shard
}

type shard struct {
	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	lim      *rate.Limiter
	limits   Limits
	inflight atomic.Int64
	seen     atomic.Int64 // UnixNano of the last use
}

func (t *table) init() {
	for i := range t.shards {
		t.shards[i].m = map[string]*bucket{}
	}
}

// get returns id's bucket, created or updated to lim.
func (t *table) get(seed maphash.Seed, id string, lim Limits, now time.Time) *bucket {
	s := &t.shards[maphash.String(seed, id)%uint64(len(t.shards))]
	s.mu.Lock()
	b := s.m[id]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(lim.RPS), lim.burst()), limits: lim}
		s.m[id] = b
	} else if b.limits != lim {
		// An admin changed the tenant's quotas.
		b.lim.SetLimitAt(now, rate.Limit(lim.RPS))
		b.lim.SetBurstAt(now, lim.burst())
		b.limits = lim
	}
	s.mu.Unlock()
	b.seen.Store(now.UnixNano())
	return b
}

// sweep drops buckets that are full again and idle, and that no request
// holds, so that sprayed IPs or keys cannot grow memory without bound.
func (l *Limiter) sweep() {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		now := l.cfg.Now()
		for _, t := range []*table{&l.tenants, &l.keys, &l.ips, &l.fails} {
			t.sweep(now)
		}
	}
}

func (t *table) sweep(now time.Time) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for id, b := range s.m {
			idle := now.Sub(time.Unix(0, b.seen.Load()))
			if idle > time.Minute && b.inflight.Load() == 0 && b.lim.TokensAt(now) >= float64(b.lim.Burst()) {
				delete(s.m, id)
			}
		}
		s.mu.Unlock()
	}
}
