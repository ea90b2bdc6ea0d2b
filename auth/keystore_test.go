package auth

import (
	"testing"
	"time"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/badger"
)

// newKeyStore opens an in-memory Badger store, the default KeyStore, with
// the tenants the tests use.
func newKeyStore(t testing.TB) telamentis.KeyStore {
	t.Helper()
	s, err := badger.Open(badger.Config{InMemory: true, Now: func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, id := range []string{"acme", "globex"} {
		if _, err := s.CreateTenant(t.Context(), telamentis.Tenant{ID: id}); err != nil {
			t.Fatalf("create tenant %s: %v", id, err)
		}
	}
	return s
}
