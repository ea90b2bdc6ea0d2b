// Package gemini is the Connector for the Gemini API's generateContent
// (an API key, not Vertex AI). It speaks the wire format itself over the
// shared llm client (one POST of v1beta/models/{model}:generateContent;
// docs/decisions.md says why not the SDK), so that retries follow
// llm.Retry. A 429 is retried after its Retry-After header or, failing
// that, Gemini's RetryInfo error detail.
package gemini

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

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
	cfg  Config
	call llm.Call
}

var _ telamentis.Connector = (*Connector)(nil)

// New validates cfg and returns a Connector.
func New(cfg Config) (*Connector, error) {
	hc, err := cfg.Prepare("gemini", "https://generativelanguage.googleapis.com/", true)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, telamentis.Invalid("base_url", "must be an absolute URL")
	}
	// A bare model name is a base model; "tunedModels/…" and "models/…"
	// name themselves.
	model := cfg.Model
	if !strings.HasPrefix(model, "models/") && !strings.HasPrefix(model, "tunedModels/") {
		model = "models/" + model
	}
	kind, id, _ := strings.Cut(model, "/")
	h := http.Header{}
	h.Set("X-Goog-Api-Key", cfg.APIKey.Reveal())
	return &Connector{cfg: cfg, call: llm.Call{
		Provider:  cfg.Name,
		Client:    hc,
		URL:       base.JoinPath("v1beta", kind, id+":generateContent").String(),
		Header:    h,
		ErrorInfo: errorInfo,
	}}, nil
}

// Name implements telamentis.Connector.
func (c *Connector) Name() string { return c.cfg.Name }

// Model implements telamentis.Connector.
func (c *Connector) Model() string { return c.cfg.Model }

// Price returns the configured price, for budget estimates.
func (c *Connector) Price() telamentis.LLMPrice { return c.cfg.Price }

// Complete implements telamentis.Connector.
func (c *Connector) Complete(ctx context.Context, req telamentis.LLMRequest) (telamentis.LLMResponse, error) {
	start := time.Now()
	body := c.request(req)
	return c.cfg.Retry.Do(ctx, c.cfg.Name, func() (telamentis.LLMResponse, string, error) {
		var out generateResponse
		if retryAfter, err := c.call.Post(ctx, body, &out); err != nil {
			return telamentis.LLMResponse{}, retryAfter, err
		}
		resp, err := c.answer(out)
		resp.Latency = time.Since(start)
		return resp, "", err
	})
}

// generateRequest is the body of generateContent: the fields the connector
// sends, named as the API names them.
type generateRequest struct {
	Contents          []content        `json:"contents"`
	SystemInstruction *content         `json:"systemInstruction,omitempty"`
	GenerationConfig  generationConfig `json:"generationConfig"`
}

type content struct {
	Role  string `json:"role,omitempty"` // "user" or "model"
	Parts []part `json:"parts"`
}

type part struct {
	Text    string `json:"text,omitempty"`
	Thought bool   `json:"thought,omitempty"`
}

type generationConfig struct {
	MaxOutputTokens    int             `json:"maxOutputTokens"`
	ResponseMIMEType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
}

// generateResponse is the part of the answer the connector reads.
type generateResponse struct {
	Candidates []struct {
		Content      *content `json:"content"`
		FinishReason string   `json:"finishReason"`
	} `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata *struct {
		PromptTokenCount        int64 `json:"promptTokenCount"`
		CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
		ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
		ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
}

func (c *Connector) request(req telamentis.LLMRequest) generateRequest {
	r := generateRequest{Contents: make([]content, 0, len(req.Messages))}
	for _, m := range req.Messages {
		role := "user"
		if m.Role == "assistant" {
			role = "model"
		}
		r.Contents = append(r.Contents, content{Role: role, Parts: []part{{Text: m.Content}}})
	}
	maxTok := req.MaxOutputTokens
	if maxTok <= 0 {
		maxTok = c.cfg.MaxOutputTokens
	}
	r.GenerationConfig.MaxOutputTokens = maxTok
	if req.System != "" {
		r.SystemInstruction = &content{Role: "user", Parts: []part{{Text: req.System}}}
	}
	if len(req.Schema) > 0 {
		r.GenerationConfig.ResponseMIMEType = "application/json"
		r.GenerationConfig.ResponseJSONSchema = req.Schema
	}
	return r
}

// finishRefused are the finish reasons of an answer withheld by the
// provider's filters.
var finishRefused = map[string]bool{
	"SAFETY": true, "RECITATION": true, "BLOCKLIST": true, "PROHIBITED_CONTENT": true, "SPII": true,
}

func (c *Connector) answer(out generateResponse) (telamentis.LLMResponse, error) {
	resp := telamentis.LLMResponse{Provider: c.cfg.Name, Model: out.ModelVersion}
	if u := out.UsageMetadata; u != nil {
		resp.Usage = telamentis.LLMUsage{
			InputTokens: u.PromptTokenCount + u.ToolUsePromptTokenCount,
			// thinking tokens are billed as output
			OutputTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount,
		}
	}
	if resp.Model == "" {
		resp.Model = c.cfg.Model
	}
	resp.CostUSD = c.cfg.Price.Cost(resp.Usage)
	if pf := out.PromptFeedback; pf != nil && pf.BlockReason != "" {
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderRefused, 0, "prompt blocked: "+pf.BlockReason, nil)
	}
	if len(out.Candidates) == 0 {
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderMalformed, 0, "no candidates", nil)
	}
	cand := out.Candidates[0]
	switch {
	case cand.FinishReason == "MAX_TOKENS":
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderTruncated, 0, "finishReason MAX_TOKENS", nil)
	case finishRefused[cand.FinishReason]:
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderRefused, 0, "finishReason "+cand.FinishReason, nil)
	}
	var b strings.Builder
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			if !p.Thought {
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

// errorInfo reads a failed answer ({"error":{"code":429,"status":
// "RESOURCE_EXHAUSTED","message":…,"details":[…]}}): the status for the
// log (the message may quote the request), and google.rpc.RetryInfo's
// retryDelay ("30s") as seconds.
func errorInfo(body []byte) (detail, retryAfter string) {
	var e struct {
		Error struct {
			Status  string `json:"status"`
			Details []struct {
				Type       string `json:"@type"`
				RetryDelay string `json:"retryDelay"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	for _, d := range e.Error.Details {
		if strings.HasSuffix(d.Type, "google.rpc.RetryInfo") && strings.HasSuffix(d.RetryDelay, "s") {
			retryAfter = strings.TrimSuffix(d.RetryDelay, "s")
			break
		}
	}
	return e.Error.Status, retryAfter
}
