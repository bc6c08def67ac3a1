package accesstoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// jwtHeader is PyJWT's header for HS256: sorted keys, compact JSON.
const jwtHeader = `{"alg":"HS256","typ":"JWT"}`

var b64 = base64.RawURLEncoding

// claims are the claims of a CKAN API token, in CKAN's order.
type claims struct {
	JTI string `json:"jti"`
	IAT int64  `json:"iat"`
}

// newTokenID returns a new token id as Python's
// secrets.token_urlsafe(nbytes): nbytes random bytes, base64url without
// padding.
func newTokenID(nbytes int) (string, error) {
	b := make([]byte, nbytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token id: %w", err)
	}
	return b64.EncodeToString(b), nil
}

// signHS256 returns the JWT CKAN's api_token_create returns for token id
// jti created at iat (Unix seconds), signed with secret.
func signHS256(jti string, iat int64, secret []byte) (string, error) {
	payload, err := json.Marshal(claims{JTI: jti, IAT: iat})
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString([]byte(jwtHeader)) + "." + b64.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + b64.EncodeToString(mac.Sum(nil)), nil
}

// TokenClaims are the claims read from a CKAN API token (JWT) without
// checking its signature.
type TokenClaims struct {
	// ID is the "jti" claim: the id of the api_token row.
	ID string
	// IssuedAt is the "iat" claim.
	IssuedAt time.Time
	// Algorithm is the "alg" of the JWT header.
	Algorithm string
}

// ParseToken reads the header and claims of a CKAN API token without
// verifying it. A token that is not a JWT (a CKAN 2.8 API key) gives an
// error.
func ParseToken(token string) (TokenClaims, error) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return TokenClaims{}, errors.New("the token is not a JWT (perhaps a legacy CKAN API key)")
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := decodeJSONPart(parts[0], &h); err != nil {
		return TokenClaims{}, fmt.Errorf("JWT header: %w", err)
	}
	var c struct {
		JTI string       `json:"jti"`
		IAT *json.Number `json:"iat"`
	}
	if err := decodeJSONPart(parts[1], &c); err != nil {
		return TokenClaims{}, fmt.Errorf("JWT claims: %w", err)
	}
	tc := TokenClaims{ID: c.JTI, Algorithm: h.Alg}
	if c.IAT != nil {
		f, err := c.IAT.Float64()
		if err != nil || f < 0 || f > 1e11 {
			return TokenClaims{}, fmt.Errorf("JWT claim iat %q is not a time", c.IAT.String())
		}
		tc.IssuedAt = time.Unix(int64(f), 0).UTC()
	}
	if tc.ID == "" {
		return TokenClaims{}, errors.New("the JWT has no jti claim: not a CKAN API token")
	}
	return tc, nil
}

func decodeJSONPart(s string, v any) error {
	b, err := b64.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return fmt.Errorf("not base64url: %w", err)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return nil
}

// VerifyToken checks the HS256 signature of token with the decode secret
// of cfg, as CKAN does on every API request (without CKAN's extra checks:
// the token row must exist and its user be active).
func VerifyToken(token string, cfg Config) error {
	tc, err := ParseToken(token)
	if err != nil {
		return err
	}
	if alg := cfg.Algorithm(); alg != "HS256" || tc.Algorithm != "HS256" {
		return fmt.Errorf("cannot verify: the token uses %s and ckan.ini %s; dcor verifies HS256 only", tc.Algorithm, alg)
	}
	secret, err := cfg.DecodeSecret()
	if err != nil {
		return err
	}
	token = strings.TrimSpace(token)
	i := strings.LastIndexByte(token, '.')
	sig, err := b64.DecodeString(token[i+1:])
	if err != nil {
		return fmt.Errorf("JWT signature is not base64url: %w", err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(token[:i]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return errors.New("the token's signature does not match this host's API token secret: it was issued by another host or the secret changed")
	}
	return nil
}
