package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// es256 signs a compact JWT with key (raw r‖s signature, as JWS wants).
func es256(t *testing.T, key *ecdsa.PrivateKey, hdr, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	in := b64u(h) + "." + b64u(c)
	d := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b64u(sig)
}

// TestServeOIDC wires OIDC through the real server: a JWKS on loopback,
// tokens with tenant and role claims, and the usual refusals.
func TestServeOIDC(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecdh, _ := key.PublicKey.ECDH()
	raw := ecdh.Bytes()
	jwks := map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
		"x": b64u(raw[1:33]), "y": b64u(raw[33:])}}}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jwks)
	}))
	defer idp.Close()

	addr, logs, stop := startRun(t, []string{"--in-memory", "--oidc-issuer", "https://issuer.test", "--oidc-audience", "telamentis",
		"--oidc-jwks-url", idp.URL + "/jwks"}, nil)
	defer stop()
	admin := keyRe.FindString(logs.String())
	url := "http://" + addr
	do := func(method, path, cred, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cred)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if c, b := do("POST", "/v1/tenants", admin, `{"id":"acme"}`); c != 201 {
		t.Fatalf("tenant: %d %s", c, b)
	}
	now := time.Now()
	claims := func(tenant string, roles any, exp time.Time) map[string]any {
		return map[string]any{"iss": "https://issuer.test", "aud": "telamentis", "sub": "agent-7", "tenant": tenant,
			"roles": roles, "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": exp.Unix()}
	}
	hdr := map[string]any{"alg": "ES256", "kid": "k1", "typ": "JWT"}
	writer := es256(t, key, hdr, claims("acme", []string{"writer"}, now.Add(time.Hour)))
	if c, b := do("POST", "/v1/graph/acme/nodes", writer, `{"alias":"a","label":"P"}`); c != 201 {
		t.Fatalf("writer token upsert: %d %s", c, b)
	}
	if c, b := do("GET", "/v1/whoami", writer, ""); c != 200 || !strings.Contains(b, `"subject":"agent-7"`) || !strings.Contains(b, `"role":"writer"`) {
		t.Fatalf("whoami: %d %s", c, b)
	}
	reader := es256(t, key, hdr, claims("acme", "reader", now.Add(time.Hour)))
	if c, _ := do("POST", "/v1/graph/acme/nodes", reader, `{"alias":"b","label":"P"}`); c != 403 {
		t.Fatalf("reader token write: %d", c)
	}
	other := es256(t, key, hdr, claims("other", []string{"writer"}, now.Add(time.Hour)))
	if c, _ := do("GET", "/v1/graph/acme/nodes?alias=a", other, ""); c != 404 {
		t.Fatalf("other tenant's token: %d", c)
	}
	for name, tok := range map[string]string{
		"expired":     es256(t, key, hdr, claims("acme", []string{"writer"}, now.Add(-time.Hour))),
		"alg none":    b64u([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + strings.Split(writer, ".")[1] + ".",
		"no tenant":   es256(t, key, hdr, claims("", []string{"writer"}, now.Add(time.Hour))),
		"unknown kid": es256(t, key, map[string]any{"alg": "ES256", "kid": "nope", "typ": "JWT"}, claims("acme", "writer", now.Add(time.Hour))),
	} {
		if c, _ := do("GET", "/v1/whoami", tok, ""); c != 401 {
			t.Errorf("%s token: %d", name, c)
		}
	}
}
