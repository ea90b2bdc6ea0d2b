package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/telamentis/telamentis"
)

// plan is a validated envelope: normalised inputs in envelope order, with
// the low-confidence items set aside.
type plan struct {
	nodes   []planNode
	edges   []planEdge
	skipped []telamentis.ExtractSkip
}

type planNode struct {
	in   telamentis.NodeInput
	conf float64
}

type planEdge struct {
	in         telamentis.EdgeInput
	from, to   string // aliases
	conf       float64
	validFromZ bool
}

// validate runs the semantic checks on a schema-valid envelope whose
// placeholders are restored. Every failure is collected; any failure
// rejects the whole envelope.
func (s *Service) validate(ctx context.Context, tenant string, req telamentis.ExtractRequest, env telamentis.Envelope, nonce string, minConf float64) (plan, error) {
	var p plan
	var bad []telamentis.FieldError
	fail := func(field, format string, args ...any) {
		bad = append(bad, telamentis.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if len(env.Nodes) > MaxNodes {
		fail("nodes", "more than %d nodes", MaxNodes)
	}
	if len(env.Relations) > MaxRelations {
		fail("relations", "more than %d relations", MaxRelations)
	}
	if len(bad) > 0 {
		return p, rejected(bad...)
	}
	injected := func(field, v string) {
		if strings.Contains(v, nonce) || strings.Contains(v, "UNTRUSTED-") {
			fail(field, "contains the prompt's boundary marker")
			return
		}
		lv := strings.ToLower(v)
		for _, f := range fingerprints {
			if strings.Contains(lv, f) {
				fail(field, "quotes the system prompt")
				return
			}
		}
	}
	// nodes: alias → index in p.nodes; a repeated alias merges into the
	// first occurrence (later props win).
	kept := map[string]int{}
	skippedAlias := map[string]bool{}
	for i, n := range env.Nodes {
		f := "nodes[" + strconv.Itoa(i) + "]"
		in, err := telamentis.NodeInput{Alias: n.Alias, Label: n.Label, Props: n.Props}.Normalize()
		if err != nil {
			for _, fe := range telamentis.ErrorFields(err) {
				fail(f+"."+fe.Field, "%s", fe.Message)
			}
			continue
		}
		if in.Alias == "" {
			fail(f+".alias", "required")
			continue
		}
		in.Props = withoutProvenance(in.Props)
		if len(req.Labels) > 0 && !slices.Contains(req.Labels, in.Label) {
			fail(f+".label", "%q is not one of the allowed labels", in.Label)
		}
		if !(n.Confidence >= 0 && n.Confidence <= 1) {
			fail(f+".confidence", "must be between 0 and 1")
		}
		injected(f+".alias", in.Alias)
		injected(f+".props", string(in.Props))
		if n.Confidence < minConf {
			if _, ok := kept[in.Alias]; !ok {
				skippedAlias[in.Alias] = true
			}
			p.skipped = append(p.skipped, telamentis.ExtractSkip{Type: "node", Index: i, Alias: in.Alias,
				Reason: "confidence " + strconv.FormatFloat(n.Confidence, 'f', -1, 64) + " below " + strconv.FormatFloat(minConf, 'f', -1, 64)})
			continue
		}
		delete(skippedAlias, in.Alias)
		if j, ok := kept[in.Alias]; ok {
			merged, err := mergeProps(p.nodes[j].in.Props, in.Props)
			if err != nil {
				fail(f+".props", "%s", telamentis.ErrorMessage(err))
				continue
			}
			p.nodes[j].in.Props, p.nodes[j].in.Label = merged, in.Label
			p.nodes[j].conf = max(p.nodes[j].conf, n.Confidence)
			continue
		}
		kept[in.Alias] = len(p.nodes)
		p.nodes = append(p.nodes, planNode{in: in, conf: n.Confidence})
	}
	// existence of endpoints outside the envelope, looked up once each
	exists := map[string]bool{}
	lookup := func(alias string) (bool, error) {
		if v, ok := exists[alias]; ok {
			return v, nil
		}
		_, err := s.cfg.Store.GetNode(ctx, tenant, telamentis.Ref{Alias: alias}, time.Time{})
		switch telamentis.ErrorCode(err) {
		case "":
			exists[alias] = true
		case telamentis.CodeNotFound, telamentis.CodeInvalid:
			exists[alias] = false
		default:
			return false, err
		}
		return exists[alias], nil
	}
	for i, r := range env.Relations {
		f := "relations[" + strconv.Itoa(i) + "]"
		nbad := len(bad)
		if len(req.Kinds) > 0 && !slices.Contains(req.Kinds, r.Kind) {
			fail(f+".kind", "%q is not one of the allowed kinds", r.Kind)
		}
		var vf, vt time.Time
		var err error
		if r.ValidFrom != "" {
			if vf, err = telamentis.ParseTime(r.ValidFrom); err != nil {
				fail(f+".valid_from", "%s", telamentis.ErrorMessage(err))
			}
		}
		if r.ValidTo != "" {
			if vt, err = telamentis.ParseTime(r.ValidTo); err != nil {
				fail(f+".valid_to", "%s", telamentis.ErrorMessage(err))
			}
		}
		if !(r.Confidence >= 0 && r.Confidence <= 1) {
			fail(f+".confidence", "must be between 0 and 1")
		}
		in, err := telamentis.EdgeInput{
			Alias: edgeAlias(r.From, r.Kind, r.To, vf),
			From:  telamentis.Ref{Alias: r.From}, To: telamentis.Ref{Alias: r.To},
			Kind: r.Kind, Props: r.Props, ValidFrom: vf, ValidTo: vt,
		}.Normalize()
		if err != nil {
			for _, fe := range telamentis.ErrorFields(err) {
				fail(f+"."+fe.Field, "%s", fe.Message)
			}
		}
		injected(f+".from", r.From)
		injected(f+".to", r.To)
		if err == nil {
			injected(f+".props", string(in.Props))
			in.Props = withoutProvenance(in.Props)
		}
		if len(bad) > nbad {
			continue
		}
		// endpoints: a kept envelope node, else a live node of the tenant
		skipReason := ""
		for _, end := range []struct{ field, alias string }{{"from", r.From}, {"to", r.To}} {
			if _, ok := kept[end.alias]; ok {
				continue
			}
			ok, err := lookup(end.alias)
			if err != nil {
				return p, err
			}
			switch {
			case ok:
			case skippedAlias[end.alias]:
				skipReason = end.field + " node " + strconv.Quote(end.alias) + " was skipped"
			default:
				fail(f+"."+end.field, "no node with alias %q in the envelope or the tenant", end.alias)
			}
		}
		if len(bad) > nbad {
			continue
		}
		if skipReason == "" && r.Confidence < minConf {
			skipReason = "confidence " + strconv.FormatFloat(r.Confidence, 'f', -1, 64) + " below " + strconv.FormatFloat(minConf, 'f', -1, 64)
		}
		if skipReason != "" {
			p.skipped = append(p.skipped, telamentis.ExtractSkip{Type: "edge", Index: i, Alias: in.Alias, Reason: skipReason})
			continue
		}
		p.edges = append(p.edges, planEdge{in: in, from: r.From, to: r.To, conf: r.Confidence, validFromZ: vf.IsZero()})
	}
	if len(bad) > 0 {
		return p, rejected(bad...)
	}
	return p, nil
}

// mergeProps returns base with every top-level key of over set (over
// wins), in canonical form.
func mergeProps(base, over json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(base)) == 0 || string(base) == "{}" {
		return telamentis.CanonicalProps(over)
	}
	var m, o map[string]json.RawMessage
	if err := json.Unmarshal(base, &m); err != nil {
		return nil, telamentis.Invalid("props", "not an object")
	}
	if err := json.Unmarshal(over, &o); err != nil {
		return nil, telamentis.Invalid("props", "not an object")
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	for k, v := range o {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, telamentis.Invalid("props", "cannot encode")
	}
	return telamentis.CanonicalProps(b)
}
