package badger

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/telamentis/telamentis"
)

// storedKey is the persisted form of an API key (APIKey hides its hash
// from JSON).
type storedKey struct {
	ID         string          `json:"id"`
	Tenant     string          `json:"tenant,omitempty"`
	Role       telamentis.Role `json:"role"`
	PII        bool            `json:"pii,omitempty"`
	Name       string          `json:"name,omitempty"`
	Hash       []byte          `json:"hash"`
	CreatedAt  time.Time       `json:"created_at"`
	ExpiresAt  time.Time       `json:"expires_at,omitzero"`
	RevokedAt  time.Time       `json:"revoked_at,omitzero"`
	LastUsedAt time.Time       `json:"last_used_at,omitzero"`
}

func (k storedKey) key() telamentis.APIKey {
	return telamentis.APIKey{ID: k.ID, Tenant: k.Tenant, Role: k.Role, PII: k.PII, Name: k.Name,
		Hash: k.Hash, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
}

func stored(k telamentis.APIKey) storedKey {
	return storedKey{ID: k.ID, Tenant: k.Tenant, Role: k.Role, PII: k.PII, Name: k.Name,
		Hash: k.Hash, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
}

type keyEntry struct {
	k            telamentis.APIKey
	persistedUse time.Time
}

// touchEvery coarsens TouchKey: a use is persisted at most once a minute.
const touchEvery = time.Minute

func (s *Store) putKey(k telamentis.APIKey) error {
	b, err := json.Marshal(stored(k))
	if err != nil {
		return err
	}
	return s.commitSys([]kv{{key: append([]byte(string(sysKeyPrefix)), k.ID...), value: b}})
}

func copyKey(k telamentis.APIKey) telamentis.APIKey {
	k.Hash = slices.Clone(k.Hash)
	return k
}

// CreateKey implements telamentis.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k telamentis.APIKey) error {
	if k.ID == "" || len(k.ID) > 128 {
		return telamentis.Invalid("id", "required, at most 128 bytes")
	}
	if !k.Role.Valid() {
		return telamentis.Invalid("role", "must be admin, tenant_admin, writer or reader")
	}
	if s.closed.Load() {
		return errClosed
	}
	if k.Tenant != "" {
		if _, err := s.tenant(k.Tenant); err != nil {
			return err
		}
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return telamentis.Errorf(telamentis.CodeConflict, "key %s already exists", k.ID)
	}
	k = copyKey(k)
	if err := s.putKey(k); err != nil {
		return wrapErr("create key", err)
	}
	s.keys[k.ID] = &keyEntry{k: k, persistedUse: k.LastUsedAt}
	return nil
}

// GetKey implements telamentis.KeyStore.
func (s *Store) GetKey(ctx context.Context, id string) (telamentis.APIKey, error) {
	if s.closed.Load() {
		return telamentis.APIKey{}, errClosed
	}
	s.keysMu.RLock()
	defer s.keysMu.RUnlock()
	e := s.keys[id]
	if e == nil {
		return telamentis.APIKey{}, telamentis.NotFound("key")
	}
	return copyKey(e.k), nil
}

// ListKeys implements telamentis.KeyStore.
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]telamentis.APIKey, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	s.keysMu.RLock()
	var out []telamentis.APIKey
	for _, e := range s.keys {
		if e.k.Tenant == tenant {
			out = append(out, copyKey(e.k))
		}
	}
	s.keysMu.RUnlock()
	slices.SortFunc(out, func(a, b telamentis.APIKey) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// RevokeKey implements telamentis.KeyStore.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) (telamentis.APIKey, error) {
	if s.closed.Load() {
		return telamentis.APIKey{}, errClosed
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	e := s.keys[id]
	if e == nil {
		return telamentis.APIKey{}, telamentis.NotFound("key")
	}
	at = telamentis.NormalizeTime(at)
	if at.IsZero() {
		at = s.now()
	}
	// A revocation already due no later than at stands; a later one (a
	// rotation's scheduled revocation) is moved earlier.
	if !e.k.RevokedAt.IsZero() && !e.k.RevokedAt.After(at) {
		return copyKey(e.k), nil
	}
	k := e.k
	k.RevokedAt = at
	if err := s.putKey(k); err != nil {
		return telamentis.APIKey{}, wrapErr("revoke key", err)
	}
	e.k, e.persistedUse = k, k.LastUsedAt
	return copyKey(k), nil
}

// TouchKey implements telamentis.KeyStore. The in-memory last use is exact;
// it is persisted at most once a minute per key.
func (s *Store) TouchKey(ctx context.Context, id string, at time.Time) error {
	if s.closed.Load() {
		return errClosed
	}
	at = telamentis.NormalizeTime(at)
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	e := s.keys[id]
	if e == nil {
		return telamentis.NotFound("key")
	}
	if !at.After(e.k.LastUsedAt) {
		return nil
	}
	e.k.LastUsedAt = at
	if at.Sub(e.persistedUse) < touchEvery {
		return nil
	}
	if err := s.putKey(e.k); err != nil {
		return wrapErr("touch key", err)
	}
	e.persistedUse = at
	return nil
}

// CountKeys implements telamentis.KeyStore.
func (s *Store) CountKeys(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, errClosed
	}
	s.keysMu.RLock()
	defer s.keysMu.RUnlock()
	return len(s.keys), nil
}
