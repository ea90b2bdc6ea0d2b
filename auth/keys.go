package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/telamentis/telamentis"
)

// KeysConfig configures Keys.
type KeysConfig struct {
	// CacheTTL is how long a key record read from the store is trusted
	// without reading it again (default 5 s, at most 1 min). Revocations
	// made through this process take effect on the next request; those made
	// by another replica take effect here when Invalidate is called for
	// them (on PostgreSQL, when the change's notification arrives), and
	// within CacheTTL if that never happens.
	CacheTTL time.Duration
	// TouchInterval coarsens last-used times: a key's use is recorded at
	// most once per interval per process (default 1 min).
	TouchInterval time.Duration
	// MaxCached bounds the cache (default 100 000 keys), and separately
	// the cache of key IDs the store does not hold.
	MaxCached int
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Keys issues, rotates, revokes and verifies API keys over a KeyStore. It
// implements telamentis.KeyManager and telamentis.Authenticator.
//
// A token is "tm_<id>_<secret>" with a 256-bit secret from crypto/rand. The
// store holds only SHA-256 of the whole token. A fast unsalted hash is
// enough here, and a slow password hash would only cost latency: the secret
// is 256 random bits, so neither brute force nor precomputed tables can
// invert the digest, and hashing the whole token binds the secret to its
// id. Digests are compared with crypto/subtle in constant time.
//
// A token whose key ID the store does not hold costs the same work as a
// known ID with a wrong secret, so that timing does not tell which IDs
// exist: the same cache lookup, at most one store lookup per CacheTTL
// (absent IDs are cached too, in a map of their own so that sprayed IDs
// cannot evict real keys), and the same digest and constant-time compare,
// against a random digest no token hashes to.
type Keys struct {
	store  telamentis.KeyStore
	cfg    KeysConfig
	logger *slog.Logger

	mu     sync.RWMutex
	cache  map[string]*cachedKey // keys the store holds
	absent map[string]*cachedKey // IDs the store does not hold
	gen    atomic.Uint64         // bumped by every invalidation
	// noKey is the digest an absent ID is compared against: random, so
	// that no token matches it.
	noKey [sha256.Size]byte

	touches sync.WaitGroup // running TouchKey calls

	// verified, if set (tests), is called after every digest comparison.
	verified func()
}

// cachedKey is an immutable snapshot of a stored key, or of an ID's
// absence, plus its last touch.
type cachedKey struct {
	key     telamentis.APIKey
	digest  [sha256.Size]byte
	fetched time.Time
	missing bool         // the store holds no key with this ID
	touched atomic.Int64 // UnixNano of the last TouchKey sent
}

var (
	_ telamentis.KeyManager    = (*Keys)(nil)
	_ telamentis.Authenticator = (*Keys)(nil)
)

// NewKeys returns Keys over store.
func NewKeys(store telamentis.KeyStore, cfg KeysConfig, logger *slog.Logger) *Keys {
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 5 * time.Second
	}
	cfg.CacheTTL = min(cfg.CacheTTL, time.Minute)
	if cfg.TouchInterval <= 0 {
		cfg.TouchInterval = time.Minute
	}
	if cfg.MaxCached <= 0 {
		cfg.MaxCached = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	k := &Keys{store: store, cfg: cfg, logger: logger, cache: map[string]*cachedKey{}, absent: map[string]*cachedKey{}}
	rand.Read(k.noKey[:]) // crypto/rand.Read never fails (Go 1.24+)
	return k
}

// digest returns SHA-256 of the token without allocating.
func digest(token string) [sha256.Size]byte {
	var buf [tokenLen]byte
	n := copy(buf[:], token)
	return sha256.Sum256(buf[:n])
}

// Authenticate implements telamentis.Authenticator for "Bearer tm_…" and
// "ApiKey tm_…" headers.
func (k *Keys) Authenticate(ctx context.Context, authorization string) (*telamentis.Principal, error) {
	_, cred, ok := ParseAuthorization(authorization)
	if !ok {
		return nil, ErrUnauthenticated()
	}
	return k.AuthenticateToken(ctx, cred)
}

// AuthenticateToken verifies a bare API key token.
func (k *Keys) AuthenticateToken(ctx context.Context, token string) (*telamentis.Principal, error) {
	id, ok := parseKeyToken(token)
	if !ok {
		return nil, ErrUnauthenticated()
	}
	now := k.cfg.Now()
	ck, err := k.lookup(ctx, id, now)
	if err != nil {
		return nil, err
	}
	// The same hash and compare whether or not the ID exists.
	d := digest(token)
	match := subtle.ConstantTimeCompare(d[:], ck.digest[:]) == 1
	if k.verified != nil {
		k.verified()
	}
	if !match || ck.missing {
		return nil, ErrUnauthenticated()
	}
	key := &ck.key
	if !key.ExpiresAt.IsZero() && !now.Before(key.ExpiresAt) {
		return nil, ErrUnauthenticated()
	}
	if !key.RevokedAt.IsZero() && !now.Before(key.RevokedAt) {
		return nil, ErrUnauthenticated()
	}
	if !key.Role.Valid() || (key.Role == telamentis.RoleAdmin) != (key.Tenant == "") {
		k.logger.Error("stored key has an invalid role or tenant", "key_id", key.ID)
		return nil, ErrUnauthenticated()
	}
	k.touch(ck, now)
	return &telamentis.Principal{Tenant: key.Tenant, Role: key.Role, KeyID: key.ID, PII: key.PII}, nil
}

// lookup returns the cached record for id, reading the store when there
// is none or it is older than CacheTTL. An ID the store does not hold gets
// a record too (missing, with the digest noKey), cached the same way, so
// that an unknown ID costs what a known one costs.
func (k *Keys) lookup(ctx context.Context, id string, now time.Time) (*cachedKey, error) {
	k.mu.RLock()
	ck := k.cache[id]
	if ck == nil {
		ck = k.absent[id]
	}
	k.mu.RUnlock()
	if ck != nil && now.Sub(ck.fetched) < k.cfg.CacheTTL && !now.Before(ck.fetched) {
		return ck, nil
	}
	gen := k.gen.Load()
	key, err := k.store.GetKey(ctx, id)
	if err != nil && telamentis.ErrorCode(err) != telamentis.CodeNotFound {
		k.logger.Error("key lookup", "key_id", id, "err", err)
		return nil, &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "authentication unavailable", Err: fmt.Errorf("auth: get key: %w", err)}
	}
	n := &cachedKey{fetched: now}
	if err != nil || len(key.Hash) != sha256.Size || key.ID != id {
		// Not found (or unusable): deleted from the store, or never there.
		n.missing, n.digest = true, k.noKey
	} else {
		n.key = key
		copy(n.digest[:], key.Hash)
		n.key.Hash = nil
		if ck != nil && !ck.missing {
			n.touched.Store(ck.touched.Load())
		}
	}
	k.mu.Lock()
	// A fetch that raced with an invalidation may hold the old record:
	// use it for this request only, do not cache it.
	if k.gen.Load() == gen {
		delete(k.cache, id)
		delete(k.absent, id)
		m := k.cache
		if n.missing {
			m = k.absent
		}
		if len(m) >= k.cfg.MaxCached {
			for victim := range m {
				delete(m, victim)
				break
			}
		}
		m[id] = n
	}
	k.mu.Unlock()
	return n, nil
}

// touch records a use of the key at most once per TouchInterval, off the
// request path.
func (k *Keys) touch(ck *cachedKey, now time.Time) {
	last := ck.touched.Load()
	nn := now.UnixNano()
	if nn-last < int64(k.cfg.TouchInterval) || !ck.touched.CompareAndSwap(last, nn) {
		return
	}
	id := ck.key.ID
	k.touches.Add(1)
	go func() {
		defer k.touches.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := k.store.TouchKey(ctx, id, now); err != nil {
			k.logger.Warn("key touch", "key_id", id, "err", err)
		}
	}()
}

// Invalidate drops key id, or a cached absence of it, from the cache, so
// that the next request with it reads the store: the hook for a change made
// elsewhere, such as another replica's revocation (cmd/telamentis calls it
// from postgres.Store.WatchKeys). A lookup in flight is not cached.
func (k *Keys) Invalidate(id string) { k.invalidate(id) }

// InvalidateAll empties the cache, for when changes made elsewhere may
// have been missed (a lost notification connection).
func (k *Keys) InvalidateAll() {
	k.mu.Lock()
	k.gen.Add(1)
	clear(k.cache)
	clear(k.absent)
	k.mu.Unlock()
}

// invalidate drops id from the cache so the next request reads the store.
func (k *Keys) invalidate(id string) {
	k.mu.Lock()
	k.gen.Add(1)
	delete(k.cache, id)
	delete(k.absent, id)
	k.mu.Unlock()
}

func (k *Keys) checkNewKey(req telamentis.NewKey) error {
	switch {
	case !req.Role.Valid():
		return telamentis.Invalid("role", "must be admin, tenant_admin, writer or reader")
	case req.Role == telamentis.RoleAdmin && req.Tenant != "":
		return telamentis.Invalid("tenant", "an admin key has no tenant")
	case req.Role != telamentis.RoleAdmin && !telamentis.ValidTenantID(req.Tenant):
		return telamentis.Invalid("tenant", "a valid tenant ID is required")
	case len(req.Name) > 128:
		return telamentis.Invalid("name", "at most 128 bytes")
	case !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(k.cfg.Now()):
		return telamentis.Invalid("expires_at", "must be in the future")
	}
	return nil
}

// ForgetTenant drops the cached keys of tenant, so that none of them is
// accepted from the cache after the tenant is deleted or its keys are
// removed by other means than Keys.
func (k *Keys) ForgetTenant(tenant string) {
	k.mu.Lock()
	k.gen.Add(1)
	for id, ck := range k.cache {
		if ck.key.Tenant == tenant {
			delete(k.cache, id)
		}
	}
	k.mu.Unlock()
}

// Close waits for background last-used updates; call it before closing
// the store.
func (k *Keys) Close() error {
	k.touches.Wait()
	return nil
}

// IssueKey implements telamentis.KeyManager. An admin key has no tenant;
// every other role needs a valid tenant ID. The token is returned once.
func (k *Keys) IssueKey(ctx context.Context, req telamentis.NewKey) (telamentis.APIKey, telamentis.Secret, error) {
	if err := k.checkNewKey(req); err != nil {
		return telamentis.APIKey{}, telamentis.Secret{}, err
	}
	now := k.cfg.Now().UTC()
	for attempt := 0; ; attempt++ {
		id, token := newKeyToken()
		d := digest(token)
		key := telamentis.APIKey{
			ID: id, Tenant: req.Tenant, Role: req.Role, PII: req.PII, Name: req.Name,
			Hash: d[:], CreatedAt: now, ExpiresAt: req.ExpiresAt.UTC(),
		}
		if req.ExpiresAt.IsZero() {
			key.ExpiresAt = time.Time{}
		}
		err := k.store.CreateKey(ctx, key)
		if telamentis.ErrorCode(err) == telamentis.CodeConflict && attempt < 3 {
			continue // an 80-bit ID collided: draw again
		}
		if err != nil {
			return telamentis.APIKey{}, telamentis.Secret{}, fmt.Errorf("auth: issue key: %w", err)
		}
		k.invalidate(id) // a cached absence of the ID
		key.Hash = nil
		return key, telamentis.NewSecret(token), nil
	}
}

// ImportKey stores a key for a token made elsewhere (the bootstrap admin
// key file), keeping only its digest, with req's tenant, role, PII
// permission, name and expiry. The token must have the API key shape; its
// ID is the key's ID (CodeConflict if taken).
func (k *Keys) ImportKey(ctx context.Context, token telamentis.Secret, req telamentis.NewKey) (telamentis.APIKey, error) {
	id, ok := parseKeyToken(token.Reveal())
	if !ok {
		return telamentis.APIKey{}, telamentis.Invalid("token", "not an API key token (tm_<id>_<secret>)")
	}
	if err := k.checkNewKey(req); err != nil {
		return telamentis.APIKey{}, err
	}
	d := digest(token.Reveal())
	key := telamentis.APIKey{
		ID: id, Tenant: req.Tenant, Role: req.Role, PII: req.PII, Name: req.Name,
		Hash: d[:], CreatedAt: k.cfg.Now().UTC(), ExpiresAt: req.ExpiresAt.UTC(),
	}
	if err := k.store.CreateKey(ctx, key); err != nil {
		return telamentis.APIKey{}, fmt.Errorf("auth: import key: %w", err)
	}
	k.invalidate(id) // a cached absence of the ID
	key.Hash = nil
	return key, nil
}

// GenerateToken returns a fresh API key token, for provisioning a key file
// that ImportKey later stores.
func GenerateToken() telamentis.Secret {
	_, token := newKeyToken()
	return telamentis.NewSecret(token)
}

// RotateKey implements telamentis.KeyManager: it issues a key with the old
// key's tenant, role, PII permission, name and lifetime, and schedules the
// old key's revocation after overlap. A revoked or expired key cannot be
// rotated (CodeConflict).
func (k *Keys) RotateKey(ctx context.Context, id string, overlap time.Duration) (telamentis.APIKey, telamentis.Secret, error) {
	if overlap < 0 {
		return telamentis.APIKey{}, telamentis.Secret{}, telamentis.Invalid("overlap", "must not be negative")
	}
	old, err := k.store.GetKey(ctx, id)
	if err != nil {
		return telamentis.APIKey{}, telamentis.Secret{}, fmt.Errorf("auth: rotate key: %w", err)
	}
	now := k.cfg.Now().UTC()
	if (!old.RevokedAt.IsZero() && !now.Before(old.RevokedAt)) || (!old.ExpiresAt.IsZero() && !now.Before(old.ExpiresAt)) {
		return telamentis.APIKey{}, telamentis.Secret{}, telamentis.Errorf(telamentis.CodeConflict, "key is revoked or expired")
	}
	req := telamentis.NewKey{Tenant: old.Tenant, Role: old.Role, PII: old.PII, Name: old.Name}
	if !old.ExpiresAt.IsZero() {
		req.ExpiresAt = now.Add(old.ExpiresAt.Sub(old.CreatedAt))
	}
	nk, secret, err := k.IssueKey(ctx, req)
	if err != nil {
		return telamentis.APIKey{}, telamentis.Secret{}, err
	}
	if _, err := k.store.RevokeKey(ctx, id, now.Add(overlap)); err != nil {
		// The new key exists; the old one stays valid. Report it so the
		// caller retries the revocation.
		return telamentis.APIKey{}, telamentis.Secret{}, fmt.Errorf("auth: rotate key: revoke old: %w", err)
	}
	k.invalidate(id)
	return nk, secret, nil
}

// RevokeKey implements telamentis.KeyManager. The revocation takes effect
// on this process's next request.
func (k *Keys) RevokeKey(ctx context.Context, id string) (telamentis.APIKey, error) {
	now := k.cfg.Now().UTC()
	key, err := k.store.RevokeKey(ctx, id, now)
	k.invalidate(id)
	if err != nil {
		return telamentis.APIKey{}, fmt.Errorf("auth: revoke key: %w", err)
	}
	if key.RevokedAt.After(now) {
		// The store kept a later, scheduled revocation (a rotation's
		// overlap) instead of moving it to now: the key still works.
		return telamentis.APIKey{}, fmt.Errorf("auth: revoke key: store kept the scheduled revocation at %v", key.RevokedAt)
	}
	key.Hash = nil
	return key, nil
}

// GetKey implements telamentis.KeyManager; the digest is not returned.
func (k *Keys) GetKey(ctx context.Context, id string) (telamentis.APIKey, error) {
	key, err := k.store.GetKey(ctx, id)
	if err != nil {
		return telamentis.APIKey{}, fmt.Errorf("auth: get key: %w", err)
	}
	key.Hash = nil
	return key, nil
}

// ListKeys implements telamentis.KeyManager; digests are not returned.
func (k *Keys) ListKeys(ctx context.Context, tenant string) ([]telamentis.APIKey, error) {
	keys, err := k.store.ListKeys(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("auth: list keys: %w", err)
	}
	for i := range keys {
		keys[i].Hash = nil
	}
	return keys, nil
}
