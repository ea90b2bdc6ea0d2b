package telamentis

import (
	"encoding/json"
	"time"
)

// Isolation says how a tenant's data is stored.
type Isolation string

// Isolation modes. Shared tenants live in one keyspace (or table set) where
// every record carries the tenant; dedicated tenants get their own Badger
// directory with its own data key, or their own Postgres schema.
const (
	IsolationShared    Isolation = "shared"
	IsolationDedicated Isolation = "dedicated"
)

// TenantStatus is active or suspended. A suspended tenant's credentials are
// refused (403) until it is active again.
type TenantStatus string

// Tenant statuses.
const (
	TenantActive    TenantStatus = "active"
	TenantSuspended TenantStatus = "suspended"
)

// Quotas are a tenant's limits. Zero means unlimited.
type Quotas struct {
	MaxNodes          int64   `json:"max_nodes,omitempty"`
	MaxEdges          int64   `json:"max_edges,omitempty"`
	RequestsPerSecond float64 `json:"requests_per_second,omitempty"`
	Burst             int     `json:"burst,omitempty"`
	MaxConcurrent     int     `json:"max_concurrent,omitempty"`
	LLMTokensPerDay   int64   `json:"llm_tokens_per_day,omitempty"`
	LLMCostPerDayUSD  float64 `json:"llm_cost_per_day_usd,omitempty"`
}

// PIIPolicy names the node and edge properties that hold personal data and
// how they are shown to credentials without the pii permission.
type PIIPolicy struct {
	// Fields are top-level property names holding PII.
	Fields []string `json:"fields,omitempty"`
	// Mode is "mask" (replace with "[pii]") or "pseudonymise" (a keyed hash).
	Mode string `json:"mode,omitempty"`
	// LLM is the Safeguard policy for text sent to an LLM: redact (default),
	// block or allow.
	LLM string `json:"llm,omitempty"`
}

// Tenant is one isolated customer of the service.
type Tenant struct {
	ID        string       `json:"id"`
	Name      string       `json:"name,omitempty"`
	Isolation Isolation    `json:"isolation"`
	Status    TenantStatus `json:"status"`
	Quotas    Quotas       `json:"quotas"`
	// RetentionDays bounds how long superseded versions are kept; 0 keeps
	// them forever.
	RetentionDays int       `json:"retention_days,omitempty"`
	PII           PIIPolicy `json:"pii"`
	CreatedAt     time.Time `json:"created_at,omitzero"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
}

const aliasMax = 256

// ValidTenantID reports whether id matches ^[a-z0-9][a-z0-9_-]{1,62}$.
// It runs on every request, so it is a byte loop, not a regexp (the tests
// check it against the expression).
func ValidTenantID(id string) bool {
	if len(id) < 2 || len(id) > 63 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// ValidIdentifier reports whether s is a valid label or edge kind:
// ^[A-Za-z][A-Za-z0-9_]{0,63}$. It runs for every written node and edge,
// so it is a byte loop, not a regexp (the tests check it against the
// expression).
func ValidIdentifier(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= c && c <= '9' || c == '_'):
		default:
			return false
		}
	}
	return true
}

// Validate checks a tenant for creation or update and fills defaults
// (shared isolation, active status).
func (t *Tenant) Validate() error {
	if !ValidTenantID(t.ID) {
		return Invalid("id", "must match ^[a-z0-9][a-z0-9_-]{1,62}$")
	}
	if len(t.Name) > 256 || !validText(t.Name) {
		return Invalid("name", "at most 256 bytes of valid UTF-8 without NUL")
	}
	switch t.Isolation {
	case "":
		t.Isolation = IsolationShared
	case IsolationShared, IsolationDedicated:
	default:
		return Invalid("isolation", "must be shared or dedicated")
	}
	switch t.Status {
	case "":
		t.Status = TenantActive
	case TenantActive, TenantSuspended:
	default:
		return Invalid("status", "must be active or suspended")
	}
	q := t.Quotas
	if q.MaxNodes < 0 || q.MaxEdges < 0 || q.RequestsPerSecond < 0 || q.Burst < 0 ||
		q.MaxConcurrent < 0 || q.LLMTokensPerDay < 0 || q.LLMCostPerDayUSD < 0 {
		return Invalid("quotas", "must not be negative")
	}
	if t.RetentionDays < 0 {
		return Invalid("retention_days", "must not be negative")
	}
	switch t.PII.Mode {
	case "", "mask", "pseudonymise":
	default:
		return Invalid("pii.mode", "must be mask or pseudonymise")
	}
	switch t.PII.LLM {
	case "", "redact", "block", "allow":
	default:
		return Invalid("pii.llm", "must be redact, block or allow")
	}
	for _, f := range t.PII.Fields {
		if f == "" || len(f) > maxKeyBytes || !validText(f) {
			return Invalid("pii.fields", "names must be 1 to 256 bytes of valid UTF-8")
		}
	}
	return nil
}

// Ref points at a node or edge by system ID or by alias; exactly one is set.
type Ref struct {
	ID    string `json:"id,omitempty"`
	Alias string `json:"alias,omitempty"`
}

// Validate checks that exactly one of ID and Alias is set and well formed.
func (r Ref) Validate(field string) error {
	switch {
	case r.ID != "" && r.Alias != "":
		return Invalid(field, "give id or alias, not both")
	case r.ID != "":
		if !ValidID(r.ID) {
			return Invalid(field+".id", "must be a UUID")
		}
	case r.Alias != "":
		if err := validAlias(r.Alias); err != nil {
			return prefixFields(err, field)
		}
	default:
		return Invalid(field, "id or alias required")
	}
	return nil
}

// String returns the ID, or "alias:" and the alias.
func (r Ref) String() string {
	if r.ID != "" {
		return r.ID
	}
	return "alias:" + r.Alias
}

// ValidID reports whether s is a UUID in canonical lowercase form, as the
// server writes them.
func ValidID(s string) bool {
	_, ok := ParseID(s)
	return ok
}

// ParseID returns the 16 bytes of an ID in canonical form (see ValidID),
// the form stores keep and send; ok is false for any other string, upper
// case, braces and URNs included.
func ParseID(s string) (id [16]byte, ok bool) {
	if len(s) != 36 {
		return id, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return id, false
			}
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return id, false
		}
		id[j] = hi<<4 | lo
		j++
		i += 2
	}
	return id, true
}

// unhex is the value of a lowercase hex digit.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func validAlias(a string) error {
	if a == "" || len(a) > aliasMax {
		return Invalid("alias", "must be 1 to %d bytes", aliasMax)
	}
	if !validText(a) {
		return Invalid("alias", "must be valid UTF-8 without NUL or control characters")
	}
	for _, r := range a {
		if r < 0x20 || r == 0x7f {
			return Invalid("alias", "must be valid UTF-8 without NUL or control characters")
		}
	}
	return nil
}

// Node is one version of a node. Nodes have transaction time only: each
// change of label or props closes the current version and opens a new one.
type Node struct {
	ID      string          `json:"id"`
	Alias   string          `json:"alias,omitempty"`
	Label   string          `json:"label"`
	Props   json.RawMessage `json:"props"`
	TxStart time.Time       `json:"tx_start"`
	TxEnd   time.Time       `json:"tx_end,omitzero"`
}

// Edge is one version of an edge (a TimeEdge): a fact with valid time
// [ValidFrom, ValidTo) and transaction time [TxStart, TxEnd).
type Edge struct {
	ID        string          `json:"id"`
	Alias     string          `json:"alias,omitempty"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Kind      string          `json:"kind"`
	Props     json.RawMessage `json:"props"`
	ValidFrom time.Time       `json:"valid_from"`
	ValidTo   time.Time       `json:"valid_to,omitzero"`
	TxStart   time.Time       `json:"tx_start"`
	TxEnd     time.Time       `json:"tx_end,omitzero"`
}

// ValidSpan returns the edge's valid time as a Span.
func (e *Edge) ValidSpan() Span { return Span{Micros(e.ValidFrom), Micros(e.ValidTo)} }

// TxSpan returns the version's transaction time as a Span.
func (e *Edge) TxSpan() Span { return Span{Micros(e.TxStart), Micros(e.TxEnd)} }

// NodeInput is an upsert of a node. With ID, the node must exist. With Alias
// (and no ID), the live node with that alias is updated or a new one is
// created. With neither, a new node is created. Resolve (see
// ResolveNormalized) lets an upsert without ID find an existing node by
// its normalised name when no live node has its alias.
type NodeInput struct {
	ID      string          `json:"id,omitempty"`
	Alias   string          `json:"alias,omitempty"`
	Label   string          `json:"label"`
	Props   json.RawMessage `json:"props,omitempty"`
	Resolve string          `json:"resolve,omitempty" enum:"exact,normalized" doc:"How an upsert without id finds an existing node: exact (default, by alias) or normalized (also by normalised name or alias)."`
}

// Normalize validates in and returns it with Props in canonical form (see
// CanonicalProps). Errors are CodeInvalid and name every bad field, in the
// order of NodeInput's fields; the message names the first.
func (in NodeInput) Normalize() (NodeInput, error) {
	var bad fieldErrors
	if in.ID != "" && !ValidID(in.ID) {
		bad.add(Invalid("id", "must be a UUID"))
	}
	if in.Alias != "" {
		bad.add(validAlias(in.Alias))
	}
	if !ValidIdentifier(in.Label) {
		bad.add(Invalid("label", "must match ^[A-Za-z][A-Za-z0-9_]{0,63}$"))
	}
	p, err := CanonicalProps(in.Props)
	if err != nil {
		bad.add(prefixFields(err, "props"))
	}
	bad.add(checkResolve(in.Resolve))
	if err := bad.err(); err != nil {
		return in, err
	}
	in.Props = p
	return in, nil
}

// EdgeInput is an upsert of an edge. With ID, the edge must exist; with
// Alias, the live edge with that alias is updated or a new one is created;
// with neither, a new edge is created. From and To name nodes of the same
// tenant and cannot change once the edge exists. A zero ValidFrom means now
// for a new edge and "unchanged" for an existing one; a zero ValidTo means
// the fact is still true.
type EdgeInput struct {
	ID        string          `json:"id,omitempty"`
	Alias     string          `json:"alias,omitempty"`
	From      Ref             `json:"from"`
	To        Ref             `json:"to"`
	Kind      string          `json:"kind"`
	Props     json.RawMessage `json:"props,omitempty"`
	ValidFrom time.Time       `json:"valid_from,omitzero"`
	ValidTo   time.Time       `json:"valid_to,omitzero"`
}

// Normalize validates in and returns it with canonical props and times in
// UTC at microsecond precision. Errors are CodeInvalid and name every bad
// field, in the order of EdgeInput's fields; the message names the first.
func (in EdgeInput) Normalize() (EdgeInput, error) {
	var bad fieldErrors
	if in.ID != "" && !ValidID(in.ID) {
		bad.add(Invalid("id", "must be a UUID"))
	}
	if in.Alias != "" {
		bad.add(validAlias(in.Alias))
	}
	bad.add(in.From.Validate("from"))
	bad.add(in.To.Validate("to"))
	if !ValidIdentifier(in.Kind) {
		bad.add(Invalid("kind", "must match ^[A-Za-z][A-Za-z0-9_]{0,63}$"))
	}
	errFrom, errTo := checkTime("valid_from", in.ValidFrom), checkTime("valid_to", in.ValidTo)
	bad.add(errFrom)
	bad.add(errTo)
	in.ValidFrom, in.ValidTo = NormalizeTime(in.ValidFrom), NormalizeTime(in.ValidTo)
	if errFrom == nil && errTo == nil && !in.ValidFrom.IsZero() && !in.ValidTo.IsZero() && !in.ValidTo.After(in.ValidFrom) {
		bad.add(Invalid("valid_to", "must be after valid_from"))
	}
	p, err := CanonicalProps(in.Props)
	if err != nil {
		bad.add(prefixFields(err, "props"))
	}
	if err := bad.err(); err != nil {
		return in, err
	}
	in.Props = p
	return in, nil
}

// fieldErrors collects the field errors of one input. It stays nil (no
// allocation) while the input is good.
type fieldErrors []FieldError

// add appends the fields of err, a CodeInvalid *Error or nil.
func (f *fieldErrors) add(err error) {
	if err != nil {
		*f = append(*f, ErrorFields(err)...)
	}
}

// err returns the collected fields as one CodeInvalid error whose message
// names the first, or nil if there are none.
func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Code: CodeInvalid, Message: "invalid " + f[0].Field, Fields: f}
}

// NodeResult reports an upsert of a node. Created and Changed are both false
// for an upsert that changed nothing and wrote nothing.
type NodeResult struct {
	Node    Node `json:"node"`
	Created bool `json:"created"`
	Changed bool `json:"changed"`
	// Resolved is ResolveNormalized when an upsert found the node by its
	// normalised name or alias; empty otherwise.
	Resolved string `json:"resolved,omitempty"`
	// Candidates lists, sorted, the live nodes an upsert with
	// ResolveNormalized matched when it matched two or more: it attached
	// to none of them (a new node was created) and merged nothing.
	Candidates []string `json:"candidates,omitempty"`
}

// EdgeResult reports an upsert, invalidation or retraction of an edge.
type EdgeResult struct {
	Edge    Edge `json:"edge"`
	Created bool `json:"created"`
	Changed bool `json:"changed"`
}

// Batch is an atomic group of upserts: Nodes first, then Edges, whose From
// and To may name aliases of nodes upserted earlier in the same batch. All
// items commit with one transaction time, or none do.
type Batch struct {
	Nodes []NodeInput `json:"nodes,omitempty"`
	Edges []EdgeInput `json:"edges,omitempty"`
}

// MaxBatchItems bounds the items of one Batch.
const MaxBatchItems = 100_000

// BatchResult reports a committed batch, item by item in input order.
type BatchResult struct {
	TxTime time.Time    `json:"tx_time"`
	Nodes  []NodeResult `json:"nodes"`
	Edges  []EdgeResult `json:"edges"`
}

// RetractResult reports a retraction: the transaction time and how many
// node and edge versions it closed.
type RetractResult struct {
	TxTime time.Time `json:"tx_time"`
	Nodes  int       `json:"nodes"`
	Edges  int       `json:"edges"`
}

// EraseResult reports a physical erasure: how many nodes, edges and versions
// were removed from storage.
type EraseResult struct {
	Nodes    int `json:"nodes"`
	Edges    int `json:"edges"`
	Versions int `json:"versions"`
}

// TenantStats counts a tenant's data. Nodes and Edges count live records
// (current and not retracted); the Versions fields count every stored
// version; Bytes is an estimate of the stored size.
type TenantStats struct {
	Nodes        int64 `json:"nodes"`
	Edges        int64 `json:"edges"`
	NodeVersions int64 `json:"node_versions"`
	EdgeVersions int64 `json:"edge_versions"`
	Bytes        int64 `json:"bytes"`
}
