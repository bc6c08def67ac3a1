package accesstoken

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ckan.ini keys that token minting reads (facts §5).
const (
	keyEncodeSecret = "api_token.jwt.encode.secret"
	keyDecodeSecret = "api_token.jwt.decode.secret"
	keyAlgorithm    = "api_token.jwt.algorithm"
	keyNBytes       = "api_token.nbytes"
	keyBeaker       = "beaker.session.secret"
	keySecretKey    = "SECRET_KEY"
	keyDatabase     = "sqlalchemy.url"
)

// Config is the part of ckan.ini that minting and checking tokens reads.
type Config struct {
	// Lookup returns the value of a key of ckan.ini's [app:main] section,
	// interpolated, with [DEFAULT] as fallback (ckanini.File.Get).
	Lookup func(key string) (string, bool)
	// ReadFile reads the file named by a "file:" secret; nil means
	// os.ReadFile. The CLI maps host paths under --root with it.
	ReadFile func(path string) ([]byte, error)
	// CKANVersion is the installed CKAN's version ("2.9.11", "2.10.4",
	// "2.11"), or "" when unknown. Secret resolution differs between 2.9,
	// 2.10 and 2.11 only in corner cases; when it matters and the version
	// is unknown, resolution fails rather than guessing.
	CKANVersion string
}

func (c Config) get(key string) string {
	if c.Lookup == nil {
		return ""
	}
	v, _ := c.Lookup(key)
	return strings.TrimSpace(v)
}

// Algorithm is the JWT algorithm CKAN signs tokens with
// (api_token.jwt.algorithm, default HS256).
func (c Config) Algorithm() string {
	if a := c.get(keyAlgorithm); a != "" {
		return a
	}
	return "HS256"
}

// nbytes is api_token.nbytes: the number of random bytes of a token id.
func (c Config) nbytes() (int, error) {
	v := c.get(keyNBytes)
	if v == "" {
		return 32, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 16 || n > 1024 {
		return 0, fmt.Errorf("%s = %q in ckan.ini: expected a number of bytes between 16 and 1024 (CKAN's default is 32)", keyNBytes, v)
	}
	return n, nil
}

// ckanMinor returns the minor version of CKAN 2.x, or -1 when unknown.
func (c Config) ckanMinor() int {
	v := strings.TrimPrefix(strings.TrimSpace(c.CKANVersion), "v")
	major, rest, ok := strings.Cut(v, ".")
	if !ok || major != "2" {
		return -1
	}
	minor, _, _ := strings.Cut(rest, ".")
	n, err := strconv.Atoi(minor)
	if err != nil {
		return -1
	}
	return n
}

// EncodeSecret returns the key CKAN signs API tokens with, resolved from
// ckan.ini exactly as CKAN does.
func (c Config) EncodeSecret() ([]byte, error) { return c.secret(keyEncodeSecret) }

// DecodeSecret returns the key CKAN verifies API tokens with.
func (c Config) DecodeSecret() ([]byte, error) { return c.secret(keyDecodeSecret) }

// secret follows CKAN's ckan.lib.api_token._get_secret: the value of key,
// else "string:" + the fallback (beaker.session.secret in 2.9 and 2.10;
// SECRET_KEY, itself defaulting to beaker.session.secret, in 2.11), then
// split at the first ":" into type and value; type "file" reads the file
// (raw bytes in 2.9, text with universal newlines in 2.10+), any other
// type uses the value as it is. An empty result is an error, as in CKAN.
func (c Config) secret(key string) ([]byte, error) {
	minor := c.ckanMinor()
	source := key
	secret := c.get(key)
	if secret == "" {
		beaker, secretKey := c.get(keyBeaker), c.get(keySecretKey)
		switch {
		case minor >= 0 && minor <= 10:
			secret, source = "string:"+beaker, keyBeaker
		case secretKey != "" || minor >= 11:
			if minor < 0 && beaker != "" && secretKey != beaker {
				return nil, fmt.Errorf("%s is not set in ckan.ini and SECRET_KEY differs from beaker.session.secret: CKAN 2.11 signs API tokens with SECRET_KEY, 2.9 and 2.10 with beaker.session.secret, and the CKAN version is unknown; set %s = string:%%(SECRET_KEY)s (2.11) or string:%%(beaker.session.secret)s (2.9, 2.10) in ckan.ini", key, key)
			}
			if secretKey == "" {
				secretKey = beaker
			}
			secret, source = "string:"+secretKey, keySecretKey
		default:
			secret, source = "string:"+beaker, keyBeaker
		}
	}
	typ, value, ok := strings.Cut(secret, ":")
	if !ok {
		return nil, fmt.Errorf("%s in ckan.ini must start with \"string:\" or \"file:\" (CKAN cannot use it either); e.g. %s = string:%%(beaker.session.secret)s", key, key)
	}
	if typ == "file" {
		read := c.ReadFile
		if read == nil {
			read = os.ReadFile
		}
		b, err := read(value)
		if err != nil {
			return nil, fmt.Errorf("read the API token secret file named by %s (%s): %w", key, value, err)
		}
		if minor != 9 && strings.ContainsRune(string(b), '\r') {
			if minor < 0 {
				return nil, fmt.Errorf("the API token secret file %s (from %s) contains carriage returns, which CKAN 2.9 keeps and 2.10+ reads as newlines, and the CKAN version is unknown; remove them (e.g. dos2unix) and restart CKAN", value, key)
			}
			// Python's text mode: universal newlines.
			s := strings.ReplaceAll(string(b), "\r\n", "\n")
			b = []byte(strings.ReplaceAll(s, "\r", "\n"))
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("the API token secret file %s (from %s) is empty: CKAN refuses an empty secret", value, key)
		}
		return b, nil
	}
	if value == "" {
		return nil, fmt.Errorf("no API token secret: neither %s nor %s is set in ckan.ini (CKAN refuses to sign tokens without one)", key, source)
	}
	return []byte(value), nil
}
