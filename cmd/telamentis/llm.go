package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v4"

	"github.com/telamentis/telamentis"
	"github.com/telamentis/telamentis/extract"
	"github.com/telamentis/telamentis/llm"
	"github.com/telamentis/telamentis/llm/anthropic"
	"github.com/telamentis/telamentis/llm/gemini"
	"github.com/telamentis/telamentis/llm/openai"
	"github.com/telamentis/telamentis/pipeline/safeguard"
	"github.com/telamentis/telamentis/secrets"
)

// LLMRoutesEnv holds the routing list as YAML (or JSON), replacing the
// config file's llm.routes: for deployments configured by environment only.
const LLMRoutesEnv = "TELAMENTIS_LLM_ROUTES"

// LLMConfig configures LLM extraction (POST /v1/llm/{tenant}/extract,
// docs/llm.md). With no route the endpoint answers 503.
type LLMConfig struct {
	// Routes is the ordered routing list: the first route within the
	// tenant's budget that answers is used.
	Routes []LLMRoute `yaml:"routes"`
	// MaxInputBytes bounds the text of one request; default 256 KiB.
	MaxInputBytes int `yaml:"max_input_bytes"`
	// MaxOutputTokens bounds every answer; 0 leaves each route's own.
	MaxOutputTokens int `yaml:"max_output_tokens"`
}

// LLMRoute is one provider of the routing list. API keys never live in the
// file: APIKeyEnv names the environment variable holding the key, read
// (like every secret) from that variable or from the file named by
// <APIKeyEnv>_FILE.
type LLMRoute struct {
	// Name is the routing name (requests may pick a route by it; it labels
	// metrics and audit records).
	Name string `yaml:"name"`
	// Type is openai (also Ollama, vLLM, llama.cpp, LM Studio), anthropic
	// or gemini.
	Type    string `yaml:"type"`
	BaseURL string `yaml:"base_url"`
	Model   string `yaml:"model"`
	// APIKeyEnv names the variable with the key; required except for an
	// openai route with a base_url (a local model server may need none).
	APIKeyEnv string `yaml:"api_key_env"`
	// APIKey exists only to refuse a key pasted into the file with a clear
	// message.
	APIKey string `yaml:"api_key"`
	// Mode (openai only) is json_schema (default) or json_object.
	Mode string `yaml:"mode"`
	// StructuredOutput (anthropic only) sends output_config.format.
	StructuredOutput bool `yaml:"structured_output"`
	// Timeout bounds one HTTP attempt; default 60s.
	Timeout         time.Duration  `yaml:"timeout"`
	Retry           LLMRetryConfig `yaml:"retry"`
	Price           LLMPriceConfig `yaml:"price"`
	MaxOutputTokens int            `yaml:"max_output_tokens"`
	// CAFile is a PEM file of CAs replacing the system roots for this
	// route (a local model behind a TLS proxy).
	CAFile string `yaml:"ca_file"`
}

// LLMRetryConfig is a route's retry policy (llm.Retry).
type LLMRetryConfig struct {
	MaxAttempts int           `yaml:"max_attempts"`
	BaseDelay   time.Duration `yaml:"base_delay"`
	MaxDelay    time.Duration `yaml:"max_delay"`
}

// LLMPriceConfig is a route's price in USD per million tokens; zero is
// free (a local model).
type LLMPriceConfig struct {
	InputPerMTok  float64 `yaml:"input_per_mtok"`
	OutputPerMTok float64 `yaml:"output_per_mtok"`
}

var (
	routeNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	envNameRe   = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)
)

// Validate checks the LLM configuration. Errors name settings, never values
// of secrets.
func (c *LLMConfig) Validate() error {
	if c.MaxInputBytes < 0 || c.MaxInputBytes > 1<<20 {
		return errors.New("config: llm.max_input_bytes: must be in [0, 1 MiB]")
	}
	if c.MaxOutputTokens < 0 {
		return errors.New("config: llm.max_output_tokens: must not be negative")
	}
	seen := map[string]bool{}
	for i, r := range c.Routes {
		at := fmt.Sprintf("config: llm.routes[%d]", i)
		if err := r.validate(); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if seen[r.Name] {
			return fmt.Errorf("%s.name: %q given twice", at, r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}

func (r *LLMRoute) validate() error {
	if r.APIKey != "" {
		return errors.New("api_key: API keys never go in the config file; name an environment variable with " +
			"api_key_env (the key is read from it or from the file named by <VAR>_FILE)")
	}
	if !routeNameRe.MatchString(r.Name) {
		return errors.New("name: required, ^[a-z0-9][a-z0-9_-]{0,31}$")
	}
	switch r.Type {
	case "openai", "anthropic", "gemini":
	default:
		return fmt.Errorf("type: %q is not openai, anthropic or gemini", r.Type)
	}
	if r.Model == "" {
		return errors.New("model: required")
	}
	if r.BaseURL != "" {
		if _, err := llm.CheckBaseURL(r.BaseURL); err != nil {
			return fmt.Errorf("base_url: %s", telamentis.ErrorFields(err)[0].Message)
		}
	}
	if r.APIKeyEnv != "" {
		if !envNameRe.MatchString(r.APIKeyEnv) {
			return errors.New("api_key_env: must be an environment variable name ([A-Z_][A-Z0-9_]*)")
		}
		// The server's own secrets are never sent to a provider.
		if strings.HasPrefix(r.APIKeyEnv, "TELAMENTIS_") && !strings.HasPrefix(r.APIKeyEnv, "TELAMENTIS_LLM_") {
			return errors.New("api_key_env: a TELAMENTIS_ variable other than TELAMENTIS_LLM_* is the server's own secret")
		}
	} else if r.Type != "openai" || r.BaseURL == "" {
		return errors.New("api_key_env: required (only an openai-compatible route with a base_url may go without a key)")
	}
	if r.Mode != "" && (r.Type != "openai" || (r.Mode != openai.ModeJSONSchema && r.Mode != openai.ModeJSONObject)) {
		return errors.New("mode: json_schema or json_object, for openai routes only")
	}
	if r.StructuredOutput && r.Type != "anthropic" {
		return errors.New("structured_output: for anthropic routes only")
	}
	if r.Timeout < 0 || r.Timeout > 10*time.Minute {
		return errors.New("timeout: must be in [0, 10m]")
	}
	if r.Retry.MaxAttempts < 0 || r.Retry.MaxAttempts > 10 || r.Retry.BaseDelay < 0 || r.Retry.MaxDelay < 0 {
		return errors.New("retry: max_attempts in [0, 10], delays not negative")
	}
	if !(r.Price.InputPerMTok >= 0 && r.Price.OutputPerMTok >= 0) {
		return errors.New("price: must not be negative")
	}
	if r.MaxOutputTokens < 0 {
		return errors.New("max_output_tokens: must not be negative")
	}
	return nil
}

// llmConfig returns cfg with the routes of LLMRoutesEnv, if set, in place
// of the file's, validated.
func llmConfig(cfg LLMConfig, getenv func(string) string) (LLMConfig, error) {
	if v := getenv(LLMRoutesEnv); v != "" {
		var routes []LLMRoute
		dec := yaml.NewDecoder(bytes.NewReader([]byte(v)))
		dec.KnownFields(true)
		if err := dec.Decode(&routes); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config: %s: %w", LLMRoutesEnv, err)
		}
		cfg.Routes = routes
	}
	return cfg, cfg.Validate()
}

// newExtractor builds the extraction service of the configured routes, or
// returns nil (the endpoint then answers 503) when there is none. API keys
// are loaded through loader (the server's secrets loader); getenv supplies
// LLMRoutesEnv. reg receives the telamentis_llm_* metrics (nil: none).
func newExtractor(ctx context.Context, cfg LLMConfig, loader secrets.Loader, getenv func(string) string, store telamentis.Store,
	auditLog telamentis.AuditLog, reg prometheus.Registerer, logger *slog.Logger) (telamentis.Extractor, error) {
	cfg, err := llmConfig(cfg, getenv)
	if err != nil {
		return nil, err
	}
	if len(cfg.Routes) == 0 {
		logger.Info("llm extraction disabled (no llm.routes)")
		return nil, nil
	}
	conns := make([]telamentis.Connector, 0, len(cfg.Routes))
	for i, r := range cfg.Routes {
		c, err := newConnector(r, loader)
		if err != nil {
			return nil, fmt.Errorf("llm.routes[%d] (%s): %w", i, r.Name, err)
		}
		conns = append(conns, c)
		logger.Info("llm route", slog.Int("order", i), slog.String("name", r.Name), slog.String("type", r.Type),
			slog.String("model", r.Model), slog.String("base_url", r.BaseURL), slog.String("api_key_env", r.APIKeyEnv))
	}
	x, err := extract.New(extract.Config{
		Store: store, Redactor: safeguard.New(), Routes: conns, Registerer: reg, Audit: auditLog,
		Logger: logger, MaxInputBytes: cfg.MaxInputBytes, MaxOutputTokens: cfg.MaxOutputTokens,
	})
	if err != nil {
		return nil, err
	}
	return x, nil
}

// newConnector builds the connector of one route.
func newConnector(r LLMRoute, loader secrets.Loader) (telamentis.Connector, error) {
	var key telamentis.Secret
	if r.APIKeyEnv != "" {
		var err error
		if key, err = loader.Load(secrets.Spec{Name: r.APIKeyEnv}); err != nil {
			return nil, err
		}
	}
	var ca []byte
	if r.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(r.CAFile); err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
	}
	retry := llm.Retry{MaxAttempts: r.Retry.MaxAttempts, BaseDelay: r.Retry.BaseDelay, MaxDelay: r.Retry.MaxDelay}
	price := telamentis.LLMPrice{InputPerMTok: r.Price.InputPerMTok, OutputPerMTok: r.Price.OutputPerMTok}
	var (
		c   telamentis.Connector
		err error
	)
	ep := llm.Endpoint{Name: r.Name, BaseURL: r.BaseURL, APIKey: key, Model: r.Model,
		Timeout: r.Timeout, Retry: retry, Price: price, MaxOutputTokens: r.MaxOutputTokens, CAPEM: ca}
	switch r.Type {
	case "openai":
		c, err = openai.New(openai.Config{Endpoint: ep, Mode: r.Mode})
	case "anthropic":
		c, err = anthropic.New(anthropic.Config{Endpoint: ep, StructuredOutput: r.StructuredOutput})
	case "gemini":
		c, err = gemini.New(gemini.Config{Endpoint: ep})
	default:
		return nil, fmt.Errorf("type %q unknown", r.Type)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}
