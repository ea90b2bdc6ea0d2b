package auth

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newKeys(t testing.TB, store telamentis.KeyStore, clk *fakeClock) *Keys {
	t.Helper()
	return NewKeys(store, KeysConfig{Now: clk.Now}, nil)
}

func setupKeys(t testing.TB) (*Keys, telamentis.KeyStore, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	store := newKeyStore(t)
	return newKeys(t, store, clk), store, clk
}

func issue(t testing.TB, k *Keys, req telamentis.NewKey) (telamentis.APIKey, string) {
	t.Helper()
	key, secret, err := k.IssueKey(t.Context(), req)
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	return key, secret.Reveal()
}

func mustAuth(t *testing.T, a telamentis.Authenticator, token string) *telamentis.Principal {
	t.Helper()
	p, err := a.Authenticate(t.Context(), "Bearer "+token)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return p
}

func refuse(t *testing.T, a telamentis.Authenticator, header string) {
	t.Helper()
	p, err := a.Authenticate(t.Context(), header)
	wantUnauth(t, p, err)
}

func TestIssueAndAuthenticate(t *testing.T) {
	k, store, _ := setupKeys(t)
	key, tok := issue(t, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleWriter, PII: true, Name: "ci"})
	if key.Hash != nil {
		t.Fatal("issued key exposes its digest")
	}
	if !strings.HasPrefix(tok, "tm_"+key.ID+"_") || len(tok) != tokenLen {
		t.Fatalf("token %q", tok)
	}
	stored, err := store.GetKey(t.Context(), key.ID)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte(tok))
	if string(stored.Hash) != string(d[:]) {
		t.Fatal("store does not hold SHA-256 of the token")
	}
	if strings.Contains(fmt.Sprintf("%+v", stored), tok[len(tok)-52:]) {
		t.Fatal("store holds the secret")
	}
	for _, h := range []string{"Bearer " + tok, "ApiKey " + tok, "bearer  " + tok} {
		p, err := k.Authenticate(t.Context(), h)
		if err != nil {
			t.Fatalf("%q: %v", h, err)
		}
		want := telamentis.Principal{Tenant: "acme", Role: telamentis.RoleWriter, KeyID: key.ID, PII: true}
		if *p != want {
			t.Fatalf("principal %+v", p)
		}
	}
	got, err := k.GetKey(t.Context(), key.ID)
	if err != nil || got.Hash != nil || got.Name != "ci" {
		t.Fatalf("get: %+v %v", got, err)
	}
	list, err := k.ListKeys(t.Context(), "acme")
	if err != nil || len(list) != 1 || list[0].Hash != nil {
		t.Fatalf("list: %+v %v", list, err)
	}
	admin, atok := issue(t, k, telamentis.NewKey{Role: telamentis.RoleAdmin})
	if p := mustAuth(t, k, atok); p.Role != telamentis.RoleAdmin || p.Tenant != "" || p.KeyID != admin.ID {
		t.Fatalf("admin principal %+v", p)
	}
}

func TestIssueValidation(t *testing.T) {
	k, _, clk := setupKeys(t)
	bad := map[string]telamentis.NewKey{
		"no role":          {Tenant: "acme"},
		"unknown role":     {Tenant: "acme", Role: "root"},
		"admin tenant":     {Tenant: "acme", Role: telamentis.RoleAdmin},
		"no tenant":        {Role: telamentis.RoleReader},
		"bad tenant":       {Tenant: "../x", Role: telamentis.RoleReader},
		"expired":          {Tenant: "acme", Role: telamentis.RoleReader, ExpiresAt: clk.Now().Add(-time.Second)},
		"long name":        {Tenant: "acme", Role: telamentis.RoleReader, Name: strings.Repeat("n", 129)},
		"tenant_admin nil": {Role: telamentis.RoleTenantAdmin},
	}
	for name, req := range bad {
		t.Run(name, func(t *testing.T) {
			if _, _, err := k.IssueKey(t.Context(), req); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestRefusedKeys(t *testing.T) {
	k, _, clk := setupKeys(t)
	key, tok := issue(t, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleReader, ExpiresAt: clk.Now().Add(time.Hour)})
	_, forged := newKeyToken()
	wrongSecret := tok[:len(tok)-52] + forged[len(forged)-52:]
	flipped := []byte(tok)
	if flipped[len(flipped)-1] == 'a' {
		flipped[len(flipped)-1] = 'b'
	} else {
		flipped[len(flipped)-1] = 'a'
	}
	cases := map[string]string{
		"forged":               "Bearer " + forged,
		"wrong secret same id": "Bearer " + wrongSecret,
		"one char off":         "Bearer " + string(flipped),
		"truncated":            "Bearer " + tok[:len(tok)-1],
		"no scheme":            tok,
		"basic":                "Basic " + tok,
		"empty":                "",
		"id only":              "Bearer tm_" + key.ID,
		"upper case":           "Bearer " + strings.ToUpper(tok),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) { refuse(t, k, h) })
	}
	mustAuth(t, k, tok) // still good, and now cached
	t.Run("expired", func(t *testing.T) {
		clk.Advance(time.Hour)
		refuse(t, k, "Bearer "+tok)
	})
}

func TestRevocationImmediate(t *testing.T) {
	k, _, _ := setupKeys(t)
	key, tok := issue(t, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleWriter})
	mustAuth(t, k, tok) // cached
	if _, err := k.RevokeKey(t.Context(), key.ID); err != nil {
		t.Fatal(err)
	}
	refuse(t, k, "Bearer "+tok)
	if _, _, err := k.RotateKey(t.Context(), key.ID, time.Hour); telamentis.ErrorCode(err) != telamentis.CodeConflict {
		t.Fatalf("rotate revoked key: %v", err)
	}
	if _, err := k.RevokeKey(t.Context(), "nosuchkeyaaaaaaa"); telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		t.Fatalf("revoke missing key: %v", err)
	}
}

// TestRevocationOtherReplica: a revocation made through another Keys (a
// replica) takes effect here when Invalidate is called for the key (on
// PostgreSQL, when the change's notification arrives) or InvalidateAll
// (the notification connection was re-established), and without either
// within CacheTTL.
func TestRevocationOtherReplica(t *testing.T) {
	for _, tc := range []struct {
		name string
		tell func(b *Keys, clk *fakeClock, id string)
	}{
		{"invalidate", func(b *Keys, _ *fakeClock, id string) { b.Invalidate(id) }},
		{"invalidate all", func(b *Keys, _ *fakeClock, _ string) { b.InvalidateAll() }},
		{"cache ttl", func(b *Keys, clk *fakeClock, _ string) { clk.Advance(b.cfg.CacheTTL) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
			store := newKeyStore(t)
			a, b := newKeys(t, store, clk), newKeys(t, store, clk)
			key, tok := issue(t, a, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleWriter})
			mustAuth(t, b, tok)
			if _, err := a.RevokeKey(t.Context(), key.ID); err != nil {
				t.Fatal(err)
			}
			refuse(t, a, "Bearer "+tok)
			mustAuth(t, b, tok) // b's cached copy
			tc.tell(b, clk, key.ID)
			refuse(t, b, "Bearer "+tok)
		})
	}
}

func TestRotateWithOverlap(t *testing.T) {
	k, _, clk := setupKeys(t)
	old, oldTok := issue(t, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleTenantAdmin, PII: true, Name: "svc", ExpiresAt: clk.Now().Add(48 * time.Hour)})
	mustAuth(t, k, oldTok)
	clk.Advance(24 * time.Hour)
	nk, secret, err := k.RotateKey(t.Context(), old.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if nk.ID == old.ID || nk.Tenant != "acme" || nk.Role != telamentis.RoleTenantAdmin || !nk.PII || nk.Name != "svc" {
		t.Fatalf("rotated key %+v", nk)
	}
	if want := clk.Now().Add(48 * time.Hour); !nk.ExpiresAt.Equal(want) {
		t.Fatalf("rotated key expires %v, want %v (same lifetime)", nk.ExpiresAt, want)
	}
	newTok := secret.Reveal()
	mustAuth(t, k, oldTok) // overlap
	mustAuth(t, k, newTok)
	clk.Advance(time.Hour)
	refuse(t, k, "Bearer "+oldTok)
	mustAuth(t, k, newTok)

	t.Run("explicit revoke during overlap", func(t *testing.T) {
		_, tok := issue(t, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleReader})
		id, _ := parseKeyToken(tok)
		if _, _, err := k.RotateKey(t.Context(), id, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		mustAuth(t, k, tok)
		if _, err := k.RevokeKey(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		refuse(t, k, "Bearer "+tok)
	})
	t.Run("zero overlap", func(t *testing.T) {
		_, tok := issue(t, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleReader})
		id, _ := parseKeyToken(tok)
		if _, _, err := k.RotateKey(t.Context(), id, 0); err != nil {
			t.Fatal(err)
		}
		refuse(t, k, "Bearer "+tok)
	})
}

func TestTouchCoarse(t *testing.T) {
	k, store, clk := setupKeys(t)
	key, tok := issue(t, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleReader})
	first := clk.Now()
	for range 10 {
		mustAuth(t, k, tok)
	}
	k.touches.Wait()
	lastUsed(t, store, key.ID, first)
	// Re-reads after CacheTTL keep the touch state: no touch before a minute.
	clk.Advance(30 * time.Second)
	mustAuth(t, k, tok)
	k.touches.Wait()
	lastUsed(t, store, key.ID, first)
	clk.Advance(31 * time.Second)
	mustAuth(t, k, tok)
	k.touches.Wait()
	lastUsed(t, store, key.ID, clk.Now())
}

func lastUsed(t *testing.T, store telamentis.KeyStore, id string, want time.Time) {
	t.Helper()
	got, err := store.GetKey(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastUsedAt.Equal(want) {
		t.Fatalf("last used %v, want %v", got.LastUsedAt, want)
	}
}

// TestDigestComparedInConstantTime pins the comparison to crypto/subtle:
// a == or bytes.Equal on digests would leak timing.
func TestDigestComparedInConstantTime(t *testing.T) {
	src, err := os.ReadFile("keys.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	if !strings.Contains(s, "subtle.ConstantTimeCompare(d[:], ck.digest[:])") {
		t.Fatal("digest not compared with subtle.ConstantTimeCompare")
	}
	for _, bad := range []string{"bytes.Equal", "d == ck.digest", "ck.digest == d", "string(d[:]) =="} {
		if strings.Contains(s, bad) {
			t.Fatalf("keys.go uses %s", bad)
		}
	}
}

func TestChainPicksByShape(t *testing.T) {
	k, _, _ := setupKeys(t)
	_, tok := issue(t, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleReader})
	c := Chain{Keys: k}
	if p := mustAuth(t, c, tok); p.Tenant != "acme" {
		t.Fatalf("%+v", p)
	}
	p, err := c.Authenticate(t.Context(), "ApiKey "+tok)
	if err != nil || p.Tenant != "acme" {
		t.Fatalf("%+v %v", p, err)
	}
	refuse(t, c, "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln") // no JWT configured
	refuse(t, c, "Bearer something-else")
}

func BenchmarkAuthenticate(b *testing.B) {
	k, _, _ := setupKeys(b)
	_, tok := issue(b, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleWriter})
	h := "Bearer " + tok
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := k.Authenticate(b.Context(), h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestImportKey(t *testing.T) {
	k, store, _ := setupKeys(t)
	tok := GenerateToken()
	key, err := k.ImportKey(t.Context(), tok, telamentis.NewKey{Role: telamentis.RoleAdmin, Name: "bootstrap admin"})
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := parseKeyToken(tok.Reveal()); key.ID != id || key.Hash != nil {
		t.Fatalf("imported %+v", key)
	}
	stored, _ := store.GetKey(t.Context(), key.ID)
	if d := sha256.Sum256([]byte(tok.Reveal())); string(stored.Hash) != string(d[:]) {
		t.Fatal("stored digest differs")
	}
	if p := mustAuth(t, k, tok.Reveal()); p.Role != telamentis.RoleAdmin {
		t.Fatalf("%+v", p)
	}
	if _, err := k.ImportKey(t.Context(), tok, telamentis.NewKey{Role: telamentis.RoleAdmin}); telamentis.ErrorCode(err) != telamentis.CodeConflict {
		t.Fatalf("second import: %v", err)
	}
	if _, err := k.ImportKey(t.Context(), telamentis.NewSecret("tm_nope"), telamentis.NewKey{Role: telamentis.RoleAdmin}); telamentis.ErrorCode(err) != telamentis.CodeInvalid {
		t.Fatalf("bad token: %v", err)
	}
}

func TestForgetTenant(t *testing.T) {
	k, store, _ := setupKeys(t)
	_, a := issue(t, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleReader})
	_, g := issue(t, k, telamentis.NewKey{Tenant: "globex", Role: telamentis.RoleReader})
	mustAuth(t, k, a)
	mustAuth(t, k, g)
	// The tenant's keys are revoked behind Keys' back (as a tenant
	// deletion in the store would); ForgetTenant makes that visible now.
	id, _ := parseKeyToken(a)
	if _, err := store.RevokeKey(t.Context(), id, time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	mustAuth(t, k, a) // still cached
	k.ForgetTenant("acme")
	refuse(t, k, "Bearer "+a)
	mustAuth(t, k, g)
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
}
