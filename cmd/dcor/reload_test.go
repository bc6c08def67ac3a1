package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/internal/testtool"
)

// TestInspectReloadsRealSupervisord runs `dcor inspect -y` on the live
// root "/" inside a private mount namespace in which /etc/supervisor and
// /var/log are temporary directories, with a real supervisord running
// CKAN's stock ckan-uwsgi program (a stand-in script). inspect creates
// the four missing worker programs and reloads supervisord, which must
// then run all five. Nothing outside the temporary directory is touched.
func TestInspectReloadsRealSupervisord(t *testing.T) {
	if os.Geteuid() != 0 {
		testtool.Missing(t, "this test needs root (mount namespaces)")
	}
	unshare := testtool.Need(t, "unshare")
	testtool.Need(t, "supervisord")
	testtool.Need(t, "supervisorctl")
	if _, err := os.Stat("/etc/supervisor"); err != nil {
		testtool.Missing(t, "/etc/supervisor does not exist (install supervisor)")
	}
	dcor := filepath.Join(t.TempDir(), "dcor")
	if out, err := exec.Command("go", "build", "-o", dcor, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir, err := os.MkdirTemp("", "dcor-reload-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	write := func(rel, content string, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("supervisor/supervisord.conf", `[unix_http_server]
file=`+dir+`/supervisor.sock
chmod=0700
[supervisord]
logfile=`+dir+`/supervisord.log
pidfile=`+dir+`/supervisord.pid
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://`+dir+`/supervisor.sock
[include]
files = /etc/supervisor/conf.d/*.conf
`, 0o644)
	// CKAN's stock program, as on a freshly installed host
	write("supervisor/conf.d/ckan-uwsgi.conf", `[program:ckan-uwsgi]
command=`+dir+`/venv/bin/uwsgi -i /etc/ckan/default/ckan-uwsgi.ini
numprocs=1
process_name=%(program_name)s-%(process_num)02d
stdout_logfile=/var/log/ckan/ckan-uwsgi.stdout.log
stderr_logfile=/var/log/ckan/ckan-uwsgi.stderr.log
autostart=true
autorestart=true
startsecs=1
stopwaitsecs = 600
stopsignal=QUIT
`, 0o644)
	os.MkdirAll(filepath.Join(dir, "log", "ckan"), 0o755)
	for _, prog := range []string{"uwsgi", "ckan"} {
		write("venv/bin/"+prog, "#!/bin/sh\nexec sleep 600\n", 0o755)
	}
	write("ckan.ini", "[app:main]\nuse = egg:ckan\n", 0o644)
	write("dcor.yaml", "kind: production\nhostname: demo\nfqdn: dcor.demo.example\n", 0o600)

	script := `set -e
mount --bind "$D/supervisor" /etc/supervisor
mount --bind "$D/log" /var/log
supervisord -c /etc/supervisor/supervisord.conf
for i in $(seq 50); do supervisorctl pid >/dev/null 2>&1 && break; sleep 0.1; done
"$DCOR" inspect -y --only supervisor --config "$D/dcor.yaml" --ckan-ini "$D/ckan.ini" --venv "$D/venv" || echo "inspect exit $?"
for i in $(seq 100); do
  n=$(supervisorctl status 2>/dev/null | grep -c -E 'RUNNING|STARTING' || true)
  [ "$n" -ge 5 ] && break; sleep 0.1
done
echo "--- status"
supervisorctl status || true
supervisorctl shutdown >/dev/null 2>&1 || true
`
	cmd := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "D="+dir, "DCOR="+dcor, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	t.Cleanup(func() {
		// in case the script failed before shutdown
		if pid, err := os.ReadFile(filepath.Join(dir, "supervisord.pid")); err == nil {
			exec.Command("kill", strings.TrimSpace(string(pid))).Run()
		}
	})
	if err != nil {
		t.Fatalf("namespace script: %v\n%s", err, out)
	}
	s := string(out)
	t.Log(s)
	if !strings.Contains(s, "reloaded supervisor") {
		t.Errorf("inspect did not reload supervisor:\n%s", s)
	}
	status := s[strings.Index(s, "--- status"):]
	for _, p := range []string{"ckan-uwsgi", "ckan-worker:", "ckan-ckan-worker-dcor-long", "ckan-ckan-worker-dcor-normal", "ckan-ckan-worker-dcor-short"} {
		if !strings.Contains(status, p) {
			t.Errorf("supervisord does not run %s after the reload:\n%s", p, status)
		}
	}
	// the real /etc/supervisor was not touched
	if _, err := os.Stat("/etc/supervisor/conf.d/ckan-worker-dcor-long.conf"); err == nil {
		t.Error("the test wrote into the real /etc/supervisor")
	}
}
