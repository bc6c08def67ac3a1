package templates

// Test helpers for running the rendered files in the real programs. They
// use nothing of this package, so that they can move to an internal
// package when other packages' tests need them.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/selfsigned"
)

// writeSelfSignedCert writes a self-signed certificate for host (CN and
// subjectAltName) and its key as PEM files into dir and returns their
// paths.
func writeSelfSignedCert(t testing.TB, dir, host string) (certPath, keyPath string) {
	t.Helper()
	certPath = filepath.Join(dir, host+".cert")
	keyPath = filepath.Join(dir, host+".key")
	if err := selfsigned.Write(certPath, keyPath, host, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func writeFile(t testing.TB, name string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, data, perm); err != nil {
		t.Fatal(err)
	}
}

// writeNginxConf writes dir/nginx.conf, a minimal main configuration
// whose http block includes the site file, with the pid file, the logs
// and the temp paths inside dir, and returns its path. Run it with
// nginxTest.
func writeNginxConf(t testing.TB, dir, site string) string {
	t.Helper()
	conf := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, dir, site)
	p := filepath.Join(dir, "nginx.conf")
	writeFile(t, p, []byte(conf), 0o644)
	return p
}

// nginxTest runs "nginx -t" on the main configuration conf written by
// writeNginxConf in dir and returns nginx's output.
func nginxTest(t testing.TB, nginx, dir, conf string) (string, error) {
	t.Helper()
	// -e (nginx ≥ 1.19.5) keeps nginx from opening its compiled-in error
	// log before it has read conf.
	out, err := exec.Command(nginx, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf).CombinedOutput()
	return string(out), err
}

// startSupervisord starts supervisord in the foreground with a
// configuration in dir (socket, pid file and log inside dir) that
// includes includeDir/*.conf, waits until it answers, and stops it when
// the test ends. It returns the configuration's path, for supervisorctl.
func startSupervisord(t testing.TB, supervisord, supervisorctl, dir, includeDir string) string {
	t.Helper()
	conf := fmt.Sprintf(`[unix_http_server]
file=%[1]s/supervisor.sock
chmod=0700

[supervisord]
nodaemon=true
logfile=%[1]s/supervisord.log
pidfile=%[1]s/supervisord.pid
childlogdir=%[1]s

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%[1]s/supervisor.sock

[include]
files = %[2]s/*.conf
`, dir, includeDir)
	if n := len(dir) + len("/supervisor.sock"); n > 100 {
		t.Fatalf("socket path of %d bytes is too long for a unix socket: use a shorter dir", n)
	}
	p := filepath.Join(dir, "supervisord.conf")
	writeFile(t, p, []byte(conf), 0o644)

	var out bytes.Buffer
	cmd := exec.Command(supervisord, "-c", p)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("supervisord did not stop within 20 s of SIGTERM")
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "supervisord.log"))
			t.Logf("supervisord output:\n%s\nsupervisord.log:\n%s", out.String(), log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := exec.Command(supervisorctl, "-c", p, "pid").CombinedOutput()
		if err == nil && strings.TrimSpace(string(o)) == fmt.Sprint(cmd.Process.Pid) {
			return p
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("supervisord exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("supervisord does not answer: %s", errors.Join(err, errors.New(string(o))))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// supervisorStatus returns "supervisorctl status" as a map from process
// name (group:name) to state.
func supervisorStatus(t testing.TB, supervisorctl, conf string) map[string]string {
	t.Helper()
	// status exits with 3 when a process is not running: read the output.
	out, _ := exec.Command(supervisorctl, "-c", conf, "status").CombinedOutput()
	st := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			st[f[0]] = f[1]
		}
	}
	return st
}
