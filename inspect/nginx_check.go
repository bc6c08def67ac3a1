package inspect

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/nginxconf"
	"github.com/DCOR-dev/dcor/templates"
)

// checkNginx makes sure the nginx site has every directive of DCOR's
// template (the admin's own additions stay), and validates the new text
// with `nginx -t` before it replaces the old file.
func checkNginx(env *Env) []*Finding {
	p := host.NginxSite
	rendered, err := templates.Render("nginx-ckan", env.params())
	if err != nil {
		return []*Finding{{Path: p, Severity: Failure, Message: err.Error()}}
	}
	validate := func(local string, data []byte) error { return validateNginx(env.Host, data) }
	local := env.Host.Path(p)
	data, err := os.ReadFile(local)
	if errors.Is(err, os.ErrNotExist) {
		return []*Finding{{Path: p, Severity: Drift, Fixable: true,
			Message: fmt.Sprintf("%s is missing; it will be created from the template", p),
			fix: func(tx *Tx) error {
				tx.Stage("nginx", p, nil, rendered, 0o644, validate)
				return nil
			}}}
	}
	if err != nil {
		if info, statErr := os.Stat(local); statErr == nil && info.IsDir() {
			return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("%s is a directory, expected a file: move it away", p)}}
		}
		return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("cannot read %s: %v", p, err)}}
	}
	updated, diffs, err := nginxconf.Enforce(data, rendered)
	if err != nil {
		return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("%s: %v; nothing was changed", p, err)}}
	}
	if len(diffs) == 0 {
		return nil
	}
	// The differences are fixed together: nginx -t validates the
	// enforced site as a whole, so they are one finding, one question.
	fnd := &Finding{Path: p, Severity: Drift, Fixable: true,
		Message: fmt.Sprintf("%s differs from DCOR's template in %d places", p, len(diffs)),
		fix: func(tx *Tx) error {
			tx.Stage("nginx", p, data, updated, 0o644, validate)
			return nil
		}}
	for _, d := range diffs {
		where := ""
		if d.Block != "" {
			where = " in " + d.Block
		}
		var line string
		switch {
		case d.Current == "" && d.Expected == "":
			line = fmt.Sprintf("%s is missing%s", d.Directive, where)
		case d.Current == "":
			line = fmt.Sprintf("%s %s is missing%s", d.Directive, d.Expected, where)
		default:
			line = fmt.Sprintf("%s is %s%s, expected %s", d.Directive, d.Current, where, d.Expected)
		}
		fnd.Details = append(fnd.Details, line)
	}
	return []*Finding{fnd}
}

var hostPathDirective = regexp.MustCompile(`(?m)^(\s*(?:ssl_certificate|ssl_certificate_key|ssl_trusted_certificate|ssl_dhparam|client_body_temp_path|proxy_temp_path|proxy_cache_path)\s+)("?)(/[^";\s]+)("?)`)

// validateNginx runs `nginx -t` on a site: it is included in a minimal
// main configuration in a temporary directory, so that only this site's
// text is tested. Under --root the paths of certificates and of nginx's
// temporary and cache directories are resolved under the root. Without nginx installed the site is not validated.
func validateNginx(h host.Host, site []byte) error {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/nginx"); statErr != nil {
			return nil
		}
		nginx = "/usr/sbin/nginx"
	}
	dir, err := os.MkdirTemp("", "dcor-nginx-t-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if !h.Live() {
		site = hostPathDirective.ReplaceAllFunc(site, func(m []byte) []byte {
			sub := hostPathDirective.FindSubmatch(m)
			return []byte(string(sub[1]) + string(sub[2]) + h.Path(string(sub[3])) + string(sub[4]))
		})
	}
	sitePath := filepath.Join(dir, "site.conf")
	if err := os.WriteFile(sitePath, site, 0o600); err != nil {
		return err
	}
	mime := ""
	if _, err := os.Stat("/etc/nginx/mime.types"); err == nil {
		mime = "    include /etc/nginx/mime.types;\n"
	}
	conf := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
%[2]s    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    access_log off;
    include %[3]s;
}
`, dir, mime, sitePath)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return err
	}
	out, err := exec.Command(nginx, "-t", "-q", "-p", dir, "-c", confPath).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(strings.ReplaceAll(string(out), sitePath, "the new site"))
		return fmt.Errorf("nginx -t rejected the new site, the old file stays: %s", msg)
	}
	return nil
}
