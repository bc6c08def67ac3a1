package nginxconf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/selfsigned"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// nginxTest runs `nginx -t` on site, included in a minimal main
// configuration whose files are all in dir.
func nginxTest(t *testing.T, nginx, dir, site string) error {
	t.Helper()
	sitePath := filepath.Join(dir, "site.conf")
	if err := os.WriteFile(sitePath, []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := strings.ReplaceAll(`pid DIR/nginx.pid;
error_log DIR/error.log;
events {}
http {
    client_body_temp_path DIR/body;
    proxy_temp_path DIR/proxy;
    fastcgi_temp_path DIR/fastcgi;
    uwsgi_temp_path DIR/uwsgi;
    scgi_temp_path DIR/scgi;
    access_log off;
    include DIR/site.conf;
}
`, "DIR", dir)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginx, "-t", "-q", "-p", dir+"/", "-c", confPath).CombinedOutput()
	if err != nil {
		return &nginxError{string(out)}
	}
	return nil
}

type nginxError struct{ out string }

func (e *nginxError) Error() string { return "nginx -t: " + e.out }

// TestNginxAcceptsEnforced: the enforced site (drift fixed, the admin's
// additions kept) passes `nginx -t`.
func TestNginxAcceptsEnforced(t *testing.T) {
	nginx := testtool.Need(t, "nginx", "/usr/sbin")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "site.cert"), filepath.Join(dir, "site.key")
	if err := selfsigned.Write(cert, key, "dcor.example.org", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	site := string(readSite(t))

	cur := replace(t, site, "client_max_body_size 100G;", "client_max_body_size 1M;")
	cur = replace(t, cur, "    proxy_force_ranges on;\n", "")
	cur = replace(t, cur, "/etc/ssl/certs/dcor.example.org.cert", "/etc/ssl/certs/old.cert")
	cur = replace(t, cur, "    # ckan root\n    location = / {", "    location = /dummy {")
	cur = replace(t, cur, "    listen 80;\n    listen [::]:80;\n", "    listen 80;\n")
	cur = replace(t, cur, "    # client_body_temp_path /data/tmp/nginx/client_body 1 2;\n",
		"    client_body_temp_path /data/tmp/nginx 1 2;\n")
	cur = replace(t, cur, "    #location = /robots.txt { return 200 \"User-agent: *\\nDisallow: /\\n\"; }\n",
		"    location = /robots.txt { return 200 \"User-agent: *\\nDisallow: /\\n\"; }\n")
	cur = cur[:strings.Index(cur, "\n# Optional: Reject traffic that is not directed at `dcor.example.org:80`")] + "\n"

	out, diffs := enforce(t, cur, site)
	if len(diffs) < 6 {
		t.Errorf("only %d differences: %+v", len(diffs), diffs)
	}
	// The host's paths, moved into dir.
	host := strings.NewReplacer(
		"/etc/ssl/certs/dcor.example.org.cert", cert, "/etc/ssl/private/dcor.example.org.key", key,
		"/etc/ssl/certs/ssl-cert-snakeoil.pem", cert, "/etc/ssl/private/ssl-cert-snakeoil.key", key,
		"/tmp/nginx_cache", filepath.Join(dir, "cache"), "/data/tmp/nginx", filepath.Join(dir, "body2"))
	if err := nginxTest(t, nginx, dir, host.Replace(out)); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// nginx -t does fail on a broken site.
	broken := replace(t, out, "proxy_force_ranges on;", "proxy_force_ranges maybe;")
	if err := nginxTest(t, nginx, dir, host.Replace(broken)); err == nil {
		t.Error("nginx -t accepted proxy_force_ranges maybe")
	}
}
