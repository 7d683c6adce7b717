package auth

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize bounds what is parsed at all.
const MaxTokenSize = 16 << 10

// ErrTokenExpired is a token whose signature holds but whose expiry has
// passed.
var ErrTokenExpired = errors.New("token expired")

// ErrNotAccessToken is a token offered as a bearer that is not an access
// token: a credential (a service account's long-lived secret) or a refresh
// token. Either is exchanged for an access token at auth.Auth/Token; taken
// as a bearer, a leaked year-long credential would be a year-long session
// no refresh rotation or expiry bounds.
var ErrNotAccessToken = errors.New("invalid token: not an access token; exchange a credential or refresh token for one at auth.Auth/Token")

// UseCredential is the Use claim of a credential: a JWT that is a service
// account's secret, accepted by Auth.Token in place of a password and
// nowhere else. Access tokens have no Use.
const UseCredential = "credential"

// Claims are the claims of the tokens the auth block signs: Micro's, plus
// the account's uid (a token outlives no re-created account) and what the
// token is for.
type Claims struct {
	Type     string            `json:"type"`
	Scopes   []string          `json:"scopes"`
	Metadata map[string]string `json:"metadata"`
	Name     string            `json:"name"`
	UID      string            `json:"uid"`
	Use      string            `json:"use,omitempty"`
	jwt.RegisteredClaims
}

// ParseToken is the one check of a token's form, signature and expiry, used
// by the auth block and by services verifying tokens locally. keyFor
// returns the public key named by the token's issuer (its namespace) and
// kid; its error is returned as it is, so a caller can tell a key that does
// not exist from a look-up that failed. Otherwise the error is
// ErrTokenExpired or ErrInvalidToken.
func ParseToken(token string, now func() time.Time, keyFor func(iss, kid string) (ed25519.PublicKey, error)) (*Claims, error) {
	if token == "" || len(token) > MaxTokenSize {
		return nil, ErrInvalidToken
	}
	var keyErr error
	c := new(Claims)
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(now),
		// Only the canonical base64url the block writes: a lenient
		// decoder accepts several spellings of one signature.
		jwt.WithStrictDecoding(),
	)
	_, err := p.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		iss, _ := t.Claims.GetIssuer()
		if kid == "" || iss == "" {
			return nil, ErrInvalidToken
		}
		key, err := keyFor(iss, kid)
		if err != nil {
			keyErr = err
			return nil, err
		}
		return key, nil
	})
	switch {
	case keyErr != nil:
		return nil, keyErr
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired
	case err != nil:
		return nil, ErrInvalidToken
	case c.Subject == "":
		return nil, ErrInvalidToken
	}
	return c, nil
}

// ParseAccessToken is ParseToken for a bearer token: one that verifies but
// is a credential is ErrNotAccessToken.
func ParseAccessToken(token string, now func() time.Time, keyFor func(iss, kid string) (ed25519.PublicKey, error)) (*Claims, error) {
	c, err := ParseToken(token, now, keyFor)
	if err != nil {
		return nil, err
	}
	if err := c.AccessOnly(); err != nil {
		return nil, err
	}
	return c, nil
}

// AccessOnly is nil for the claims of an access token, ErrNotAccessToken
// for any other use.
func (c *Claims) AccessOnly() error {
	if c.Use != "" {
		return ErrNotAccessToken
	}
	return nil
}

// LooksLikeJWT is a cheap test before parsing: three parts, the first a
// base64url JSON object.
func LooksLikeJWT(s string) bool {
	return strings.Count(s, ".") == 2 && strings.HasPrefix(s, "eyJ")
}
