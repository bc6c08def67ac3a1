package health

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/testtool"
)

// TestSupervisor runs a real supervisord with DCOR's uWSGI program name
// (a sleep), a program that cannot start (FATAL) and one that is not
// started (STOPPED), reached through the socket named in supervisord.conf
// under the host tree; then stops supervisord.
func TestSupervisor(t *testing.T) {
	bin := testtool.Need(t, "supervisord")
	dir, err := os.MkdirTemp("", "dcor-sv-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	conf := fmt.Sprintf(`[unix_http_server]
file=%[1]s/s.sock   ; the socket
chmod=0700

[supervisord]
logfile=%[1]s/supervisord.log
pidfile=%[1]s/supervisord.pid
childlogdir=%[1]s
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%[1]s/s.sock

[program:ckan-uwsgi]
command=/bin/sleep 600
process_name=%%(program_name)s-%%(process_num)02d
numprocs=1
startsecs=0

[program:broken]
command=/bin/false
startsecs=1
startretries=0
autorestart=false

[program:idle]
command=/bin/sleep 600
autostart=false
`, dir)
	confPath := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confPath)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)

	h := newHost(t, map[string]string{})
	h.write(SupervisorConf, conf)
	c := h.config()
	want := map[string]State{"supervisord": OK, "supervisor:ckan-uwsgi-00": OK, "supervisor:broken": Fail, "supervisor:idle": Fail}
	var got map[string]Result
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got = map[string]Result{}
		for _, r := range probeSupervisor(context.Background(), c) {
			got[r.Name] = r
		}
		same := len(got) == len(want)
		for n, s := range want {
			same = same && got[n].State == s
		}
		if same && strings.HasPrefix(got["supervisor:broken"].Reason, "FATAL") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("supervisor results %v, want states %v", got, want)
		}
	}
	for name, prefix := range map[string]string{"supervisord": "RUNNING, 3 programs (" + sock + ")",
		"supervisor:ckan-uwsgi-00": "RUNNING: pid", "supervisor:broken": "FATAL", "supervisor:idle": "STOPPED"} {
		if !strings.HasPrefix(got[name].Reason, prefix) {
			t.Errorf("%s: reason %q, want it to start with %q", name, got[name].Reason, prefix)
		}
	}
	if !strings.Contains(got["supervisor:idle"].Reason, "supervisorctl start idle") {
		t.Errorf("idle: no hint how to start it: %q", got["supervisor:idle"].Reason)
	}

	// without DCOR's uWSGI program supervisord itself fails
	saved := requiredPrograms
	requiredPrograms = []string{"ckan-uwsgi", "ckan-worker"}
	check(t, "program missing", c, probeSupervisor, Fail, "RUNNING without ckan-worker")
	requiredPrograms = saved

	stop()
	check(t, "stopped", c, probeSupervisor, Fail, "no answer at "+sock, "is supervisord running")
}

// TestSupervisorTarget reads the socket as supervisorctl does: serverurl
// over unix_http_server's file, Debian's default without a file.
func TestSupervisorTarget(t *testing.T) {
	h := newHost(t, map[string]string{})
	c := h.config()
	if s := supervisorTarget(c); s.socket != "/var/run/supervisor.sock" || s.confErr != nil {
		t.Errorf("no supervisord.conf: %+v", s)
	}
	h.write(SupervisorConf, "[unix_http_server]\nfile=/run/a.sock ; comment\nusername = u\npassword = p\n")
	if s := supervisorTarget(c); s.socket != "/run/a.sock" || s.user != "u" || s.password != "p" {
		t.Errorf("unix_http_server: %+v", s)
	}
	h.write(SupervisorConf, "[unix_http_server]\nfile=/run/a.sock\n[supervisorctl]\nserverurl=http://127.0.0.1:9001\n")
	if s := supervisorTarget(c); s.url != "http://127.0.0.1:9001" || s.String() != "http://127.0.0.1:9001" {
		t.Errorf("serverurl: %+v", s)
	}
}
