package telamentis

import (
	"context"
	"time"
)

// AuditRecord is one event of the audit trail. The trail is kept apart from
// tenant data and is hash-chained: each record carries the hash of the one
// before it, and its own Hash is a keyed MAC over everything else, so an
// altered, removed or reordered record is detected at its sequence number.
//
// Callers fill Action, Outcome and whatever of RequestID, Actor, Tenant,
// Target, ClientIP and Details they know; the log assigns Seq, Time (if
// zero), PrevHash and Hash. Actor is a key ID or token subject
// (Principal.Actor), never a secret. PII and identifiers of erased data go
// in only as keyed hashes (the audit package's HashID).
type AuditRecord struct {
	Seq       uint64            `json:"seq"`
	Time      time.Time         `json:"time"`
	RequestID string            `json:"request_id,omitempty"`
	Actor     string            `json:"actor,omitempty"`
	Tenant    string            `json:"tenant,omitempty"`
	Action    string            `json:"action"`
	Target    string            `json:"target,omitempty"`
	Outcome   string            `json:"outcome"`
	ClientIP  string            `json:"client_ip,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
	PrevHash  string            `json:"prev_hash"`
	Hash      string            `json:"hash"`
}

// Audit outcomes. A security-sensitive operation writes an OutcomeAttempt
// record before it runs and an OutcomeSuccess or OutcomeFailure record
// after; OutcomeDenied is for refusals (failed authentication, rate limits,
// quotas, forbidden).
const (
	OutcomeAttempt = "attempt"
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// Audit actions emitted outside the operation pipeline, by the transport
// and the rate limiter. Pipeline operations use Operation.Name as the
// action.
const (
	AuditAuthSuccess = "auth.success"
	AuditAuthFailure = "auth.failure"
	AuditRateLimited = "ratelimit.trip"
	AuditQuotaTrip   = "quota.trip"
)

// AuditFilter selects audit records. Zero fields do not filter.
type AuditFilter struct {
	Tenant string    // exact tenant ("" = all tenants; callers scope tenant_admins)
	Action string    // exact action, or a prefix ending in "." ("key." = key.*)
	Since  time.Time // records with Time >= Since
	Until  time.Time // records with Time < Until
	After  uint64    // records with Seq > After: the page cursor
	Limit  int       // page size; 0 = the log's default, capped by the log's maximum
}

// AuditLog is the append-only audit trail.
type AuditLog interface {
	// Append assigns the record its sequence number, time and chain hashes
	// and writes it durably (fsync) before returning. If it cannot, it
	// returns a CodeUnavailable error, and a security-sensitive operation
	// must then be refused. Safe for concurrent use; ctx is not used to
	// abandon a write half-way.
	Append(ctx context.Context, rec AuditRecord) error
	// Query returns the records matching f in sequence order, at most one
	// page, and the cursor for the next page (the last Seq returned) or 0
	// when there are no more.
	Query(ctx context.Context, f AuditFilter) ([]AuditRecord, uint64, error)
}
