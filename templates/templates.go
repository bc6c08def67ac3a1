// Package templates holds DCOR's configuration templates and renders them
// for one site: the options DCOR expects in ckan.ini, the uWSGI file, the
// nginx site and the five supervisor programs.
//
// The templates are embedded data files (see the files directory): the
// ckan.ini options as one base file plus one file of overrides per site
// kind, the other templates as the complete files, with the site's values
// as Go text/template fields.
package templates

import (
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/DCOR-dev/dcor/ckanini"
)

//go:embed files
var files embed.FS

const (
	defaultCKANIni = "/etc/ckan/default/ckan.ini"
	defaultVenv    = "/usr/lib/ckan/default"
)

// Params are the site values that templates are rendered with.
//
// Empty fields are allowed: a template that needs one fails to render,
// and an option that needs one is reported as not managed (see Option).
type Params struct {
	// Kind is the kind of site, one of Kinds().
	Kind string
	// Hostname is the machine's short host name, FQDN its fully
	// qualified domain name, IP its address, Email the address that
	// CKAN's error mails go to.
	Hostname, FQDN, IP, Email string
	// CertPath and KeyPath are the host paths of the TLS certificate and
	// key; empty means /etc/ssl/certs/<FQDN>.cert and
	// /etc/ssl/private/<FQDN>.key, as in DCOR's documentation.
	CertPath, KeyPath string
	// CKANIni and Venv are the host paths of ckan.ini and of CKAN's
	// virtualenv; empty means /etc/ckan/default/ckan.ini and
	// /usr/lib/ckan/default.
	CKANIni, Venv string
	// DBPassword is the password of the database user (the PGSQLPASS in
	// sqlalchemy.url), as is: it is URL-escaped here.
	DBPassword string
	// DBUser, DBHost, DBPort and DBName are the other parts of
	// sqlalchemy.url, as is; empty means ckan_default, localhost, the
	// default port and ckan_default, as in DCOR's documentation.
	DBUser, DBHost, DBPort, DBName string
	// SMTPServer, SMTPUser and SMTPPassword are CKAN's smtp.* options.
	// MailDomain is the domain of the sender addresses; empty means the
	// FQDN without its first label.
	SMTPServer, SMTPUser, SMTPPassword, MailDomain string
	// DefaultServers adds to the nginx site the two default servers that
	// answer requests for any other host name with 444 (the one on port
	// 443 uses Debian's snakeoil certificate).
	DefaultServers bool
	// CKANVersion is the installed CKAN's version ("2.11.5"); from 2.10
	// on, the options of ckan-2.10.ini replace those of the base file
	// (plugins and views that exist there). Empty means unknown: DCOR's
	// 2021 (CKAN 2.9) options.
	CKANVersion string
}

// Template is one embedded file.
type Template struct {
	// Name is what Render takes.
	Name string
	// Path is where the rendered file goes on the host. It is empty for
	// "ckan-options", which is not a file: its options are merged into
	// the site's ckan.ini (see Options).
	Path string
	// Description says what the file is, in a few words.
	Description string
	// Secret is true for a template that holds secrets (passwords) once
	// rendered: show it masked (see Masked), write it with mode 0600.
	Secret bool
}

// entry is a Template and how to render it.
type entry struct {
	Template
	file  string // under files/
	queue string // the DCOR job queue of a worker file
}

var entries = []entry{
	{Template{"ckan-options", "", "DCOR's expected ckan.ini options (merged into ckan.ini)", true}, "", ""},
	{Template{"ckan-uwsgi.ini", "/etc/ckan/default/ckan-uwsgi.ini", "uWSGI configuration of CKAN", false}, "ckan-uwsgi.ini", ""},
	{Template{"nginx-ckan", "/etc/nginx/sites-enabled/ckan", "nginx site: TLS proxy to uWSGI", false}, "nginx-ckan", ""},
	{Template{"ckan-uwsgi.conf", "/etc/supervisor/conf.d/ckan-uwsgi.conf", "supervisor program: uWSGI serving CKAN", false}, "supervisor/ckan-uwsgi.conf", ""},
	{Template{"ckan-worker.conf", "/etc/supervisor/conf.d/ckan-worker.conf", "supervisor program: CKAN's default job worker", false}, "supervisor/ckan-worker.conf", ""},
	{Template{"ckan-worker-dcor-long.conf", "/etc/supervisor/conf.d/ckan-worker-dcor-long.conf", "supervisor program: job worker of queue dcor-long", false}, "supervisor/ckan-worker.conf", "long"},
	{Template{"ckan-worker-dcor-normal.conf", "/etc/supervisor/conf.d/ckan-worker-dcor-normal.conf", "supervisor program: job worker of queue dcor-normal", false}, "supervisor/ckan-worker.conf", "normal"},
	{Template{"ckan-worker-dcor-short.conf", "/etc/supervisor/conf.d/ckan-worker-dcor-short.conf", "supervisor program: job worker of queue dcor-short", false}, "supervisor/ckan-worker.conf", "short"},
}

// List returns all templates, "ckan-options" first.
func List() []Template {
	l := make([]Template, len(entries))
	for i, e := range entries {
		l[i] = e.Template
	}
	return l
}

func names() string {
	n := make([]string, len(entries))
	for i, e := range entries {
		n[i] = e.Name
	}
	return strings.Join(n, ", ")
}

// Render returns the template name rendered for p. For "ckan-options" it
// is an INI fragment: "[app:main]" and the managed options of Options,
// the options that are not managed named in comments.
//
// Render fails for an unknown name (the error lists the known ones), for
// "nginx-ckan" without p.FQDN, and for values of p that would break the
// file, such as line breaks, relative paths or spaces in the virtualenv
// path.
func Render(name string, p Params) ([]byte, error) {
	i := slices.IndexFunc(entries, func(e entry) bool { return e.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("templates: unknown template %q (known: %s)", name, names())
	}
	e := entries[i]
	if e.file == "" {
		return renderOptions(p)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	d := fileData{
		FQDN:           p.FQDN,
		CertPath:       p.CertPath,
		KeyPath:        p.KeyPath,
		CKANIni:        path.Clean(cmp.Or(p.CKANIni, defaultCKANIni)),
		Venv:           path.Clean(cmp.Or(p.Venv, defaultVenv)),
		DefaultServers: p.DefaultServers,
		Queue:          e.queue,
	}
	if e.Name == "nginx-ckan" {
		if p.FQDN == "" {
			return nil, errors.New("templates: nginx-ckan needs the FQDN")
		}
		d.CertPath = cmp.Or(p.CertPath, "/etc/ssl/certs/"+p.FQDN+".cert")
		d.KeyPath = cmp.Or(p.KeyPath, "/etc/ssl/private/"+p.FQDN+".key")
	}
	text, err := files.ReadFile("files/" + e.file)
	if err != nil {
		return nil, fmt.Errorf("templates: %s: %w", name, err)
	}
	t, err := template.New(e.Name).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("templates: %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("templates: %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// fileData are the fields of the file templates.
type fileData struct {
	FQDN, CertPath, KeyPath string
	CKANIni, Venv           string
	DefaultServers          bool
	Queue                   string // "long", "normal", "short" or ""
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// check rejects values that would break the files they go into: line
// breaks anywhere, host names that are not host names, relative paths,
// paths that nginx or supervisor would split.
func (p Params) check() error {
	for _, f := range []struct{ name, v string }{
		{"kind", p.Kind}, {"hostname", p.Hostname}, {"FQDN", p.FQDN}, {"IP", p.IP},
		{"email", p.Email}, {"certificate path", p.CertPath}, {"key path", p.KeyPath},
		{"ckan.ini path", p.CKANIni}, {"virtualenv path", p.Venv},
		{"database password", p.DBPassword}, {"database user", p.DBUser}, {"database host", p.DBHost},
		{"database port", p.DBPort}, {"database name", p.DBName}, {"SMTP server", p.SMTPServer},
		{"SMTP user", p.SMTPUser}, {"SMTP password", p.SMTPPassword}, {"mail domain", p.MailDomain},
	} {
		if strings.ContainsAny(f.v, "\r\n\x00") {
			return fmt.Errorf("templates: the %s contains a line break or NUL", f.name)
		}
	}
	for _, f := range []struct{ name, v string }{
		{"hostname", p.Hostname}, {"FQDN", p.FQDN}, {"mail domain", p.MailDomain},
	} {
		if f.v != "" && !hostRE.MatchString(f.v) {
			return fmt.Errorf("templates: invalid %s %q", f.name, f.v)
		}
	}
	if p.IP != "" {
		if _, err := netip.ParseAddr(p.IP); err != nil {
			return fmt.Errorf("templates: invalid IP address %q", p.IP)
		}
	}
	if h := p.DBHost; h != "" && !hostRE.MatchString(h) {
		if a, err := netip.ParseAddr(h); err != nil || a.Zone() != "" {
			return fmt.Errorf("templates: invalid database host %q", h)
		}
	}
	if p.DBPort != "" {
		if n, err := strconv.Atoi(p.DBPort); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("templates: invalid database port %q", p.DBPort)
		}
	}
	for _, f := range []struct{ name, v, bad string }{
		{"certificate path", p.CertPath, `"\`},
		{"key path", p.KeyPath, `"\`},
		{"ckan.ini path", p.CKANIni, " \t\"'\\%;"},
		{"virtualenv path", p.Venv, " \t\"'\\%;"},
	} {
		if f.v == "" {
			continue
		}
		if !path.IsAbs(f.v) {
			return fmt.Errorf("templates: the %s %q is not absolute", f.name, f.v)
		}
		if strings.ContainsAny(f.v, f.bad) {
			return fmt.Errorf("templates: the %s %q contains one of %q", f.name, f.v, f.bad)
		}
	}
	return nil
}

// Masked is Render with every secret replaced by "****": the values of
// options that hold secrets (ckanini.IsSecret) and passwords in URLs, as
// ckanini.Mask does. It is what `dcor templates show` prints.
func Masked(name string, p Params) ([]byte, error) {
	out, err := Render(name, p)
	if err != nil {
		return nil, err
	}
	return MaskSecrets(out), nil
}

// MaskSecrets masks the secrets of a rendered template: in every line
// "key = value" or "key: value" (also commented out), the value as
// ckanini.Mask masks it for key.
func MaskSecrets(out []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(out))
	rest := string(out)
	for rest != "" {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		body := strings.TrimRight(line, "\r\n")
		b.WriteString(maskLine(body))
		b.WriteString(line[len(body):])
	}
	return b.Bytes()
}

// maskLine masks the value of one "key = value" line.
func maskLine(line string) string {
	trimmed := strings.TrimLeft(line, " \t#;")
	i := strings.IndexAny(trimmed, "=:")
	if i <= 0 {
		return ckanini.Mask("", line)
	}
	key := strings.TrimSpace(trimmed[:i])
	value := strings.TrimSpace(trimmed[i+1:])
	masked := ckanini.Mask(key, value)
	if masked == value {
		return ckanini.Mask("", line)
	}
	j := strings.LastIndex(line, value)
	if j < 0 || value == "" {
		return line
	}
	return line[:j] + masked + line[j+len(value):]
}
