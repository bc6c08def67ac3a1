package templates

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// siteParams are complete, made-up values of a production site.
var siteParams = Params{
	Kind:         "production",
	Hostname:     "dcor-mpl",
	FQDN:         "dcor.mpl.mpg.de",
	IP:           "130.183.206.45",
	Email:        "dcor-admin@example.org",
	DBPassword:   "s3cr@t:%(here)s/pw",
	SMTPServer:   "post.example.org",
	SMTPUser:     "dcor",
	SMTPPassword: "smtp-pw",
}

// checkGolden compares got with testdata/golden/name, or rewrites it
// with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run go test -update after checking the change):\n%s", name, p, got)
	}
}

func TestGolden(t *testing.T) {
	for _, tp := range List() {
		if tp.Name == "ckan-options" {
			continue
		}
		got, err := Render(tp.Name, siteParams)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, tp.Name, got)
	}
	p := siteParams
	p.DefaultServers = true
	got, err := Render("nginx-ckan", p)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "nginx-ckan-default-servers", got)
	for _, k := range Kinds() {
		p := siteParams
		p.Kind = k
		got, err := Render("ckan-options", p)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "ckan-options-"+k+".ini", got)
	}
}

func TestList(t *testing.T) {
	want := []string{"ckan-options", "ckan-uwsgi.ini", "nginx-ckan", "ckan-uwsgi.conf", "ckan-worker.conf",
		"ckan-worker-dcor-long.conf", "ckan-worker-dcor-normal.conf", "ckan-worker-dcor-short.conf"}
	var got []string
	for _, tp := range List() {
		got = append(got, tp.Name)
		if tp.Description == "" {
			t.Errorf("%s has no description", tp.Name)
		}
		if (tp.Path == "") != (tp.Name == "ckan-options") {
			t.Errorf("%s has path %q", tp.Name, tp.Path)
		}
		if tp.Path != "" && !strings.HasSuffix(tp.Path, "/"+tp.Name) && tp.Name != "nginx-ckan" {
			t.Errorf("%s goes to %s", tp.Name, tp.Path)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("List() = %v, want %v", got, want)
	}
	l := List()
	l[0].Name = "changed"
	if List()[0].Name != "ckan-options" {
		t.Error("List returns the package's own slice")
	}
}

// TestEmbeddedFilesUsed finds embedded files that no template or kind
// uses.
func TestEmbeddedFilesUsed(t *testing.T) {
	used := map[string]bool{"ckan-options/base.ini": true, "ckan-options/ckan-2.10.ini": true}
	for _, k := range Kinds() {
		used["ckan-options/"+k+".ini"] = true
	}
	for _, e := range entries {
		if e.file != "" {
			used[e.file] = true
		}
	}
	err := fs.WalkDir(files, "files", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, "files/")
		if !used[rel] {
			t.Errorf("embedded file %s is not used", rel)
		}
		delete(used, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for f := range used {
		t.Errorf("embedded file %s is missing", f)
	}
}

func TestRenderUnknown(t *testing.T) {
	_, err := Render("nginx", siteParams)
	if err == nil {
		t.Fatal("no error")
	}
	for _, tp := range List() {
		if !strings.Contains(err.Error(), tp.Name) {
			t.Errorf("error %q does not name %s", err, tp.Name)
		}
	}
}

func TestRenderAllFilled(t *testing.T) {
	for _, k := range Kinds() {
		for _, tp := range List() {
			p := siteParams
			p.Kind = k
			out, err := Render(tp.Name, p)
			if err != nil {
				t.Fatalf("%s %s: %v", k, tp.Name, err)
			}
			s := string(out)
			if strings.Contains(s, "{{") || strings.Contains(s, "<no value>") || !strings.HasSuffix(s, "\n") {
				t.Errorf("%s %s is not filled in properly:\n%s", k, tp.Name, s)
			}
		}
	}
}

func TestNginx(t *testing.T) {
	p := Params{FQDN: "dcor.example.org"}
	out, err := Render("nginx-ckan", p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		"server_name dcor.example.org;\n",
		`ssl_certificate "/etc/ssl/certs/dcor.example.org.cert";`,
		`ssl_certificate_key "/etc/ssl/private/dcor.example.org.key";`,
		"client_max_body_size 100G;",
		"listen      443 ssl http2;",
		"proxy_force_ranges on;",
		"proxy_pass http://127.0.0.1:8080$request_uri;",
		"login_generic|organization",
		"return 404;",
		"return 301 https://$host$request_uri;",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("site lacks %q", want)
		}
	}
	if n := strings.Count(s, "server_name dcor.example.org;"); n != 2 {
		t.Errorf("server_name set %d times", n)
	}
	for _, bad := range []string{"default_server", "snakeoil", "444", "mpl.mpg.de"} {
		if strings.Contains(s, bad) {
			t.Errorf("site without default servers contains %q", bad)
		}
	}

	p.CertPath, p.KeyPath, p.DefaultServers = "/etc/letsencrypt/live/x/fullchain.pem", "/etc/letsencrypt/live/x/privkey.pem", true
	out, err = Render("nginx-ckan", p)
	if err != nil {
		t.Fatal(err)
	}
	s = string(out)
	for _, want := range []string{
		`ssl_certificate "/etc/letsencrypt/live/x/fullchain.pem";`,
		`ssl_certificate_key "/etc/letsencrypt/live/x/privkey.pem";`,
		"listen 80 default_server;",
		"listen      443 default_server;",
		`ssl_certificate "/etc/ssl/certs/ssl-cert-snakeoil.pem";`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("site with default servers lacks %q", want)
		}
	}
	if n := strings.Count(s, "return 444;"); n != 2 {
		t.Errorf("%d servers return 444", n)
	}

	if _, err := Render("nginx-ckan", Params{Hostname: "dcor"}); err == nil || !strings.Contains(err.Error(), "FQDN") {
		t.Errorf("site without FQDN: error %v", err)
	}
}

// TestUWSGI checks the keys that facts and dcor check for.
func TestUWSGI(t *testing.T) {
	out, err := Render("ckan-uwsgi.ini", Params{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, ";") {
			keys[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	for k, v := range map[string]string{
		"http11-socket": "127.0.0.1:8080", "harakiri": "7200", "workers": "4", "lazy-apps": "true",
		"socket-timeout": "500", "post-buffering": "0", "strict": "true", "virtualenv": "/usr/lib/ckan/default",
		"wsgi-file": "/etc/ckan/default/wsgi.py", "disable-logging": "true", "uid": "www-data",
		"log-date": "%%Y-%%m-%%d %%H:%%M:%%S",
	} {
		if keys[k] != v {
			t.Errorf("%s = %q, want %q", k, keys[k], v)
		}
	}
	out, err = Render("ckan-uwsgi.ini", Params{Venv: "/opt/ckan/venv/"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "virtualenv         = /opt/ckan/venv\n") {
		t.Errorf("virtualenv not set:\n%s", out)
	}
}

func TestSupervisor(t *testing.T) {
	for _, tc := range []struct {
		p     Params
		venv  string
		ini   string
		label string
	}{
		{Params{}, "/usr/lib/ckan/default", "/etc/ckan/default/ckan.ini", "defaults"},
		{Params{Venv: "/opt/venv", CKANIni: "/srv/ckan/site.ini"}, "/opt/venv", "/srv/ckan/site.ini", "custom"},
	} {
		want := map[string][]string{
			"ckan-uwsgi.conf": {"[program:ckan-uwsgi]\n", "command=" + tc.venv + "/bin/uwsgi -i /etc/ckan/default/ckan-uwsgi.ini\n",
				"stdout_logfile=/var/log/ckan/ckan-uwsgi.stdout.log\n", "stopsignal=QUIT\n"},
			"ckan-worker.conf": {"[program:ckan-worker]\n", "command=" + tc.venv + "/bin/ckan -c " + tc.ini + " jobs worker\n",
				"stderr_logfile=/var/log/ckan/ckan-worker.stderr.log\n", "user=www-data\n"},
		}
		for _, q := range []string{"long", "normal", "short"} {
			want["ckan-worker-dcor-"+q+".conf"] = []string{
				"[program:ckan-ckan-worker-dcor-" + q + "]\n",
				"command=" + tc.venv + "/bin/ckan -c " + tc.ini + " jobs worker dcor-" + q + "\n",
				"stdout_logfile=/var/log/ckan/ckan-worker-dcor-" + q + ".stdout.log\n",
				"user=www-data\n",
			}
		}
		for name, lines := range want {
			out, err := Render(name, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			s := string(out)
			lines = append(lines, "numprocs=1\n", "process_name=%(program_name)s-%(process_num)02d\n",
				"autostart=true\n", "autorestart=true\n", "startsecs=10\n", "stopwaitsecs = 600\n",
				"environment=HDF5_USE_FILE_LOCKING=FALSE\n")
			for _, l := range lines {
				if !strings.Contains(s, l) {
					t.Errorf("%s: %s lacks %q", tc.label, name, l)
				}
			}
			if strings.Count(s, "[program:") != 1 {
				t.Errorf("%s: %s has not one program", tc.label, name)
			}
		}
	}
}

func TestParamsRejected(t *testing.T) {
	for _, p := range []Params{
		{FQDN: "dcor.example.org\nserver_name evil"},
		{FQDN: "dcor example.org"},
		{FQDN: "dcor.example.org;"},
		{FQDN: "dcor.example.org", CertPath: `/etc/ssl/a".cert`},
		{FQDN: "dcor.example.org", KeyPath: "relative.key"},
		{Venv: "venv"},
		{Venv: "/opt/my venv"},
		{CKANIni: "/etc/ckan/ckan;.ini"},
		{Hostname: "../etc"},
		{IP: "300.1.2.3"},
		{DBPassword: "pw\nsolr_url = x"},
		{Email: "a@b\r"},
	} {
		if _, err := Render("nginx-ckan", p); err == nil {
			t.Errorf("Render(nginx-ckan, %+v) works", p)
		}
		p.Kind = "testing"
		if _, err := Options(p); err == nil {
			t.Errorf("Options(%+v) works", p)
		}
	}
}
