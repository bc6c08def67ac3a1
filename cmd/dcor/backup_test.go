package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// TestBackupCommandsRealDatabase runs encrypted-database-backup and
// restore-database-backup on a real PostgreSQL database named by the
// host's ckan.ini.
func TestBackupCommandsRealDatabase(t *testing.T) {
	gpg := testtool.Need(t, "gpg")
	c := pgtest.Start(t)
	const password = "pw:with@chars/"
	url := c.CreateDatabase(t, "ckan_default", "ckan_default", password)
	c.Exec(t, url, pgtest.CKANSchema)
	c.Exec(t, url, `INSERT INTO "user" (id, name, state) SELECT 'u' || g, 'user' || g, 'active' FROM generate_series(1, 500) g`)

	root := t.TempDir()
	ini := filepath.Join(root, "etc/ckan/default/ckan.ini")
	os.MkdirAll(filepath.Dir(ini), 0o755)
	// In ckan.ini a literal "%" (of the escaped password) is written "%%".
	if err := os.WriteFile(ini, []byte("[app:main]\nsqlalchemy.url = "+strings.ReplaceAll(url, "%", "%%")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	home, err := os.MkdirTemp("", "dcor-gpg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Run()
		os.RemoveAll(home)
	})
	os.Chmod(home, 0o700)
	gpgDo := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	gpgDo("--quick-gen-key", "DCOR test <t@dcor.test>", "default", "default", "never")
	pub := filepath.Join(home, "pub.asc")
	sec := filepath.Join(home, "sec.asc")
	os.WriteFile(pub, gpgDo("--armor", "--export"), 0o644)
	os.WriteFile(sec, gpgDo("--armor", "--export-secret-keys"), 0o600)

	dcor := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"--root", root}, args...), strings.NewReader(""), &stdout, &stderr)
		if strings.Contains(stdout.String()+stderr.String(), password) {
			t.Errorf("dcor %v shows the database password", args)
		}
		return code, stdout.String(), stderr.String()
	}

	code, out, errOut := dcor("encrypted-database-backup", "--key-file", pub)
	if code != 0 || errOut != "" || strings.Count(out, "\n") != 1 {
		t.Fatalf("backup: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	m := regexp.MustCompile(`backup (/data/encrypted_db_dumps/\S+\.gpg):`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no file in %q", out)
	}
	file := filepath.Join(root, m[1])

	code, out, errOut = dcor("restore-database-backup", file, "--secret-key", sec, "--verify")
	if code != 0 || !strings.Contains(out, "verified ") || !strings.Contains(out, "7 tables") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}

	c.Exec(t, c.SuperURL("postgres"), "ALTER ROLE ckan_default CREATEDB")
	code, out, errOut = dcor("restore-database-backup", file, "--secret-key", sec, "--target-db", "ckan_copy")
	if code != 0 || !strings.Contains(out, "restored ") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	var n int
	conn := c.Connect(t, c.URL("ckan_default", password, "ckan_copy"))
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM "user"`).Scan(&n); err != nil || n != 500 {
		t.Fatalf("restored %d users, %v", n, err)
	}

	code, _, errOut = dcor("restore-database-backup", file, "--secret-key", sec, "--target-db", "ckan_default")
	if code != 1 || !strings.Contains(errOut, "add --force") {
		t.Errorf("live restore without --force: exit %d %s", code, errOut)
	}
	code, _, errOut = dcor("restore-database-backup", file, "--secret-key", sec, "--target-db", "ckan_default", "--force")
	if code != 2 || !strings.Contains(errOut, "--key-id") {
		t.Errorf("live restore without recipients: exit %d %s", code, errOut)
	}
	c.Exec(t, url, `DELETE FROM "user" WHERE id <> 'u1'`)
	code, out, errOut = dcor("restore-database-backup", file, "--secret-key", sec, "--target-db", "ckan_default", "--force", "--key-file", pub)
	if code != 0 || !strings.Contains(out, "encrypted database backup ") || !strings.Contains(out, "restored ") {
		t.Fatalf("live restore: exit %d\n%s%s", code, out, errOut)
	}
	if err := c.Connect(t, url).QueryRow(context.Background(), `SELECT count(*) FROM "user"`).Scan(&n); err != nil || n != 500 {
		t.Fatalf("after the live restore: %d users, %v", n, err)
	}
}
