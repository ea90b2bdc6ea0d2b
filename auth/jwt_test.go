package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telamentis/telamentis"
)

// idp is an OIDC identity provider on loopback: discovery and a JWKS whose
// keys the test can rotate.
type idp struct {
	srv       *httptest.Server
	mu        sync.Mutex
	keys      []map[string]any // public JWKs served
	jwksHits  atomic.Int64
	issuerDoc string // issuer announced by discovery; the server URL if ""
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	p := &idp{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := p.issuerDoc
		if iss == "" {
			iss = p.srv.URL
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": p.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"keys": p.keys})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) serve(keys ...*sigKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = nil
	for _, k := range keys {
		p.keys = append(p.keys, k.jwk())
	}
}

// sigKey is a signing key with its kid.
type sigKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
)

func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (k *sigKey) jwk() map[string]any {
	m := map[string]any{"kid": k.kid, "use": "sig"}
	switch pub := k.priv.Public().(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		ecdh, _ := pub.ECDH()
		raw := ecdh.Bytes() // 0x04 || X || Y
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64(raw[1:33]), b64(raw[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(pub)
	}
	return m
}

// signJWT builds a compact JWS by hand so tests control every header.
func signJWT(t testing.TB, hdr map[string]any, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	return input + "." + b64(sign([]byte(input)))
}

func (k *sigKey) sign(t testing.TB, hdr map[string]any, claims map[string]any) string {
	t.Helper()
	if hdr == nil {
		hdr = map[string]any{}
	}
	if _, ok := hdr["alg"]; !ok {
		hdr["alg"] = k.alg
	}
	if _, ok := hdr["kid"]; !ok {
		hdr["kid"] = k.kid
	}
	hdr["typ"] = "JWT"
	return signJWT(t, hdr, claims, func(in []byte) []byte {
		switch priv := k.priv.(type) {
		case *rsa.PrivateKey:
			d := sha256.Sum256(in)
			s, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, d[:])
			if err != nil {
				t.Fatal(err)
			}
			return s
		case *ecdsa.PrivateKey:
			d := sha256.Sum256(in)
			r, s, err := ecdsa.Sign(rand.Reader, priv, d[:])
			if err != nil {
				t.Fatal(err)
			}
			out := make([]byte, 64)
			r.FillBytes(out[:32])
			s.FillBytes(out[32:])
			return out
		case ed25519.PrivateKey:
			return ed25519.Sign(priv, in)
		}
		t.Fatal("unknown key")
		return nil
	})
}

func hs256(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

type jwtEnv struct {
	idp  *idp
	now  time.Time
	mu   sync.Mutex
	j    *JWT
	rsa1 *sigKey
	ec   *sigKey
	ed   *sigKey
}

func (e *jwtEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *jwtEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func (e *jwtEnv) claims(mod func(map[string]any)) map[string]any {
	now := e.clock()
	c := map[string]any{
		"iss":    e.idp.srv.URL,
		"aud":    []string{"telamentis"},
		"sub":    "user-1",
		"exp":    now.Add(10 * time.Minute).Unix(),
		"nbf":    now.Add(-time.Minute).Unix(),
		"iat":    now.Add(-time.Minute).Unix(),
		"tenant": "acme",
		"roles":  []string{"writer"},
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func newJWTEnv(t *testing.T, mod func(*JWTConfig)) *jwtEnv {
	t.Helper()
	e := &jwtEnv{idp: newIDP(t), now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	e.rsa1 = &sigKey{kid: "rsa-1", alg: "RS256", priv: rsaKey(t, 0)}
	e.ec = &sigKey{kid: "ec-1", alg: "ES256", priv: ecPriv}
	e.ed = &sigKey{kid: "ed-1", alg: "EdDSA", priv: edPriv}
	e.idp.serve(e.rsa1, e.ec, e.ed)
	cfg := JWTConfig{Issuer: e.idp.srv.URL, Audience: "telamentis", Now: e.clock, HTTPClient: e.idp.srv.Client()}
	if mod != nil {
		mod(&cfg)
	}
	j, err := NewJWT(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.j = j
	return e
}

func (e *jwtEnv) auth(t *testing.T, token string) (*telamentis.Principal, error) {
	t.Helper()
	return e.j.Authenticate(t.Context(), "Bearer "+token)
}

func wantUnauth(t *testing.T, p *telamentis.Principal, err error) {
	t.Helper()
	if p != nil || telamentis.ErrorCode(err) != telamentis.CodeUnauthenticated || telamentis.ErrorMessage(err) != unauthMessage {
		t.Fatalf("want the one unauthenticated error, got %+v, %v", p, err)
	}
}

func TestJWTValid(t *testing.T) {
	e := newJWTEnv(t, nil)
	for _, k := range []*sigKey{e.rsa1, e.ec, e.ed} {
		t.Run(k.alg, func(t *testing.T) {
			p, err := e.auth(t, k.sign(t, nil, e.claims(nil)))
			if err != nil {
				t.Fatal(err)
			}
			want := telamentis.Principal{Tenant: "acme", Role: telamentis.RoleWriter, Subject: "user-1"}
			if *p != want {
				t.Fatalf("principal %+v", p)
			}
		})
	}
	t.Run("within leeway", func(t *testing.T) {
		tok := e.rsa1.sign(t, nil, e.claims(func(c map[string]any) {
			c["exp"] = e.clock().Add(-20 * time.Second).Unix()
			c["nbf"] = e.clock().Add(20 * time.Second).Unix()
		}))
		if _, err := e.auth(t, tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("highest known role", func(t *testing.T) {
		tok := e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["roles"] = []any{"reader", "superuser", "tenant_admin", 7} }))
		p, err := e.auth(t, tok)
		if err != nil || p.Role != telamentis.RoleTenantAdmin {
			t.Fatalf("%+v %v", p, err)
		}
	})
	t.Run("role as string", func(t *testing.T) {
		tok := e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["roles"] = "reader" }))
		p, err := e.auth(t, tok)
		if err != nil || p.Role != telamentis.RoleReader {
			t.Fatalf("%+v %v", p, err)
		}
	})
	t.Run("chain", func(t *testing.T) {
		p, err := Chain{JWT: e.j}.Authenticate(t.Context(), "Bearer "+e.ec.sign(t, nil, e.claims(nil)))
		if err != nil || p.Tenant != "acme" {
			t.Fatalf("%+v %v", p, err)
		}
	})
}

func TestJWTRefused(t *testing.T) {
	e := newJWTEnv(t, nil)
	attacker := &sigKey{kid: "rsa-1", alg: "RS256", priv: rsaKey(t, 1)}
	pubDER, _ := x509.MarshalPKIXPublicKey(e.rsa1.priv.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pubJWK, _ := json.Marshal(e.rsa1.jwk())
	attackerJWKS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fetched attacker URL %s", r.URL)
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{attacker.jwk()}})
	}))
	defer attackerJWKS.Close()

	cases := map[string]string{
		"expired": e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["exp"] = e.clock().Add(-2 * time.Minute).Unix() })),
		"no exp":  e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { delete(c, "exp") })),
		"future nbf": e.rsa1.sign(t, nil, e.claims(func(c map[string]any) {
			c["nbf"] = e.clock().Add(2 * time.Minute).Unix()
		})),
		"wrong iss":         e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["iss"] = "https://evil.example" })),
		"no iss":            e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { delete(c, "iss") })),
		"wrong aud":         e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["aud"] = "other" })),
		"no aud":            e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { delete(c, "aud") })),
		"missing tenant":    e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { delete(c, "tenant") })),
		"empty tenant":      e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["tenant"] = "" })),
		"numeric tenant":    e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["tenant"] = 42 })),
		"array tenant":      e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["tenant"] = []string{"acme"} })),
		"bad tenant id":     e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["tenant"] = "../acme" })),
		"unknown role":      e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["roles"] = []string{"root"} })),
		"no role":           e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { delete(c, "roles") })),
		"admin not allowed": e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["roles"] = []string{"admin"} })),
		"no subject":        e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { delete(c, "sub") })),
		"bad signature":     e.rsa1.sign(t, nil, e.claims(nil))[:0] + attacker.sign(t, nil, e.claims(nil)),
		"tampered payload": func() string {
			tok := e.rsa1.sign(t, nil, e.claims(nil))
			parts := strings.Split(tok, ".")
			c, _ := json.Marshal(e.claims(func(c map[string]any) { c["tenant"] = "globex" }))
			return parts[0] + "." + b64(c) + "." + parts[2]
		}(),
		"unknown kid":           e.rsa1.sign(t, map[string]any{"kid": "nope"}, e.claims(nil)),
		"kid of another type":   e.rsa1.sign(t, map[string]any{"kid": "ec-1"}, e.claims(nil)),
		"alg not matching key":  e.ec.sign(t, map[string]any{"alg": "RS256"}, e.claims(nil)),
		"HS256 with PEM pubkey": signJWT(t, map[string]any{"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, e.claims(nil), hs256(pubPEM)),
		"HS256 with DER pubkey": signJWT(t, map[string]any{"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, e.claims(nil), hs256(pubDER)),
		"HS256 with JWK pubkey": signJWT(t, map[string]any{"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, e.claims(nil), hs256(pubJWK)),
		"embedded jwk":          attacker.sign(t, map[string]any{"jwk": attacker.jwk()}, e.claims(nil)),
		"embedded jwk new kid":  attacker.sign(t, map[string]any{"kid": "evil", "jwk": attacker.jwk()}, e.claims(nil)),
		"jku":                   attacker.sign(t, map[string]any{"kid": "evil", "jku": attackerJWKS.URL}, e.claims(nil)),
		"x5u":                   attacker.sign(t, map[string]any{"kid": "evil", "x5u": attackerJWKS.URL}, e.claims(nil)),
		"crit":                  e.rsa1.sign(t, map[string]any{"crit": []string{"exp"}}, e.claims(nil)),
		// Even a good signature is refused when the header offers a key.
		"good sig with jwk header": e.rsa1.sign(t, map[string]any{"jwk": e.rsa1.jwk()}, e.claims(nil)),
		"good sig with jku header": e.rsa1.sign(t, map[string]any{"jku": attackerJWKS.URL}, e.claims(nil)),
		"good sig with x5c header": e.rsa1.sign(t, map[string]any{"x5c": []string{"MIIB"}}, e.claims(nil)),
		"good sig with JWK header": e.rsa1.sign(t, map[string]any{"JWK": e.rsa1.jwk()}, e.claims(nil)),
		"alg in upper case name":   e.rsa1.sign(t, map[string]any{"alg": nil, "ALG": "RS256"}, e.claims(nil)),
		"alg not a string":         e.rsa1.sign(t, map[string]any{"alg": []string{"RS256"}}, e.claims(nil)),
		"kid not a string":         e.rsa1.sign(t, map[string]any{"kid": 1}, e.claims(nil)),
		"garbage":                  "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
	}
	for _, none := range []string{"none", "None", "NONE", "nOnE"} {
		c := e.claims(nil)
		cases["alg "+none+" empty sig"] = signJWT(t, map[string]any{"alg": none, "typ": "JWT"}, c, func([]byte) []byte { return nil })
		cases["alg "+none+" with sig"] = signJWT(t, map[string]any{"alg": none, "typ": "JWT"}, c, func([]byte) []byte { return []byte("x") })
		cases["alg "+none+" kid"] = signJWT(t, map[string]any{"alg": none, "kid": "rsa-1", "typ": "JWT"}, c, func([]byte) []byte { return []byte("x") })
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := e.auth(t, tok)
			wantUnauth(t, p, err)
			p, err = Chain{JWT: e.j}.Authenticate(t.Context(), "Bearer "+tok)
			wantUnauth(t, p, err)
		})
	}
	t.Run("HS256 refused even with an HMAC secret configured", func(t *testing.T) {
		secret := strings.Repeat("s", 32)
		e2 := newJWTEnv(t, func(c *JWTConfig) { c.HMACSecret = telamentis.NewSecret(secret) })
		for _, key := range [][]byte{pubPEM, pubDER, pubJWK} {
			tok := signJWT(t, map[string]any{"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, e2.claims(nil), hs256(key))
			p, err := e2.auth(t, tok)
			wantUnauth(t, p, err)
		}
		// The configured secret itself works, and only for HS algorithms.
		tok := signJWT(t, map[string]any{"alg": "HS256", "typ": "JWT"}, e2.claims(nil), hs256([]byte(secret)))
		if _, err := e2.auth(t, tok); err != nil {
			t.Fatalf("hmac with the configured secret: %v", err)
		}
	})
	t.Run("ApiKey scheme", func(t *testing.T) {
		p, err := e.j.Authenticate(t.Context(), "ApiKey "+e.rsa1.sign(t, nil, e.claims(nil)))
		wantUnauth(t, p, err)
	})
}

func TestJWTAdminOnlyWhenAllowed(t *testing.T) {
	e := newJWTEnv(t, func(c *JWTConfig) { c.AllowAdmin = true })
	tok := e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["roles"] = []string{"admin"}; delete(c, "tenant") }))
	p, err := e.auth(t, tok)
	if err != nil || p.Role != telamentis.RoleAdmin || p.Tenant != "" {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestJWTKeyRotationAndThrottle(t *testing.T) {
	e := newJWTEnv(t, nil)
	if _, err := e.auth(t, e.rsa1.sign(t, nil, e.claims(nil))); err != nil {
		t.Fatal(err)
	}
	if got := e.idp.jwksHits.Load(); got != 1 {
		t.Fatalf("jwks fetched %d times", got)
	}
	// A flood of unknown kids costs at most one fetch per interval.
	for i := range 50 {
		p, err := e.auth(t, e.rsa1.sign(t, map[string]any{"kid": fmt.Sprint("random-", i)}, e.claims(nil)))
		wantUnauth(t, p, err)
		e.advance(500 * time.Millisecond) // 25 s in all: under the 30 s throttle
	}
	if got := e.idp.jwksHits.Load(); got != 1 {
		t.Fatalf("jwks fetched %d times during the throttle window", got)
	}
	// The IdP rotates to a new key.
	rsa2 := &sigKey{kid: "rsa-2", alg: "RS256", priv: rsaKey(t, 2)}
	e.idp.serve(rsa2)
	e.advance(31 * time.Second)
	p, err := e.auth(t, rsa2.sign(t, nil, e.claims(nil)))
	if err != nil || p.Tenant != "acme" {
		t.Fatalf("token of the rotated key: %+v %v", p, err)
	}
	// The retired key is gone with the refreshed set.
	p, err = e.auth(t, e.rsa1.sign(t, nil, e.claims(nil)))
	wantUnauth(t, p, err)
	// Periodic refresh picks up changes without unknown kids.
	e.idp.serve(rsa2, e.rsa1)
	e.advance(16 * time.Minute)
	if _, err := e.auth(t, e.rsa1.sign(t, nil, e.claims(nil))); err != nil {
		t.Fatalf("after periodic refresh: %v", err)
	}
}

func TestJWTDiscovery(t *testing.T) {
	t.Run("issuer mismatch", func(t *testing.T) {
		e := newJWTEnv(t, nil)
		e.idp.issuerDoc = "https://evil.example"
		_, err := e.auth(t, e.rsa1.sign(t, nil, e.claims(nil)))
		if err == nil {
			t.Fatal("accepted a token with a discovery issuer mismatch")
		}
		if e.idp.jwksHits.Load() != 0 {
			t.Fatal("fetched jwks despite the mismatch")
		}
	})
	t.Run("jwks url", func(t *testing.T) {
		e := newJWTEnv(t, nil)
		e.j.cfg.JWKSURL = e.idp.srv.URL + "/jwks"
		e.j.jwksURL = e.j.cfg.JWKSURL
		if _, err := e.auth(t, e.rsa1.sign(t, nil, e.claims(nil))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("issuer down", func(t *testing.T) {
		e := newJWTEnv(t, nil)
		e.idp.srv.Close()
		_, err := e.auth(t, e.rsa1.sign(t, nil, e.claims(nil)))
		if telamentis.ErrorCode(err) != telamentis.CodeUnavailable {
			t.Fatalf("issuer down: %v", err)
		}
	})
}

func TestNewJWTConfig(t *testing.T) {
	bad := []JWTConfig{
		{Audience: "a"},
		{Issuer: "https://i"},
		{Issuer: "ftp://i", Audience: "a"},
		{Issuer: "https://i", Audience: "a", Algorithms: []string{"none"}},
		{Issuer: "https://i", Audience: "a", Algorithms: []string{"HS256"}},
		{Issuer: "https://i", Audience: "a", HMACSecret: telamentis.NewSecret("short")},
		{Issuer: "https://i", Audience: "a", Algorithms: []string{"RSA-OAEP"}},
	}
	for i, c := range bad {
		if _, err := NewJWT(c, nil); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

func BenchmarkJWT(b *testing.B) {
	for _, tc := range []struct {
		alg string
		ttl time.Duration
	}{{"RS256", -1}, {"ES256", -1}, {"EdDSA", -1}, {"RS256", time.Minute}} {
		alg := tc.alg
		name := alg + "/uncached"
		if tc.ttl > 0 {
			name = alg + "/cached"
		}
		b.Run(name, func(b *testing.B) {
			p := &idp{}
			mux := http.NewServeMux()
			mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
				p.mu.Lock()
				defer p.mu.Unlock()
				json.NewEncoder(w).Encode(map[string]any{"keys": p.keys})
			})
			p.srv = httptest.NewServer(mux)
			defer p.srv.Close()
			var k *sigKey
			switch alg {
			case "RS256":
				k = &sigKey{kid: "k", alg: alg, priv: rsaKey(b, 0)}
			case "ES256":
				priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				k = &sigKey{kid: "k", alg: alg, priv: priv}
			default:
				_, priv, _ := ed25519.GenerateKey(rand.Reader)
				k = &sigKey{kid: "k", alg: alg, priv: priv}
			}
			p.serve(k)
			j, err := NewJWT(JWTConfig{Issuer: "https://idp.example", Audience: "telamentis", JWKSURL: p.srv.URL + "/jwks", HTTPClient: p.srv.Client(), CacheTTL: tc.ttl}, nil)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			tok := k.sign(b, nil, map[string]any{"iss": "https://idp.example", "aud": "telamentis", "sub": "u", "exp": now.Add(time.Hour).Unix(), "tenant": "acme", "roles": "writer"})
			h := "Bearer " + tok
			b.ReportAllocs()
			for b.Loop() {
				if _, err := j.Authenticate(context.Background(), h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestJWTCache(t *testing.T) {
	// The JWKS is re-read every 30 s, so a key's removal shows at once
	// unless the token is served from the cache.
	e := newJWTEnv(t, func(c *JWTConfig) { c.RefreshInterval = 30 * time.Second; c.CacheTTL = 5 * time.Minute })
	tok := e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["exp"] = e.clock().Add(40 * time.Second).Unix() }))
	if _, err := e.auth(t, tok); err != nil {
		t.Fatal(err)
	}
	e.idp.serve(e.ec)
	e.advance(31 * time.Second)
	if p, err := e.auth(t, tok); err != nil || p.Tenant != "acme" {
		t.Fatalf("cached token: %+v %v", p, err)
	}
	// A cached token still expires with its exp (plus the 30 s leeway).
	e.advance(40 * time.Second)
	p, err := e.auth(t, tok)
	wantUnauth(t, p, err)
	// The cache ends after CacheTTL even for a long-lived token.
	e.idp.serve(e.rsa1)
	e.advance(31 * time.Second)
	long := e.rsa1.sign(t, nil, e.claims(func(c map[string]any) { c["exp"] = e.clock().Add(time.Hour).Unix() }))
	if _, err := e.auth(t, long); err != nil {
		t.Fatal(err)
	}
	e.idp.serve(e.ec)
	e.advance(4 * time.Minute)
	if _, err := e.auth(t, long); err != nil {
		t.Fatalf("within CacheTTL: %v", err)
	}
	e.advance(61 * time.Second)
	p, err = e.auth(t, long)
	wantUnauth(t, p, err)

	off := newJWTEnv(t, func(c *JWTConfig) { c.RefreshInterval = 30 * time.Second; c.CacheTTL = -1 })
	tok = off.rsa1.sign(t, nil, off.claims(nil))
	if _, err := off.auth(t, tok); err != nil {
		t.Fatal(err)
	}
	off.idp.serve(off.ec)
	off.advance(31 * time.Second)
	p, err = off.auth(t, tok)
	wantUnauth(t, p, err)
}
