package accesstoken

import (
	"strings"
	"testing"
	"time"
)

func TestParseAndVerifyToken(t *testing.T) {
	cfg := Config{Lookup: func(k string) (string, bool) {
		if k == "beaker.session.secret" {
			return "s3cret", true
		}
		return "", false
	}}
	token, err := signHS256("the-id", 1700000000, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := ParseToken(token + "\n")
	if err != nil || tc.ID != "the-id" || !tc.IssuedAt.Equal(time.Unix(1700000000, 0)) || tc.Algorithm != "HS256" {
		t.Fatalf("ParseToken = %+v, %v", tc, err)
	}
	if err := VerifyToken(token, cfg); err != nil {
		t.Fatal(err)
	}
	other, _ := signHS256("the-id", 1700000000, []byte("other"))
	if err := VerifyToken(other, cfg); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("foreign token: %v", err)
	}
	for _, bad := range []string{
		"0123456789abcdef0123456789abcdef01234567", // a CKAN 2.8 API key
		"a.b.c",
		b64.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + b64.EncodeToString([]byte(`{"iat":1}`)) + ".x",
		b64.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + b64.EncodeToString([]byte(`{"jti":"x","iat":"soon"}`)) + ".x",
	} {
		if tc, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) = %+v", bad, tc)
		}
	}
	rs := Config{Lookup: func(k string) (string, bool) {
		return map[string]string{"api_token.jwt.algorithm": "RS256"}[k], k == "api_token.jwt.algorithm"
	}}
	if err := VerifyToken(token, rs); err == nil || !strings.Contains(err.Error(), "cannot verify") {
		t.Errorf("RS256 config: %v", err)
	}
}

func TestNewTokenID(t *testing.T) {
	for n, want := range map[int]int{32: 43, 60: 80, 20: 27} {
		id, err := newTokenID(n)
		if err != nil || len(id) != want || strings.ContainsAny(id, "+/=") {
			t.Errorf("newTokenID(%d) = %q, %v", n, id, err)
		}
	}
}
