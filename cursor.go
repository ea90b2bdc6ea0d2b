package telamentis

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// CursorCodec seals page positions into opaque cursors bound to a tenant and
// a query. A cursor is base64url(position ‖ HMAC-SHA256(key, tenant ‖
// query ‖ position)[:16]); a changed byte, another tenant or another query
// fails to open. Positions are the store's business; they are not secret,
// but callers must not be able to forge them.
type CursorCodec struct {
	key []byte
}

// MaxCursorPosition bounds the position bytes a cursor may carry.
const MaxCursorPosition = 1024

const cursorMACLen = 16

// NewCursorCodec returns a codec keyed with key, which should be at least 32
// random bytes that are kept for as long as cursors should stay valid.
func NewCursorCodec(key []byte) *CursorCodec {
	return &CursorCodec{key: append([]byte(nil), key...)}
}

// Seal returns the cursor for position pos of query q in tenant.
func (c *CursorCodec) Seal(tenant string, q Query, pos []byte) string {
	buf := make([]byte, 0, len(pos)+cursorMACLen)
	buf = append(buf, pos...)
	buf = append(buf, c.mac(tenant, q, pos)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// Open returns the position sealed in cursor, or a CodeInvalid error naming
// the field "cursor" if the cursor is malformed, was tampered with, or was
// issued for another tenant or another query.
func (c *CursorCodec) Open(tenant string, q Query, cursor string) ([]byte, error) {
	bad := Invalid("cursor", "malformed, expired or issued for another query")
	if len(cursor) > base64.RawURLEncoding.EncodedLen(MaxCursorPosition+cursorMACLen) ||
		strings.ContainsAny(cursor, "\r\n") { // the decoder would skip them
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(cursor) // one spelling per cursor
	if err != nil || len(raw) < cursorMACLen {
		return nil, bad
	}
	pos, mac := raw[:len(raw)-cursorMACLen], raw[len(raw)-cursorMACLen:]
	if !hmac.Equal(mac, c.mac(tenant, q, pos)) {
		return nil, bad
	}
	return pos, nil
}

func (c *CursorCodec) mac(tenant string, q Query, pos []byte) []byte {
	q.Cursor, q.Limit = "", 0
	qb, _ := json.Marshal(q) // a Query always marshals
	h := hmac.New(sha256.New, c.key)
	writeField(h, []byte(tenant))
	writeField(h, qb)
	writeField(h, pos)
	return h.Sum(nil)[:cursorMACLen]
}

func writeField(h interface{ Write([]byte) (int, error) }, b []byte) {
	var n [8]byte
	l := uint64(len(b))
	for i := range n {
		n[i] = byte(l >> (8 * i))
	}
	h.Write(n[:])
	h.Write(b)
}
