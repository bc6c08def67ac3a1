package accesstoken

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseCertificate(t *testing.T) {
	now := time.Now()
	ca, caKey := newCert(t, certOptions{cn: "DCOR test CA", isCA: true})
	leaf, leafKey := newCert(t, certOptions{cn: "dcor.example.org", dnsNames: []string{"dcor.example.org"}, parent: ca, parentKey: caKey})

	// leaf then chain, with text around (as `openssl x509 -text` writes)
	data := append([]byte("subject=CN = dcor.example.org\n"), pemOf(leaf, ca)...)
	c, err := ParseCertificate("site.pem", data)
	if err != nil {
		t.Fatal(err)
	}
	if c.Host() != "dcor.example.org" || len(c.Chain) != 1 || string(c.PEM) != string(pemOf(leaf, ca)) {
		t.Fatalf("parsed %q, chain %d, PEM re-encoded: %v", c.Host(), len(c.Chain), string(c.PEM) == string(pemOf(leaf, ca)))
	}
	if w, err := c.Check(now); err != nil || len(w) != 0 {
		t.Fatalf("good certificate: warnings %v, %v", w, err)
	}

	// chain in the wrong order: the CA first is taken as the leaf
	c, _ = ParseCertificate("rev.pem", pemOf(ca, leaf))
	w, _ := c.Check(now)
	if !contains(w, "put the server's certificate first") {
		t.Errorf("reversed chain: %v", w)
	}

	refused := map[string][]byte{
		"private key":     append(pemOf(leaf), keyPEM(t, leafKey)...),
		"private key 2":   keyPEM(t, leafKey),
		"DER":             leaf.Raw,
		"no common name":  pemOf(mustCert(t, certOptions{dnsNames: []string{"dcor.example.org"}})),
		"no PEM":          []byte("hello"),
		"CERTIFICATE REQ": []byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"),
		"not valid X.509": []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
	}
	// an RSA key in traditional format
	refused["private key 3"] = append(pemOf(leaf), []byte("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n")...)
	for what, data := range refused {
		_, err := ParseCertificate("in.pem", data)
		if err == nil {
			t.Errorf("%s: accepted", what)
			continue
		}
		t.Logf("%s: %v", what, err)
		want := map[string]string{
			"private key": "contains a private key", "DER": "openssl x509 -inform der",
			"no common name": "no common name (CN)", "no PEM": "no PEM certificate",
			"CERTIFICATE REQ": "CERTIFICATE REQUEST", "not valid X.509": "not valid X.509",
		}[strings.TrimRight(what, " 23")]
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "in.pem") {
			t.Errorf("%s: %v, want %q and the file name", what, err, want)
		}
	}
}

func mustCert(t *testing.T, o certOptions) *x509.Certificate {
	c, _ := newCert(t, o)
	return c
}

func TestCertificateWarnings(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		opt  certOptions
		warn string
		err  string
	}{
		{"CN only", certOptions{cn: "dcor.example.org"}, "no subjectAltName of the certificate matches its CN dcor.example.org (SANs: none)", ""},
		{"other SAN", certOptions{cn: "dcor.example.org", dnsNames: []string{"www.example.org"}}, "SANs: www.example.org", ""},
		{"wildcard SAN", certOptions{cn: "dcor.example.org", dnsNames: []string{"*.example.org"}}, "", ""},
		{"IP", certOptions{cn: "10.0.0.7", ips: []net.IP{net.ParseIP("10.0.0.7")}}, "", ""},
		{"IP CN, DNS SAN", certOptions{cn: "10.0.0.7", dnsNames: []string{"dcor"}}, "matches its CN 10.0.0.7", ""},
		{"expires soon", certOptions{cn: "h", dnsNames: []string{"h"}, notAfter: now.Add(10 * 24 * time.Hour)}, "expires in 9 days", ""},
		{"not yet valid", certOptions{cn: "h", dnsNames: []string{"h"}, notBefore: now.Add(time.Hour)}, "not valid before", ""},
		{"expired", certOptions{cn: "h", dnsNames: []string{"h"}, notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Hour)}, "", "expired on"},
	} {
		c, err := ParseCertificate(tc.name, pemOf(mustCert(t, tc.opt)))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		w, err := c.Check(now)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.warn == "" && len(w) != 0 || tc.warn != "" && !contains(w, tc.warn) {
			t.Errorf("%s: warnings %q, want %q", tc.name, w, tc.warn)
		}
	}
}

func contains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
