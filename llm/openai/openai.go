// Package openai is the Connector for OpenAI chat completions and every
// server that speaks the same API at another base URL: Ollama, vLLM,
// llama.cpp server, LM Studio. It uses the official openai-go SDK with the
// SDK's own retries switched off, so that retries follow one bounded
// policy (llm.Retry) across providers.
package openai

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

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
	cfg    Config
	client oai.Client
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
	key := cfg.APIKey.Reveal()
	if key == "" {
		key = "none" // local servers ignore it; the SDK wants one
	}
	c := oai.NewClient(
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(key),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(cfg.Timeout),
		// the SDK reads these from the environment; this process must
		// not send another account's identifiers
		option.WithHeaderDel("OpenAI-Organization"),
		option.WithHeaderDel("OpenAI-Project"),
	)
	return &Connector{cfg: cfg, client: c}, nil
}

// Name implements telamentis.Connector.
func (c *Connector) Name() string { return c.cfg.Name }

// Model implements telamentis.Connector.
func (c *Connector) Model() string { return c.cfg.Model }

// Complete implements telamentis.Connector.
func (c *Connector) Complete(ctx context.Context, req telamentis.LLMRequest) (telamentis.LLMResponse, error) {
	start := time.Now()
	params := c.params(req)
	return c.cfg.Retry.Do(ctx, c.cfg.Name, func() (telamentis.LLMResponse, string, error) {
		var raw *http.Response
		out, err := c.client.Chat.Completions.New(ctx, params, option.WithResponseInto(&raw))
		if err == nil {
			resp, err := c.answer(out)
			resp.Latency = time.Since(start)
			return resp, "", err
		}
		retryAfter, perr := c.classify(ctx, err)
		return telamentis.LLMResponse{}, retryAfter, perr
	})
}

func (c *Connector) params(req telamentis.LLMRequest) oai.ChatCompletionNewParams {
	msgs := make([]oai.ChatCompletionMessageParamUnion, 0, len(req.Messages)+1)
	if req.System != "" {
		msgs = append(msgs, oai.SystemMessage(req.System))
	}
	for _, m := range req.Messages {
		if m.Role == "assistant" {
			msgs = append(msgs, oai.AssistantMessage(m.Content))
		} else {
			msgs = append(msgs, oai.UserMessage(m.Content))
		}
	}
	maxTok := req.MaxOutputTokens
	if maxTok <= 0 {
		maxTok = c.cfg.MaxOutputTokens
	}
	p := oai.ChatCompletionNewParams{
		Model:               shared.ChatModel(c.cfg.Model),
		Messages:            msgs,
		MaxCompletionTokens: oai.Int(int64(maxTok)),
	}
	if len(req.Schema) > 0 {
		if c.cfg.Mode == ModeJSONSchema {
			name := req.SchemaName
			if name == "" {
				name = "output"
			}
			p.ResponseFormat = oai.ChatCompletionNewParamsResponseFormatUnion{
				OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
					Name:   name,
					Schema: req.Schema,
					// Strict mode cannot express free-form props objects;
					// the extractor validates the output itself.
					Strict: oai.Bool(false),
				}},
			}
		} else {
			p.ResponseFormat = oai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
		}
	}
	return p
}

func (c *Connector) answer(out *oai.ChatCompletion) (telamentis.LLMResponse, error) {
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

// classify turns an SDK or transport error into a Connector error and
// returns the Retry-After header of the answer, if any.
func (c *Connector) classify(ctx context.Context, err error) (string, error) {
	var ae *oai.Error
	if errors.As(err, &ae) {
		ra := ""
		if ae.Response != nil {
			ra = ae.Response.Header.Get("Retry-After")
		}
		return llm.StatusError(c.cfg.Name, ae.StatusCode, "", ra)
	}
	return "", llm.CallError(ctx, c.cfg.Name, err)
}

// Price returns the configured price, for budget estimates.
func (c *Connector) Price() telamentis.LLMPrice { return c.cfg.Price }
