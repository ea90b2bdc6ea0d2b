// Package extract turns text into facts: Safeguard redaction, a fenced
// prompt, a provider call through the routing list, strict validation of
// the model's envelope, resolution against the tenant's nodes by alias, and
// one atomic batch write (DESIGN §7). The model's output is untrusted input:
// it is checked like any client request, and the tenant comes only from the
// caller. It implements telamentis.Extractor.
package extract

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telamentis/telamentis"
)

// Config configures a Service.
type Config struct {
	Store telamentis.Store
	// Redactor is the Safeguard (pipeline/safeguard); required.
	Redactor telamentis.Redactor
	// Routes is the ordered routing list: the first provider that is
	// within budget and answers is used; a provider that is rate limited,
	// down or timing out passes the request to the next.
	Routes []telamentis.Connector
	// Ledger counts daily spending; nil means an in-memory ledger.
	Ledger Ledger
	// Registerer receives the metrics; nil disables them.
	Registerer prometheus.Registerer
	// Audit receives one record per extraction; nil disables it.
	Audit  telamentis.AuditLog
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxInputBytes bounds the text of one request; default 256 KiB.
	MaxInputBytes int
	// MaxOutputTokens bounds the model's answer; 0 leaves each
	// connector's default.
	MaxOutputTokens int
}

// Service is the extractor.
type Service struct {
	cfg     Config
	routes  map[string]telamentis.Connector
	metrics *metrics
	log     *slog.Logger
}

var _ telamentis.Extractor = (*Service)(nil)

// Pricer is an optional Connector ability: the price used to estimate a
// call's cost against the tenant's budget before making it.
type Pricer interface {
	Price() telamentis.LLMPrice
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Redactor == nil {
		return nil, errors.New("extract: new: store and redactor required")
	}
	if len(cfg.Routes) == 0 {
		return nil, errors.New("extract: new: at least one route required")
	}
	if cfg.Ledger == nil {
		cfg.Ledger = NewMemoryLedger()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxInputBytes <= 0 {
		cfg.MaxInputBytes = 256 << 10
	}
	s := &Service{cfg: cfg, routes: map[string]telamentis.Connector{}, log: cfg.Logger}
	for _, c := range cfg.Routes {
		if _, dup := s.routes[c.Name()]; dup {
			return nil, fmt.Errorf("extract: new: duplicate route %q", c.Name())
		}
		s.routes[c.Name()] = c
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("extract: new: register metrics: %w", err)
	}
	s.metrics = m
	return s, nil
}

// ProvenanceKey is the props key under which extraction provenance
// (request id, provider, model, extraction time, confidence) is written on
// every node and edge an extraction creates or changes. A value the model
// puts under this key is overwritten.
const ProvenanceKey = "_extraction"

// Extract implements telamentis.Extractor.
func (s *Service) Extract(ctx context.Context, tenant string, req telamentis.ExtractRequest) (res telamentis.ExtractResult, err error) {
	start := s.cfg.Now()
	res = telamentis.ExtractResult{DryRun: req.DryRun, Created: []telamentis.ExtractItem{}, Updated: []telamentis.ExtractItem{},
		Unchanged: []telamentis.ExtractItem{}, Skipped: []telamentis.ExtractSkip{}}
	res.Meta.RequestID = telamentis.RequestIDFromContext(ctx)
	if res.Meta.RequestID == "" {
		res.Meta.RequestID = newNonce()
	}
	res.Meta.ExtractedAt = start.UTC()
	defer func() {
		s.audit(ctx, tenant, &res, err)
		if err != nil {
			// Field errors may quote restored values: log the safe
			// message, and the full chain only for internal errors.
			msg := telamentis.ErrorMessage(err)
			if telamentis.ErrorCode(err) == telamentis.CodeInternal {
				msg = err.Error()
			}
			s.log.LogAttrs(ctx, slog.LevelWarn, "extraction failed", slog.String("tenant", tenant),
				slog.String("request_id", res.Meta.RequestID), slog.String("code", string(telamentis.ErrorCode(err))),
				slog.String("err", msg))
		}
	}()
	if !telamentis.ValidTenantID(tenant) {
		return res, telamentis.NotFound("tenant")
	}
	minConf, err := s.checkRequest(&req)
	if err != nil {
		return res, err
	}
	t, err := s.cfg.Store.GetTenant(ctx, tenant)
	if err != nil {
		return res, fmt.Errorf("extract: get tenant: %w", err)
	}
	texts := make([]string, 0, len(req.Messages)+2)
	if req.Text != "" {
		texts = append(texts, req.Text)
	}
	for _, m := range req.Messages {
		texts = append(texts, m.Content)
	}
	if req.Instructions != "" {
		texts = append(texts, req.Instructions)
	}
	red, err := s.cfg.Redactor.Redact(ctx, t.PII.LLM, texts)
	if err != nil {
		return res, fmt.Errorf("extract: redact: %w", err)
	}
	for _, n := range red.Found {
		res.Meta.Redacted += n
	}
	ref := req.ReferenceTime
	if ref.IsZero() {
		ref = start
	}
	nonce := newNonce()
	lreq := buildPrompt(nonce, req, red.Texts, ref, s.cfg.MaxOutputTokens)

	resp, err := s.call(ctx, t, req.Provider, lreq, &res.Meta)
	if err != nil {
		return res, fmt.Errorf("extract: call provider: %w", err)
	}
	env, err := DecodeEnvelope(resp.Content)
	if err != nil {
		kind := "envelope"
		if pe := (*telamentis.ProviderError)(nil); errors.As(err, &pe) {
			pe.Provider, kind = resp.Provider, string(pe.Kind)
		}
		s.metrics.fail(tenant, resp.Provider, resp.Model, kind)
		s.debugOutput(ctx, tenant, res.Meta.RequestID, resp.Content)
		return res, fmt.Errorf("extract: decode envelope: %w", err)
	}
	restore(&env, red.Values)
	p, err := s.validate(ctx, tenant, req, env, nonce, minConf)
	if err != nil {
		s.metrics.fail(tenant, resp.Provider, resp.Model, "envelope")
		s.debugOutput(ctx, tenant, res.Meta.RequestID, resp.Content)
		return res, fmt.Errorf("extract: validate envelope: %w", err)
	}
	res.Skipped = p.skipped
	prov := provenance{RequestID: res.Meta.RequestID, Provider: resp.Provider, Model: resp.Model, ExtractedAt: res.Meta.ExtractedAt}
	batch, items, err := s.resolve(ctx, tenant, p, prov, resolveMode(req.Resolve))
	if err != nil {
		return res, fmt.Errorf("extract: resolve: %w", err)
	}
	if req.DryRun {
		res.Envelope = &env
		for _, it := range items {
			switch it.state {
			case stateNew:
				res.Created = append(res.Created, it.item)
			case stateChanged:
				res.Updated = append(res.Updated, it.item)
			default:
				res.Unchanged = append(res.Unchanged, it.item)
			}
		}
		return res, nil
	}
	var br telamentis.BatchResult
	if len(batch.Nodes)+len(batch.Edges) > 0 {
		br, err = s.cfg.Store.ApplyBatch(ctx, tenant, batch)
		if err != nil {
			if telamentis.ErrorCode(err) == telamentis.CodeInvalid {
				err = &telamentis.Error{Code: telamentis.CodeInvalid, Message: "the model's answer failed validation; nothing was written",
					Fields: telamentis.ErrorFields(err), Err: errors.Join(telamentis.ErrUnprocessable, err)}
			}
			return res, fmt.Errorf("extract: apply batch: %w", err)
		}
		res.TxTime = br.TxTime
	}
	ni, ei := 0, 0
	for _, it := range items {
		if it.state == stateUnchanged {
			res.Unchanged = append(res.Unchanged, it.item)
			continue
		}
		var created, changed bool
		if it.item.Type == "node" {
			r := br.Nodes[ni]
			ni++
			it.item.ID, created, changed = r.Node.ID, r.Created, r.Changed
			it.item.Candidates = r.Candidates
		} else {
			r := br.Edges[ei]
			ei++
			it.item.ID, created, changed = r.Edge.ID, r.Created, r.Changed
			it.item.From, it.item.To = r.Edge.From, r.Edge.To
		}
		switch {
		case created:
			res.Created = append(res.Created, it.item)
		case changed:
			res.Updated = append(res.Updated, it.item)
		default:
			res.Unchanged = append(res.Unchanged, it.item)
		}
	}
	return res, nil
}

// checkRequest validates req and returns the effective min confidence.
func (s *Service) checkRequest(req *telamentis.ExtractRequest) (float64, error) {
	if (req.Text == "") == (len(req.Messages) == 0) {
		return 0, telamentis.Invalid("text", "give text or messages, not both")
	}
	total := len(req.Text) + len(req.Instructions)
	if !utf8.ValidString(req.Text) || !utf8.ValidString(req.Instructions) {
		return 0, telamentis.Invalid("text", "must be valid UTF-8")
	}
	if len(req.Messages) > 1000 {
		return 0, telamentis.Invalid("messages", "at most 1000 messages")
	}
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return 0, telamentis.Invalid("messages["+strconv.Itoa(i)+"].role", "must be user or assistant")
		}
		if !utf8.ValidString(m.Content) {
			return 0, telamentis.Invalid("messages["+strconv.Itoa(i)+"].content", "must be valid UTF-8")
		}
		total += len(m.Content)
	}
	if total > s.cfg.MaxInputBytes {
		return 0, telamentis.Invalid("text", "longer than %d bytes", s.cfg.MaxInputBytes)
	}
	if len(req.Instructions) > 4096 {
		return 0, telamentis.Invalid("instructions", "longer than 4096 bytes")
	}
	if len(req.Labels) > 100 || len(req.Kinds) > 100 {
		return 0, telamentis.Invalid("labels", "at most 100 labels and 100 kinds")
	}
	for i, l := range req.Labels {
		if !telamentis.ValidIdentifier(l) {
			return 0, telamentis.Invalid("labels["+strconv.Itoa(i)+"]", "must match ^[A-Za-z][A-Za-z0-9_]{0,63}$")
		}
	}
	for i, k := range req.Kinds {
		if !telamentis.ValidIdentifier(k) {
			return 0, telamentis.Invalid("kinds["+strconv.Itoa(i)+"]", "must match ^[A-Za-z][A-Za-z0-9_]{0,63}$")
		}
	}
	minConf := 0.5
	if req.MinConfidence != nil {
		minConf = *req.MinConfidence
		if !(minConf >= 0 && minConf <= 1) {
			return 0, telamentis.Invalid("min_confidence", "must be between 0 and 1")
		}
	}
	if req.Provider != "" {
		if _, ok := s.routes[req.Provider]; !ok {
			return 0, telamentis.Invalid("provider", "not a configured provider")
		}
	}
	if !req.ReferenceTime.IsZero() && (req.ReferenceTime.Year() < 1 || req.ReferenceTime.Year() > 9999) {
		return 0, telamentis.Invalid("reference_time", "out of range")
	}
	switch req.Resolve {
	case "", telamentis.ResolveExact, telamentis.ResolveNormalized:
	default:
		return 0, telamentis.Invalid("resolve", "must be exact or normalized")
	}
	return minConf, nil
}

// resolveMode is the resolve mode of the nodes of an extraction:
// normalized unless the request asks for exact.
func resolveMode(r string) string {
	if r == "" {
		return telamentis.ResolveNormalized
	}
	return r
}

// call runs the routing list: budget check, provider call, fallback.
func (s *Service) call(ctx context.Context, t telamentis.Tenant, choice string, lreq telamentis.LLMRequest, meta *telamentis.ExtractMeta) (telamentis.LLMResponse, error) {
	cands := s.cfg.Routes
	if choice != "" {
		cands = []telamentis.Connector{s.routes[choice]}
	}
	now := s.cfg.Now()
	day := dayOf(now)
	usedTok, usedCost, err := s.cfg.Ledger.Spent(ctx, t.ID, day)
	if err != nil {
		return telamentis.LLMResponse{}, fmt.Errorf("read ledger: %w", err)
	}
	q := t.Quotas
	est := estimateTokens(lreq)
	if q.LLMTokensPerDay > 0 && usedTok+est > q.LLMTokensPerDay {
		s.metrics.fail(t.ID, "", "", "budget")
		return telamentis.LLMResponse{}, budgetErr(t.ID, "tokens", now)
	}
	if q.LLMCostPerDayUSD > 0 && usedCost >= q.LLMCostPerDayUSD {
		s.metrics.fail(t.ID, "", "", "budget")
		return telamentis.LLMResponse{}, budgetErr(t.ID, "cost", now)
	}
	var lastErr error
	for _, c := range cands {
		if q.LLMCostPerDayUSD > 0 {
			if p, ok := c.(Pricer); ok && usedCost+p.Price().Cost(telamentis.LLMUsage{InputTokens: est}) > q.LLMCostPerDayUSD {
				meta.Tried = append(meta.Tried, c.Name()+": over budget")
				s.metrics.fail(t.ID, c.Name(), c.Model(), "budget")
				continue
			}
		}
		// Reserve the estimate while the call runs, so that concurrent
		// requests see it; settle to the reported usage afterwards.
		var estCost float64
		if p, ok := c.(Pricer); ok {
			estCost = p.Price().Cost(telamentis.LLMUsage{InputTokens: est})
		}
		if lerr := s.cfg.Ledger.Add(ctx, t.ID, day, est, estCost); lerr != nil {
			return telamentis.LLMResponse{}, fmt.Errorf("reserve budget: %w", lerr)
		}
		start := time.Now()
		resp, err := c.Complete(ctx, lreq)
		model := resp.Model
		if model == "" {
			model = c.Model()
		}
		u := resp.Usage
		if lerr := s.cfg.Ledger.Add(ctx, t.ID, day, u.Total()-est, resp.CostUSD-estCost); lerr != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "ledger settle failed", slog.String("tenant", t.ID), slog.String("err", lerr.Error()))
		}
		usedCost += resp.CostUSD
		meta.InputTokens += u.InputTokens
		meta.OutputTokens += u.OutputTokens
		meta.CostUSD += resp.CostUSD
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		s.metrics.call(t.ID, c.Name(), model, outcome, resp.Usage.InputTokens, resp.Usage.OutputTokens, resp.CostUSD)
		if err == nil {
			meta.Provider, meta.Model = c.Name(), model
			meta.LatencyMS = time.Since(start).Milliseconds()
			return resp, nil
		}
		var pe *telamentis.ProviderError
		kind := "error"
		if errors.As(err, &pe) {
			kind = string(pe.Kind)
		}
		s.metrics.fail(t.ID, c.Name(), model, kind)
		meta.Tried = append(meta.Tried, c.Name()+": "+kind)
		if pe != nil && pe.Retryable() && ctx.Err() == nil {
			lastErr = err
			continue
		}
		meta.Provider, meta.Model = c.Name(), model
		return resp, err
	}
	if lastErr == nil {
		return telamentis.LLMResponse{}, budgetErr(t.ID, "cost", now)
	}
	return telamentis.LLMResponse{}, lastErr
}

// restore puts the real values back in place of the placeholders, in every
// string of the envelope.
func restore(env *telamentis.Envelope, values map[string]string) {
	if len(values) == 0 {
		return
	}
	plain := make([]string, 0, 2*len(values))
	esc := make([]string, 0, 2*len(values))
	for ph, v := range values {
		plain = append(plain, ph, v)
		b, _ := json.Marshal(v)
		esc = append(esc, ph, string(b[1:len(b)-1]))
	}
	pr, er := strings.NewReplacer(plain...), strings.NewReplacer(esc...)
	for i := range env.Nodes {
		n := &env.Nodes[i]
		n.Alias = pr.Replace(n.Alias)
		n.Props = json.RawMessage(er.Replace(string(n.Props)))
	}
	for i := range env.Relations {
		r := &env.Relations[i]
		r.From, r.To = pr.Replace(r.From), pr.Replace(r.To)
		r.Props = json.RawMessage(er.Replace(string(r.Props)))
	}
}

// edgeAlias derives a relation's alias from its endpoints, kind and start,
// so that extracting the same fact again updates it instead of adding a
// duplicate.
func edgeAlias(from, kind, to string, validFrom time.Time) string {
	h := sha256.New()
	for _, s := range []string{from, kind, to} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if !validFrom.IsZero() {
		h.Write([]byte(validFrom.UTC().Format(time.RFC3339Nano)))
	}
	return "llm:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// debugOutput logs the start of a rejected answer at debug level, run
// through the Safeguard again: the answer only saw placeholders, but a
// model can make up values too.
func (s *Service) debugOutput(ctx context.Context, tenant, requestID, content string) {
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	if len(content) > 4096 {
		content = content[:4096]
	}
	r, err := s.cfg.Redactor.Redact(ctx, "redact", []string{content})
	if err != nil {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "envelope rejected", slog.String("tenant", tenant),
		slog.String("request_id", requestID), slog.String("output", r.Texts[0]))
}

func (s *Service) audit(ctx context.Context, tenant string, res *telamentis.ExtractResult, err error) {
	if s.cfg.Audit == nil {
		return
	}
	outcome := telamentis.OutcomeSuccess
	switch {
	case errors.Is(err, telamentis.ErrBudgetExceeded):
		outcome = telamentis.OutcomeDenied
	case err != nil:
		outcome = telamentis.OutcomeFailure
	}
	m := res.Meta
	d := map[string]string{
		"provider":      m.Provider,
		"model":         m.Model,
		"input_tokens":  strconv.FormatInt(m.InputTokens, 10),
		"output_tokens": strconv.FormatInt(m.OutputTokens, 10),
		"cost_usd":      strconv.FormatFloat(m.CostUSD, 'f', -1, 64),
		"created":       strconv.Itoa(len(res.Created)),
		"updated":       strconv.Itoa(len(res.Updated)),
		"unchanged":     strconv.Itoa(len(res.Unchanged)),
		"skipped":       strconv.Itoa(len(res.Skipped)),
		"redacted":      strconv.Itoa(m.Redacted),
		"dry_run":       strconv.FormatBool(res.DryRun),
	}
	if len(m.Tried) > 0 {
		d["tried"] = strings.Join(m.Tried, "; ")
	}
	if err != nil {
		d["error"] = string(telamentis.ErrorCode(err))
	}
	rec := telamentis.AuditRecord{RequestID: m.RequestID, Tenant: tenant, Action: "llm.extract", Outcome: outcome, Details: d}
	if p := telamentis.PrincipalFromContext(ctx); p != nil {
		rec.Actor = p.Actor()
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if aerr := s.cfg.Audit.Append(actx, rec); aerr != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "audit append failed", slog.String("tenant", tenant),
			slog.String("request_id", m.RequestID), slog.String("err", aerr.Error()))
	}
}
