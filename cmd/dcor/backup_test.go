package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

	pub, sec := newBackupKey(t, gpg)

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
	var tables int
	if err := c.Connect(t, c.SuperURL("ckan_default")).QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(out, "verified ") || !strings.Contains(out, fmt.Sprintf(" %d tables", tables)) {
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

// newBackupKey makes an OpenPGP key with the real gpg in a GNUPGHOME of
// its own and returns its armored public and secret key files.
func newBackupKey(t *testing.T, gpg string) (pub, sec string) {
	t.Helper()
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
	pub = filepath.Join(home, "pub.asc")
	sec = filepath.Join(home, "sec.asc")
	os.WriteFile(pub, gpgDo("--armor", "--export"), 0o644)
	os.WriteFile(sec, gpgDo("--armor", "--export-secret-keys"), 0o600)
	return pub, sec
}

// TestBackupKilled SIGKILLs a running `dcor encrypted-database-backup
// --keep-plain` whose pg_dump waits for a lock that another connection
// holds: pg_dump must die with dcor (its connection goes too), the
// partial files it leaves are 0600, and the next backup removes them.
func TestBackupKilled(t *testing.T) {
	gpg := testtool.Need(t, "gpg")
	c := pgtest.Start(t)
	const password = "pw:killed@"
	url := c.CreateDatabase(t, "ckan_default", "ckan_default", password)
	c.Exec(t, url, pgtest.CKANSchema)
	c.Exec(t, url, `INSERT INTO "user" (id, name, state) SELECT 'u' || g, 'user' || g, 'active' FROM generate_series(1, 100) g`)
	root := t.TempDir()
	ini := filepath.Join(root, "etc/ckan/default/ckan.ini")
	os.MkdirAll(filepath.Dir(ini), 0o755)
	if err := os.WriteFile(ini, []byte("[app:main]\nsqlalchemy.url = "+strings.ReplaceAll(url, "%", "%%")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pub, _ := newBackupKey(t, gpg)
	pgDump := filepath.Join(c.BinDir, "pg_dump")

	// Another connection holds a lock that pg_dump waits for.
	ctx := context.Background()
	locker := c.Connect(t, c.SuperURL("ckan_default"))
	if _, err := locker.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := locker.Exec(ctx, `LOCK TABLE "user" IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	watch := c.Connect(t, c.SuperURL("postgres"))
	waiting := func() int { // pid of a pg_dump backend waiting for a lock
		var pid int
		watch.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'`).Scan(&pid)
		return pid
	}
	backends := func() int {
		var n int
		watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump'`).Scan(&n)
		return n
	}

	// The test binary is dcor when called by that name (TestMain).
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "dcor")
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, "--root", root, "encrypted-database-backup", "--key-file", pub, "--keep-plain", "/backup", "--pg-dump", pgDump)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for waiting() == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("pg_dump never waited for the lock; dcor said: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	dumps := childrenNamed(cmd.Process.Pid, "pg_dump")
	if len(dumps) != 1 {
		t.Fatalf("pg_dump processes of dcor: %v", dumps)
	}
	t.Cleanup(func() { syscall.Kill(dumps[0], syscall.SIGKILL) })

	partials, _ := filepath.Glob(filepath.Join(root, "data/encrypted_db_dumps/*/*.gpg.partial"))
	plain, _ := filepath.Glob(filepath.Join(root, "backup/*/*.dump.partial"))
	partials = append(partials, plain...)
	if len(partials) != 2 {
		t.Fatalf("partial files while pg_dump waits: %v", partials)
	}
	for _, p := range partials {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", p, st.Mode(), err)
		}
	}

	cmd.Process.Kill()
	cmd.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for alive(dumps[0]) {
		if time.Now().After(deadline) {
			t.Fatalf("pg_dump (pid %d) outlived the killed dcor", dumps[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range partials {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the kill should have left %s: %v", p, err)
		}
	}

	// The lock goes; the next backup removes the leftovers.
	if _, err := locker.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	// The server notices the lost client once it has the lock.
	for deadline = time.Now().Add(5 * time.Second); backends() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the killed pg_dump's connection stays after the lock went")
		}
	}
	var stdout, errOut bytes.Buffer
	code := run([]string{"--root", root, "-v", "encrypted-database-backup", "--key-file", pub, "--keep-plain", "/backup", "--pg-dump", pgDump},
		strings.NewReader(""), &stdout, &errOut)
	if code != 0 {
		t.Fatalf("next backup: exit %d\n%s%s", code, stdout.String(), errOut.String())
	}
	for _, p := range partials {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the next backup left %s", p)
		}
		if !strings.Contains(errOut.String(), "removed "+strings.TrimPrefix(p, root)) {
			t.Errorf("the next backup does not say it removed %s:\n%s", p, errOut.String())
		}
	}
	gpgs, _ := filepath.Glob(filepath.Join(root, "data/encrypted_db_dumps/*/*.gpg"))
	for _, g := range gpgs {
		if _, err := os.Stat(g + ".sha256"); err != nil {
			t.Errorf("%s has no .sha256", g)
		}
	}
	if len(gpgs) != 1 {
		t.Errorf("dumps %v", gpgs)
	}
}

// childrenNamed lists the pids of the children of ppid whose command is
// name.
func childrenNamed(ppid int, name string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …
		s := string(stat)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		fields := strings.Fields(s[close+1:])
		if len(fields) > 1 && s[open+1:close] == name && fields[1] == strconv.Itoa(ppid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid runs (a zombie, waiting to be reaped, does
// not).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
