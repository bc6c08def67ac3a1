package templates

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/testtool"
)

// renderSiteForTest renders the nginx site for fqdn with a fresh
// self-signed certificate in dir, the cache path moved into dir, and
// writes it to dir/site.
func renderSiteForTest(t *testing.T, dir, fqdn string, defaultServers bool) (sitePath, site string) {
	t.Helper()
	cert, key := writeSelfSignedCert(t, dir, fqdn)
	out, err := Render("nginx-ckan", Params{FQDN: fqdn, CertPath: cert, KeyPath: key, DefaultServers: defaultServers})
	if err != nil {
		t.Fatal(err)
	}
	site = replaceOnce(t, string(out), "proxy_cache_path /tmp/nginx_cache ", "proxy_cache_path "+dir+"/nginx_cache ")
	if defaultServers {
		// Debian's snakeoil certificate may not exist here.
		site = replaceOnce(t, site, "/etc/ssl/certs/ssl-cert-snakeoil.pem", cert)
		site = replaceOnce(t, site, "/etc/ssl/private/ssl-cert-snakeoil.key", key)
	}
	sitePath = filepath.Join(dir, "site")
	writeFile(t, sitePath, []byte(site), 0o644)
	return sitePath, site
}

// replaceOnce replaces old in s, which must occur exactly once.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%q occurs %d times", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// checkNginxOK fails unless nginx -t passed with nothing worse than the
// warning of newer nginx versions about "listen ... http2".
func checkNginxOK(t *testing.T, out string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("nginx -t failed: %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.Contains(l, "syntax is ok"), strings.Contains(l, "test is successful"):
		case strings.Contains(l, "[warn]") && strings.Contains(l, "http2"):
			t.Logf("accepted warning: %s", l)
		default:
			t.Errorf("nginx -t says: %s", l)
		}
	}
}

func TestNginxAcceptsSite(t *testing.T) {
	nginx := testtool.Need(t, "nginx", "/usr/sbin")
	if v, err := exec.Command(nginx, "-v").CombinedOutput(); err == nil {
		t.Logf("%s", strings.TrimSpace(string(v)))
	}
	for _, ds := range []bool{false, true} {
		t.Run(fmt.Sprintf("DefaultServers=%v", ds), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sitePath, _ := renderSiteForTest(t, dir, "dcor.test.example", ds)
			conf := writeNginxConf(t, dir, sitePath)
			out, err := nginxTest(t, nginx, dir, conf)
			checkNginxOK(t, out, err)
			if _, err := os.Stat(filepath.Join(dir, "nginx_cache")); err != nil {
				t.Logf("cache dir: %v", err)
			}
		})
	}
}

// TestNginxRejectsBrokenSite proves that the nginx tests can fail.
func TestNginxRejectsBrokenSite(t *testing.T) {
	nginx := testtool.Need(t, "nginx", "/usr/sbin")
	for _, tc := range []struct {
		name, old, new, msg string
	}{
		{"typo", "proxy_force_ranges on;", "proxy_force_rangez on;", `unknown directive "proxy_force_rangez"`},
		{"brace", "    location / {\n        return 404;\n    }\n", "    location / {\n        return 404;\n", `"server" directive is not allowed here`},
		{"missing key", ".key\";", ".nokey\";", "nokey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sitePath, site := renderSiteForTest(t, dir, "dcor.test.example", false)
			writeFile(t, sitePath, []byte(replaceOnce(t, site, tc.old, tc.new)), 0o644)
			out, err := nginxTest(t, nginx, dir, writeNginxConf(t, dir, sitePath))
			if err == nil {
				t.Fatalf("nginx -t accepts the broken site:\n%s", out)
			}
			if !strings.Contains(out, tc.msg) {
				t.Errorf("nginx -t output lacks %q:\n%s", tc.msg, out)
			}
		})
	}
}

// supervisorPrograms are the processes of the five program files, as
// supervisorctl status names them.
var supervisorPrograms = []string{
	"ckan-uwsgi:ckan-uwsgi-00",
	"ckan-worker:ckan-worker-00",
	"ckan-ckan-worker-dcor-long:ckan-ckan-worker-dcor-long-00",
	"ckan-ckan-worker-dcor-normal:ckan-ckan-worker-dcor-normal-00",
	"ckan-ckan-worker-dcor-short:ckan-ckan-worker-dcor-short-00",
}

// waitRunning waits until every program is RUNNING and returns the last
// status.
func waitRunning(t *testing.T, supervisorctl, conf string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := supervisorStatus(t, supervisorctl, conf)
		running := 0
		for _, p := range supervisorPrograms {
			if st[p] == "RUNNING" {
				running++
			}
		}
		if running == len(supervisorPrograms) && len(st) == len(supervisorPrograms) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("programs not all RUNNING: %v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestSupervisordRunsPrograms(t *testing.T) {
	supervisord := testtool.Need(t, "supervisord", "/usr/bin")
	supervisorctl := testtool.Need(t, "supervisorctl", "/usr/bin")

	// A short dir: the unix socket path must stay below ~100 bytes.
	dir, err := os.MkdirTemp("", "dcor-sv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The workers run as www-data when we are root: they must reach the
	// stand-in virtualenv and write their record into it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	asUser := os.Geteuid() == 0
	if _, err := user.Lookup("www-data"); err != nil {
		asUser = false
	}
	venv := filepath.Join(dir, "venv")
	record := filepath.Join(venv, "record")
	for _, d := range []string{filepath.Join(venv, "bin"), record, filepath.Join(dir, "log"), filepath.Join(dir, "conf.d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(record, 0o777); err != nil {
		t.Fatal(err)
	}
	stub := fmt.Sprintf("#!/bin/sh\necho \"$(id -un) HDF5_USE_FILE_LOCKING=$HDF5_USE_FILE_LOCKING $0 $*\" > %s/$$\nexec sleep 1000\n", record)
	for _, name := range []string{"uwsgi", "ckan"} {
		writeFile(t, filepath.Join(venv, "bin", name), []byte(stub), 0o755)
	}

	p := Params{Venv: venv, CKANIni: "/etc/ckan/default/ckan.ini"}
	for _, tp := range List() {
		if !strings.HasPrefix(tp.Path, "/etc/supervisor/conf.d/") {
			continue
		}
		out, err := Render(tp.Name, p)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(out), "=/var/log/ckan/", "="+dir+"/log/")
		// startsecs=10 would keep the programs STARTING for 10 s.
		s = replaceOnce(t, s, "\nstartsecs=10\n", "\nstartsecs=1\n")
		if !asUser {
			s = strings.ReplaceAll(s, "\nuser=www-data\n", "\n")
		}
		writeFile(t, filepath.Join(dir, "conf.d", tp.Name), []byte(s), 0o644)
	}

	conf := startSupervisord(t, supervisord, supervisorctl, dir, filepath.Join(dir, "conf.d"))
	st := waitRunning(t, supervisorctl, conf)
	t.Logf("status: %v", st)

	// Each program ran its command, as its user, with HDF5 file locking off.
	who := "root"
	if asUser {
		who = "www-data"
	} else if u, err := user.Current(); err == nil {
		who = u.Username
	}
	want := []string{
		"HDF5_USE_FILE_LOCKING=FALSE " + venv + "/bin/uwsgi -i /etc/ckan/default/ckan-uwsgi.ini",
		who + " HDF5_USE_FILE_LOCKING=FALSE " + venv + "/bin/ckan -c /etc/ckan/default/ckan.ini jobs worker",
		who + " HDF5_USE_FILE_LOCKING=FALSE " + venv + "/bin/ckan -c /etc/ckan/default/ckan.ini jobs worker dcor-long",
		who + " HDF5_USE_FILE_LOCKING=FALSE " + venv + "/bin/ckan -c /etc/ckan/default/ckan.ini jobs worker dcor-normal",
		who + " HDF5_USE_FILE_LOCKING=FALSE " + venv + "/bin/ckan -c /etc/ckan/default/ckan.ini jobs worker dcor-short",
	}
	got := readRecords(t, record)
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasSuffix(g, w) }) {
			t.Errorf("no program ran %q; records: %q", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d program starts, want %d: %q", len(got), len(want), got)
	}

	out, err := exec.Command(supervisorctl, "-c", conf, "reload").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?i)restarted supervisord`).Match(out) {
		t.Fatalf("supervisorctl reload: %v\n%s", err, out)
	}
	// Wait for the reload to stop the old processes before reading the
	// status of the new ones.
	deadline := time.Now().Add(15 * time.Second)
	for len(readRecords(t, record)) < 2*len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("programs not restarted by reload: %q", readRecords(t, record))
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitRunning(t, supervisorctl, conf)
}

func readRecords(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var recs []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			recs = append(recs, s)
		}
	}
	return recs
}
