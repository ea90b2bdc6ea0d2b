// Package gemini is the Connector for the Gemini API's generateContent,
// using the official google.golang.org/genai SDK with the Gemini API
// backend (an API key, not Vertex AI). The SDK's error type carries no
// headers, so a small transport wrapper records Retry-After for the retry
// policy; Gemini's RetryInfo error detail is honoured as well.
package gemini

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/llm"
)

// Config configures a Connector. The endpoint defaults are the name
// "gemini" and https://generativelanguage.googleapis.com/; an API key is
// required.
type Config struct {
	llm.Endpoint
}

// Connector calls generateContent.
type Connector struct {
	cfg    Config
	client *genai.Client
}

var _ telamentis.Connector = (*Connector)(nil)

// New validates cfg and returns a Connector.
func New(ctx context.Context, cfg Config) (*Connector, error) {
	hc, err := cfg.Prepare("gemini", "https://generativelanguage.googleapis.com/", true)
	if err != nil {
		return nil, err
	}
	hc.Transport = retryAfterRecorder{hc.Transport}
	base := cfg.BaseURL
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	c, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      cfg.APIKey.Reveal(),
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  hc,
		HTTPOptions: genai.HTTPOptions{BaseURL: base, APIVersion: "v1beta"},
	})
	if err != nil {
		return nil, telamentis.Invalid("gemini", "cannot build client")
	}
	return &Connector{cfg: cfg, client: c}, nil
}

// Name implements telamentis.Connector.
func (c *Connector) Name() string { return c.cfg.Name }

// Model implements telamentis.Connector.
func (c *Connector) Model() string { return c.cfg.Model }

// Price returns the configured price, for budget estimates.
func (c *Connector) Price() telamentis.LLMPrice { return c.cfg.Price }

type retryAfterKey struct{}

// retryAfterRecorder stores the Retry-After header of each answer in the
// *string the request's context carries.
type retryAfterRecorder struct{ rt http.RoundTripper }

func (r retryAfterRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if p, ok := req.Context().Value(retryAfterKey{}).(*string); ok && resp != nil {
		*p = resp.Header.Get("Retry-After")
	}
	return resp, err
}

// Complete implements telamentis.Connector.
func (c *Connector) Complete(ctx context.Context, req telamentis.LLMRequest) (telamentis.LLMResponse, error) {
	start := time.Now()
	contents, cfg := c.params(req)
	return c.cfg.Retry.Do(ctx, c.cfg.Name, func() (telamentis.LLMResponse, string, error) {
		var ra string
		actx, cancel := context.WithTimeout(context.WithValue(ctx, retryAfterKey{}, &ra), c.cfg.Timeout)
		out, err := c.client.Models.GenerateContent(actx, c.cfg.Model, contents, cfg)
		cancel()
		if err == nil {
			resp, err := c.answer(out)
			resp.Latency = time.Since(start)
			return resp, "", err
		}
		retryAfter, perr := c.classify(ctx, err, ra)
		return telamentis.LLMResponse{}, retryAfter, perr
	})
}

func (c *Connector) params(req telamentis.LLMRequest) ([]*genai.Content, *genai.GenerateContentConfig) {
	contents := make([]*genai.Content, 0, len(req.Messages))
	for _, m := range req.Messages {
		role := genai.RoleUser
		if m.Role == "assistant" {
			role = genai.RoleModel
		}
		contents = append(contents, genai.NewContentFromText(m.Content, genai.Role(role)))
	}
	maxTok := req.MaxOutputTokens
	if maxTok <= 0 {
		maxTok = c.cfg.MaxOutputTokens
	}
	cfg := &genai.GenerateContentConfig{MaxOutputTokens: int32(maxTok)}
	if req.System != "" {
		cfg.SystemInstruction = &genai.Content{Parts: []*genai.Part{{Text: req.System}}}
	}
	if len(req.Schema) > 0 {
		cfg.ResponseMIMEType = "application/json"
		cfg.ResponseJsonSchema = req.Schema
	}
	return contents, cfg
}

func (c *Connector) answer(out *genai.GenerateContentResponse) (telamentis.LLMResponse, error) {
	resp := telamentis.LLMResponse{Provider: c.cfg.Name, Model: out.ModelVersion}
	if u := out.UsageMetadata; u != nil {
		resp.Usage = telamentis.LLMUsage{
			InputTokens: int64(u.PromptTokenCount) + int64(u.ToolUsePromptTokenCount),
			// thinking tokens are billed as output
			OutputTokens: int64(u.CandidatesTokenCount) + int64(u.ThoughtsTokenCount),
		}
	}
	if resp.Model == "" {
		resp.Model = c.cfg.Model
	}
	resp.CostUSD = c.cfg.Price.Cost(resp.Usage)
	if pf := out.PromptFeedback; pf != nil && pf.BlockReason != "" {
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderRefused, 0, "prompt blocked: "+string(pf.BlockReason), nil)
	}
	if len(out.Candidates) == 0 || out.Candidates[0] == nil {
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderMalformed, 0, "no candidates", nil)
	}
	cand := out.Candidates[0]
	switch cand.FinishReason {
	case genai.FinishReasonMaxTokens:
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderTruncated, 0, "finishReason MAX_TOKENS", nil)
	case genai.FinishReasonSafety, genai.FinishReasonRecitation, genai.FinishReasonBlocklist,
		genai.FinishReasonProhibitedContent, genai.FinishReasonSPII:
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderRefused, 0, "finishReason "+string(cand.FinishReason), nil)
	}
	var b strings.Builder
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			if p != nil && !p.Thought {
				b.WriteString(p.Text)
			}
		}
	}
	if strings.TrimSpace(b.String()) == "" {
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderMalformed, 0, "no text", nil)
	}
	resp.Content = b.String()
	return resp, nil
}

// classify turns an SDK or transport error into a Connector error and
// returns the retry delay: the Retry-After header, else RetryInfo.
func (c *Connector) classify(ctx context.Context, err error, header string) (string, error) {
	var ae genai.APIError
	if errors.As(err, &ae) {
		ra := header
		if ra == "" {
			ra = retryInfo(ae)
		}
		return llm.StatusError(c.cfg.Name, ae.Code, ae.Status, ra)
	}
	return "", llm.CallError(ctx, c.cfg.Name, err)
}

// retryInfo reads google.rpc.RetryInfo's retryDelay ("30s") as seconds.
func retryInfo(ae genai.APIError) string {
	for _, d := range ae.Details {
		if t, _ := d["@type"].(string); !strings.HasSuffix(t, "google.rpc.RetryInfo") {
			continue
		}
		if s, _ := d["retryDelay"].(string); strings.HasSuffix(s, "s") {
			return strings.TrimSuffix(s, "s")
		}
	}
	return ""
}
