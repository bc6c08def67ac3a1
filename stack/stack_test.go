package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/runner"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// The tests share the one running stack (make stack; make test starts it
// before and stops it after the tests). Without .stack/env they skip, and
// fail under CI=true: there, a stack that could not be built is a failure.

var (
	dcorOnce sync.Once
	dcorBin  string
	dcorErr  string
)

// stackEnv returns the running stack's environment.
func stackEnv(t *testing.T) *Env {
	t.Helper()
	path := os.Getenv("DCOR_STACK_ENV")
	if path == "" {
		path = DefaultEnvFile()
	}
	e, err := Load(path)
	if err != nil {
		testtool.Missing(t, fmt.Sprintf("the DCOR stack is not up (%v): run make stack", err))
	}
	if len(e.Run) > 0 {
		if _, err := os.Stat(filepath.Join("/proc", lastField(e.Run), "ns")); err != nil && strings.HasPrefix(e.Run[0], "nsenter") {
			testtool.Missing(t, "the DCOR stack's namespace is gone: run make stack")
		}
	}
	return e
}

// lastField returns the pid of "nsenter --target PID …".
func lastField(run []string) string {
	for i, a := range run {
		if a == "--target" && i+1 < len(run) {
			return run[i+1]
		}
	}
	return "self"
}

// dcor builds the dcor binary once for all tests (in a directory that the
// stack's namespace sees: it shares /tmp).
func dcor(t *testing.T) string {
	t.Helper()
	dcorOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dcor-stack-bin-")
		if err != nil {
			dcorErr = err.Error()
			return
		}
		dcorBin = testtool.BuildDcor(t, dir)
	})
	if dcorBin == "" {
		t.Fatalf("building dcor: %s", dcorErr)
	}
	return dcorBin
}

// run runs name with args inside the stack's namespace and returns its
// combined output and exit code (-1 when it did not run).
func run(t *testing.T, e *Env, timeout time.Duration, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := e.Command(name, args...)
	out, err := runner.Run(ctx, runner.Cmd{Path: argv[0], Args: argv[1:], Grace: 5 * time.Second})
	if err == nil {
		return string(out), 0
	}
	if re, ok := err.(*runner.Error); ok {
		return string(out) + re.Tail, re.ExitCode
	}
	return err.Error(), -1
}

// mustRun is run that fails the test on a non-zero exit.
func mustRun(t *testing.T, e *Env, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, code := run(t, e, timeout, name, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s", name, strings.Join(args, " "), code, out)
	}
	return out
}

// api calls a CKAN action through nginx (TLS with the stack's
// certificate) and returns the HTTP status and the decoded answer.
func api(t *testing.T, e *Env, token, action string, body any) (int, map[string]any) {
	t.Helper()
	args := []string{"-sS", "--cacert", e.Cert, "-o", "-", "-w", "\n%{http_code}",
		"-H", "Content-Type: application/json"}
	if token != "" {
		args = append(args, "-H", "Authorization: "+token)
	}
	if body != nil {
		b, _ := json.Marshal(body)
		args = append(args, "--data-binary", string(b))
	}
	args = append(args, e.URL+"/api/3/action/"+action)
	if strings.HasPrefix(e.URL, "http:") {
		args = slices.DeleteFunc(args, func(a string) bool { return a == "--cacert" || a == e.Cert })
	}
	out := mustRun(t, e, 60*time.Second, "curl", args...)
	i := strings.LastIndexByte(strings.TrimRight(out, "\n"), '\n')
	if i < 0 {
		t.Fatalf("curl %s: no status in %q", action, out)
	}
	var code int
	fmt.Sscan(strings.TrimSpace(out[i+1:]), &code)
	var doc map[string]any
	if err := json.Unmarshal([]byte(out[:i]), &doc); err != nil {
		doc = map[string]any{"raw": out[:i]}
	}
	return code, doc
}

// result is doc["result"] as a map.
func result(doc map[string]any) map[string]any {
	r, _ := doc["result"].(map[string]any)
	return r
}

// adminToken makes a CKAN API token for the stack's sysadmin with CKAN's
// own CLI.
func adminToken(t *testing.T, e *Env) string {
	t.Helper()
	out := mustRun(t, e, 2*time.Minute, e.Venv+"/bin/ckan", "-c", "/etc/ckan/default/ckan.ini",
		"user", "token", "add", e.Admin, "stack-test")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tok := strings.TrimSpace(lines[len(lines)-1])
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("ckan user token add: no token in\n%s", out)
	}
	return tok
}

// TestInspectOnTheStack runs dcor inspect -y on the stack's host, then
// checks what the host runs with the files it wrote: nginx -t of the whole
// configuration, supervisord's programs, CKAN through nginx, and a clean
// second inspect --check.
func TestInspectOnTheStack(t *testing.T) {
	e := stackEnv(t)
	bin := dcor(t)
	out, code := run(t, e, 5*time.Minute, bin, "inspect", "-y")
	if code != 0 {
		t.Fatalf("dcor inspect -y: exit %d\n%s", code, out)
	}
	if out, code := run(t, e, time.Minute, "nginx", "-t"); code != 0 {
		t.Errorf("nginx -t of the whole configuration: exit %d\n%s", code, out)
	}
	// supervisord runs uWSGI and the four workers
	want := []string{"ckan-uwsgi:ckan-uwsgi-00", "ckan-worker:ckan-worker-00",
		"ckan-ckan-worker-dcor-long:ckan-ckan-worker-dcor-long-00",
		"ckan-ckan-worker-dcor-normal:ckan-ckan-worker-dcor-normal-00",
		"ckan-ckan-worker-dcor-short:ckan-ckan-worker-dcor-short-00"}
	deadline := time.Now().Add(90 * time.Second)
	for {
		status, _ := run(t, e, time.Minute, "supervisorctl", "status")
		missing := []string{}
		for _, p := range want {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(p) + `\s+RUNNING\b`).MatchString(status) {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("supervisord does not run %v:\n%s", missing, status)
		}
		time.Sleep(2 * time.Second)
	}
	// CKAN answers through nginx (inspect may have reloaded supervisor)
	var code2 int
	var doc map[string]any
	for end := time.Now().Add(2 * time.Minute); ; {
		code2, doc = api(t, e, "", "status_show", nil)
		if code2 == 200 || time.Now().After(end) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if code2 != 200 {
		t.Fatalf("status_show through nginx: HTTP %d %v", code2, doc)
	}
	if v := result(doc)["ckan_version"]; v != e.CKANVersion {
		t.Errorf("status_show ckan_version = %v, want %s", v, e.CKANVersion)
	}
	exts := fmt.Sprint(result(doc)["extensions"])
	for _, p := range []string{"dcor_depot", "dcor_schemas", "dc_serve", "dc_view", "dc_log_view", "dcor_theme"} {
		if !strings.Contains(exts, p) {
			t.Errorf("CKAN runs without %s: %s", p, exts)
		}
	}
	// ckan.ini as dcor leaves it passes CKAN's own validation (2.10+;
	// CKAN 2.9 has no config validate: there, the running web app and
	// workers above are the check)
	if e.Lane != "2.9" {
		if out, code := run(t, e, 2*time.Minute, e.Venv+"/bin/ckan", "-c", "/etc/ckan/default/ckan.ini", "config", "validate"); code != 0 {
			t.Errorf("ckan config validate: exit %d\n%s", code, out)
		}
	}
	if out, code := run(t, e, 5*time.Minute, bin, "inspect", "--check"); code != 0 {
		t.Errorf("second dcor inspect --check: exit %d\n%s", code, out)
	}
}

// TestAccessTokenOnTheStack: a token from dcor make-access-token is
// accepted by the running CKAN (user_show returns the user's own email,
// which only the user or a sysadmin sees), the real clients (dclab,
// DCOR-Aid) open the .dcor-access file and reach CKAN through nginx with
// the certificate in it and fail on TLS with another certificate; after
// dcor access-token revoke the token gets 403.
func TestAccessTokenOnTheStack(t *testing.T) {
	e := stackEnv(t)
	bin := dcor(t)
	dir, err := os.MkdirTemp("", "dcor-stack-token-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	user := fmt.Sprintf("stack-user-%d", time.Now().UnixNano()%1_000_000)
	email := user + "@example.org"
	pwFile := filepath.Join(dir, "pw")
	password := "stack test password"
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	access := filepath.Join(dir, user+".dcor-access")
	mustRun(t, e, 3*time.Minute, bin, "make-access-token", user, "--create-user", "--email", email,
		"--out", access, "--password-file", pwFile)

	// the real clients read the file: dclab for the token, host and
	// certificate, DCOR-Aid's CKANAPI to call CKAN through nginx
	otherCert := filepath.Join(dir, "other.cert")
	mustRun(t, e, time.Minute, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
		"-subj", "/CN="+e.Host, "-addext", "subjectAltName=DNS:"+e.Host,
		"-keyout", filepath.Join(dir, "other.key"), "-out", otherCert)
	script := filepath.Join(dir, "client.py")
	if err := os.WriteFile(script, []byte(clientScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, e, 3*time.Minute, e.ClientVenv+"/bin/python", script, access, password, user, dir, otherCert)
	var got struct {
		Host, Email, Token, OtherCert string
		CertMatches                   bool
	}
	if err := json.Unmarshal([]byte(lastLine(out)), &got); err != nil {
		t.Fatalf("client script: %v\n%s", err, out)
	}
	if got.Host != e.Host {
		t.Errorf("dclab get_hostname = %q, want %q", got.Host, e.Host)
	}
	if !got.CertMatches {
		t.Error("dclab get_certificate differs from the stack's certificate")
	}
	if got.Email != email {
		t.Errorf("dcoraid CKANAPI user_show email = %q, want %q", got.Email, email)
	}
	if !strings.Contains(got.OtherCert, "SSL") && !strings.Contains(got.OtherCert, "certificate") {
		t.Errorf("with another certificate dcoraid should fail on TLS, got %q", got.OtherCert)
	}

	// CKAN itself with the token: own email, then 403 after revoke
	code, doc := api(t, e, got.Token, "user_show", map[string]any{"id": user})
	if code != 200 || result(doc)["email"] != email {
		t.Fatalf("user_show with the token: HTTP %d, email %v, want 200 and %s", code, result(doc)["email"], email)
	}
	mustRun(t, e, 2*time.Minute, bin, "access-token", "revoke", access, "--password-file", pwFile)
	if code, doc := api(t, e, got.Token, "user_show", map[string]any{"id": user}); code != 403 {
		t.Errorf("user_show with the revoked token: HTTP %d %v, want 403", code, doc)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// clientScript runs in the client venv: argv = access file, password,
// user, directory, another certificate.
const clientScript = `
import json, pathlib, sys
from dclab.rtdc_dataset.fmt_dcor import access_token
from dcoraid.api import CKANAPI

path, password, user, d, other = sys.argv[1:6]
key = access_token.get_api_key(path, password)
host = access_token.get_hostname(path, password)
cert = access_token.get_certificate(path, password)
cert_file = pathlib.Path(d) / (host + ".cert")
cert_file.write_bytes(cert)
api = CKANAPI(server=host, api_key=key, ssl_verify=str(cert_file))
email = api.get("user_show", id=user)["email"]
try:
    CKANAPI(server=host, api_key=key, ssl_verify=other).get("user_show", id=user)
    other_result = "no error"
except Exception as e:
    other_result = type(e).__name__ + ": " + str(e)
stack_cert = pathlib.Path("/etc/dcor/" + host + ".cert").read_bytes()
print(json.dumps({"Host": host, "Email": email, "Token": key, "OtherCert": other_result,
                  "CertMatches": cert.strip() == stack_cert.strip()}))
`
