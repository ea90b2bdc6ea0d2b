package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/telamentis/telamentis"
	auditlog "github.com/telamentis/telamentis/audit"
	"github.com/telamentis/telamentis/pipeline/ratelimit"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// quotaTable is the tenant settings the transport would hand the limiter.
type quotaTable struct {
	mu sync.Mutex
	q  map[string]telamentis.Quotas
}

func (t *quotaTable) get(_ context.Context, tenant string) (telamentis.Quotas, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.q[tenant], nil
}

func (t *quotaTable) set(tenant string, q telamentis.Quotas) {
	t.mu.Lock()
	t.q[tenant] = q
	t.mu.Unlock()
}

func newLimiter(t testing.TB, cfg ratelimit.Config) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func op(tenant, key, ip string) *telamentis.Operation {
	return &telamentis.Operation{
		Name: "node.get", Tenant: tenant, ClientIP: ip,
		Principal: &telamentis.Principal{Tenant: tenant, Role: telamentis.RoleReader, KeyID: key},
	}
}

var ok = func(context.Context, *telamentis.Operation) error { return nil }

func run(t testing.TB, l *ratelimit.Limiter, o *telamentis.Operation) error {
	t.Helper()
	called := false
	err := l.Handle(context.Background(), o, func(ctx context.Context, o *telamentis.Operation) error {
		called = true
		return nil
	})
	if (err == nil) != called {
		t.Fatalf("next called=%v but err=%v", called, err)
	}
	return err
}

func wantLimited(t testing.TB, err error, scope string) {
	t.Helper()
	var le *ratelimit.LimitError
	if !errors.As(err, &le) || le.Scope != scope {
		t.Fatalf("want a %s refusal, got %v", scope, err)
	}
	if telamentis.ErrorCode(err) != telamentis.CodeRateLimited || telamentis.ErrorMessage(err) != "rate limit exceeded" {
		t.Fatalf("code %q message %q", telamentis.ErrorCode(err), telamentis.ErrorMessage(err))
	}
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) || ra.RetryAfter() <= 0 {
		t.Fatalf("no retry-after on %v", err)
	}
}

func count(t testing.TB, l *ratelimit.Limiter, n int, o func(i int) *telamentis.Operation) (allowed int) {
	t.Helper()
	for i := range n {
		if run(t, l, o(i)) == nil {
			allowed++
		}
	}
	return allowed
}

func TestNoisyTenant(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	q := &quotaTable{q: map[string]telamentis.Quotas{
		"acme":   {RequestsPerSecond: 10, Burst: 10},
		"globex": {RequestsPerSecond: 10, Burst: 10},
	}}
	l := newLimiter(t, ratelimit.Config{Quotas: q.get, Now: clk.Now})
	// acme floods at 10× its limit over one second; globex keeps to its own.
	allowedA, allowedB := 0, 0
	var refusal error
	for step := range 100 {
		if err := run(t, l, op("acme", "ka", "10.0.0.1")); err == nil {
			allowedA++
		} else if refusal == nil {
			refusal = err
		}
		if step%10 == 0 {
			if err := run(t, l, op("globex", "kb", "10.0.0.2")); err != nil {
				t.Fatalf("globex refused: %v", err)
			}
			allowedB++
		}
		clk.Advance(10 * time.Millisecond)
	}
	if allowedA < 15 || allowedA > 21 {
		t.Fatalf("acme allowed %d of 100 in one second at 10/s burst 10", allowedA)
	}
	// The key draws first, and the key has its tenant's rate.
	wantLimited(t, refusal, ratelimit.ScopeKey)
}

func TestTenantLimitAcrossKeysAndQuotaChange(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	q := &quotaTable{q: map[string]telamentis.Quotas{"acme": {RequestsPerSecond: 1, Burst: 4}}}
	l := newLimiter(t, ratelimit.Config{Quotas: q.get, Key: ratelimit.Limits{RPS: 100, Burst: 100}, Now: clk.Now})
	// Many keys of one tenant share the tenant bucket.
	got := count(t, l, 10, func(i int) *telamentis.Operation { return op("acme", string(rune('a'+i)), "") })
	if got != 4 {
		t.Fatalf("allowed %d, want the tenant burst 4", got)
	}
	wantLimited(t, run(t, l, op("acme", "z", "")), ratelimit.ScopeTenant)
	// An admin raises the quota: the bucket follows.
	q.set("acme", telamentis.Quotas{RequestsPerSecond: 1, Burst: 50})
	run(t, l, op("acme", "k", "")) // applies the new quota; tokens refill from here
	clk.Advance(time.Minute)
	if got := count(t, l, 60, func(int) *telamentis.Operation { return op("acme", "k", "") }); got != 50 {
		t.Fatalf("after raising the burst: %d allowed", got)
	}
}

func TestPerKeyAndPerIP(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(t, ratelimit.Config{
		Tenant: ratelimit.Limits{RPS: 1000, Burst: 1000},
		Key:    ratelimit.Limits{RPS: 1, Burst: 3},
		IP:     ratelimit.Limits{RPS: 1, Burst: 5},
		Now:    clk.Now,
	})
	if got := count(t, l, 5, func(int) *telamentis.Operation { return op("acme", "k1", "192.0.2.1") }); got != 3 {
		t.Fatalf("key: %d allowed", got)
	}
	err := run(t, l, op("acme", "k1", "192.0.2.9"))
	wantLimited(t, err, ratelimit.ScopeKey)
	var le *ratelimit.LimitError
	if errors.As(err, &le); le.Limits.RPS != 1 || le.Limits.Burst != 3 {
		t.Fatalf("refusal names limits %+v", le.Limits)
	}
	// The same IP with other keys hits the IP bucket (3 of its 5 tokens
	// went to k1, and the refusals above took none of them... k1's refusals
	// did take IP tokens: the IP bucket is drawn first).
	clk.Advance(time.Hour)
	if got := count(t, l, 8, func(i int) *telamentis.Operation { return op("acme", "x"+string(rune('a'+i)), "192.0.2.1") }); got != 5 {
		t.Fatalf("ip: %d allowed", got)
	}
	wantLimited(t, run(t, l, op("acme", "fresh", "192.0.2.1")), ratelimit.ScopeIP)
	// IPv6 addresses of one /64 share a bucket; another /64 does not.
	ips := []string{"2001:db8::1", "2001:db8::2", "2001:db8::ffff:1", "2001:db8:0:0:1::", "2001:db8::9"}
	if got := count(t, l, 8, func(i int) *telamentis.Operation { return op("acme", "v6"+string(rune('a'+i)), ips[i%len(ips)]) }); got != 5 {
		t.Fatalf("ipv6 /64: %d allowed", got)
	}
	if err := run(t, l, op("acme", "other", "2001:db8:0:1::1")); err != nil {
		t.Fatalf("other /64: %v", err)
	}
}

func TestConcurrencyCap(t *testing.T) {
	q := &quotaTable{q: map[string]telamentis.Quotas{"acme": {MaxConcurrent: 2}}}
	l := newLimiter(t, ratelimit.Config{Quotas: q.get})
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			err := l.Handle(t.Context(), op("acme", "k", ""), func(context.Context, *telamentis.Operation) error {
				started <- struct{}{}
				<-release
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	<-started
	<-started
	wantLimited(t, run(t, l, op("acme", "k", "")), ratelimit.ScopeConcurrency)
	if err := run(t, l, op("globex", "k2", "")); err != nil {
		t.Fatalf("other tenant: %v", err)
	}
	close(release)
	wg.Wait()
	if err := run(t, l, op("acme", "k", "")); err != nil {
		t.Fatalf("after release: %v", err)
	}
	// A failing operation releases its slot too.
	for range 5 {
		l.Handle(t.Context(), op("acme", "k", ""), func(context.Context, *telamentis.Operation) error { return errors.New("boom") })
	}
	if err := run(t, l, op("acme", "k", "")); err != nil {
		t.Fatalf("after failures: %v", err)
	}
}

// TestFailedAuthGuard: failures from one IP are counted until its budget
// is used up, then refused with a retry time; other IPs and the
// authenticated limits are untouched, and the budget refills.
func TestFailedAuthGuard(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(t, ratelimit.Config{FailedAuth: ratelimit.Limits{RPS: 0.1, Burst: 3}, Key: ratelimit.Limits{RPS: 100}, IP: ratelimit.Limits{RPS: 100}, Now: clk.Now})
	ctx := t.Context()
	for i := range 3 {
		if err := l.AuthFailed(ctx, "198.51.100.7"); err != nil {
			t.Fatalf("failure %d refused: %v", i, err)
		}
	}
	for range 2 {
		err := l.AuthFailed(ctx, "198.51.100.7")
		wantLimited(t, err, ratelimit.ScopeAuth)
		if ra := err.(interface{ RetryAfter() time.Duration }).RetryAfter(); ra <= 0 || ra > 10*time.Second {
			t.Fatalf("retry after %v, want within the 10 s refill", ra)
		}
	}
	if err := l.AuthFailed(ctx, "198.51.100.8"); err != nil {
		t.Fatalf("another IP refused: %v", err)
	}
	// The IP's authenticated requests draw from other buckets.
	if err := run(t, l, op("acme", "k", "198.51.100.7")); err != nil {
		t.Fatalf("an authenticated request from the IP: %v", err)
	}
	if st := l.Stats(); st.Refused[ratelimit.ScopeAuth] != 2 || st.Refused[ratelimit.ScopeIP] != 0 {
		t.Fatalf("stats %+v", st)
	}
	clk.Advance(10 * time.Second)
	if err := l.AuthFailed(ctx, "198.51.100.7"); err != nil {
		t.Fatalf("still refused after refill: %v", err)
	}
}

func TestTripsAudited(t *testing.T) {
	dir := t.TempDir()
	log, err := auditlog.Open(auditlog.Config{Dir: dir, Key: telamentis.NewSecret(strings.Repeat("k", 32))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(t, ratelimit.Config{Tenant: ratelimit.Limits{RPS: 1, Burst: 1}, Audit: log, Now: clk.Now})
	count(t, l, 20, func(int) *telamentis.Operation { return op("acme", "k", "127.0.0.1") })
	recs, _, err := log.Query(t.Context(), telamentis.AuditFilter{Action: telamentis.AuditRateLimited})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Tenant != "acme" || recs[0].Actor != "key:k" || recs[0].Outcome != telamentis.OutcomeDenied || recs[0].Details["scope"] != ratelimit.ScopeKey {
		t.Fatalf("trip records %+v", recs)
	}
}

func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	addr := os.Getenv("TELAMENTIS_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("TELAMENTIS_TEST_REDIS_ADDR not set")
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", addr, err)
	}
	return c
}

func prefix() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "telamentis:test:" + hex.EncodeToString(b) + ":"
}

// TestRedisSharedLimit runs two limiters, as two replicas, on one Redis:
// together they allow one tenant's burst, not one each.
func TestRedisSharedLimit(t *testing.T) {
	rc := redisClient(t)
	p := prefix()
	t.Cleanup(func() {
		keys, _ := rc.Keys(context.Background(), p+"*").Result()
		if len(keys) > 0 {
			rc.Del(context.Background(), keys...)
		}
	})
	q := &quotaTable{q: map[string]telamentis.Quotas{"acme": {RequestsPerSecond: 0.01, Burst: 10}, "globex": {RequestsPerSecond: 0.01, Burst: 10}}}
	cfg := ratelimit.Config{Quotas: q.get, Key: ratelimit.Limits{RPS: 1000, Burst: 1000}, Redis: rc, RedisPrefix: p}
	a, b := newLimiter(t, cfg), newLimiter(t, cfg)
	replicas := []*ratelimit.Limiter{a, b}
	allowed := 0
	for i := range 30 {
		err := run(t, replicas[i%2], op("acme", "k", ""))
		if err == nil {
			allowed++
		} else {
			wantLimited(t, err, ratelimit.ScopeTenant)
		}
	}
	if allowed != 10 {
		t.Fatalf("two replicas allowed %d, want one combined burst of 10", allowed)
	}
	if got := count(t, b, 10, func(int) *telamentis.Operation { return op("globex", "k2", "") }); got != 10 {
		t.Fatalf("other tenant: %d allowed", got)
	}
	// A refusal takes nothing from the other buckets: all or nothing.
	got := count(t, a, 5, func(int) *telamentis.Operation { return op("globex", "k3", "") })
	if got != 0 {
		t.Fatalf("exhausted tenant allowed %d", got)
	}
	n, err := rc.Get(t.Context(), p+"key:k3").Result()
	if err != redis.Nil {
		t.Fatalf("refused requests drew from the key bucket: %q %v", n, err)
	}

	// The failed-authentication guard is shared too.
	fa := ratelimit.Config{FailedAuth: ratelimit.Limits{RPS: 0.01, Burst: 4}, Redis: rc, RedisPrefix: p}
	c, d := newLimiter(t, fa), newLimiter(t, fa)
	for i := range 4 {
		if err := []*ratelimit.Limiter{c, d}[i%2].AuthFailed(t.Context(), "203.0.113.5"); err != nil {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	wantLimited(t, d.AuthFailed(t.Context(), "203.0.113.5"), ratelimit.ScopeAuth)
	wantLimited(t, c.AuthFailed(t.Context(), "203.0.113.5"), ratelimit.ScopeAuth)
}

// TestRedisDownFallsBack checks that a limiter whose Redis is gone keeps
// limiting with its own buckets instead of failing every request.
func TestRedisDownFallsBack(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rc.Close()
	l := newLimiter(t, ratelimit.Config{Tenant: ratelimit.Limits{RPS: 0.01, Burst: 3}, Redis: rc})
	if got := count(t, l, 6, func(int) *telamentis.Operation { return op("acme", "k", "") }); got != 3 {
		t.Fatalf("fallback allowed %d", got)
	}
	if st := l.Stats(); st.RedisErrors != 1 || st.Refused[ratelimit.ScopeKey] != 3 {
		t.Fatalf("stats %+v (one Redis failure, then the breaker)", st)
	}
}

func BenchmarkHandle(b *testing.B) {
	l := newLimiter(b, ratelimit.Config{
		Tenant: ratelimit.Limits{RPS: 1e9, Burst: 1e9, MaxConcurrent: 1000},
		IP:     ratelimit.Limits{RPS: 1e9, Burst: 1e9},
	})
	o := op("acme", "key1", "127.0.0.1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Handle(context.Background(), o, ok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRateLimitHeaders: a refusal carries the draft-IETF RateLimit and
// RateLimit-Policy fields of the refusing bucket and nothing identifying.
func TestRateLimitHeaders(t *testing.T) {
	q := &quotaTable{q: map[string]telamentis.Quotas{"acme": {RequestsPerSecond: 2, Burst: 4}, "globex": {MaxConcurrent: 1}}}
	l := newLimiter(t, ratelimit.Config{Quotas: q.get})
	var err error
	for range 5 {
		if err = run(t, l, op("acme", "k", "")); err != nil {
			break
		}
	}
	var le *ratelimit.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("no refusal: %v", err)
	}
	h := le.HTTPHeaders()
	if got := h.Get("RateLimit-Policy"); got != `"tenant";q=4;w=2` && got != `"key";q=4;w=2` {
		t.Errorf("RateLimit-Policy %q", got)
	}
	if got := h.Get("RateLimit"); !strings.HasSuffix(got, ";r=0;t=1") {
		t.Errorf("RateLimit %q", got)
	}
	for _, v := range []string{h.Get("RateLimit"), h.Get("RateLimit-Policy")} {
		if strings.Contains(v, "acme") || strings.Contains(v, `"k"`) {
			t.Errorf("header names the bucket owner: %q", v)
		}
	}

	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Handle(t.Context(), op("globex", "g", ""), func(context.Context, *telamentis.Operation) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	err = run(t, l, op("globex", "g", ""))
	close(release)
	<-done
	if !errors.As(err, &le) || le.Scope != ratelimit.ScopeConcurrency {
		t.Fatalf("concurrency: %v", err)
	}
	if got := le.HTTPHeaders().Get("RateLimit-Policy"); got != `"concurrency";q=1` {
		t.Errorf("concurrency RateLimit-Policy %q", got)
	}
}
