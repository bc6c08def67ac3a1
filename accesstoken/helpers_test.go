package accesstoken

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/testtool"
)

// testINI is a small reader of ckan.ini for tests (the real one is
// package ckanini): sections, "key = value" lines, [DEFAULT] fallback and
// %(key)s interpolation with %(here)s, like Python's ConfigParser.
type testINI struct {
	sections map[string]map[string]string
}

func readTestINI(t *testing.T, path string) *testINI {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ini := &testINI{sections: map[string]map[string]string{"DEFAULT": {"here": filepath.Dir(path), "__file__": path}}}
	sec := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			sec = line[1 : len(line)-1]
			if ini.sections[sec] == nil {
				ini.sections[sec] = map[string]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		ini.sections[sec][strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return ini
}

var interp = regexp.MustCompile(`%\(([^)]+)\)s`)

func (ini *testINI) raw(key string) (string, bool) {
	if v, ok := ini.sections["app:main"][key]; ok {
		return v, true
	}
	v, ok := ini.sections["DEFAULT"][key]
	return v, ok
}

// Get is the lookup function Config takes.
func (ini *testINI) Get(key string) (string, bool) {
	v, ok := ini.raw(key)
	for range 10 {
		v = interp.ReplaceAllStringFunc(v, func(m string) string {
			r, _ := ini.raw(interp.FindStringSubmatch(m)[1])
			return r
		})
	}
	return v, ok
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// certOptions describe a test certificate.
type certOptions struct {
	cn        string
	dnsNames  []string
	ips       []net.IP
	notBefore time.Time
	notAfter  time.Time
	parent    *x509.Certificate
	parentKey *ecdsa.PrivateKey
	isCA      bool
}

// newCert returns a certificate (DER) and its key.
func newCert(t *testing.T, o certOptions) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.cn, Organization: []string{"DCOR test"}},
		DNSNames:              o.dnsNames,
		IPAddresses:           o.ips,
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  o.isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	parent, parentKey := tmpl, key
	if o.parent != nil {
		parent, parentKey = o.parent, o.parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func pemOf(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func keyPEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// python runs a Python program with Debian's python3 and returns its
// standard output; a failure is returned with standard error.
func python(t *testing.T, program string, args ...string) (string, error) {
	t.Helper()
	py := testtool.Python(t)
	cmd := exec.Command(py, append([]string{"-c", program}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), &pyError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type pyError struct {
	err    error
	stderr string
}

func (e *pyError) Error() string { return e.err.Error() + ": " + e.stderr }
