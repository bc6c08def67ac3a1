package inspect

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/nginxconf"
)

// certWarnBefore is how long before its expiry a certificate is reported.
const certWarnBefore = 30 * 24 * time.Hour

// certPair is a certificate and its key as an nginx site names them.
type certPair struct{ cert, key string }

// certFindings checks the TLS certificates that the nginx site (host path
// sitePath, content site) names, resolved under --root: a certificate
// that cannot be read or has expired is a failure, one that expires
// within 30 days a warning, and a key that does not belong to its
// certificate a failure of its own.
func certFindings(h host.Host, sitePath string, site []byte, now time.Time) []*Finding {
	cfg, err := nginxconf.Parse(site)
	if err != nil {
		return nil // the site's own finding says so
	}
	var out []*Finding
	seenCert := map[string]bool{}
	seenPair := map[certPair]bool{}
	for _, pr := range sitePairs(cfg.Statements()) {
		if seenPair[pr] {
			continue
		}
		seenPair[pr] = true
		cert, f := readCert(h, sitePath, pr.cert, now, !seenCert[pr.cert])
		seenCert[pr.cert] = true
		if f != nil {
			out = append(out, f)
		}
		if cert == nil || pr.key == "" {
			continue
		}
		if f := checkKey(h, sitePath, pr, cert); f != nil {
			out = append(out, f)
		}
	}
	return out
}

// sitePairs lists the certificate/key pairs of a site: each block that
// sets ssl_certificate pairs its certificates, in order, with its keys or
// those it inherits (nginx pairs the n-th certificate with the n-th key).
// Paths with variables or data: values are left out.
func sitePairs(stmts []*nginxconf.Statement) []certPair {
	var out []certPair
	var walk func(stmts []*nginxconf.Statement, keys []string)
	walk = func(stmts []*nginxconf.Statement, keys []string) {
		var certs, own []string
		for _, s := range stmts {
			if s.Block || len(s.Args) == 0 {
				continue
			}
			switch s.Name {
			case "ssl_certificate":
				certs = append(certs, s.Args[0])
			case "ssl_certificate_key":
				own = append(own, s.Args[0])
			}
		}
		if len(own) > 0 {
			keys = own
		}
		for i, c := range certs {
			k := ""
			if i < len(keys) {
				k = keys[i]
			}
			if plainPath(c) {
				if !plainPath(k) {
					k = ""
				}
				out = append(out, certPair{confPath(c), confPath(k)})
			}
		}
		for _, s := range stmts {
			if s.Block {
				walk(s.Children, keys)
			}
		}
	}
	walk(stmts, nil)
	return out
}

// plainPath reports whether an nginx value is a file name (not a
// variable, "data:…" or "engine:…").
func plainPath(v string) bool {
	return v != "" && !strings.Contains(v, "$") && !strings.HasPrefix(v, "data:") && !strings.HasPrefix(v, "engine:")
}

// confPath resolves a path of the configuration: relative paths are
// relative to /etc/nginx, as nginx resolves them.
func confPath(v string) string {
	if v == "" || path.IsAbs(v) {
		return v
	}
	return path.Join(nginxDir, v)
}

// readCert reads the leaf certificate at host path p. report says
// whether its expiry is reported (once per certificate).
func readCert(h host.Host, sitePath, p string, now time.Time, report bool) (*x509.Certificate, *Finding) {
	fail := func(format string, args ...any) (*x509.Certificate, *Finding) {
		if !report {
			return nil, nil
		}
		return nil, &Finding{Path: p, Severity: Failure, Message: fmt.Sprintf(format, args...)}
	}
	data, err := os.ReadFile(h.Path(p))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fail("the certificate %s named in %s does not exist: nginx will not start", p, sitePath)
		}
		return fail("cannot read the certificate %s named in %s: %v", p, sitePath, hostError(h, h.Path(p), err))
	}
	var cert *x509.Certificate
	for rest := data; cert == nil; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return fail("%s (named in %s) holds no PEM certificate", p, sitePath)
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if cert, err = x509.ParseCertificate(b.Bytes); err != nil {
			return fail("cannot parse the certificate %s: %v", p, err)
		}
	}
	if !report {
		return cert, nil
	}
	day := cert.NotAfter.UTC().Format("2006-01-02")
	switch left := cert.NotAfter.Sub(now); {
	case left <= 0:
		return cert, &Finding{Path: p, Severity: Failure,
			Message: fmt.Sprintf("the certificate %s expired on %s: renew it (browsers and DCOR-Aid refuse the site)", p, day)}
	case left < certWarnBefore:
		return cert, &Finding{Path: p, Severity: Warning,
			Message: fmt.Sprintf("the certificate %s expires on %s, in %d days: renew it", p, day, int(math.Ceil(left.Hours()/24)))}
	}
	return cert, nil
}

// checkKey reports a key that cannot be read or does not belong to cert.
// An encrypted key (ssl_password_file) is not checked.
func checkKey(h host.Host, sitePath string, pr certPair, cert *x509.Certificate) *Finding {
	data, err := os.ReadFile(h.Path(pr.key))
	if err != nil {
		msg := fmt.Sprintf("cannot read the key %s named in %s: %v", pr.key, sitePath, hostError(h, h.Path(pr.key), err))
		if errors.Is(err, os.ErrNotExist) {
			msg = fmt.Sprintf("the key %s named in %s does not exist: nginx will not start", pr.key, sitePath)
		}
		return &Finding{Path: pr.key, Severity: Failure, Message: msg}
	}
	var key crypto.Signer
	for rest := data; key == nil; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return &Finding{Path: pr.key, Severity: Failure, Message: fmt.Sprintf("%s (named in %s) holds no PEM private key", pr.key, sitePath)}
		}
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return nil
		}
		if key, err = parsePrivateKey(b); err != nil {
			return &Finding{Path: pr.key, Severity: Failure, Message: fmt.Sprintf("cannot parse the key %s: %v", pr.key, err)}
		}
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return &Finding{Path: pr.key, Severity: Failure,
			Message: fmt.Sprintf("the key %s does not belong to the certificate %s: nginx will not start; name the matching pair in %s", pr.key, pr.cert, sitePath)}
	}
	return nil
}

// parsePrivateKey parses a PKCS #8, PKCS #1 (RSA) or SEC 1 (EC) key.
func parsePrivateKey(b *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return s, nil
}

// Certificate is a TLS certificate that the nginx site names, checked as
// inspect checks it (Certificates).
type Certificate struct {
	// Path is its host path.
	Path string
	// NotAfter is when it expires (zero when it could not be read).
	NotAfter time.Time
	// Finding is set when it cannot be read, has expired (Failure) or
	// expires within 30 days (Warning).
	Finding *Finding
}

// Certificates reads the nginx site at host path sitePath (under --root)
// and checks each certificate it names, once each, in order: what inspect
// reports of them. A site that cannot be read or parsed is an error.
func Certificates(h host.Host, sitePath string, now time.Time) ([]Certificate, error) {
	data, err := os.ReadFile(h.Path(sitePath))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the nginx site %s does not exist", sitePath)
		}
		return nil, fmt.Errorf("cannot read the nginx site %s: %v", sitePath, hostError(h, h.Path(sitePath), err))
	}
	cfg, err := nginxconf.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", sitePath, err)
	}
	var out []Certificate
	seen := map[string]bool{}
	for _, pr := range sitePairs(cfg.Statements()) {
		if seen[pr.cert] {
			continue
		}
		seen[pr.cert] = true
		cert, f := readCert(h, sitePath, pr.cert, now, true)
		c := Certificate{Path: pr.cert, Finding: f}
		if cert != nil {
			c.NotAfter = cert.NotAfter
		}
		out = append(out, c)
	}
	return out, nil
}
