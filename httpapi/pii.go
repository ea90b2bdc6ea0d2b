package httpapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	"github.com/telamentis/telamentis"
)

// masker hides a tenant's PII properties from a principal without the pii
// permission: "mask" replaces each value with "[pii]", "pseudonymise" with
// "pii:" and a keyed hash of tenant, field and value, so equal values stay
// equal within a tenant but cannot be guessed or linked across tenants.
type masker struct {
	fields map[string]bool
	pseudo bool
	key    []byte
	tenant string
}

// maskerFor returns the masker for a call, or nil when nothing is hidden.
func (s *Server) maskerFor(c *call) *masker {
	if c.principal.PII || len(c.tenant.PII.Fields) == 0 {
		return nil
	}
	m := &masker{fields: make(map[string]bool, len(c.tenant.PII.Fields)),
		pseudo: c.tenant.PII.Mode == "pseudonymise", key: s.piiKey, tenant: c.tenant.ID}
	for _, f := range c.tenant.PII.Fields {
		m.fields[f] = true
	}
	return m
}

var maskedValue = json.RawMessage(`"[pii]"`)

func (m *masker) props(p json.RawMessage) json.RawMessage {
	if m == nil || len(p) < 2 {
		return p
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(p, &obj) != nil {
		return json.RawMessage(`{}`) // never show what could not be checked
	}
	hit := false
	for k, v := range obj {
		if !m.fields[k] {
			continue
		}
		hit = true
		if m.pseudo {
			obj[k] = m.pseudonym(k, v)
		} else {
			obj[k] = maskedValue
		}
	}
	if !hit {
		return p
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(obj) != nil {
		return json.RawMessage(`{}`)
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n"))
}

func (m *masker) pseudonym(field string, v json.RawMessage) json.RawMessage {
	h := hmac.New(sha256.New, m.key)
	for _, part := range [][]byte{[]byte(m.tenant), []byte(field), v} {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(part)>>24), byte(len(part)>>16), byte(len(part)>>8), byte(len(part))
		h.Write(n[:])
		h.Write(part)
	}
	sum := h.Sum(nil)
	return json.RawMessage(`"pii:` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`)
}

func (m *masker) node(n *telamentis.Node) {
	if m != nil {
		n.Props = m.props(n.Props)
	}
}

func (m *masker) edge(e *telamentis.Edge) {
	if m != nil {
		e.Props = m.props(e.Props)
	}
}

func (m *masker) page(p *telamentis.Page) {
	if m == nil {
		return
	}
	for i := range p.Nodes {
		m.node(&p.Nodes[i])
	}
	for i := range p.Edges {
		m.edge(&p.Edges[i])
	}
	for i := range p.Neighbors {
		m.node(&p.Neighbors[i].Node)
		m.edge(&p.Neighbors[i].Via)
	}
	for i := range p.Changes {
		if p.Changes[i].Node != nil {
			m.node(p.Changes[i].Node)
		}
		if p.Changes[i].Edge != nil {
			m.edge(p.Changes[i].Edge)
		}
	}
}
