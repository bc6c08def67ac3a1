package inspect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/selfsigned"
	"github.com/DCOR-dev/dcor/internal/testtool"
	"github.com/DCOR-dev/dcor/templates"
)

// debianNginxConf is /etc/nginx/nginx.conf as Debian 12 ships it (used
// when this machine has none).
const debianNginxConf = `user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
include /etc/nginx/modules-enabled/*.conf;

events {
	worker_connections 768;
}

http {
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
	ssl_prefer_server_ciphers on;
	access_log /var/log/nginx/access.log;
	gzip on;
	include /etc/nginx/conf.d/*.conf;
	include /etc/nginx/sites-enabled/*;
}
`

const testFQDN = "dcor.example.org"

// debianHost writes under root the nginx layout of Debian: this
// machine's nginx.conf (or Debian's stock one), mime.types, the
// modules-enabled links with the files they point to, empty conf.d,
// sites-available and sites-enabled, and a certificate for testFQDN. It
// returns DCOR's site for it.
func debianHost(t *testing.T, root string) []byte {
	t.Helper()
	etc := filepath.Join(root, "etc/nginx")
	for _, d := range []string{"etc/nginx/conf.d", "etc/nginx/sites-available", "etc/nginx/sites-enabled", "etc/nginx/modules-enabled", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf, err := os.ReadFile("/etc/nginx/nginx.conf")
	if err != nil {
		conf = []byte(debianNginxConf)
	}
	mime, err := os.ReadFile("/etc/nginx/mime.types")
	if err != nil {
		mime = []byte("types {\n    text/html html;\n}\n")
	}
	writeTestFile(t, filepath.Join(etc, "nginx.conf"), conf, 0o644)
	writeTestFile(t, filepath.Join(etc, "mime.types"), mime, 0o644)
	// Dynamic modules: links out of /etc/nginx (to /usr/share/nginx/…),
	// which must resolve under the root, and load_module paths relative
	// to nginx's compiled-in prefix.
	entries, _ := os.ReadDir("/etc/nginx/modules-enabled")
	for _, e := range entries {
		link := filepath.Join("/etc/nginx/modules-enabled", e.Name())
		target, err := os.Readlink(link)
		if err != nil || !filepath.IsAbs(target) {
			continue
		}
		data, err := os.ReadFile(target)
		if err != nil {
			continue
		}
		writeTestFile(t, filepath.Join(root, target), data, 0o644)
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	cert, key := "/etc/ssl/certs/"+testFQDN+".cert", "/etc/ssl/private/"+testFQDN+".key"
	if err := selfsigned.Write(filepath.Join(root, cert), filepath.Join(root, key), testFQDN, 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	site, err := templates.Render("nginx-ckan", templates.Params{FQDN: testFQDN, CertPath: cert, KeyPath: key})
	if err != nil {
		t.Fatal(err)
	}
	return site
}

func writeTestFile(t *testing.T, p string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, perm); err != nil {
		t.Fatal(err)
	}
}

// badSite is site with a directive nginx does not know.
func badSite(site []byte) []byte {
	return []byte(strings.Replace(string(site), "proxy_force_ranges on;", "proxy_force_ranges on;\n    bogus_directive on;", 1))
}

// checkHostMessage fails when err shows a path of the test machine
// rather than the host's.
func checkHostMessage(t *testing.T, err error, root string) {
	t.Helper()
	if msg := err.Error(); strings.Contains(msg, root) || strings.Contains(msg, "dcor-nginx-t-") {
		t.Errorf("the message shows temporary or root paths: %s", msg)
	}
}

func TestValidateNginxDebianLayoutSiteFile(t *testing.T) {
	testtool.Need(t, "nginx", "/usr/sbin")
	root := t.TempDir()
	site := debianHost(t, root)
	writeTestFile(t, filepath.Join(root, host.NginxSite), site, 0o644)
	h := host.New(root)
	if err := validateNginx(context.Background(), h, host.NginxSite, site); err != nil {
		t.Fatalf("the stock Debian layout with DCOR's site fails: %v", err)
	}
	err := validateNginx(context.Background(), h, host.NginxSite, badSite(site))
	if err == nil {
		t.Fatal("nginx -t accepted an unknown directive")
	}
	if !strings.Contains(err.Error(), `unknown directive "bogus_directive" in /etc/nginx/sites-enabled/ckan:`) {
		t.Errorf("the message does not name the site: %v", err)
	}
	checkHostMessage(t, err, root)
}

func TestValidateNginxDebianLayoutSymlinkedSite(t *testing.T) {
	testtool.Need(t, "nginx", "/usr/sbin")
	for name, target := range map[string]string{
		"absolute": "/etc/nginx/sites-available/ckan",
		"relative": "../sites-available/ckan",
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			site := debianHost(t, root)
			// The old content is broken: it is not what nginx will load.
			writeTestFile(t, filepath.Join(root, "etc/nginx/sites-available/ckan"), badSite(site), 0o644)
			if err := os.Symlink(target, filepath.Join(root, host.NginxSite)); err != nil {
				t.Fatal(err)
			}
			h := host.New(root)
			if err := validateNginx(context.Background(), h, host.NginxSite, site); err != nil {
				t.Fatalf("the new content was not staged at the link's target: %v", err)
			}
			err := validateNginx(context.Background(), h, host.NginxSite, badSite(site))
			if err == nil {
				t.Fatal("nginx -t accepted an unknown directive")
			}
			// nginx names the file by the path it included.
			if !strings.Contains(err.Error(), `unknown directive "bogus_directive" in /etc/nginx/sites-enabled/ckan:`) {
				t.Errorf("the message does not name the site: %v", err)
			}
			checkHostMessage(t, err, root)
			// In the copy the link stays a link and its target holds the
			// new content.
			tmp := t.TempDir()
			st := &nginxStage{h: h, tmp: tmp, copyDir: filepath.Join(tmp, "nginx")}
			if _, err := st.stageHost(host.NginxSite, []byte("# new\n")); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Lstat(filepath.Join(st.copyDir, "sites-enabled/ckan")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the copy's sites-enabled/ckan is no longer a link (%v)", err)
			}
			if got, _ := os.ReadFile(filepath.Join(st.copyDir, "sites-available/ckan")); string(got) != "# new\n" {
				t.Errorf("the link's target in the copy holds %.40q, not the new content", got)
			}
			if fi, err := os.Lstat(filepath.Join(root, host.NginxSite)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Error("validation changed the host's link")
			}
		})
	}
}

// TestValidateNginxStrayCopyFails is the defect of issue 9: a dated copy
// left in sites-enabled is loaded too (include sites-enabled/*), and
// nginx refuses the whole configuration. Testing the site alone missed it.
func TestValidateNginxStrayCopyFails(t *testing.T) {
	testtool.Need(t, "nginx", "/usr/sbin")
	for _, linked := range []bool{false, true} {
		root := t.TempDir()
		site := debianHost(t, root)
		sitePath := filepath.Join(root, host.NginxSite)
		if linked {
			writeTestFile(t, filepath.Join(root, "etc/nginx/sites-available/ckan"), site, 0o644)
			if err := os.Symlink("/etc/nginx/sites-available/ckan", sitePath); err != nil {
				t.Fatal(err)
			}
		} else {
			writeTestFile(t, sitePath, site, 0o644)
		}
		writeTestFile(t, sitePath+".dcor-20240101-000000", site, 0o644)
		err := validateNginx(context.Background(), host.New(root), host.NginxSite, site)
		if err == nil {
			t.Fatalf("linked=%v: the configuration with a stray copy in sites-enabled passed nginx -t", linked)
		}
		msg := err.Error()
		t.Logf("linked=%v: %s", linked, msg)
		if !strings.Contains(msg, "the same path name") || !strings.Contains(msg, "/etc/nginx/sites-enabled/ckan.dcor-20240101-000000") {
			t.Errorf("linked=%v: the message does not say why: %v", linked, err)
		}
		checkHostMessage(t, err, root)
	}
}

// TestValidateNginxWritesNothingOutside: nginx -t of a copy must not need
// the host's pid or log files, nor create them.
func TestValidateNginxWritesNothingOutside(t *testing.T) {
	testtool.Need(t, "nginx", "/usr/sbin")
	root := t.TempDir()
	site := debianHost(t, root)
	pidBefore := pathExists("/run/nginx.pid")
	if err := validateNginx(context.Background(), host.New(root), host.NginxSite, site); err != nil {
		t.Fatal(err)
	}
	if !pidBefore && pathExists("/run/nginx.pid") {
		os.Remove("/run/nginx.pid")
		t.Error("nginx -t created /run/nginx.pid")
	}
	for _, p := range []string{"run/nginx.pid", "var/log/nginx", "etc/nginx/sites-enabled/ckan"} {
		if pathExists(filepath.Join(root, p)) {
			t.Errorf("validation wrote ROOT/%s", p)
		}
	}
}

// TestValidateNginxLiveHost validates a site against this machine's own
// /etc/nginx (root "/"), which it must leave as it is.
func TestValidateNginxLiveHost(t *testing.T) {
	testtool.Need(t, "nginx", "/usr/sbin")
	if !pathExists("/etc/nginx/nginx.conf") {
		testtool.Missing(t, "/etc/nginx/nginx.conf is missing (make test installs nginx-light)")
	}
	sitePath := "/etc/nginx/sites-enabled/dcor-test-" + filepath.Base(t.TempDir())
	site := []byte("server {\n    listen 127.0.0.1:18089;\n    server_name dcor-test.invalid;\n    return 404;\n}\n")
	if err := validateNginx(context.Background(), host.New("/"), sitePath, site); err != nil {
		t.Fatalf("a plain site fails on this machine's configuration: %v", err)
	}
	bad := []byte("server {\n    listen 127.0.0.1:18089;\n    bogus_directive on;\n}\n")
	err := validateNginx(context.Background(), host.New("/"), sitePath, bad)
	if err == nil || !strings.Contains(err.Error(), "in "+sitePath+":3") {
		t.Errorf("the error does not name the site's line: %v", err)
	}
	if pathExists(sitePath) {
		t.Errorf("validation created %s", sitePath)
	}
}

// TestNginxCopyKeepsModesAndRepointsLinks checks the copy of /etc/nginx:
// a private key stays 0600, a link into /etc/nginx points into the copy,
// a link elsewhere to the same path under the root.
func TestNginxCopyKeepsModesAndRepointsLinks(t *testing.T) {
	root := t.TempDir()
	etc := filepath.Join(root, "etc/nginx")
	writeTestFile(t, filepath.Join(etc, "nginx.conf"), []byte("events {}\n"), 0o644)
	writeTestFile(t, filepath.Join(etc, "ssl/site.key"), []byte("key"), 0o600)
	writeTestFile(t, filepath.Join(etc, "sites-available/ckan"), []byte("server {}\n"), 0o640)
	if err := os.MkdirAll(filepath.Join(etc, "sites-enabled"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"sites-enabled/ckan":  "/etc/nginx/sites-available/ckan",
		"sites-enabled/rel":   "../sites-available/ckan",
		"sites-enabled/other": "/usr/share/nginx/x.conf",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(etc, l)); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	st := &nginxStage{h: host.New(root), tmp: tmp, copyDir: filepath.Join(tmp, "nginx")}
	if err := st.copyConf(st.h.Path(nginxDir)); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{"ssl/site.key": 0o600, "sites-available/ckan": 0o640, "nginx.conf": 0o644} {
		fi, err := os.Stat(filepath.Join(st.copyDir, p))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s in the copy: %v, mode %v, want %v", p, err, fi.Mode().Perm(), want)
		}
	}
	want := map[string]string{
		"sites-enabled/ckan":  filepath.Join(st.copyDir, "sites-available/ckan"),
		"sites-enabled/rel":   "../sites-available/ckan",
		"sites-enabled/other": filepath.Join(root, "usr/share/nginx/x.conf"),
	}
	for l, w := range want {
		if got, err := os.Readlink(filepath.Join(st.copyDir, l)); err != nil || got != w {
			t.Errorf("%s in the copy points to %q (%v), want %q", l, got, err, w)
		}
	}
}

func TestNginxMessageIsOneLine(t *testing.T) {
	out := "2024/01/02 03:04:05 [emerg] 12#12: unknown directive \"x\" in /etc/nginx/a:3\nnginx: configuration file /etc/nginx/nginx.conf test failed\n"
	if got, want := nginxMessage(out), `[emerg] unknown directive "x" in /etc/nginx/a:3`; got != want {
		t.Errorf("nginxMessage = %q, want %q", got, want)
	}
}

func pathExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
