package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/telamentis/telamentis"
)

// The LLM extraction route (DESIGN §7, docs/llm.md): text in, validated
// facts written in the caller's tenant as one atomic batch. The transport
// only checks the caller and the request shape; the Extractor (package
// extract) redacts, calls the providers, validates and writes, and appends
// its own audit record.

// specExtract: writers only. A reader may not cause writes (nor spend the
// tenant's LLM budget); a system admin may not read tenant data, and an
// extraction reads the tenant's nodes to resolve aliases.
// 422: the model's envelope failed validation or the Safeguard's block
// policy refused the text (refineLLMProblem).
var specExtract = opSpec{name: "llm.extract", allowed: writers, write: true,
	statuses: []int{http.StatusUnprocessableEntity}}

// noExtractorDetail is the 503 detail when the server has no provider.
const noExtractorDetail = "llm extraction is not configured on this server (no llm.routes)"

// extractMessage is one conversation turn of an extraction request.
type extractMessage struct {
	Role    string `json:"role" enum:"user,assistant" doc:"Who said it."`
	Content string `json:"content" maxLength:"262144" doc:"What was said."`
}

// extractBody is the request body of llm.extract; it maps onto
// telamentis.ExtractRequest.
type extractBody struct {
	Text          string           `json:"text,omitempty" maxLength:"262144" doc:"A document to extract facts from. Give text or messages, not both; at most 256 KiB in all."`
	Messages      []extractMessage `json:"messages,omitempty" maxItems:"1000" doc:"Conversation turns to extract facts from."`
	ReferenceTime string           `json:"reference_time,omitempty" maxLength:"64" doc:"Anchors relative dates such as \"last Tuesday\" (RFC 3339 with zone). Default now."`
	Instructions  string           `json:"instructions,omitempty" maxLength:"4096" doc:"Extra guidance for the model; untrusted, fenced like the text."`
	Labels        []string         `json:"labels,omitempty" maxItems:"100" doc:"If given, the only node labels accepted."`
	Kinds         []string         `json:"kinds,omitempty" maxItems:"100" doc:"If given, the only relation kinds accepted."`
	DryRun        bool             `json:"dry_run,omitempty" doc:"Validate and resolve, return the envelope, write nothing."`
	MinConfidence *float64         `json:"min_confidence,omitempty" minimum:"0" maximum:"1" doc:"Items below it are skipped (default 0.5)."`
	Provider      string           `json:"provider,omitempty" maxLength:"64" doc:"One configured provider, without fallback. Default: the routing list."`
	Resolve       string           `json:"resolve,omitempty" enum:"exact,normalized" doc:"How a node no live node has the alias of finds an existing one: normalized (default: the one node of its label with the same normalised name or alias) or exact (by alias only)."`
}

type extractOut struct {
	Body telamentis.ExtractResult
}

// registerExtractRoute registers POST /v1/llm/{tenant}/extract. With a nil
// extractor the route exists and answers 503.
func (s *Server) registerExtractRoute(x telamentis.Extractor) {
	huma.Register(s.api, s.operation(specExtract, huma.Operation{
		OperationID: "llm.extract", Method: http.MethodPost, Path: "/v1/llm/{tenant}/extract",
		Summary: "Extract facts from text with an LLM and write them as one batch (dry_run: write nothing)",
		Description: "The text is scanned by the Safeguard (personal data and credentials are replaced by placeholders " +
			"before it leaves the server, per the tenant's pii.llm policy), sent to the first provider of the routing " +
			"list that is within the tenant's daily budget and answers, and the model's envelope is validated " +
			"all-or-nothing. 422: the envelope failed validation or the block policy refused the text (nothing written). " +
			"429 budget-exceeded: the tenant's daily LLM budget is spent (no provider called). 503: no provider " +
			"configured or every provider down.",
		Tags: []string{"llm"},
	}), func(ctx context.Context, in *struct {
		TenantParam
		Body extractBody
	}) (*extractOut, error) {
		out := &extractOut{}
		err := s.do(ctx, specExtract, in.Tenant, "", func(ctx context.Context, c *call) error {
			if x == nil {
				return telamentis.Errorf(telamentis.CodeUnavailable, noExtractorDetail)
			}
			req, err := in.Body.request()
			if err != nil {
				return err
			}
			res, err := x.Extract(ctx, in.Tenant, req)
			if err != nil {
				return err
			}
			// A dry run's envelope carries props: the tenant's PII fields
			// are hidden from a credential without pii, as in every answer.
			if m := s.maskerFor(c); m != nil && res.Envelope != nil {
				for i := range res.Envelope.Nodes {
					res.Envelope.Nodes[i].Props = m.props(res.Envelope.Nodes[i].Props)
				}
				for i := range res.Envelope.Relations {
					res.Envelope.Relations[i].Props = m.props(res.Envelope.Relations[i].Props)
				}
			}
			out.Body = res
			return nil
		})
		return out, err
	})
}

// request converts the body into the domain request.
func (b *extractBody) request() (telamentis.ExtractRequest, error) {
	ref, err := parseTime("reference_time", b.ReferenceTime)
	if err != nil {
		return telamentis.ExtractRequest{}, err
	}
	req := telamentis.ExtractRequest{
		Text: b.Text, ReferenceTime: ref, Instructions: b.Instructions,
		Labels: b.Labels, Kinds: b.Kinds, DryRun: b.DryRun, MinConfidence: b.MinConfidence,
		Provider: b.Provider, Resolve: b.Resolve,
	}
	if len(b.Messages) > 0 {
		req.Messages = make([]telamentis.LLMMessage, len(b.Messages))
		for i, m := range b.Messages {
			req.Messages[i] = telamentis.LLMMessage{Role: m.Role, Content: m.Content}
		}
	}
	return req, nil
}

// Problem kinds of the LLM sentinels (telamentis.ErrUnprocessable,
// telamentis.ErrBudgetExceeded).
var (
	unprocessableKind = problemKind{"unprocessable", "Unprocessable Content", http.StatusUnprocessableEntity}
	budgetKind        = problemKind{"budget-exceeded", "LLM Budget Exceeded", http.StatusTooManyRequests}
)

// refineLLMProblem adjusts p, built by problemFor from err's Code, for the
// LLM sentinels: an invalid envelope or a text refused by the Safeguard's
// block policy is 422 (the request was well formed; its content was not
// acceptable), and a spent daily budget is 429 budget-exceeded with
// Retry-After until the budget resets.
func refineLLMProblem(p *Problem, err error) {
	code := telamentis.ErrorCode(err)
	switch {
	case code == telamentis.CodeInvalid && errors.Is(err, telamentis.ErrUnprocessable):
		p.Type, p.Title, p.Status = ProblemBase+unprocessableKind.slug, unprocessableKind.title, unprocessableKind.status
	case code == telamentis.CodeRateLimited && errors.Is(err, telamentis.ErrBudgetExceeded):
		p.Type, p.Title, p.Status = ProblemBase+budgetKind.slug, budgetKind.title, budgetKind.status
		secs := 1
		var be *telamentis.BudgetError
		if errors.As(err, &be) && !be.ResetAt.IsZero() {
			secs = max(int((time.Until(be.ResetAt)+time.Second-1)/time.Second), 1)
		}
		if p.headers == nil {
			p.headers = http.Header{}
		}
		p.headers.Set("Retry-After", strconv.Itoa(secs))
	}
}
