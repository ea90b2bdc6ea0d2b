package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/telamentis/telamentis"
)

// DefaultAlgorithms are the asymmetric algorithms accepted when
// JWTConfig.Algorithms is empty.
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// hmacAlgorithms may be allowed only with JWTConfig.HMACSecret.
var hmacAlgorithms = []string{"HS256", "HS384", "HS512"}

// JWTConfig configures JWT.
type JWTConfig struct {
	// Issuer is the expected "iss", exactly. Required. Without JWKSURL,
	// the JWKS location comes from Issuer + "/.well-known/openid-configuration".
	Issuer string
	// Audience must be one of the token's "aud" values. Required.
	Audience string
	// JWKSURL is where the signing keys are; optional with discovery.
	JWKSURL string
	// Algorithms is the allowlist of "alg" values (default
	// DefaultAlgorithms). "none" is never accepted; HS256/384/512 only
	// with HMACSecret.
	Algorithms []string
	// HMACSecret, if set, is a shared secret for HS256/384/512 tokens (at
	// least 32 bytes). HMAC tokens are verified with this secret only,
	// never with a key from the JWKS.
	HMACSecret telamentis.Secret
	// TenantClaim names the claim holding the tenant ID (default "tenant").
	// It must be a non-empty string and a valid tenant ID.
	TenantClaim string
	// RoleClaim names the claim holding the role: a string or an array of
	// strings, from which the most privileged known role is taken (default
	// "roles").
	RoleClaim string
	// PIIClaim, if set, names a boolean claim granting the pii permission.
	PIIClaim string
	// AllowAdmin lets a token carry the system admin role. Off by default:
	// an "admin" role value is then ignored.
	AllowAdmin bool
	// Leeway is the clock skew allowed on exp, nbf and iat (default 30 s,
	// at most 60 s).
	Leeway time.Duration
	// RefreshInterval is how old the cached JWKS may get before it is
	// fetched again (default 15 min).
	RefreshInterval time.Duration
	// MinRefreshInterval throttles fetches caused by unknown key IDs
	// (default 30 s): a flood of tokens with random kids costs at most one
	// JWKS fetch per interval.
	MinRefreshInterval time.Duration
	// CacheTTL is how long a verified token is remembered, so that a
	// client reusing its access token is not verified (an RSA signature
	// check) on every request (default 1 min; negative turns the cache
	// off). A hit still checks exp. A key removed from the JWKS stops
	// verifying tokens it signed within CacheTTL.
	CacheTTL time.Duration
	// HTTPClient fetches discovery and JWKS documents (default: a client
	// with a 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// JWT verifies OIDC/JWT bearer tokens against an issuer's JWKS. It
// implements telamentis.Authenticator. Keys come only from the configured
// JWKS (or the HMAC secret): tokens carrying "jwk", "jku", "x5u", "x5c" or
// "crit" headers are refused, and a kid that is not in the JWKS triggers a
// throttled refetch, never a fetch from a URL in the token.
type JWT struct {
	cfg    JWTConfig
	algs   map[string]jwa.SignatureAlgorithm
	logger *slog.Logger

	mu          sync.Mutex // guards the fields below
	set         jwk.Set
	fetched     time.Time // when set was fetched
	lastAttempt time.Time
	fetching    chan struct{} // closed when the running fetch ends
	jwksURL     string

	cacheMu sync.RWMutex
	cache   map[[sha256.Size]byte]*verified
}

// verified is a cached, verified token.
type verified struct {
	p     telamentis.Principal
	exp   time.Time
	until time.Time // end of the cache entry's life
}

const maxCachedTokens = 10_000

var _ telamentis.Authenticator = (*JWT)(nil)

// NewJWT checks cfg and returns a JWT. It fetches nothing yet: call
// Refresh at start-up to fail early if the issuer is unreachable.
func NewJWT(cfg JWTConfig, logger *slog.Logger) (*JWT, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, fmt.Errorf("auth: jwt: issuer and audience are required")
	}
	if cfg.JWKSURL == "" {
		if _, err := httpURL(cfg.Issuer); err != nil {
			return nil, fmt.Errorf("auth: jwt: issuer: %w", err)
		}
	} else if _, err := httpURL(cfg.JWKSURL); err != nil {
		return nil, fmt.Errorf("auth: jwt: jwks url: %w", err)
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
		if !cfg.HMACSecret.IsZero() {
			cfg.Algorithms = append(slices.Clone(DefaultAlgorithms), hmacAlgorithms...)
		}
	}
	if !cfg.HMACSecret.IsZero() && len(cfg.HMACSecret.Reveal()) < 32 {
		return nil, fmt.Errorf("auth: jwt: hmac secret must be at least 32 bytes")
	}
	algs := map[string]jwa.SignatureAlgorithm{}
	for _, name := range cfg.Algorithms {
		if strings.EqualFold(name, "none") {
			return nil, fmt.Errorf("auth: jwt: algorithm none is never allowed")
		}
		if slices.Contains(hmacAlgorithms, name) && cfg.HMACSecret.IsZero() {
			return nil, fmt.Errorf("auth: jwt: %s needs an hmac secret", name)
		}
		a, ok := jwa.LookupSignatureAlgorithm(name)
		if !ok || (!slices.Contains(DefaultAlgorithms, name) && !slices.Contains(hmacAlgorithms, name)) {
			return nil, fmt.Errorf("auth: jwt: unsupported algorithm %q", name)
		}
		algs[name] = a
	}
	if cfg.TenantClaim == "" {
		cfg.TenantClaim = "tenant"
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "roles"
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = 30 * time.Second
	}
	cfg.Leeway = min(cfg.Leeway, 60*time.Second)
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 15 * time.Minute
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &JWT{cfg: cfg, algs: algs, logger: logger, jwksURL: cfg.JWKSURL, cache: map[[sha256.Size]byte]*verified{}}, nil
}

func httpURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", s)
	}
	return u, nil
}

// header is the part of a JOSE header we use.
type header struct {
	Alg string
	Kid string
}

// keyHeaders may name or carry a verification key; a token carrying any
// of them (in any letter case) is refused. "crit" is refused too: we
// implement no header extensions.
var keyHeaders = []string{"jwk", "jku", "x5u", "x5c", "crit"}

// parseHeader decodes and checks a compact JWS's protected header. Names
// are matched exactly, as JOSE requires ("ALG" is not "alg").
func (j *JWT) parseHeader(token string) (header, jwa.SignatureAlgorithm, error) {
	var h header
	if !IsJWT(token) {
		return h, jwa.SignatureAlgorithm{}, errors.New("not a compact JWS")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token[:strings.IndexByte(token, '.')])
	if err != nil {
		return h, jwa.SignatureAlgorithm{}, fmt.Errorf("header encoding: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return h, jwa.SignatureAlgorithm{}, fmt.Errorf("header: %w", err)
	}
	for name := range m {
		for _, kh := range keyHeaders {
			if strings.EqualFold(name, kh) {
				return h, jwa.SignatureAlgorithm{}, fmt.Errorf("header %q refused", name)
			}
		}
	}
	if err := json.Unmarshal(m["alg"], &h.Alg); err != nil {
		return h, jwa.SignatureAlgorithm{}, errors.New("header: alg is not a string")
	}
	if v, ok := m["kid"]; ok {
		if err := json.Unmarshal(v, &h.Kid); err != nil {
			return h, jwa.SignatureAlgorithm{}, errors.New("header: kid is not a string")
		}
	}
	alg, ok := j.algs[h.Alg] // exact, case-sensitive: "None", "nOnE"… are not in it
	if !ok {
		return h, jwa.SignatureAlgorithm{}, fmt.Errorf("algorithm %q not allowed", h.Alg)
	}
	return h, alg, nil
}

// Authenticate implements telamentis.Authenticator for "Bearer <jwt>".
func (j *JWT) Authenticate(ctx context.Context, authorization string) (*telamentis.Principal, error) {
	scheme, cred, ok := ParseAuthorization(authorization)
	if !ok || scheme != "Bearer" {
		return nil, ErrUnauthenticated()
	}
	return j.AuthenticateToken(ctx, cred)
}

// AuthenticateToken verifies a bare compact JWT.
func (j *JWT) AuthenticateToken(ctx context.Context, token string) (*telamentis.Principal, error) {
	var sum [sha256.Size]byte
	if j.cfg.CacheTTL > 0 {
		sum = sha256.Sum256([]byte(token))
		now := j.cfg.Now()
		j.cacheMu.RLock()
		v := j.cache[sum]
		j.cacheMu.RUnlock()
		if v != nil && now.Before(v.until) && now.Before(v.exp.Add(j.cfg.Leeway)) {
			p := v.p
			return &p, nil
		}
	}
	p, exp, err := j.verify(ctx, token)
	if err != nil {
		var te *telamentis.Error
		if errors.As(err, &te) && te.Code == telamentis.CodeUnavailable {
			return nil, err
		}
		j.logger.Debug("jwt refused", "err", err)
		return nil, ErrUnauthenticated()
	}
	if j.cfg.CacheTTL > 0 {
		now := j.cfg.Now()
		j.cacheMu.Lock()
		if len(j.cache) >= maxCachedTokens {
			for k, v := range j.cache {
				if !now.Before(v.until) || len(j.cache) >= maxCachedTokens {
					delete(j.cache, k)
				}
			}
		}
		j.cache[sum] = &verified{p: *p, exp: exp, until: now.Add(j.cfg.CacheTTL)}
		j.cacheMu.Unlock()
	}
	return p, nil
}

func (j *JWT) verify(ctx context.Context, token string) (*telamentis.Principal, time.Time, error) {
	h, alg, err := j.parseHeader(token)
	if err != nil {
		return nil, time.Time{}, err
	}
	var key any
	if slices.Contains(hmacAlgorithms, h.Alg) {
		key = []byte(j.cfg.HMACSecret.Reveal())
	} else {
		k, err := j.key(ctx, h.Kid, h.Alg)
		if err != nil {
			return nil, time.Time{}, err
		}
		key = k
	}
	now := j.cfg.Now()
	tok, err := jwt.ParseString(token,
		jwt.WithKey(alg, key),
		jwt.WithValidate(true),
		jwt.WithIssuer(j.cfg.Issuer),
		jwt.WithAudience(j.cfg.Audience),
		jwt.WithRequiredClaim("exp"),
		jwt.WithAcceptableSkew(j.cfg.Leeway),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })),
	)
	if err != nil {
		return nil, time.Time{}, err
	}
	exp, _ := tok.Expiration()
	p, err := j.principal(tok)
	return p, exp, err
}

// rolePriority orders roles from most to least privileged.
var rolePriority = []telamentis.Role{telamentis.RoleAdmin, telamentis.RoleTenantAdmin, telamentis.RoleWriter, telamentis.RoleReader}

func (j *JWT) principal(tok jwt.Token) (*telamentis.Principal, error) {
	var roleClaim any
	if err := tok.Get(j.cfg.RoleClaim, &roleClaim); err != nil {
		return nil, fmt.Errorf("role claim: %w", err)
	}
	var names []string
	switch v := roleClaim.(type) {
	case string:
		names = strings.Fields(v)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				names = append(names, s)
			}
		}
	case []string:
		names = v
	}
	var role telamentis.Role
	for _, r := range rolePriority {
		if r == telamentis.RoleAdmin && !j.cfg.AllowAdmin {
			continue
		}
		if slices.Contains(names, string(r)) {
			role = r
			break
		}
	}
	if role == "" {
		return nil, errors.New("no known role")
	}
	sub, _ := tok.Subject()
	p := &telamentis.Principal{Role: role, Subject: sub}
	if sub == "" {
		return nil, errors.New("no subject")
	}
	if j.cfg.PIIClaim != "" {
		var pii any
		if tok.Get(j.cfg.PIIClaim, &pii) == nil {
			p.PII, _ = pii.(bool)
		}
	}
	if role == telamentis.RoleAdmin {
		return p, nil
	}
	var tenant any
	if err := tok.Get(j.cfg.TenantClaim, &tenant); err != nil {
		return nil, fmt.Errorf("tenant claim: %w", err)
	}
	ts, ok := tenant.(string)
	if !ok || !telamentis.ValidTenantID(ts) {
		return nil, errors.New("tenant claim is not a valid tenant ID")
	}
	p.Tenant = ts
	return p, nil
}

// key returns the JWKS key for kid and alg, fetching the JWKS when none is
// cached, when it is older than RefreshInterval, or (throttled) when kid is
// unknown.
func (j *JWT) key(ctx context.Context, kid, alg string) (jwk.Key, error) {
	now := j.cfg.Now()
	j.mu.Lock()
	set, fetched := j.set, j.fetched
	j.mu.Unlock()
	if set == nil || now.Sub(fetched) >= j.cfg.RefreshInterval {
		if err := j.refresh(ctx, set == nil); err != nil && set == nil {
			return nil, err
		}
	} else if k := findKey(set, kid, alg); k != nil {
		return k, nil
	} else if err := j.refresh(ctx, false); err != nil {
		return nil, err
	}
	j.mu.Lock()
	set = j.set
	j.mu.Unlock()
	if set == nil {
		return nil, errors.New("no keys")
	}
	if k := findKey(set, kid, alg); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("no key %q for %s", kid, alg)
}

// findKey picks the key for kid (or the only suitable key when the token
// has no kid) whose type fits alg.
func findKey(set jwk.Set, kid, alg string) jwk.Key {
	var found jwk.Key
	n := 0
	for i := range set.Len() {
		k, _ := set.Key(i)
		if id, _ := k.KeyID(); kid != "" && id != kid {
			continue
		}
		if !keyFits(k, alg) {
			continue
		}
		found = k
		n++
		if kid != "" {
			return k
		}
	}
	if n == 1 {
		return found
	}
	return nil
}

// keyFits reports whether a JWKS key may verify alg: a signing public key
// of the matching type whose own "alg", if any, is alg.
func keyFits(k jwk.Key, alg string) bool {
	if a, ok := k.Algorithm(); ok && a.String() != alg {
		return false
	}
	if use, ok := k.KeyUsage(); ok && use != "sig" {
		return false
	}
	kt := k.KeyType()
	switch alg[:2] {
	case "RS", "PS":
		return kt == jwa.RSA()
	case "ES":
		return kt == jwa.EC()
	case "Ed":
		return kt == jwa.OKP()
	}
	return false
}

// Refresh fetches the JWKS now (discovering its URL first if needed).
func (j *JWT) Refresh(ctx context.Context) error { return j.refresh(ctx, true) }

// refresh fetches the JWKS unless another fetch runs (then it waits for
// that one) or, when not forced, the last attempt was less than
// MinRefreshInterval ago. Only one fetch runs at a time.
func (j *JWT) refresh(ctx context.Context, force bool) error {
	j.mu.Lock()
	if ch := j.fetching; ch != nil {
		j.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	now := j.cfg.Now()
	if !force && !j.lastAttempt.IsZero() && now.Sub(j.lastAttempt) < j.cfg.MinRefreshInterval {
		j.mu.Unlock()
		return nil
	}
	if force && j.set == nil && !j.lastAttempt.IsZero() && now.Sub(j.lastAttempt) < time.Second {
		// The issuer is failing: do not hammer it on every request.
		j.mu.Unlock()
		return &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "authentication unavailable", Err: errors.New("auth: jwks: fetch throttled after failure")}
	}
	j.lastAttempt = now
	ch := make(chan struct{})
	j.fetching = ch
	jwksURL := j.jwksURL
	j.mu.Unlock()

	set, u, err := j.fetch(context.WithoutCancel(ctx), jwksURL)

	j.mu.Lock()
	defer j.mu.Unlock()
	j.fetching = nil
	close(ch)
	if err != nil {
		j.logger.Warn("jwks fetch", "err", err)
		return &telamentis.Error{Code: telamentis.CodeUnavailable, Message: "authentication unavailable", Err: err}
	}
	j.set, j.fetched, j.jwksURL = set, j.cfg.Now(), u
	return nil
}

const maxDocument = 1 << 20

func (j *JWT) fetch(ctx context.Context, jwksURL string) (jwk.Set, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if jwksURL == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		b, err := j.get(ctx, strings.TrimSuffix(j.cfg.Issuer, "/")+"/.well-known/openid-configuration")
		if err != nil {
			return nil, "", fmt.Errorf("auth: discovery: %w", err)
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, "", fmt.Errorf("auth: discovery: %w", err)
		}
		if doc.Issuer != j.cfg.Issuer {
			return nil, "", fmt.Errorf("auth: discovery: issuer %q does not match %q", doc.Issuer, j.cfg.Issuer)
		}
		if _, err := httpURL(doc.JWKSURI); err != nil {
			return nil, "", fmt.Errorf("auth: discovery: jwks_uri: %w", err)
		}
		jwksURL = doc.JWKSURI
	}
	b, err := j.get(ctx, jwksURL)
	if err != nil {
		return nil, "", fmt.Errorf("auth: jwks: %w", err)
	}
	set, err := jwk.Parse(b)
	if err != nil {
		return nil, "", fmt.Errorf("auth: jwks: %w", err)
	}
	// Keep public signing keys only: a symmetric key in a JWKS must never
	// verify anything.
	pub := jwk.NewSet()
	for i := range set.Len() {
		k, _ := set.Key(i)
		if k.KeyType() == jwa.OctetSeq() {
			continue
		}
		pk, err := k.PublicKey()
		if err != nil {
			continue
		}
		pub.AddKey(pk)
	}
	return pub, jwksURL, nil
}

func (j *JWT) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("GET %s: document too large", u)
	}
	return b, nil
}
