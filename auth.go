package telamentis

import (
	"context"
	"time"
)

// Role is what a credential may do.
type Role string

// Roles. RoleAdmin is a system role (tenants, keys, audit) and does not read
// tenant graph data through its own credential; the others are bound to one
// tenant.
const (
	RoleAdmin       Role = "admin"
	RoleTenantAdmin Role = "tenant_admin"
	RoleWriter      Role = "writer"
	RoleReader      Role = "reader"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleTenantAdmin, RoleWriter, RoleReader:
		return true
	}
	return false
}

// Principal is the authenticated caller of a request. Tenant is empty only
// for system admins. The tenant of every operation comes from here, never
// from a header or body.
type Principal struct {
	Tenant  string `json:"tenant,omitempty"`
	Role    Role   `json:"role"`
	KeyID   string `json:"key_id,omitempty"`  // API key ID
	Subject string `json:"subject,omitempty"` // JWT subject
	PII     bool   `json:"pii,omitempty"`     // may see PII properties
}

// Actor names the principal in logs and audit records: the key ID or the
// token subject, never a secret.
func (p *Principal) Actor() string {
	if p.KeyID != "" {
		return "key:" + p.KeyID
	}
	return "sub:" + p.Subject
}

// APIKey is a stored API key. The secret itself is never stored: Hash is a
// digest of it. Keys are written "tm_<id>_<secret>".
type APIKey struct {
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant,omitempty"`
	Role       Role      `json:"role"`
	PII        bool      `json:"pii,omitempty"`
	Name       string    `json:"name,omitempty"`
	Hash       []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// KeyStore keeps API keys. It is system-scoped (keys of every tenant); the
// service enforces who may list or change which keys.
type KeyStore interface {
	// CreateKey stores a new key; CodeConflict if the ID is taken.
	CreateKey(ctx context.Context, k APIKey) error
	// GetKey returns a key by ID, revoked or not, or CodeNotFound.
	GetKey(ctx context.Context, id string) (APIKey, error)
	// ListKeys returns the keys of tenant ("" = system keys), by ID.
	ListKeys(ctx context.Context, tenant string) ([]APIKey, error)
	// RevokeKey sets RevokedAt to at unless it is already set to an
	// earlier time, and returns the key; CodeNotFound if missing. at may lie
	// in the future: a rotation schedules the old key's revocation after an
	// overlap, and a later explicit revocation moves it earlier. A key is
	// revoked once the clock reaches RevokedAt.
	RevokeKey(ctx context.Context, id string, at time.Time) (APIKey, error)
	// TouchKey records a use at at; implementations may coarsen it.
	TouchKey(ctx context.Context, id string, at time.Time) error
	// CountKeys returns how many keys exist, for first-start bootstrap.
	CountKeys(ctx context.Context) (int, error)
}

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
)

// NewContextWithPrincipal returns ctx carrying p.
func NewContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFromContext returns the principal carried by ctx, or nil.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey).(*Principal)
	return p
}

// NewContextWithRequestID returns ctx carrying the request id.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFromContext returns the request id carried by ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// Authenticator turns the value of a request's Authorization header into a
// Principal. Every failure (malformed, unknown, expired, revoked, bad
// signature) returns one CodeUnauthenticated error with the same message, so
// a caller cannot tell the cases apart.
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (*Principal, error)
}

// NewKey asks for a new API key.
type NewKey struct {
	Tenant    string    `json:"tenant,omitempty"`
	Role      Role      `json:"role"`
	PII       bool      `json:"pii,omitempty"`
	Name      string    `json:"name,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// KeyManager issues and revokes API keys. The full token ("tm_<id>_<secret>")
// is returned once, by IssueKey and RotateKey, and never stored.
type KeyManager interface {
	IssueKey(ctx context.Context, req NewKey) (APIKey, Secret, error)
	// RotateKey issues a key like id's and schedules id's revocation after
	// overlap (zero = immediately).
	RotateKey(ctx context.Context, id string, overlap time.Duration) (APIKey, Secret, error)
	RevokeKey(ctx context.Context, id string) (APIKey, error)
	GetKey(ctx context.Context, id string) (APIKey, error)
	ListKeys(ctx context.Context, tenant string) ([]APIKey, error)
}
