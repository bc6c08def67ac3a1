package accesstoken

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// expiryWarning is how close to its end a certificate's validity must be
// for Check to warn.
const expiryWarning = 30 * 24 * time.Hour

// Certificate is the server certificate (chain) put into a .dcor-access
// file: the client takes the host name from the leaf's subject CN and
// pins the certificate for TLS.
type Certificate struct {
	// PEM holds the certificates only, leaf first, re-encoded (no text,
	// no keys), as written to server.cert.
	PEM []byte
	// Leaf is the first certificate.
	Leaf *x509.Certificate
	// Chain holds the certificates after the leaf.
	Chain []*x509.Certificate
}

// Host is the server host name the client connects to: the leaf's
// subject CN.
func (c Certificate) Host() string { return c.Leaf.Subject.CommonName }

// SANs lists the leaf's DNS and IP subject alternative names.
func (c Certificate) SANs() []string {
	sans := append([]string(nil), c.Leaf.DNSNames...)
	for _, ip := range c.Leaf.IPAddresses {
		sans = append(sans, ip.String())
	}
	return sans
}

// ParseCertificate reads a PEM certificate (the leaf first, a chain may
// follow) as it goes into a .dcor-access file. It refuses a file that
// holds a private key, a DER certificate and a leaf without subject CN;
// name says where the data came from, for messages.
func ParseCertificate(name string, data []byte) (Certificate, error) {
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		return Certificate{}, fmt.Errorf("%s contains a private key: the access file must hold the certificate only; give a file with just the CERTIFICATE block(s)", name)
	}
	var (
		c    Certificate
		rest = data
		out  bytes.Buffer
		n    int
	)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return Certificate{}, fmt.Errorf("%s contains a private key: give a file with just the CERTIFICATE block(s)", name)
			}
			return Certificate{}, fmt.Errorf("%s holds a PEM %q block: expected only CERTIFICATE blocks, the server's certificate first", name, block.Type)
		}
		n++
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return Certificate{}, fmt.Errorf("%s: certificate %d is not valid X.509: %v", name, n, err)
		}
		if c.Leaf == nil {
			c.Leaf = cert
		} else {
			c.Chain = append(c.Chain, cert)
		}
		pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})
	}
	if c.Leaf == nil {
		if _, err := x509.ParseCertificate(data); err == nil {
			return Certificate{}, fmt.Errorf("%s is a DER (binary) certificate: convert it to PEM with `openssl x509 -inform der -in %s -out server.pem` and pass that", name, name)
		}
		if len(data) > 0 && data[0] == 0x30 {
			return Certificate{}, fmt.Errorf("%s is binary (DER) data, not a PEM certificate: pass the PEM certificate nginx serves (ssl_certificate)", name)
		}
		return Certificate{}, fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", name)
	}
	if strings.TrimSpace(c.Leaf.Subject.CommonName) == "" {
		return Certificate{}, fmt.Errorf("%s: the certificate (subject %q) has no common name (CN): DCOR-Aid takes the server's host name from it; issue a certificate with CN=<host name>", name, c.Leaf.Subject.String())
	}
	c.PEM = out.Bytes()
	return c, nil
}

// Check returns the problems of the certificate at time now: an expired
// certificate is an error; a certificate that is not yet valid, expires
// within 30 days, has no subjectAltName matching its CN (current
// clients then fail with a host name mismatch) or comes with a chain out
// of order gives warnings.
func (c Certificate) Check(now time.Time) (warnings []string, err error) {
	leaf := c.Leaf
	host := c.Host()
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("the certificate for %s expired on %s: renew it (or pass the renewed file with --cert)", host, leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if now.Before(leaf.NotBefore) {
		warnings = append(warnings, fmt.Sprintf("the certificate for %s is not valid before %s", host, leaf.NotBefore.UTC().Format(time.RFC3339)))
	}
	if left := leaf.NotAfter.Sub(now); left < expiryWarning {
		warnings = append(warnings, fmt.Sprintf("the certificate for %s expires in %d days (%s): renew it soon and send users a new access file",
			host, int(left.Hours()/24), leaf.NotAfter.UTC().Format(time.DateOnly)))
	}
	if err := leaf.VerifyHostname(host); err != nil {
		warnings = append(warnings, fmt.Sprintf("no subjectAltName of the certificate matches its CN %s (SANs: %s): current clients reject it with a host name mismatch; reissue it with subjectAltName=DNS:%s",
			host, orNone(c.SANs()), host))
	}
	prev := leaf
	for i, ca := range c.Chain {
		if err := prev.CheckSignatureFrom(ca); err != nil {
			warnings = append(warnings, fmt.Sprintf("certificate %d of the chain did not sign certificate %d: put the server's certificate first, then its issuers in order", i+2, i+1))
			break
		}
		prev = ca
	}
	return warnings, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
