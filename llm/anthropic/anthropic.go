// Package anthropic is the Connector for the Anthropic Messages API, using
// the official anthropic-sdk-go with its own retries and environment
// defaults switched off, so that retries follow llm.Retry and
// credentials come only from configuration.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/llm"
)

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
	cfg    Config
	client sdk.Client
}

var _ telamentis.Connector = (*Connector)(nil)

// New validates cfg and returns a Connector.
func New(cfg Config) (*Connector, error) {
	hc, err := cfg.Prepare("anthropic", "https://api.anthropic.com", true)
	if err != nil {
		return nil, err
	}
	c := sdk.NewClient(
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(cfg.APIKey.Reveal()),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(cfg.Timeout),
	)
	return &Connector{cfg: cfg, client: c}, nil
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
	params, err := c.params(req)
	if err != nil {
		return telamentis.LLMResponse{}, err
	}
	return c.cfg.Retry.Do(ctx, c.cfg.Name, func() (telamentis.LLMResponse, string, error) {
		out, err := c.client.Messages.New(ctx, params)
		if err == nil {
			resp, err := c.answer(out)
			resp.Latency = time.Since(start)
			return resp, "", err
		}
		retryAfter, perr := c.classify(ctx, err)
		return telamentis.LLMResponse{}, retryAfter, perr
	})
}

func (c *Connector) params(req telamentis.LLMRequest) (sdk.MessageNewParams, error) {
	maxTok := req.MaxOutputTokens
	if maxTok <= 0 {
		maxTok = c.cfg.MaxOutputTokens
	}
	p := sdk.MessageNewParams{
		Model:     sdk.Model(c.cfg.Model),
		MaxTokens: int64(maxTok),
	}
	if req.System != "" {
		p.System = []sdk.TextBlockParam{{Text: req.System}}
	}
	for _, m := range req.Messages {
		if m.Role == "assistant" {
			p.Messages = append(p.Messages, sdk.NewAssistantMessage(sdk.NewTextBlock(m.Content)))
		} else {
			p.Messages = append(p.Messages, sdk.NewUserMessage(sdk.NewTextBlock(m.Content)))
		}
	}
	if c.cfg.StructuredOutput && len(req.Schema) > 0 {
		var schema map[string]any
		if err := json.Unmarshal(req.Schema, &schema); err != nil {
			return p, telamentis.Invalid("schema", "not a JSON object")
		}
		p.OutputConfig = sdk.OutputConfigParam{Format: sdk.JSONOutputFormatParam{Schema: schema}}
	}
	return p, nil
}

func (c *Connector) answer(out *sdk.Message) (telamentis.LLMResponse, error) {
	u := out.Usage
	resp := telamentis.LLMResponse{
		Provider: c.cfg.Name,
		Model:    string(out.Model),
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
	case sdk.StopReasonRefusal:
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderRefused, 0, "stop_reason refusal", nil)
	case sdk.StopReasonMaxTokens:
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

// classify turns an SDK or transport error into a Connector error and
// returns the Retry-After header of the answer, if any.
func (c *Connector) classify(ctx context.Context, err error) (string, error) {
	var ae *sdk.Error
	if errors.As(err, &ae) {
		ra := ""
		if ae.Response != nil {
			ra = ae.Response.Header.Get("Retry-After")
		}
		return llm.StatusError(c.cfg.Name, ae.StatusCode, "", ra)
	}
	return "", llm.CallError(ctx, c.cfg.Name, err)
}
