package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/telamentis/telamentis"
)

type itemState int

const (
	stateNew itemState = iota
	stateChanged
	stateUnchanged
)

type resolved struct {
	item  telamentis.ExtractItem
	state itemState
}

type provenance struct {
	Confidence  float64   `json:"confidence"`
	ExtractedAt time.Time `json:"extracted_at"`
	Model       string    `json:"model"`
	Provider    string    `json:"provider"`
	RequestID   string    `json:"request_id"`
}

// resolve matches the plan against the tenant's live nodes and edges by
// alias. A node or edge whose merged props (provenance aside), label and
// valid times equal the stored ones is unchanged and left out of the batch;
// the rest carry fresh provenance. A node no live node has the alias of
// goes into the batch with resolve mode (normalized by default): the write
// then attaches it to the one live node of its label with the same
// normalised name, if there is one. items lists every planned item, nodes
// first, in batch order.
func (s *Service) resolve(ctx context.Context, tenant string, p plan, prov provenance, mode string) (telamentis.Batch, []resolved, error) {
	var b telamentis.Batch
	items := make([]resolved, 0, len(p.nodes)+len(p.edges))
	for _, n := range p.nodes {
		in := n.in
		it := resolved{item: telamentis.ExtractItem{Type: "node", Alias: in.Alias, Label: in.Label}}
		cur, err := s.cfg.Store.GetNode(ctx, tenant, telamentis.Ref{Alias: in.Alias}, time.Time{})
		switch telamentis.ErrorCode(err) {
		case "":
			it.item.ID = cur.ID
			merged, err := mergeProps(withoutProvenance(cur.Props), in.Props)
			if err != nil {
				return b, nil, rejected(telamentis.FieldError{Field: "nodes." + in.Alias + ".props", Message: telamentis.ErrorMessage(err)})
			}
			if cur.Label == in.Label && bytes.Equal(merged, withoutProvenance(cur.Props)) {
				it.state = stateUnchanged
				items = append(items, it)
				continue
			}
			in.Props, it.state = merged, stateChanged
		case telamentis.CodeNotFound:
			it.state = stateNew
			in.Resolve = mode
		default:
			return b, nil, err
		}
		prov.Confidence = n.conf
		props, err := withProvenance(in.Props, prov)
		if err != nil {
			return b, nil, rejected(telamentis.FieldError{Field: "nodes." + in.Alias + ".props", Message: telamentis.ErrorMessage(err)})
		}
		in.Props = props
		b.Nodes = append(b.Nodes, in)
		items = append(items, it)
	}
	for _, e := range p.edges {
		in := e.in
		it := resolved{item: telamentis.ExtractItem{Type: "edge", Alias: in.Alias, Label: in.Kind, From: e.from, To: e.to}}
		cur, err := s.cfg.Store.GetEdge(ctx, tenant, telamentis.Ref{Alias: in.Alias}, time.Time{})
		switch telamentis.ErrorCode(err) {
		case "":
			it.item.ID = cur.ID
			merged, err := mergeProps(withoutProvenance(cur.Props), in.Props)
			if err != nil {
				return b, nil, rejected(telamentis.FieldError{Field: "relations." + in.Alias + ".props", Message: telamentis.ErrorMessage(err)})
			}
			if in.ValidTo.IsZero() {
				in.ValidTo = cur.ValidTo // not mentioned: keep what is known
			}
			if bytes.Equal(merged, withoutProvenance(cur.Props)) && in.ValidTo.Equal(cur.ValidTo) &&
				(in.ValidFrom.IsZero() || in.ValidFrom.Equal(cur.ValidFrom)) {
				it.state = stateUnchanged
				items = append(items, it)
				continue
			}
			if !in.ValidTo.IsZero() && !in.ValidTo.After(cur.ValidFrom) && in.ValidFrom.IsZero() {
				return b, nil, rejected(telamentis.FieldError{Field: "relations." + in.Alias + ".valid_to", Message: "must be after the stored valid_from"})
			}
			in.Props, it.state = merged, stateChanged
		case telamentis.CodeNotFound:
			it.state = stateNew
		default:
			return b, nil, err
		}
		prov.Confidence = e.conf
		props, err := withProvenance(in.Props, prov)
		if err != nil {
			return b, nil, rejected(telamentis.FieldError{Field: "relations." + in.Alias + ".props", Message: telamentis.ErrorMessage(err)})
		}
		in.Props = props
		b.Edges = append(b.Edges, in)
		items = append(items, it)
	}
	return b, items, nil
}

// withoutProvenance returns props without ProvenanceKey, canonical.
func withoutProvenance(props json.RawMessage) json.RawMessage {
	if !bytes.Contains(props, []byte(`"`+ProvenanceKey+`"`)) {
		return props
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(props, &m) != nil {
		return props
	}
	delete(m, ProvenanceKey)
	b, _ := json.Marshal(m)
	out, err := telamentis.CanonicalProps(b)
	if err != nil {
		return props
	}
	return out
}

// withProvenance sets ProvenanceKey on props, which must be a JSON object
// without that key (canonical props with it removed). The store brings the
// result into canonical form and checks its size.
func withProvenance(props json.RawMessage, prov provenance) (json.RawMessage, error) {
	pv, err := json.Marshal(prov)
	if err != nil {
		return nil, err
	}
	props = bytes.TrimSpace(props)
	if len(props) < 2 || props[0] != '{' {
		return nil, telamentis.Invalid("props", "not an object")
	}
	out := make([]byte, 0, len(props)+len(pv)+len(ProvenanceKey)+5)
	out = append(out, `{"`+ProvenanceKey+`":`...)
	out = append(out, pv...)
	rest := bytes.TrimSpace(props[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	out = append(out, rest...)
	return out, nil
}
