package auth

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// memKeys is a KeyStore following the telamentis.KeyStore contract, used
// until a real store implements KeyStore.
type memKeys struct {
	mu   sync.Mutex
	keys map[string]telamentis.APIKey
	gets int
}

func newKeyStore(t testing.TB) *memKeys {
	t.Helper()
	return &memKeys{keys: map[string]telamentis.APIKey{}}
}

func (m *memKeys) CreateKey(_ context.Context, k telamentis.APIKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[k.ID]; ok {
		return telamentis.Errorf(telamentis.CodeConflict, "key exists")
	}
	k.Hash = slices.Clone(k.Hash)
	m.keys[k.ID] = k
	return nil
}

func (m *memKeys) GetKey(_ context.Context, id string) (telamentis.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	k, ok := m.keys[id]
	if !ok {
		return telamentis.APIKey{}, telamentis.NotFound("key")
	}
	k.Hash = slices.Clone(k.Hash)
	return k, nil
}

func (m *memKeys) ListKeys(_ context.Context, tenant string) ([]telamentis.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []telamentis.APIKey
	for _, k := range m.keys {
		if k.Tenant == tenant {
			k.Hash = slices.Clone(k.Hash)
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b telamentis.APIKey) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *memKeys) RevokeKey(_ context.Context, id string, at time.Time) (telamentis.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return telamentis.APIKey{}, telamentis.NotFound("key")
	}
	if k.RevokedAt.IsZero() || at.Before(k.RevokedAt) {
		k.RevokedAt = at
	}
	m.keys[id] = k
	return k, nil
}

func (m *memKeys) TouchKey(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return telamentis.NotFound("key")
	}
	k.LastUsedAt = at
	m.keys[id] = k
	return nil
}

func (m *memKeys) CountKeys(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys), nil
}

func (m *memKeys) getCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets
}
