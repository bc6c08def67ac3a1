// Package samplehost writes a drifted sample DCOR host into a directory,
// for `make demo` and the CLI tests: a CKAN 2.9 ckan.ini, CKAN's stock
// uWSGI and supervisor files, a DCOR nginx site an admin has edited, a
// self-signed certificate, a stand-in CKAN virtualenv and a site file.
package samplehost

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"embed"
	"encoding/pem"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

//go:embed all:tree
var tree embed.FS

// FQDN is the sample site's domain name.
const FQDN = "dcor.demo.example"

// Build writes the sample host under dir (created when missing).
func Build(dir string) error {
	err := fs.WalkDir(tree, "tree", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "tree")
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := tree.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		switch {
		case strings.Contains(rel, "/bin/"):
			mode = 0o755
		case strings.HasSuffix(rel, "dcor.yaml"), strings.HasSuffix(rel, "ckan.ini"):
			mode = 0o600
		}
		return os.WriteFile(dst, data, mode)
	})
	if err != nil {
		return err
	}
	// Empty directories cannot be embedded.
	for _, d := range []string{"data/ckan-demo/resources", "var/lib/ckan/webassets", "data/tmp/nginx"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	return writeCert(filepath.Join(dir, "etc/ssl/certs", FQDN+".cert"), filepath.Join(dir, "etc/ssl/private", FQDN+".key"))
}

// writeCert writes a self-signed certificate for FQDN (CN and SAN).
func writeCert(certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: FQDN},
		DNSNames:     []string{FQDN},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	for _, d := range []string{filepath.Dir(certPath), filepath.Dir(keyPath)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}
