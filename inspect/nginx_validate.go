package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/runner"
	"github.com/DCOR-dev/dcor/nginxconf"
)

// nginxDir is the host directory of nginx's configuration.
const nginxDir = "/etc/nginx"

// validateNginx runs `nginx -t` on the configuration nginx will load once
// the site at host path sitePath holds site: the host's /etc/nginx
// (ROOT/etc/nginx under --root) is copied into a temporary directory,
// the new site is written where it will go (through a symlink into
// sites-available, to the link's target), and nginx tests the copy's
// nginx.conf with everything it includes — so a stray copy of the site
// in sites-enabled, which Debian's `include /etc/nginx/sites-enabled/*`
// loads too, fails the validation as it would fail the next reload.
//
// In the copy, includes of /etc/nginx/… point into the copy; pid, lock
// and log files point into the temporary directory (nginx -t opens
// them); under --root the other host paths (certificates, temporary and
// cache directories) resolve under the root. nginx's own prefix stays the
// compiled-in one, so that `load_module modules/…` finds this machine's
// modules as the real nginx does (`-p TMP` would break every dynamic
// module of Debian's modules-enabled).
//
// When the host has no nginx.conf (a test tree), the site is tested
// alone, included in a minimal main configuration, with its temporary
// and cache directories in the temporary directory. Without nginx
// installed nothing is validated. The error is nginx's message with the
// temporary paths turned back into host paths.
func validateNginx(ctx context.Context, h host.Host, sitePath string, site []byte) error {
	nginx := nginxProgram()
	if nginx == "" {
		return nil
	}
	rejected, stageErr, runErr := nginxTest(ctx, nginx, h, sitePath, site)
	switch {
	case stageErr != nil:
		return fmt.Errorf("cannot validate the nginx site %s, the old file stays: %v", sitePath, stageErr)
	case runErr != nil:
		return fmt.Errorf("nginx -t did not run, the old site %s stays: %v", sitePath, runErr)
	case rejected != "":
		return fmt.Errorf("nginx -t rejected the configuration with the new site, the old file stays: %s", rejected)
	}
	return nil
}

// ErrNoNginx is CheckNginxConfig's error when nginx is not installed.
var ErrNoNginx = errors.New("nginx is not installed")

// CheckNginxConfig runs `nginx -t` on the host's nginx configuration as
// it is, with the site at host path sitePath (host.NginxSite) in it, the
// way validateNginx tests a new site: on a copy of /etc/nginx (under
// --root, ROOT/etc/nginx, with host paths resolved under the root). It
// returns ErrNoNginx without nginx, and an error with nginx's message
// (one line, host paths) when nginx rejects the configuration.
func CheckNginxConfig(ctx context.Context, h host.Host, sitePath string) error {
	nginx := nginxProgram()
	if nginx == "" {
		return ErrNoNginx
	}
	site, err := os.ReadFile(h.Path(sitePath))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("the nginx site %s does not exist", sitePath)
		}
		return fmt.Errorf("cannot read the nginx site %s: %v", sitePath, hostError(h, h.Path(sitePath), err))
	}
	rejected, stageErr, runErr := nginxTest(ctx, nginx, h, sitePath, site)
	switch {
	case stageErr != nil:
		return fmt.Errorf("cannot test the nginx configuration: %v", stageErr)
	case runErr != nil:
		return fmt.Errorf("nginx -t did not run: %v", runErr)
	case rejected != "":
		return fmt.Errorf("nginx -t rejects the configuration: %s", rejected)
	}
	return nil
}

// nginxTest runs the program nginx with -t on the configuration with the
// site at host path sitePath holding site (see validateNginx). It returns
// nginx's message when nginx rejects it, or the error that kept it from
// staging the configuration or from running nginx; messages name host
// paths.
func nginxTest(ctx context.Context, nginx string, h host.Host, sitePath string, site []byte) (rejected string, stageErr, runErr error) {
	tmp, err := os.MkdirTemp("", "dcor-nginx-t-")
	if err != nil {
		return "", err, nil
	}
	defer os.RemoveAll(tmp)
	if real, err := filepath.EvalSymlinks(tmp); err == nil {
		tmp = real
	}
	st := &nginxStage{h: h, tmp: tmp, copyDir: filepath.Join(tmp, "nginx")}
	var conf string
	if mainConf := h.Path(nginxDir + "/nginx.conf"); isRegular(mainConf) && underDir(sitePath, nginxDir) {
		conf, err = st.stageHost(sitePath, site)
	} else {
		conf, err = st.stageAlone(sitePath, site)
	}
	if err != nil {
		return "", errors.New(st.hostText(err.Error())), nil
	}
	args := []string{"-t", "-q", "-c", conf}
	if !st.pidSet {
		args = append(args, "-g", "pid "+nginxQuote(filepath.Join(tmp, "nginx.pid"))+";")
	}
	out, err := runner.Run(ctx, runner.Cmd{Path: nginx, Args: args})
	if err == nil {
		return "", nil, nil
	}
	var rerr *runner.Error
	if ctx.Err() != nil || !errors.As(err, &rerr) || rerr.ExitCode < 0 {
		return "", nil, errors.New(st.hostText(err.Error()))
	}
	msg := nginxMessage(st.hostText(string(out)))
	if msg == "" {
		msg = rerr.Status
	}
	return msg, nil, nil
}

// nginxProgram is the nginx binary, "" when nginx is not installed.
func nginxProgram() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if isRegular("/usr/sbin/nginx") {
		return "/usr/sbin/nginx"
	}
	return ""
}

// nginxStage is a temporary configuration for nginx -t.
type nginxStage struct {
	h host.Host
	// tmp is the temporary directory; copyDir, inside it, stands for
	// /etc/nginx (empty when the site is tested alone).
	tmp, copyDir string
	// alone is the site's file when it is tested alone.
	alone, sitePath string
	// pidSet is true when the staged configuration sets its pid file.
	pidSet bool
}

// stageHost copies the host's /etc/nginx, writes the new site into the
// copy and rewrites the copy's paths; it returns the copy's nginx.conf.
func (st *nginxStage) stageHost(sitePath string, site []byte) (string, error) {
	src := st.h.Path(nginxDir) // under --root its links resolve inside the root
	if st.h.Live() {
		if real, err := filepath.EvalSymlinks(src); err == nil {
			src = real
		}
	}
	if err := st.copyConf(src); err != nil {
		return "", err
	}
	target := filepath.Join(st.copyDir, strings.TrimPrefix(sitePath, nginxDir+"/"))
	if info, err := os.Lstat(target); err == nil && info.Mode()&os.ModeSymlink != 0 {
		// The site is a link (sites-enabled/ckan -> sites-available/ckan):
		// the new content goes where the link points, as the real write
		// goes through it. A link that is broken or leaves the copy is
		// replaced by the file in the copy.
		if real, err := filepath.EvalSymlinks(target); err == nil && underDir(real, st.copyDir) {
			target = real
		} else if err := os.Remove(target); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(target, site, 0o644); err != nil {
		return "", err
	}
	err := filepath.WalkDir(st.copyDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return st.rewriteFile(p)
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(st.copyDir, "nginx.conf"), nil
}

// stageAlone writes the site and a minimal main configuration that
// includes it; it returns the main configuration.
func (st *nginxStage) stageAlone(sitePath string, site []byte) (string, error) {
	st.copyDir = ""
	st.alone, st.sitePath = filepath.Join(st.tmp, "site.conf"), sitePath
	if err := os.WriteFile(st.alone, site, 0o600); err != nil {
		return "", err
	}
	if err := st.rewriteFile(st.alone); err != nil {
		return "", err
	}
	mime := ""
	if isRegular("/etc/nginx/mime.types") {
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
`, nginxQuote(st.tmp), mime, nginxQuote(st.alone))
	st.pidSet = true
	confPath := filepath.Join(st.tmp, "nginx.conf")
	return confPath, os.WriteFile(confPath, []byte(conf), 0o600)
}

// copyConf copies the directory src (the host's /etc/nginx) to
// st.copyDir, keeping file modes (a private key stays 0600) and symlinks:
// a link into /etc/nginx points into the copy, a link elsewhere to the
// same host path (under --root: under the root).
func (st *nginxStage) copyConf(src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(st.copyDir, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(out, 0o700); err != nil {
				return err
			}
			return os.Chmod(out, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(st.linkTarget(filepath.Join(nginxDir, rel), target), out)
		case d.Type().IsRegular():
			return copyFileMode(p, out, info.Mode().Perm())
		}
		return nil // sockets, fifos: nothing nginx includes
	})
}

// linkTarget is where the copy of the link at host path link, pointing
// to target, points.
func (st *nginxStage) linkTarget(link, target string) string {
	abs := target
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(filepath.Dir(link), target)
		if underDir(abs, nginxDir) {
			return target // resolves inside the copy as it does on the host
		}
	}
	return st.mapPath(filepath.Clean(abs))
}

// mapPath maps an absolute host path named in the configuration to the
// path nginx -t must use: /etc/nginx/… into the copy; under --root any
// other path under the root.
func (st *nginxStage) mapPath(p string) string {
	if st.copyDir != "" && underDir(p, nginxDir) {
		return filepath.Join(st.copyDir, strings.TrimPrefix(p, nginxDir))
	}
	if !st.h.Live() {
		return st.h.Path(p)
	}
	return p
}

// hostPathDirectives name a file or directory of the host in their first
// argument; they are resolved like includes.
var hostPathDirectives = map[string]bool{
	"include": true, "ssl_certificate": true, "ssl_certificate_key": true,
	"ssl_trusted_certificate": true, "ssl_client_certificate": true, "ssl_crl": true,
	"ssl_dhparam": true, "ssl_password_file": true, "ssl_stapling_file": true,
	"ssl_session_ticket_key": true, "auth_basic_user_file": true,
	"client_body_temp_path": true, "proxy_temp_path": true, "fastcgi_temp_path": true,
	"uwsgi_temp_path": true, "scgi_temp_path": true, "proxy_cache_path": true,
	"fastcgi_cache_path": true, "uwsgi_cache_path": true, "scgi_cache_path": true,
}

// rewriteFile rewrites the paths of the configuration file p (see
// validateNginx). Files that are not nginx configuration (certificates,
// binary files) do not parse and stay as they are; so do the others that
// have nothing to rewrite.
func (st *nginxStage) rewriteFile(p string) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if len(data) > 16<<20 || strings.IndexByte(string(data), 0) >= 0 {
		return nil
	}
	cfg, err := nginxconf.Parse(data)
	if err != nil {
		return nil // nginx reports it if it includes the file
	}
	type edit struct {
		span [2]int
		val  string
	}
	var edits []edit
	var werr error
	var walk func([]*nginxconf.Statement)
	walk = func(stmts []*nginxconf.Statement) {
		for _, s := range stmts {
			if s.Block {
				walk(s.Children)
				continue
			}
			if len(s.Args) == 0 {
				continue
			}
			v := s.Args[0]
			nv := v
			switch {
			case s.Name == "pid":
				nv = filepath.Join(st.tmp, "nginx.pid")
				st.pidSet = true
			case s.Name == "lock_file":
				nv = filepath.Join(st.tmp, "nginx.lock")
			case s.Name == "error_log" && v != "stderr" && !strings.HasPrefix(v, "syslog:") && !strings.HasPrefix(v, "memory:"):
				nv = filepath.Join(st.tmp, "error.log")
			case s.Name == "access_log" && v != "off" && !strings.HasPrefix(v, "syslog:"):
				nv = filepath.Join(st.tmp, "access.log")
			case st.copyDir == "" && hostPathDirectives[s.Name] && strings.HasSuffix(s.Name, "_path") && filepath.IsAbs(v) && !strings.Contains(v, "$"):
				// A site tested alone is a test tree: its temporary and
				// cache directories go to the temporary directory (nginx
				// -t creates them), each host path to its own place.
				nv = filepath.Join(st.tmp, "paths", filepath.Clean(v))
				if err := os.MkdirAll(filepath.Dir(nv), 0o700); err != nil && werr == nil {
					werr = err
				}
			case hostPathDirectives[s.Name] && filepath.IsAbs(v) && !strings.Contains(v, "$"):
				nv = st.mapPath(filepath.Clean(v))
			}
			if nv != v {
				edits = append(edits, edit{s.ArgSpans[0], nginxQuote(nv)})
			}
		}
	}
	walk(cfg.Statements())
	if werr != nil || len(edits) == 0 {
		return werr
	}
	var b strings.Builder
	last := 0
	for _, e := range edits { // in text order: statements are visited in order
		b.Write(data[last:e.span[0]])
		b.WriteString(e.val)
		last = e.span[1]
	}
	b.Write(data[last:])
	return os.WriteFile(p, []byte(b.String()), 0o600)
}

// hostText turns the temporary paths in s back into host paths.
func (st *nginxStage) hostText(s string) string {
	if st.alone != "" {
		s = strings.ReplaceAll(s, st.alone, st.sitePath)
	}
	if st.copyDir != "" {
		s = strings.ReplaceAll(s, st.copyDir, nginxDir)
	}
	s = strings.ReplaceAll(s, filepath.Join(st.tmp, "paths")+"/", "/")
	s = strings.ReplaceAll(s, st.tmp, "(nginx -t)")
	if !st.h.Live() {
		s = strings.ReplaceAll(s, strings.TrimSuffix(st.h.Root, "/")+"/", "/")
	}
	return s
}

// nginxDate is the time stamp and process of a message nginx writes to
// its error log on standard error.
var nginxDate = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: `)

// nginxMessage is nginx -t's output as one line: its messages without
// time stamps, without the closing "test failed" line.
func nginxMessage(out string) string {
	var msgs []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimPrefix(nginxDate.ReplaceAllString(line, "$1 "), "nginx: ")
		if line == "" || strings.HasPrefix(line, "configuration file ") && strings.HasSuffix(line, " test failed") {
			continue
		}
		msgs = append(msgs, line)
	}
	return strings.Join(msgs, "; ")
}

// nginxQuote writes s as one nginx word, quoted when it needs to be.
func nginxQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n;{}\"'\\$#") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// copyFileMode copies the regular file src to the new file dst with mode
// perm (created 0600 and changed once written, so that no one reads a
// private key in between).
func copyFileMode(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm)
}

// isRegular reports whether p is (or links to) a regular file.
func isRegular(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}

// underDir reports whether path p is dir or inside it.
func underDir(p, dir string) bool {
	p, dir = filepath.Clean(p), filepath.Clean(dir)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
