package accesstoken

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pyCKAN verifies a token as CKAN does: Python's ConfigParser reads
// ckan.ini (as paste.deploy does, with %(here)s), CKAN's _get_secret of
// the given version resolves the decode secret, PyJWT decodes. It also
// prints the token PyJWT itself makes from the same claims.
const pyCKAN = `
import configparser, json, os, sys, jwt
path, version, token = sys.argv[1], sys.argv[2], sys.argv[3]
minor = int(version.split(".")[1])
cp = configparser.ConfigParser(defaults={"here": os.path.dirname(os.path.abspath(path)), "__file__": path})
if minor >= 10:
    cp.optionxform = str  # CKAN 2.10+ keeps the case of keys
cp.read(path)
conf = dict(cp.items("app:main"))
get = lambda k: conf.get(k) or ""
secret = get("api_token.jwt.decode.secret")
if not secret:
    if minor <= 10:
        secret = "string:" + get("beaker.session.secret")
    else:
        secret = "string:" + (get("SECRET_KEY") or get("beaker.session.secret"))
type_, value = secret.split(":", 1)
if type_ == "file":
    with open(value, "rb" if minor == 9 else "r") as f:
        value = f.read()
claims = jwt.decode(token, value, algorithms=["HS256"])
again = jwt.encode({"jti": claims["jti"], "iat": claims["iat"]}, value, algorithm="HS256")
print(json.dumps({"claims": claims, "pyjwt": again, "header": jwt.get_unverified_header(token)}))
`

type ckanStyle struct {
	name, version, ini string
	files              map[string]string
}

var ckanStyles = []ckanStyle{
	{name: "2.9 beaker fallback", version: "2.9.11", ini: `
[DEFAULT]
debug = false
[app:main]
use = egg:ckan
beaker.session.secret = b29-Xq3fL0pZ
`},
	{name: "2.9 literal", version: "2.9.11", ini: `
[app:main]
beaker.session.secret = not-this-one
api_token.nbytes = 60
api_token.jwt.encode.secret = string:literal-2.9-secret
api_token.jwt.decode.secret = string:literal-2.9-secret
`},
	{name: "2.10 interpolated", version: "2.10.4", ini: `
[DEFAULT]
[app:main]
beaker.session.secret = Bx7_2.10-secret
WTF_CSRF_SECRET_KEY = other
api_token.jwt.encode.secret = string:%(beaker.session.secret)s
api_token.jwt.decode.secret = string:%(beaker.session.secret)s
`},
	{name: "2.11 empty encode secret, SECRET_KEY", version: "2.11.1", ini: `
[app:main]
SECRET_KEY = sk-2.11-value
beaker.session.secret = old-beaker
api_token.jwt.encode.secret =
api_token.jwt.decode.secret =
`},
	{name: "2.11 SECRET_KEY falls back to beaker", version: "2.11.0", ini: `
[app:main]
SECRET_KEY =
beaker.session.secret = only-beaker-2.11
`},
	{name: "2.11 generated", version: "2.11.2", ini: `
[app:main]
SECRET_KEY = gen-2.11-key
api_token.jwt.encode.secret = string:%(SECRET_KEY)s
api_token.jwt.decode.secret = string:%(SECRET_KEY)s
`},
	{name: "DEFAULT section", version: "2.10.0", ini: `
[DEFAULT]
beaker.session.secret = from-DEFAULT
[app:main]
api_token.jwt.encode.secret = string:%(beaker.session.secret)s
api_token.jwt.decode.secret = string:%(beaker.session.secret)s
`},
	{name: "2.10 file secret", version: "2.10.1", ini: `
[app:main]
api_token.jwt.encode.secret = file:%(here)s/jwt.secret
api_token.jwt.decode.secret = file:%(here)s/jwt.secret
`, files: map[string]string{"jwt.secret": "file-secret with newline\n"}},
	{name: "2.9 file secret with CRLF", version: "2.9.9", ini: `
[app:main]
api_token.jwt.encode.secret = file:%(here)s/jwt.secret
api_token.jwt.decode.secret = file:%(here)s/jwt.secret
`, files: map[string]string{"jwt.secret": "crlf-secret\r\n"}},
	{name: "2.11 file secret with CRLF", version: "2.11.0", ini: `
[app:main]
api_token.jwt.encode.secret = file:%(here)s/jwt.secret
api_token.jwt.decode.secret = file:%(here)s/jwt.secret
`, files: map[string]string{"jwt.secret": "crlf-secret\r\nline2\r"}},
}

// writeStyle writes the style's ckan.ini (and secret files) into a new
// directory and returns the ini's path.
func writeStyle(t *testing.T, s ckanStyle, extra string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range s.files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return writeFile(t, filepath.Join(dir, "ckan.ini"), s.ini+extra)
}

// TestSecretsAsCKAN signs tokens with the secret resolved for each CKAN
// version's config style and has PyJWT verify them with the secret
// Python resolves as that CKAN version does; the token is byte for byte
// what PyJWT makes.
func TestSecretsAsCKAN(t *testing.T) {
	for _, s := range ckanStyles {
		t.Run(s.name, func(t *testing.T) {
			path := writeStyle(t, s, "")
			cfg := Config{Lookup: readTestINI(t, path).Get, CKANVersion: s.version}
			secret, err := cfg.EncodeSecret()
			if err != nil {
				t.Fatal(err)
			}
			n, err := cfg.nbytes()
			if err != nil {
				t.Fatal(err)
			}
			jti, err := newTokenID(n)
			if err != nil {
				t.Fatal(err)
			}
			iat := time.Now().Unix()
			token, err := signHS256(jti, iat, secret)
			if err != nil {
				t.Fatal(err)
			}
			out, err := python(t, pyCKAN, path, s.version, token)
			if err != nil {
				t.Fatalf("PyJWT rejects the token: %v", err)
			}
			var got struct {
				Claims map[string]any    `json:"claims"`
				PyJWT  string            `json:"pyjwt"`
				Header map[string]string `json:"header"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if got.Claims["jti"] != jti || got.Claims["iat"] != float64(iat) || len(got.Claims) != 2 {
				t.Errorf("claims = %v", got.Claims)
			}
			if got.PyJWT != token {
				t.Errorf("token differs from PyJWT's:\n%s\n%s", token, got.PyJWT)
			}
			if strings.Split(token, ".")[0] != b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) {
				t.Errorf("header = %v", got.Header)
			}
			if err := VerifyToken(token, cfg); err != nil {
				t.Errorf("VerifyToken: %v", err)
			}
			if s.version == "2.9.11" && strings.Contains(s.ini, "nbytes = 60") && len(jti) != 80 {
				t.Errorf("api_token.nbytes = 60 gave a %d-character id", len(jti))
			}
			if !strings.Contains(s.ini, "nbytes") && len(jti) != 43 {
				t.Errorf("32 random bytes should give 43 characters, got %d", len(jti))
			}
		})
	}
}

func TestSecretErrors(t *testing.T) {
	cfgOf := func(version string, kv map[string]string) Config {
		return Config{CKANVersion: version, Lookup: func(k string) (string, bool) { v, ok := kv[k]; return v, ok }}
	}
	// Unknown version, fallback ambiguous between 2.10 and 2.11.
	amb := map[string]string{"SECRET_KEY": "a", "beaker.session.secret": "b"}
	if _, err := cfgOf("", amb).EncodeSecret(); err == nil || !strings.Contains(err.Error(), "SECRET_KEY differs from beaker.session.secret") {
		t.Errorf("ambiguous: %v", err)
	}
	for version, want := range map[string]string{"2.10.3": "b", "2.11.0": "a", "2.9.1": "b"} {
		if s, err := cfgOf(version, amb).EncodeSecret(); err != nil || string(s) != want {
			t.Errorf("%s: %q, %v", version, s, err)
		}
	}
	// Unknown version, unambiguous.
	for kv, want := range map[*map[string]string]string{
		{"beaker.session.secret": "b"}:                    "b",
		{"SECRET_KEY": "a"}:                               "a",
		{"SECRET_KEY": "s", "beaker.session.secret": "s"}: "s",
		{"api_token.jwt.encode.secret": "x:y:z"}:          "y:z",
	} {
		if s, err := cfgOf("", *kv).EncodeSecret(); err != nil || string(s) != want {
			t.Errorf("%v: %q, %v", *kv, s, err)
		}
	}
	for what, kv := range map[string]map[string]string{
		"no secret":    {},
		"no prefix":    {"api_token.jwt.encode.secret": "plain"},
		"empty string": {"api_token.jwt.encode.secret": "string:"},
		"missing file": {"api_token.jwt.encode.secret": "file:/nonexistent/jwt.key"},
	} {
		_, err := cfgOf("2.10", kv).EncodeSecret()
		if err == nil || !strings.Contains(err.Error(), "api_token.jwt.encode.secret") {
			t.Errorf("%s: %v", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	// CR in a file secret with unknown version
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "k"), "a\r\n")
	if _, err := cfgOf("", map[string]string{"api_token.jwt.encode.secret": "file:" + p}).EncodeSecret(); err == nil || !strings.Contains(err.Error(), "carriage return") {
		t.Errorf("CR: %v", err)
	}
	if _, err := cfgOf("", map[string]string{"api_token.nbytes": "lots"}).nbytes(); err == nil {
		t.Error("bad nbytes accepted")
	}
	if a := cfgOf("", nil).Algorithm(); a != "HS256" {
		t.Errorf("default algorithm %s", a)
	}
}
