// Package openai is the Connector for OpenAI chat completions and every
// server that speaks the same API at another base URL: Ollama, vLLM,
// llama.cpp server, LM Studio. It speaks the wire format itself over the
// shared llm client (one POST of /chat/completions; docs/decisions.md says
// why not the SDK), so that retries follow one bounded policy (llm.Retry)
// across providers and nothing is read from the environment.
package openai

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

// Output modes for structured output.
const (
	// ModeJSONSchema sends response_format json_schema (OpenAI, vLLM,
	// recent Ollama and llama.cpp).
	ModeJSONSchema = "json_schema"
	// ModeJSONObject sends response_format json_object, for servers
	// without schema support; the schema is then only in the prompt.
	ModeJSONObject = "json_object"
)

// Config configures a Connector. The endpoint defaults are the name
// "openai" and https://api.openai.com/v1; the API key may be empty for
// local servers that need none (a local Ollama at
// http://127.0.0.1:11434/v1).
type Config struct {
	llm.Endpoint
	// Mode is ModeJSONSchema (default) or ModeJSONObject.
	Mode string
}

// Connector calls an OpenAI-compatible chat completions endpoint.
type Connector struct {
	cfg  Config
	call llm.Call
}

var _ telamentis.Connector = (*Connector)(nil)

// New validates cfg and returns a Connector.
func New(cfg Config) (*Connector, error) {
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeJSONSchema
	case ModeJSONSchema, ModeJSONObject:
	default:
		return nil, telamentis.Invalid("mode", "must be json_schema or json_object")
	}
	hc, err := cfg.Prepare("openai", "https://api.openai.com/v1", false)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, telamentis.Invalid("base_url", "must be an absolute URL")
	}
	h := http.Header{}
	if key := cfg.APIKey.Reveal(); key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	return &Connector{cfg: cfg, call: llm.Call{
		Provider:  cfg.Name,
		Client:    hc,
		URL:       base.JoinPath("chat", "completions").String(),
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
		var out chatCompletion
		if retryAfter, err := c.call.Post(ctx, body, &out); err != nil {
			return telamentis.LLMResponse{}, retryAfter, err
		}
		resp, err := c.answer(out)
		resp.Latency = time.Since(start)
		return resp, "", err
	})
}

// chatRequest is the body of POST /chat/completions: the fields the
// connector sends, named as the API names them.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	ResponseFormat      *responseFormat `json:"response_format,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type responseFormat struct {
	Type       string      `json:"type"` // json_schema or json_object
	JSONSchema *jsonSchema `json:"json_schema,omitempty"`
}

type jsonSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	Strict bool            `json:"strict"`
}

// chatCompletion is the part of the answer the connector reads. A null
// content or refusal decodes as "".
type chatCompletion struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
			Refusal string `json:"refusal"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
}

func (c *Connector) request(req telamentis.LLMRequest) chatRequest {
	msgs := make([]chatMessage, 0, len(req.Messages)+1)
	if req.System != "" {
		msgs = append(msgs, chatMessage{Role: "system", Content: req.System})
	}
	for _, m := range req.Messages {
		role := "user"
		if m.Role == "assistant" {
			role = "assistant"
		}
		msgs = append(msgs, chatMessage{Role: role, Content: m.Content})
	}
	maxTok := req.MaxOutputTokens
	if maxTok <= 0 {
		maxTok = c.cfg.MaxOutputTokens
	}
	r := chatRequest{Model: c.cfg.Model, Messages: msgs, MaxCompletionTokens: maxTok}
	if len(req.Schema) > 0 {
		if c.cfg.Mode == ModeJSONSchema {
			name := req.SchemaName
			if name == "" {
				name = "output"
			}
			// Strict mode cannot express free-form props objects; the
			// extractor validates the output itself.
			r.ResponseFormat = &responseFormat{Type: ModeJSONSchema, JSONSchema: &jsonSchema{Name: name, Schema: req.Schema}}
		} else {
			r.ResponseFormat = &responseFormat{Type: ModeJSONObject}
		}
	}
	return r
}

func (c *Connector) answer(out chatCompletion) (telamentis.LLMResponse, error) {
	resp := telamentis.LLMResponse{
		Provider: c.cfg.Name,
		Model:    out.Model,
		Usage:    telamentis.LLMUsage{InputTokens: out.Usage.PromptTokens, OutputTokens: out.Usage.CompletionTokens},
	}
	if resp.Model == "" {
		resp.Model = c.cfg.Model
	}
	resp.CostUSD = c.cfg.Price.Cost(resp.Usage)
	if len(out.Choices) == 0 {
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderMalformed, 0, "no choices", nil)
	}
	ch := out.Choices[0]
	switch {
	case ch.Message.Refusal != "":
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderRefused, 0, "model refused", nil)
	case ch.FinishReason == "content_filter":
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderRefused, 0, "content filter", nil)
	case ch.FinishReason == "length":
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderTruncated, 0, "finish_reason length", nil)
	case strings.TrimSpace(ch.Message.Content) == "":
		return resp, telamentis.NewProviderError(c.cfg.Name, telamentis.ProviderMalformed, 0, "empty content", nil)
	}
	resp.Content = ch.Message.Content
	return resp, nil
}

// errorInfo reads the error type of a failed answer
// ({"error":{"type":…,"code":…,"message":…}}) for the log; the message is
// left out, as it may quote the request.
func errorInfo(body []byte) (detail, retryAfter string) {
	var e struct {
		Error struct {
			Type string `json:"type"`
			Code any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	detail = e.Error.Type
	if code, _ := e.Error.Code.(string); code != "" && code != detail {
		detail = strings.TrimSpace(detail + " " + code)
	}
	return detail, ""
}
