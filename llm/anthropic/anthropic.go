// Package anthropic is the Connector for the Anthropic Messages API. It
// speaks the wire format itself over the shared llm client (one POST of
// /v1/messages; docs/decisions.md says why not the SDK), so that retries
// follow llm.Retry and credentials come only from configuration.
package anthropic

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

// apiVersion is the Messages API version the connector speaks
// (anthropic-version header).
const apiVersion = "2023-06-01"

// Config configures a Connector. The endpoint defaults are the name
// "anthropic" and https://api.anthropic.com; an API key is required.
type Config struct {
	llm.Endpoint
	// StructuredOutput sends the schema as output_config.format
	// (structured outputs). Off by default: the schema then travels in the
	// system prompt and the answer is validated all the same.
	StructuredOutput bool
}

// Connector calls the Messages API.
type Connector struct {
	cfg  Config
	call llm.Call
}

var _ telamentis.Connector = (*Connector)(nil)

// New validates cfg and returns a Connector.
func New(cfg Config) (*Connector, error) {
	hc, err := cfg.Prepare("anthropic", "https://api.anthropic.com", true)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, telamentis.Invalid("base_url", "must be an absolute URL")
	}
	h := http.Header{}
	h.Set("X-Api-Key", cfg.APIKey.Reveal())
	h.Set("Anthropic-Version", apiVersion)
	return &Connector{cfg: cfg, call: llm.Call{
		Provider:  cfg.Name,
		Client:    hc,
		URL:       base.JoinPath("v1", "messages").String(),
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
	body, err := c.request(req)
	if err != nil {
		return telamentis.LLMResponse{}, err
	}
	return c.cfg.Retry.Do(ctx, c.cfg.Name, func() (telamentis.LLMResponse, string, error) {
		var out message
		if retryAfter, err := c.call.Post(ctx, body, &out); err != nil {
			return telamentis.LLMResponse{}, retryAfter, err
		}
		resp, err := c.answer(out)
		resp.Latency = time.Since(start)
		return resp, "", err
	})
}

// messageRequest is the body of POST /v1/messages: the fields the
// connector sends, named as the API names them.
type messageRequest struct {
	Model        string        `json:"model"`
	MaxTokens    int           `json:"max_tokens"`
	System       []textBlock   `json:"system,omitempty"`
	Messages     []turn        `json:"messages"`
	OutputConfig *outputConfig `json:"output_config,omitempty"`
}

type textBlock struct {
	Type string `json:"type"` // "text"
	Text string `json:"text"`
}

type turn struct {
	Role    string      `json:"role"`
	Content []textBlock `json:"content"`
}

type outputConfig struct {
	Format outputFormat `json:"format"`
}

type outputFormat struct {
	Type   string          `json:"type"` // "json_schema"
	Schema json.RawMessage `json:"schema"`
}

// message is the part of the answer the connector reads.
type message struct {
	Model      string      `json:"model"`
	Content    []textBlock `json:"content"` // other block types leave Text empty
	StopReason string      `json:"stop_reason"`
	Usage      struct {
		InputTokens              int64 `json:"input_tokens"`
		OutputTokens             int64 `json:"output_tokens"`
		CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	} `json:"usage"`
}

func (c *Connector) request(req telamentis.LLMRequest) (messageRequest, error) {
	maxTok := req.MaxOutputTokens
	if maxTok <= 0 {
		maxTok = c.cfg.MaxOutputTokens
	}
	r := messageRequest{Model: c.cfg.Model, MaxTokens: maxTok, Messages: make([]turn, 0, len(req.Messages))}
	if req.System != "" {
		r.System = []textBlock{{Type: "text", Text: req.System}}
	}
	for _, m := range req.Messages {
		role := "user"
		if m.Role == "assistant" {
			role = "assistant"
		}
		r.Messages = append(r.Messages, turn{Role: role, Content: []textBlock{{Type: "text", Text: m.Content}}})
	}
	if c.cfg.StructuredOutput && len(req.Schema) > 0 {
		var schema map[string]json.RawMessage
		if err := json.Unmarshal(req.Schema, &schema); err != nil || schema == nil {
			return r, telamentis.Invalid("schema", "not a JSON object")
		}
		r.OutputConfig = &outputConfig{Format: outputFormat{Type: "json_schema", Schema: req.Schema}}
	}
	return r, nil
}

func (c *Connector) answer(out message) (telamentis.LLMResponse, error) {
	u := out.Usage
	resp := telamentis.LLMResponse{
		Provider: c.cfg.Name,
		Model:    out.Model,
		Usage: telamentis.LLMUsage{
			InputTokens:  u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens,
			OutputTokens: u.OutputTokens,
		},
	}
	if resp.Model == "" {
		resp.Model = c.cfg.Model
	}
	resp.CostUSD = c.cfg.Price.Cost(resp.Usage)
	switch out.StopReason {
	case "refusal":
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderRefused, 0, "stop_reason refusal", nil)
	case "max_tokens":
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderTruncated, 0, "stop_reason max_tokens", nil)
	}
	var b strings.Builder
	for _, blk := range out.Content {
		if blk.Type == "text" {
			b.WriteString(blk.Text)
		}
	}
	if strings.TrimSpace(b.String()) == "" {
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderMalformed, 0, "no text content", nil)
	}
	resp.Content = b.String()
	return resp, nil
}

// errorInfo reads the error type of a failed answer
// ({"type":"error","error":{"type":"overloaded_error","message":…}}) for
// the log; the message is left out, as it may quote the request.
func errorInfo(body []byte) (detail, retryAfter string) {
	var e struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	return e.Error.Type, ""
}
