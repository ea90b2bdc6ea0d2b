package auth

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// countingStore counts the key lookups Keys makes of the real store under
// it.
type countingStore struct {
	telamentis.KeyStore
	gets atomic.Int64
}

func (c *countingStore) GetKey(ctx context.Context, id string) (telamentis.APIKey, error) {
	c.gets.Add(1)
	return c.KeyStore.GetKey(ctx, id)
}

// TestUnknownIDDoesTheWorkOfAWrongSecret checks that a token with an
// unknown key ID and one with a known ID but a wrong secret go through the
// same steps, request after request: the same number of store lookups
// (one per CacheTTL) and the same digest comparison, with the same error.
// Timing then cannot tell which key IDs exist.
func TestUnknownIDDoesTheWorkOfAWrongSecret(t *testing.T) {
	eachKeyStore(t, func(t *testing.T, store telamentis.KeyStore) {
		clk := &fakeClock{now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
		_, tok := issue(t, newKeys(t, store, clk), telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleReader})
		_, forged := newKeyToken()
		wrongSecret := tok[:len(tok)-secretLen] + forged[len(forged)-secretLen:]
		_, unknownID := newKeyToken()

		trace := func(token string) []string {
			cs := &countingStore{KeyStore: store}
			k := newKeys(t, cs, clk) // a cold cache
			verifies := 0
			k.verified = func() { verifies++ }
			var steps []string
			step := func() {
				p, err := k.AuthenticateToken(t.Context(), token)
				wantUnauth(t, p, err)
				steps = append(steps, fmt.Sprintf("lookups=%d compares=%d", cs.gets.Load(), verifies))
			}
			step()
			step()
			clk.Advance(k.cfg.CacheTTL) // the cached record expires
			step()
			step()
			return steps
		}
		wrong, unknown := trace(wrongSecret), trace(unknownID)
		want := []string{"lookups=1 compares=1", "lookups=1 compares=2", "lookups=2 compares=3", "lookups=2 compares=4"}
		if !slices.Equal(wrong, want) {
			t.Errorf("wrong secret: %v, want %v", wrong, want)
		}
		if !slices.Equal(unknown, wrong) {
			t.Errorf("unknown key ID: %v\nwrong secret:   %v", unknown, wrong)
		}
	})
}

// TestAbsentIDsCannotEvictKeys: a flood of unknown IDs fills the absent
// cache, not the cache of real keys.
func TestAbsentIDsCannotEvictKeys(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	cs := &countingStore{KeyStore: newKeyStore(t)}
	k := NewKeys(cs, KeysConfig{Now: clk.Now, MaxCached: 4}, nil)
	_, tok := issue(t, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleReader})
	mustAuth(t, k, tok)
	for range 20 {
		_, unknown := newKeyToken()
		refuse(t, k, "Bearer "+unknown)
	}
	before := cs.gets.Load()
	mustAuth(t, k, tok)
	if cs.gets.Load() != before {
		t.Fatal("unknown IDs evicted a cached key")
	}
	if len(k.absent) > 4 {
		t.Fatalf("absent cache holds %d IDs, bound 4", len(k.absent))
	}
}

// TestIssueClearsCachedAbsence: an ID cached as absent works once a key
// with it is created (ImportKey of a token probed before).
func TestIssueClearsCachedAbsence(t *testing.T) {
	k, _, _ := setupKeys(t)
	tok := GenerateToken()
	refuse(t, k, "Bearer "+tok.Reveal())
	if _, err := k.ImportKey(t.Context(), tok, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleReader}); err != nil {
		t.Fatal(err)
	}
	mustAuth(t, k, tok.Reveal())
}

// BenchmarkAuthenticateFailure compares the two failures an attacker
// could time: a known key ID with a wrong secret and an unknown key ID,
// cold (the cached record dropped before each call: one store lookup) and
// warm (answered from the cache).
func BenchmarkAuthenticateFailure(b *testing.B) {
	for _, st := range []string{"badger", "postgres"} {
		b.Run(st, func(b *testing.B) {
			var store telamentis.KeyStore
			if st == "postgres" {
				s := newPGDB(b).open(b)
				addTenants(b, s)
				store = s
			} else {
				store = newKeyStore(b)
			}
			k := NewKeys(store, KeysConfig{}, nil)
			_, tok := issue(b, k, telamentis.NewKey{Tenant: "acme", Role: telamentis.RoleReader})
			_, forged := newKeyToken()
			_, unknownID := newKeyToken()
			paths := []struct{ name, token string }{
				{"wrong_secret", tok[:len(tok)-secretLen] + forged[len(forged)-secretLen:]},
				{"unknown_id", unknownID},
			}
			for _, cache := range []string{"cold", "warm"} {
				for _, p := range paths {
					id, _ := parseKeyToken(p.token)
					b.Run(cache+"/"+p.name, func(b *testing.B) {
						b.ReportAllocs()
						for b.Loop() {
							if cache == "cold" {
								k.invalidate(id)
							}
							if _, err := k.AuthenticateToken(b.Context(), p.token); err == nil {
								b.Fatal("accepted")
							}
						}
					})
				}
			}
		})
	}
}
