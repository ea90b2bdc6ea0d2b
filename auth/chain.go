package auth

import (
	"context"

	"github.com/telamentis/telamentis"
)

// Chain picks the authenticator by the credential's shape: API key tokens
// ("tm_…", scheme Bearer or ApiKey) go to Keys, compact JWTs (scheme Bearer
// only) to JWT. Either may be nil (that kind of credential is then
// refused). Chain implements telamentis.Authenticator.
type Chain struct {
	Keys *Keys
	JWT  *JWT
}

var _ telamentis.Authenticator = Chain{}

// Authenticate implements telamentis.Authenticator.
func (c Chain) Authenticate(ctx context.Context, authorization string) (*telamentis.Principal, error) {
	scheme, cred, ok := ParseAuthorization(authorization)
	if !ok {
		return nil, ErrUnauthenticated()
	}
	switch {
	case c.Keys != nil && IsAPIKey(cred):
		return c.Keys.AuthenticateToken(ctx, cred)
	case c.JWT != nil && scheme == "Bearer" && IsJWT(cred):
		return c.JWT.AuthenticateToken(ctx, cred)
	}
	return nil, ErrUnauthenticated()
}
