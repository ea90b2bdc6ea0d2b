package telamentis

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// This file holds the contracts of LLM extraction (DESIGN §7): the
// Connector every provider adapter implements, the errors it returns, the
// Extractor the HTTP layer calls and the Redactor (Safeguard) the extractor
// runs before text leaves the process. The machinery the connectors share
// (endpoint policy, HTTP client, retries, error classification) is package
// llm: the domain imports no network package.

// LLMMessage is one turn of a conversation sent to a model. Role is "user"
// or "assistant"; the system prompt travels separately in LLMRequest.
type LLMMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// LLMRequest is one call to a model. Schema, when set, is a JSON Schema the
// output must follow: connectors use the provider's structured-output mode
// (OpenAI json_schema, Gemini responseJsonSchema) where it exists and plain
// JSON mode otherwise; the caller validates the output either way.
type LLMRequest struct {
	System     string          `json:"system,omitempty"`
	Messages   []LLMMessage    `json:"messages"`
	Schema     json.RawMessage `json:"schema,omitempty"`
	SchemaName string          `json:"schema_name,omitempty"`
	// MaxOutputTokens bounds the answer; 0 means the connector's default.
	MaxOutputTokens int `json:"max_output_tokens,omitempty"`
}

// LLMUsage counts the tokens of one call as the provider reported them.
type LLMUsage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Total returns input plus output tokens.
func (u LLMUsage) Total() int64 { return u.InputTokens + u.OutputTokens }

// LLMResponse is a model's complete answer.
type LLMResponse struct {
	// Provider is the connector's name (the routing name, e.g. "openai",
	// "ollama"); Model is the model that answered, as the provider names it.
	Provider string        `json:"provider"`
	Model    string        `json:"model"`
	Content  string        `json:"content"`
	Usage    LLMUsage      `json:"usage"`
	CostUSD  float64       `json:"cost_usd"`
	Latency  time.Duration `json:"latency"`
	// Attempts counts HTTP attempts, retries included.
	Attempts int `json:"attempts"`
}

// Connector is one configured LLM provider. Implementations: llm/openai
// (also Ollama, vLLM, llama.cpp, LM Studio), llm/anthropic, llm/gemini.
//
// Complete sends req and returns the whole answer. It retries 429 and 5xx
// answers a bounded number of times, honouring Retry-After, and returns
// when ctx ends. Errors are *Error: CodeRateLimited (429 after retries),
// CodeUnavailable (5xx, timeouts, network), CodeInvalid (a 4xx other than
// 429), each wrapping a *ProviderError that says what happened; a refusal,
// truncated output or a malformed body is CodeUnavailable with ProviderError
// kinds refused, truncated and malformed. A Connector is safe for
// concurrent use and holds no tenant state.
type Connector interface {
	// Name is the routing name given in configuration.
	Name() string
	// Model is the configured model.
	Model() string
	Complete(ctx context.Context, req LLMRequest) (LLMResponse, error)
}

// ProviderErrorKind classifies a failed provider call.
type ProviderErrorKind string

// Provider error kinds. RateLimited and Unavailable (and Timeout) make the
// extractor fall back to the next provider of its routing list.
const (
	ProviderRateLimited ProviderErrorKind = "rate_limited"
	ProviderUnavailable ProviderErrorKind = "unavailable" // 5xx or network
	ProviderTimeout     ProviderErrorKind = "timeout"
	ProviderRejected    ProviderErrorKind = "rejected" // a 4xx: bad key, bad request
	ProviderMalformed   ProviderErrorKind = "malformed"
	ProviderTruncated   ProviderErrorKind = "truncated"
	ProviderRefused     ProviderErrorKind = "refused"
)

// ProviderError is the cause inside a Connector's *Error. Detail is for
// logs: it never holds prompt text, and provider bodies are cut short.
type ProviderError struct {
	Provider string
	Kind     ProviderErrorKind
	Status   int // HTTP status, 0 if none
	Detail   string
	Err      error
}

func (e *ProviderError) Error() string {
	s := e.Provider + ": " + string(e.Kind)
	if e.Status != 0 {
		s += " (http " + strconv.Itoa(e.Status) + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ProviderError) Unwrap() error { return e.Err }

// Retryable reports whether another provider may succeed where this one
// failed: rate limits, outages and timeouts.
func (e *ProviderError) Retryable() bool {
	switch e.Kind {
	case ProviderRateLimited, ProviderUnavailable, ProviderTimeout:
		return true
	}
	return false
}

// NewProviderError returns the *Error a Connector reports for a failure of
// the given kind.
func NewProviderError(provider string, kind ProviderErrorKind, status int, detail string, cause error) *Error {
	code := CodeUnavailable
	msg := "llm provider " + provider + " unavailable"
	switch kind {
	case ProviderRateLimited:
		code, msg = CodeRateLimited, "llm provider "+provider+" rate limited"
	case ProviderRejected:
		code, msg = CodeInvalid, "llm provider "+provider+" rejected the request"
	case ProviderTimeout:
		msg = "llm provider " + provider + " timed out"
	case ProviderMalformed:
		msg = "llm provider " + provider + " returned a malformed answer"
	case ProviderTruncated:
		msg = "llm provider " + provider + " truncated its answer"
	case ProviderRefused:
		msg = "llm provider " + provider + " refused the request"
	}
	if len(detail) > 512 {
		detail = detail[:512]
	}
	return &Error{Code: code, Message: msg, Err: &ProviderError{Provider: provider, Kind: kind, Status: status, Detail: detail, Err: cause}}
}

// Sentinels the transport matches with errors.Is to choose a status and a
// problem type beyond what the Code says.
var (
	// ErrUnprocessable marks a CodeInvalid error about content rather than
	// request shape: an LLM envelope that failed validation, or a text the
	// Safeguard's block policy refused. HTTP 422.
	ErrUnprocessable = errors.New("unprocessable")
	// ErrBudgetExceeded marks a CodeRateLimited error raised because a
	// tenant's daily LLM token or cost budget is spent. HTTP 429 with
	// problem type budget-exceeded and Retry-After until the next UTC day.
	ErrBudgetExceeded = errors.New("llm budget exceeded")
)

// BudgetError is the cause of a budget-exceeded error. It matches
// ErrBudgetExceeded with errors.Is.
type BudgetError struct {
	Tenant  string
	Limit   string // "tokens" or "cost"
	ResetAt time.Time
}

func (e *BudgetError) Error() string {
	return "tenant " + e.Tenant + " daily llm " + e.Limit + " budget exceeded until " + e.ResetAt.Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrBudgetExceeded) true.
func (e *BudgetError) Is(target error) bool { return target == ErrBudgetExceeded }

// LLMPrice is the price of a model in US dollars per million tokens.
type LLMPrice struct {
	InputPerMTok  float64 `json:"input_per_mtok"`
	OutputPerMTok float64 `json:"output_per_mtok"`
}

// Cost returns the price of u.
func (p LLMPrice) Cost(u LLMUsage) float64 {
	return (float64(u.InputTokens)*p.InputPerMTok + float64(u.OutputTokens)*p.OutputPerMTok) / 1e6
}

// Redactor is the Safeguard seen from the extractor (pipeline/safeguard
// implements it). Redact scans texts for personal data and credentials
// under policy "redact" (the default for ""), "block" or "allow":
// redact replaces each distinct value with a stable placeholder such as
// [EMAIL_1] (the same value gets the same placeholder across all texts);
// block returns a CodeInvalid error wrapping ErrUnprocessable when anything
// is found; allow leaves the values in. Under every policy it removes
// invisible characters first (Unicode tag characters, zero-width
// characters, bidirectional controls), which could smuggle instructions
// into the prompt unseen. It is safe for concurrent use.
type Redactor interface {
	Redact(ctx context.Context, policy string, texts []string) (Redaction, error)
}

// Redaction is the result of Redact. Values maps each placeholder to the
// original value, so that the answer can be restored before writing; it
// must never be logged or sent anywhere. Found counts values per kind
// ("email", "card", …), and invisible characters removed ("invisible").
type Redaction struct {
	Texts  []string
	Values map[string]string
	Found  map[string]int
}

// ExtractRequest asks for facts to be extracted from text. Exactly one of
// Text and Messages is set. The tenant comes from the caller, never from
// the request.
type ExtractRequest struct {
	Text     string       `json:"text,omitempty"`
	Messages []LLMMessage `json:"messages,omitempty"`
	// ReferenceTime anchors relative dates ("last Tuesday"); zero = now.
	ReferenceTime time.Time `json:"reference_time,omitzero"`
	// Instructions are extra guidance for the model; they are untrusted
	// and travel fenced with the text.
	Instructions string `json:"instructions,omitempty"`
	// Labels and Kinds, when set, are the only node labels and relation
	// kinds the envelope may use (a target schema).
	Labels []string `json:"labels,omitempty"`
	Kinds  []string `json:"kinds,omitempty"`
	DryRun bool     `json:"dry_run,omitempty"`
	// MinConfidence drops items below it (reported as skipped); nil = 0.5.
	MinConfidence *float64 `json:"min_confidence,omitempty"`
	// Provider picks one configured provider (no fallback); "" uses the
	// routing list.
	Provider string `json:"provider,omitempty"`
	// Resolve is how an extracted node that no live node has the alias of
	// finds an existing one: ResolveNormalized (the default, "") or
	// ResolveExact (see NodeInput.Resolve).
	Resolve string `json:"resolve,omitempty"`
}

// Envelope is what a model returns: nodes and relations between them.
// Relations name nodes by alias. Times are RFC 3339 with a zone.
type Envelope struct {
	Nodes     []EnvelopeNode     `json:"nodes"`
	Relations []EnvelopeRelation `json:"relations"`
}

// EnvelopeNode is one extracted node.
type EnvelopeNode struct {
	Alias      string          `json:"alias"`
	Label      string          `json:"label"`
	Props      json.RawMessage `json:"props,omitempty"`
	Confidence float64         `json:"confidence"`
}

// EnvelopeRelation is one extracted relation (an edge).
type EnvelopeRelation struct {
	From       string          `json:"from"`
	To         string          `json:"to"`
	Kind       string          `json:"kind"`
	Props      json.RawMessage `json:"props,omitempty"`
	ValidFrom  string          `json:"valid_from,omitempty"`
	ValidTo    string          `json:"valid_to,omitempty"`
	Confidence float64         `json:"confidence"`
}

// ExtractItem names one written (or unchanged) node or edge.
type ExtractItem struct {
	Type  string `json:"type"` // "node" or "edge"
	ID    string `json:"id,omitempty"`
	Alias string `json:"alias,omitempty"`
	// Label of a node, kind of an edge.
	Label string `json:"label"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	// Candidates lists the nodes a created node's normalised name matched
	// when it matched two or more (NodeResult.Candidates).
	Candidates []string `json:"candidates,omitempty"`
}

// ExtractSkip names an item of the envelope that was not written and why.
type ExtractSkip struct {
	Type   string `json:"type"`
	Index  int    `json:"index"`
	Alias  string `json:"alias,omitempty"`
	Reason string `json:"reason"`
}

// ExtractMeta describes the provider call behind an extraction.
type ExtractMeta struct {
	RequestID    string    `json:"request_id"`
	Provider     string    `json:"provider"`
	Model        string    `json:"model"`
	LatencyMS    int64     `json:"latency_ms"`
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	CostUSD      float64   `json:"cost_usd"`
	Redacted     int       `json:"redacted"`
	Tried        []string  `json:"tried,omitempty"` // providers that failed before
	ExtractedAt  time.Time `json:"extracted_at"`
}

// ExtractResult reports an extraction. In a dry run Envelope holds the
// validated envelope (placeholders restored) and nothing is written.
type ExtractResult struct {
	DryRun    bool          `json:"dry_run"`
	TxTime    time.Time     `json:"tx_time,omitzero"`
	Created   []ExtractItem `json:"created"`
	Updated   []ExtractItem `json:"updated"`
	Unchanged []ExtractItem `json:"unchanged"`
	Skipped   []ExtractSkip `json:"skipped"`
	Envelope  *Envelope     `json:"envelope,omitempty"`
	Meta      ExtractMeta   `json:"meta"`
}

// Extractor turns text into facts of a tenant (package extract).
//
// Extract redacts the text, asks a provider for an envelope, validates it
// and writes what survives as one atomic batch in tenant. The tenant comes
// only from the argument. Errors: CodeInvalid for a bad request;
// CodeInvalid wrapping ErrUnprocessable for an envelope that failed
// validation or a text refused by the block policy (nothing written);
// CodeRateLimited wrapping ErrBudgetExceeded when the tenant's daily budget
// is spent (no provider called); CodeRateLimited or CodeUnavailable when
// every provider failed; CodeUnavailable wrapping a *ProviderError of kind
// ProviderMalformed when the answer is not one JSON document (the
// provider's fault, not the caller's; nothing written); CodeNotFound for a
// missing tenant.
type Extractor interface {
	Extract(ctx context.Context, tenant string, req ExtractRequest) (ExtractResult, error)
}
