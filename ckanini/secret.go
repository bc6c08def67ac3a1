package ckanini

import (
	"regexp"
	"strings"
)

// secretKeys are options whose values hold secrets although their names do
// not say so.
var secretKeys = map[string]bool{
	"sqlalchemy.url":           true, // postgresql://user:PASSWORD@host/db
	"ckan.datastore.write_url": true,
	"ckan.datastore.read_url":  true,
}

// publicKeys are options whose names look secret but whose values are not.
var publicKeys = map[string]bool{
	"beaker.session.key": true, // the name of the session cookie
}

// IsSecret reports whether the value of the option key is (or contains) a
// secret that must not be printed. The rule, case-insensitive:
//
//   - sqlalchemy.url and ckan.datastore.write_url/read_url (their passwords);
//   - otherwise, looking at the last dot-separated part of the key only: it
//     contains "secret", "password", "passwd" or "passphrase", or one of its
//     words (separated by '_' or '-') ends in "key" or "token" — so
//     SECRET_KEY, beaker.session.validate_key, ckan.recaptcha.privatekey and
//     ckan.datapusher.api_token are secrets, while plural words
//     (ckan.auth.create_default_api_keys), words starting with "public"
//     (ckan.recaptcha.publickey), api_token.nbytes and beaker.session.key
//     (a cookie name) are not.
func IsSecret(key string) bool {
	k := strings.ToLower(key)
	if secretKeys[k] {
		return true
	}
	if publicKeys[k] {
		return false
	}
	last := k[strings.LastIndexByte(k, '.')+1:]
	for _, s := range []string{"secret", "password", "passwd", "passphrase"} {
		if strings.Contains(last, s) {
			return true
		}
	}
	for _, w := range strings.FieldsFunc(last, func(r rune) bool { return r == '_' || r == '-' }) {
		if strings.HasPrefix(w, "public") {
			continue
		}
		if strings.HasSuffix(w, "key") || strings.HasSuffix(w, "token") {
			return true
		}
	}
	return false
}

// urlCred matches the user-information part of a URL with a password:
// scheme "://" user ":" password "@". The password runs to the first '@'.
var urlCred = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)([^\s@]*)@`)

// queryPass matches a password given as a URL query parameter or in a
// libpq-style connection string.
var queryPass = regexp.MustCompile(`(?i)((?:^|[?&;\s])(?:password|passwd|pwd)=)([^&;\s]*)`)

// Mask returns value fit to be printed for the option key. Passwords in URLs
// (scheme://user:PASSWORD@host, ?password=...) are replaced by "****" in any
// value, keeping the rest of the URL. Otherwise the value of a secret option
// (see IsSecret) becomes "****" ("string:****" for "string:..."), unless it
// is empty, a "file:" reference, or the URL of an option named *url* (such
// a URL without a password in it shows as is). Other values are returned unchanged.
func Mask(key, value string) string {
	masked := urlCred.ReplaceAllString(value, "${1}****@")
	masked = queryPass.ReplaceAllString(masked, "${1}****")
	if masked != value {
		return masked
	}
	if !IsSecret(key) || value == "" {
		return value
	}
	switch {
	case strings.HasPrefix(value, "file:"):
		return value
	case strings.HasPrefix(value, "string:"):
		return "string:****"
	case strings.Contains(strings.ToLower(key), "url") && strings.Contains(value, "://"):
		return value
	}
	return "****"
}
