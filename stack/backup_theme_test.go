package stack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/internal/runner"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// TestThemeOnTheStack: dcor inspect ran the installed dcor_theme's
// branding commands (make stack runs dcor inspect -y), and CKAN serves the
// DCOR CSS through nginx afterwards.
func TestThemeOnTheStack(t *testing.T) {
	e := stackEnv(t)
	mustRun(t, e, 5*time.Minute, dcor(t), "inspect", "-y", "--only", "theme")
	f, err := ckanini.Load(e.CKANIni)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"ckan.locale_default": "en_US", "ckan.theme": "dcor_theme_main/dcor_theme_main"} {
		if got, _ := f.Get(key); got != want {
			t.Errorf("ckan.ini: %s = %q, want %q", key, got, want)
		}
	}
	page := mustRun(t, e, time.Minute, "curl", "-sS", "--fail", "--cacert", e.Cert, e.URL+"/")
	css := regexp.MustCompile(`href="(/webassets/[^"]*_dcor_main\.css)"`).FindStringSubmatch(page)
	if css == nil {
		t.Fatalf("the home page links no DCOR CSS (…_dcor_main.css):\n%s", strings.Join(regexp.MustCompile(`<link[^>]*css[^>]*>`).FindAllString(page, -1), "\n"))
	}
	body := mustRun(t, e, time.Minute, "curl", "-sS", "--fail", "--cacert", e.Cert, e.URL+css[1])
	if len(body) < 1000 {
		t.Errorf("%s is %d bytes", css[1], len(body))
	}
}

// TestBackupRestoreOnTheStack: encrypted-database-backup of the stack's
// database, restore-database-backup --target-db into a new database, and
// CKAN started on that database lists the same users, circles and
// datasets through the API.
func TestBackupRestoreOnTheStack(t *testing.T) {
	e := stackEnv(t)
	bin := dcor(t)
	testtool.Need(t, "gpg") // before anything is created
	token := adminToken(t, e)
	n := time.Now().UnixNano() % 1_000_000
	org := fmt.Sprintf("stack-circle-%d", n)
	ds := fmt.Sprintf("stack-dataset-%d", n)
	if code, doc := api(t, e, token, "organization_create", map[string]any{"name": org}); code != 200 {
		t.Fatalf("organization_create: HTTP %d %v", code, doc)
	}
	if code, doc := api(t, e, token, "package_create", map[string]any{"name": ds, "title": "Stack dataset",
		"owner_org": org, "authors": "A. Person", "license_id": "CC0-1.0", "state": "draft"}); code != 200 {
		t.Fatalf("package_create: HTTP %d %v", code, doc)
	}

	dir, err := os.MkdirTemp("", "dcor-stack-backup-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after backupKey's cleanup stopped gpg's agent
	os.Chmod(dir, 0o755)
	pubKey, secKey := backupKey(t, dir, "DCOR stack backup <backup@dcor.test>")
	pub, sec := filepath.Join(dir, "pub.asc"), filepath.Join(dir, "sec.asc")
	os.WriteFile(pub, pubKey, 0o644)
	os.WriteFile(sec, secKey, 0o600)

	dumps := filepath.Join(dir, "dumps")
	mustRun(t, e, 5*time.Minute, bin, "encrypted-database-backup", "--key-file", pub, "--out-dir", dumps)
	files, _ := filepath.Glob(filepath.Join(dumps, "*", "*.gpg"))
	if len(files) != 1 {
		t.Fatalf("encrypted dumps: %v, want one", files)
	}
	target := fmt.Sprintf("ckan_restored_%d", n)
	mustRun(t, e, 5*time.Minute, bin, "restore-database-backup", files[0], "--secret-key", sec,
		"--target-db", target, "--as-postgres")
	defer run(t, e, time.Minute, "runuser", "-u", "postgres", "--", "dropdb", "-h", "/run/postgresql", "--if-exists", target)

	// CKAN on the restored database: a copy of ckan.ini beside it
	data, err := os.ReadFile(e.CKANIni)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(sqlalchemy\.url\s*=\s*\S+/)ckan_default\s*$`)
	if !re.Match(data) {
		t.Fatal("ckan.ini: no sqlalchemy.url ending in /ckan_default")
	}
	restoredIni := filepath.Join(filepath.Dir(e.CKANIni), "ckan-restored.ini")
	if err := os.WriteFile(restoredIni, re.ReplaceAll(data, []byte("${1}"+target)), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(restoredIni)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	argv := e.Command(e.Venv+"/bin/ckan", "-c", "/etc/ckan/default/ckan-restored.ini", "run", "-H", "127.0.0.1", "-p", "5055", "-r")
	var logBuf strings.Builder
	p, err := runner.Start(ctx, runner.Cmd{Path: argv[0], Args: argv[1:], Stdout: &logBuf, Stderr: &logBuf, Grace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); p.Wait() }()
	restored := *e
	restored.URL = "http://127.0.0.1:5055"
	for end := time.Now().Add(2 * time.Minute); ; {
		if out, code := run(t, e, 10*time.Second, "curl", "-sS", "--fail", restored.URL+"/api/3/action/status_show"); code == 0 && strings.Contains(out, `"success": true`) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("CKAN on the restored database did not answer:\n%s", logBuf.String())
		}
		time.Sleep(time.Second)
	}
	names := func(env *Env, action string, body map[string]any) []string {
		t.Helper()
		code, doc := api(t, env, token, action, body)
		if code != 200 {
			t.Fatalf("%s at %s: HTTP %d %v", action, env.URL, code, doc)
		}
		var out []string
		switch r := doc["result"].(type) {
		case []any:
			for _, x := range r {
				if m, ok := x.(map[string]any); ok {
					out = append(out, fmt.Sprint(m["name"]))
				} else {
					out = append(out, fmt.Sprint(x))
				}
			}
		case map[string]any:
			out = append(out, fmt.Sprint(r["name"], " ", r["state"], " ", r["owner_org"]))
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		action string
		body   map[string]any
	}{
		{"user_list", map[string]any{}},
		{"organization_list", map[string]any{}},
		{"package_show", map[string]any{"id": ds}},
	} {
		live, back := names(e, c.action, c.body), names(&restored, c.action, c.body)
		if !slices.Equal(live, back) || len(live) == 0 {
			t.Errorf("%s: live %v, restored %v", c.action, live, back)
		}
	}
}

// backupKey makes an OpenPGP key for backups with gpg in dir/gnupg (uid,
// an ed25519 primary key, a cv25519 encryption subkey, no passphrase)
// and returns its public and its secret key, armored. gpg's agent is
// stopped when the test is cleaned up.
func backupKey(t *testing.T, dir, uid string) (pub, sec []byte) {
	t.Helper()
	gpg := testtool.Need(t, "gpg")
	home := filepath.Join(dir, "gnupg")
	os.Mkdir(home, 0o700)
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Run()
	})
	g := func(args ...string) []byte {
		t.Helper()
		out, err := runner.Run(context.Background(), runner.Cmd{Path: gpg,
			Args:     append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...),
			ExtraEnv: []string{"GNUPGHOME=" + home}, Stderr: io.Discard})
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	g("--quick-gen-key", uid, "ed25519", "sign,cert", "never")
	fpr := regexp.MustCompile(`(?m)^fpr:+([0-9A-F]{40}):`).FindSubmatch(g("--with-colons", "--list-keys"))
	if fpr == nil {
		t.Fatal("no fingerprint in gpg's listing")
	}
	g("--quick-add-key", string(fpr[1]), "cv25519", "encr", "never")
	return g("--armor", "--export", string(fpr[1])), g("--armor", "--export-secret-keys", string(fpr[1]))
}
