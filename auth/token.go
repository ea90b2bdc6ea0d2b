// Package auth turns credentials into a telamentis.Principal: API keys
// ("tm_<id>_<secret>", Keys) and OIDC/JWT bearer tokens (JWT), with Chain
// choosing between them by the token's shape.
//
// Every credential failure (malformed, unknown, wrong secret, expired,
// revoked, bad signature, wrong issuer…) returns the same CodeUnauthenticated
// error, ErrUnauthenticated's message, so a caller learns nothing from it.
// Credentials are read only from the Authorization header (httpapi refuses
// query parameters named like a credential).
package auth

import (
	"crypto/rand"
	"encoding/base32"
	"strings"

	"github.com/telamentis/telamentis"
)

// Token shape: "tm_" + 16 base32 characters of id (10 random bytes) + "_" +
// 52 base32 characters of secret (32 random bytes, 256 bits).
const (
	tokenPrefix = "tm_"
	idBytes     = 10
	secretBytes = 32
	idLen       = 16 // base32 of 10 bytes, no padding
	secretLen   = 52 // base32 of 32 bytes, no padding
	tokenLen    = len(tokenPrefix) + idLen + 1 + secretLen
)

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// unauthMessage is the one message of every credential failure.
const unauthMessage = "missing or invalid credentials"

// ErrUnauthenticated returns the error of every credential failure: always
// the same code and message. Each call returns a fresh value.
func ErrUnauthenticated() error {
	return telamentis.Errorf(telamentis.CodeUnauthenticated, unauthMessage)
}

// ParseAuthorization splits an Authorization header value into its scheme
// ("Bearer" or "ApiKey", matched case-insensitively and returned in that
// canonical spelling) and credential. It refuses other schemes, empty or
// over-long credentials and credentials holding spaces or control
// characters.
func ParseAuthorization(h string) (scheme, credential string, ok bool) {
	sp := strings.IndexByte(h, ' ')
	if sp <= 0 {
		return "", "", false
	}
	switch s := h[:sp]; {
	case strings.EqualFold(s, "Bearer"):
		scheme = "Bearer"
	case strings.EqualFold(s, "ApiKey"):
		scheme = "ApiKey"
	default:
		return "", "", false
	}
	credential = strings.TrimLeft(h[sp+1:], " ")
	if credential == "" || len(credential) > 8192 {
		return "", "", false
	}
	for i := 0; i < len(credential); i++ {
		if c := credential[i]; c <= ' ' || c >= 0x7f {
			return "", "", false
		}
	}
	return scheme, credential, true
}

// Credential kinds reported by CredentialKind.
const (
	KindMissing   = "missing"
	KindAPIKey    = "api_key"
	KindJWT       = "jwt"
	KindMalformed = "malformed"
)

// CredentialKind classifies an Authorization header value for logs and
// audit records, and for an API key also returns the key ID it claims
// (the ID is not secret; the key may not exist). It never returns any part
// of a secret.
func CredentialKind(authorization string) (kind, keyID string) {
	if authorization == "" {
		return KindMissing, ""
	}
	_, cred, ok := ParseAuthorization(authorization)
	switch {
	case !ok:
		return KindMalformed, ""
	case IsJWT(cred):
		return KindJWT, ""
	}
	if id, ok := parseKeyToken(cred); ok {
		return KindAPIKey, id
	}
	return KindMalformed, ""
}

// IsAPIKey reports whether s has the shape of an API key token (it may
// still be unknown or wrong).
func IsAPIKey(s string) bool {
	_, ok := parseKeyToken(s)
	return ok
}

// IsJWT reports whether s has the shape of a compact JWS: three non-empty
// base64url segments.
func IsJWT(s string) bool {
	if strings.Count(s, ".") != 2 {
		return false
	}
	for _, seg := range strings.Split(s, ".") {
		if seg == "" || !isB64URL(seg) {
			return false
		}
	}
	return true
}

func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseKeyToken returns the key ID of a well-formed API key token. It does
// not allocate.
func parseKeyToken(s string) (id string, ok bool) {
	if len(s) != tokenLen || !strings.HasPrefix(s, tokenPrefix) || s[len(tokenPrefix)+idLen] != '_' {
		return "", false
	}
	id = s[len(tokenPrefix) : len(tokenPrefix)+idLen]
	if !isB32(id) || !isB32(s[len(tokenPrefix)+idLen+1:]) {
		return "", false
	}
	return id, true
}

func isB32(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// newKeyToken returns a fresh key ID and the full token.
func newKeyToken() (id, token string) {
	var idb [idBytes]byte
	var sec [secretBytes]byte
	rand.Read(idb[:]) // crypto/rand.Read never fails (Go 1.24+)
	rand.Read(sec[:])
	id = b32.EncodeToString(idb[:])
	return id, tokenPrefix + id + "_" + b32.EncodeToString(sec[:])
}
