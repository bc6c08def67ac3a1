package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/selfsigned"
	"github.com/DCOR-dev/dcor/internal/testtool"
	"github.com/DCOR-dev/dcor/site"
)

// TestBackup: the newest encrypted dump's age decides: none, fresh,
// older than 26 h, older than 72 h; partial and empty files do not count.
func TestBackup(t *testing.T) {
	h := newHost(t, map[string]string{})
	c := h.config()
	check(t, "no directory", c, probeBackup, Fail, "no encrypted backup in /data/encrypted_db_dumps")
	dump := h.write("/data/encrypted_db_dumps/2026-12/ckan_db_dcor_2026-12-06_00-02-01.dump_8FD98B2183B2C228.gpg", "x")
	h.write("/data/encrypted_db_dumps/2026-12/ckan_db_dcor_2026-12-07_00-02-01.dump_8FD98B2183B2C228.gpg.partial", "x")
	h.write("/data/encrypted_db_dumps/2026-12/ckan_db_dcor_2026-12-07_00-02-02.dump_8FD98B2183B2C228.gpg", "")
	for _, tc := range []struct {
		age   time.Duration
		state State
		part  string
	}{
		{2 * time.Hour, OK, "2 h old"},
		{30 * time.Hour, Warn, "more than 26 h"},
		{80 * time.Hour, Fail, "more than 3 days"},
	} {
		mtime := c.Now.Add(-tc.age)
		if err := os.Chtimes(dump, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		check(t, tc.part, c, probeBackup, tc.state, tc.part, "/data/encrypted_db_dumps/2026-12/ckan_db_dcor_2026-12-06")
	}
}

// TestDisk: the free space of /data and /; a host without /data fails.
func TestDisk(t *testing.T) {
	h := newHost(t, map[string]string{})
	c := h.config()
	check(t, "no /data", c, probeDisk("/data"), Fail, "/data does not exist")
	os.MkdirAll(filepath.Join(h.root, "data"), 0o755)
	r := check(t, "/data", c, probeDisk("/data"), "", "/data: ", "% free")
	if r.State != OK && r.State != Warn {
		t.Errorf("/data: %s", r.State)
	}
	if (r.State == Warn) != strings.Contains(r.Reason, "under 10 %") {
		t.Errorf("state %s with reason %q", r.State, r.Reason)
	}
	// a file system with 5 % free
	defer func(f func(string, *syscall.Statfs_t) error) { statfs = f }(statfs)
	statfs = func(p string, st *syscall.Statfs_t) error {
		*st = syscall.Statfs_t{Bsize: 4096, Blocks: 1000, Bavail: 50}
		return nil
	}
	check(t, "full", c, probeDisk("/"), Warn, "/: 5 % free", "under 10 %")
}

// TestCertificate: the certificate the nginx site names: valid, expiring
// within 30 days, expired, missing.
func TestCertificate(t *testing.T) {
	h := newHost(t, map[string]string{})
	c := h.config()
	check(t, "no site", c, probeCertificate, Fail, "does not exist")
	h.write(host.NginxSite, "server {\n listen 443 ssl;\n ssl_certificate /etc/ssl/certs/s.cert;\n ssl_certificate_key /etc/ssl/private/s.key;\n}\n")
	check(t, "missing", c, probeCertificate, Fail, "/etc/ssl/certs/s.cert", "does not exist")
	for _, tc := range []struct {
		validity time.Duration
		state    State
		part     string
	}{
		{400 * 24 * time.Hour, OK, "valid until"},
		{10 * 24 * time.Hour, Warn, "renew it"},
		{-24 * time.Hour, Fail, "expired on"},
	} {
		if err := selfsigned.Write(filepath.Join(h.root, "etc/ssl/certs/s.cert"), filepath.Join(h.root, "etc/ssl/private/s.key"), "s", tc.validity); err != nil {
			t.Fatal(err)
		}
		check(t, tc.part, c, probeCertificate, tc.state, tc.part)
	}
}

// TestAPISecret: the API token secret as CKAN resolves it.
func TestAPISecret(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ini   map[string]string
		ckan  string
		state State
		part  string
	}{
		{"set", map[string]string{"SECRET_KEY": "k", "api_token.jwt.encode.secret": "string:%(SECRET_KEY)s",
			"api_token.jwt.decode.secret": "string:%(SECRET_KEY)s"}, "2.11.5", OK, "set (api_token.jwt.encode.secret)"},
		{"fallback 2.9", map[string]string{"beaker.session.secret": "b"}, "2.9.11", OK, "falls back"},
		{"none", map[string]string{"ckan.site_url": "x"}, "2.9.11", Fail, "no API token secret"},
		{"differ", map[string]string{"api_token.jwt.encode.secret": "string:a", "api_token.jwt.decode.secret": "string:b"}, "2.10.4", Fail, "different secrets"},
		{"file missing", map[string]string{"api_token.jwt.encode.secret": "file:/etc/ckan/secret", "api_token.jwt.decode.secret": "file:/etc/ckan/secret"}, "2.10.4", Fail, "/etc/ckan/secret"},
	} {
		h := newHost(t, tc.ini)
		c := h.config()
		c.versions["ckan"] = tc.ckan
		check(t, tc.name, c, probeAPISecret, tc.state, tc.part)
	}
	// a file: secret resolves under the root
	h := newHost(t, map[string]string{"api_token.jwt.encode.secret": "file:/etc/ckan/secret", "api_token.jwt.decode.secret": "file:/etc/ckan/secret"})
	h.write("/etc/ckan/secret", "s3cret")
	check(t, "file", h.config(), probeAPISecret, OK, "set")
}

// TestVenv: CKAN's and the DCOR packages' metadata.
func TestVenv(t *testing.T) {
	h := newHost(t, map[string]string{})
	c := h.config()
	check(t, "empty", c, probeVenv, Fail, "no CKAN in the virtualenv")
	c.versions = map[string]string{"ckan": "2.11.5", "dcor-shared": "1"}
	check(t, "partial", c, probeVenv, Warn, "CKAN 2.11.5", "not installed: ckanext-dc_log_view")
}

// TestNginx: the real nginx -t on the host's site (tested alone in a
// tree without nginx.conf): a good site, a broken one.
func TestNginx(t *testing.T) {
	testtool.Need(t, "nginx", "/usr/sbin")
	h := newHost(t, map[string]string{})
	c := h.config()
	check(t, "no site", c, probeNginx, Fail, "does not exist")
	h.write(host.NginxSite, "server {\n listen 127.0.0.1:8081;\n location / { return 200; }\n}\n")
	check(t, "good", c, probeNginx, OK, "configuration test passed")
	h.write(host.NginxSite, "server {\n listen 127.0.0.1:8081;\n location / { retrun 200; }\n}\n")
	check(t, "broken", c, probeNginx, Fail, `unknown directive "retrun"`, host.NginxSite)
}

// TestSiteFile: missing is a warning, unreadable a failure.
func TestSiteFile(t *testing.T) {
	c := newHost(t, map[string]string{}).config()
	check(t, "present", c, probeSiteFile, OK, "development site localhost")
	c.SiteErr = fmt.Errorf("%w at /etc/dcor/dcor.yaml", site.ErrNoSiteFile)
	check(t, "missing", c, probeSiteFile, Warn, "run `dcor init`")
	c.SiteErr = errors.New("/etc/dcor/dcor.yaml: yaml: line 2: bad")
	check(t, "bad", c, probeSiteFile, Fail, "line 2")
}

// TestRun: under --root the network probes are skipped and the others
// run; with the network on, a service that accepts and never answers
// fails at the timeout and the whole run ends soon after it.
func TestRun(t *testing.T) {
	h := newHost(t, map[string]string{})
	h.config() // writes ckan.ini
	env := &Env{Host: host.New(h.root), Site: h.site, SitePath: host.DefaultSiteFile, CKANIni: host.DefaultCKANIni,
		Venv: host.DefaultVenv, Network: false}
	rep := Run(context.Background(), env)
	byName := map[string]Result{}
	for _, r := range rep.Results {
		byName[r.Name] = r
	}
	for _, n := range []string{"supervisord", "https", "uwsgi", "ckan", "postgresql", "redis", "solr", "object-storage"} {
		if r := byName[n]; r.State != Skip || !strings.Contains(r.Reason, "not the running system") {
			t.Errorf("--root: %s: %s %q, want skip", n, r.State, r.Reason)
		}
	}
	if r := byName["backup"]; r.State != Fail {
		t.Errorf("--root: backup %s %q, want fail (file probes run)", r.State, r.Reason)
	}
	if rep.State() != Fail || rep.FirstProblem() == nil || rep.FirstProblem().State != Fail {
		t.Errorf("state %s, first problem %v", rep.State(), rep.FirstProblem())
	}
	if c := rep.Counts(); c[Skip] != 8 || c[OK]+c[Warn]+c[Fail]+c[Skip] != len(rep.Results) {
		t.Errorf("counts %v of %d results", c, len(rep.Results))
	}
	if len(rep.Packages) != 9 || rep.Packages[0].Name != "ckan" {
		t.Errorf("packages %v", rep.Packages)
	}

	// a Redis that never answers
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	h2 := newHost(t, map[string]string{"ckan.redis.url": "redis://" + l.Addr().String() + "/0"})
	h2.config()
	env = &Env{Host: host.New(h2.root), Site: h2.site, SitePath: host.DefaultSiteFile, CKANIni: host.DefaultCKANIni,
		Venv: host.DefaultVenv, Network: true, Timeout: 300 * time.Millisecond}
	start := time.Now()
	rep = Run(context.Background(), env)
	took := time.Since(start)
	for _, r := range rep.Results {
		if r.Name == "redis" && (r.State != Fail || !strings.Contains(r.Reason, "no answer")) {
			t.Errorf("silent redis: %s %q", r.State, r.Reason)
		}
		if r.Duration > 2*time.Second {
			t.Errorf("%s took %s with a 300ms timeout", r.Name, r.Duration)
		}
	}
	if took > 3*time.Second {
		t.Errorf("the run took %s with a 300ms timeout", took)
	}
}
