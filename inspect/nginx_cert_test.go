package inspect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/samplehost"
	"github.com/DCOR-dev/dcor/internal/selfsigned"
)

const (
	certHostPath = "/etc/ssl/certs/site.cert"
	keyHostPath  = "/etc/ssl/private/site.key"
)

// certSite is a site that names the certificate and key.
var certSite = []byte(`server {
    listen 443 ssl;
    server_name dcor.example.org;
    ssl_certificate "` + certHostPath + `";
    ssl_certificate_key ` + keyHostPath + `;
}
`)

// certRoot writes a certificate valid for validity (negative: expired
// that long ago) and its key under a new root.
func certRoot(t *testing.T, validity time.Duration) host.Host {
	t.Helper()
	root := t.TempDir()
	if err := selfsigned.Write(filepath.Join(root, certHostPath), filepath.Join(root, keyHostPath), "dcor.example.org", validity); err != nil {
		t.Fatal(err)
	}
	return host.New(root)
}

func TestCertFindings(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name     string
		validity time.Duration
		severity Severity
		message  string
	}{
		{"valid", 365 * 24 * time.Hour, "", ""},
		{"expires in 31 days", 31 * 24 * time.Hour, "", ""},
		{"expires in 10 days", 10 * 24 * time.Hour, Warning, "the certificate " + certHostPath + " expires on "},
		{"expired", -48 * time.Hour, Failure, "the certificate " + certHostPath + " expired on "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := certRoot(t, c.validity)
			fs := certFindings(h, host.NginxSite, certSite, now)
			if c.severity == "" {
				if len(fs) != 0 {
					t.Fatalf("findings for a good certificate: %v", fs[0])
				}
				return
			}
			if len(fs) != 1 || fs[0].Severity != c.severity || !strings.Contains(fs[0].Message, c.message) || fs[0].Path != certHostPath {
				t.Fatalf("want one %s %q, got %+v", c.severity, c.message, fs)
			}
			t.Log(fs[0].Message)
			if (c.severity == Failure) != fs[0].Fails() {
				t.Errorf("Fails() = %v for a %s", fs[0].Fails(), c.severity)
			}
		})
	}
}

func TestCertFindingsKeyOfAnotherCertificate(t *testing.T) {
	h := certRoot(t, 365*24*time.Hour)
	other := t.TempDir()
	if err := selfsigned.Write(filepath.Join(other, "c"), filepath.Join(other, "k"), "dcor.example.org", time.Hour); err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(filepath.Join(other, "k"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.Path(keyHostPath), k, 0o600); err != nil {
		t.Fatal(err)
	}
	fs := certFindings(h, host.NginxSite, certSite, time.Now())
	want := "the key " + keyHostPath + " does not belong to the certificate " + certHostPath
	if len(fs) != 1 || fs[0].Severity != Failure || !strings.Contains(fs[0].Message, want) {
		t.Fatalf("want one failure %q, got %+v", want, fs)
	}
}

func TestCertFindingsMissingAndInherited(t *testing.T) {
	h := host.New(t.TempDir())
	fs := certFindings(h, host.NginxSite, certSite, time.Now())
	if len(fs) != 1 || fs[0].Severity != Failure || !strings.Contains(fs[0].Message, "the certificate "+certHostPath+" named in "+host.NginxSite+" does not exist") {
		t.Fatalf("a missing certificate: %+v", fs)
	}
	// A key set at the top of the site applies to the server's
	// certificate; variables are not files.
	h = certRoot(t, 5*24*time.Hour)
	site := []byte("ssl_certificate_key " + keyHostPath + ";\nserver {\n  ssl_certificate " + certHostPath + ";\n  ssl_certificate $ssl_server_name.crt;\n}\nserver {\n  ssl_certificate " + certHostPath + ";\n}\n")
	fs = certFindings(h, host.NginxSite, site, time.Now())
	if len(fs) != 1 || fs[0].Severity != Warning {
		t.Fatalf("want the expiry reported once, got %+v", fs)
	}
}

// TestCheckNginxReportsExpiredCertificate runs the nginx check on the
// sample host whose certificate has expired.
func TestCheckNginxReportsExpiredCertificate(t *testing.T) {
	env, dir := sampleEnv(t)
	cert := filepath.Join(dir, "etc/ssl/certs", samplehost.FQDN+".cert")
	key := filepath.Join(dir, "etc/ssl/private", samplehost.FQDN+".key")
	if err := selfsigned.Write(cert, key, samplehost.FQDN, -24*time.Hour); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range checkNginx(env) {
		if f.Severity == Failure && strings.Contains(f.Message, "/etc/ssl/certs/"+samplehost.FQDN+".cert expired on") {
			found = true
		}
	}
	if !found {
		t.Error("the nginx check does not report the expired certificate")
	}
}
