package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// password is the CKAN database password of the tests: characters that
// need escaping in URLs and shells, and a string no output may contain.
const password = "s3cr3t:pa'ss@w/rd%Z"

// TestBackup runs real backups of a real PostgreSQL database.
func TestBackup(t *testing.T) {
	c := pgtest.Start(t)
	url := newCKANDatabase(t, c, "ckan_default", password)
	want := tableRows(t, c, url)
	rsa := newGPGKey(t, "rsa")
	cv := newGPGKey(t, "cv25519")

	t.Run("round trip through gpg and pg_restore", func(t *testing.T) {
		keyDir := t.TempDir()
		copyFile(t, rsa.publicFile, filepath.Join(keyDir, "backup-rsa.asc"))
		copyFile(t, cv.publicFile, filepath.Join(keyDir, "backup-cv.asc"))
		rs, err := LoadRecipients(context.Background(), KeySources{
			IDs: []string{"0x" + strings.ToLower(rsa.keyID), cv.fpr}, Dir: keyDir, GPG: "/nonexistent"})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "encrypted_db_dumps")
		var progress int64
		res, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: rs, OutDir: out,
			Hostname: "dcor-test", Now: testNow, Progress: func(n int64) { progress = n }})
		if err != nil {
			t.Fatal(err)
		}
		wantFile := filepath.Join(out, "2024-03", "ckan_db_dcor-test_2024-03-05_01-02-03.dump_"+rsa.keyID+"+"+cv.keyID+".gpg")
		if res.File != wantFile {
			t.Fatalf("file %s, want %s", res.File, wantFile)
		}
		mode(t, out, 0o700)
		mode(t, filepath.Dir(res.File), 0o700)
		mode(t, res.File, 0o400)
		mode(t, res.File+".sha256", 0o400)
		if progress != res.DumpSize || res.DumpSize < 500<<10 {
			t.Errorf("progress ended at %d, dump size %d (want the whole dump, ≥ 500 KiB)", progress, res.DumpSize)
		}
		data, _ := os.ReadFile(res.File)
		if int64(len(data)) != res.Size {
			t.Errorf("size %d, file has %d bytes", res.Size, len(data))
		}
		sum := sha256.Sum256(data)
		line, _ := os.ReadFile(res.File + ".sha256")
		if want := hex.EncodeToString(sum[:]) + "  " + filepath.Base(res.File) + "\n"; string(line) != want || res.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf(".sha256 holds %q, want %q", line, want)
		}
		if sha, err := exec.LookPath("sha256sum"); err == nil {
			cmd := exec.Command(sha, "-c", filepath.Base(res.File)+".sha256")
			cmd.Dir = filepath.Dir(res.File)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("sha256sum -c: %v\n%s", err, out)
			}
		}
		if s := res.Summary(); !strings.Contains(s, res.File) || !strings.Contains(s, res.SHA256) || strings.Contains(s, "\n") {
			t.Errorf("summary %q", s)
		}
		checkPackets(t, res.File, 2)

		// Each recipient decrypts it alone, with GnuPG 2.2.
		plainRSA := gpgDecrypt(t, rsa, res.File)
		plainCV := gpgDecrypt(t, cv, res.File)
		if !bytes.Equal(plainRSA, plainCV) || !bytes.HasPrefix(plainRSA, []byte("PGDMP")) || int64(len(plainRSA)) != res.DumpSize {
			t.Fatalf("gpg decrypted %d and %d bytes (dump size %d)", len(plainRSA), len(plainCV), res.DumpSize)
		}
		inner := string(gpgMust(t, rsa.home, "--list-packets", res.File))
		if strings.Contains(inner, "compressed packet") || !strings.Contains(inner, "literal data packet") {
			t.Errorf("inner packets: want a literal data packet and no compression:\n%s", inner)
		}

		// The real pg_restore restores gpg's output into a new database.
		restoredURL := c.CreateDatabase(t, "restored_by_gpg", "ckan_default", password)
		dumpFile := filepath.Join(t.TempDir(), "plain.dump")
		os.WriteFile(dumpFile, plainRSA, 0o600)
		cmd := exec.Command(programNear(t, c, "pg_restore"), "--exit-on-error", "--no-password", "--dbname="+dbOnly(restoredURL), dumpFile)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pg_restore: %v\n%s", err, out)
		}
		sameRows(t, want, tableRows(t, c, restoredURL))

		// dcor's own restore: verify, to a file, into a database.
		v, err := Restore(context.Background(), RestoreOptions{File: res.File, Key: secretKey(t, rsa), Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		if v.Verified.Tables != len(want) || v.Verified.Entries <= v.Verified.Tables || v.DumpSize != res.DumpSize {
			t.Errorf("verify found %d entries, %d tables, %d bytes; want %d tables, %d bytes", v.Verified.Entries, v.Verified.Tables, v.DumpSize, len(want), res.DumpSize)
		}
		toFile := filepath.Join(t.TempDir(), "restored.dump")
		if _, err := Restore(context.Background(), RestoreOptions{File: res.File, Key: secretKey(t, cv), ToFile: toFile}); err != nil {
			t.Fatal(err)
		}
		mode(t, toFile, 0o400)
		if got, _ := os.ReadFile(toFile); !bytes.Equal(got, plainRSA) {
			t.Error("--to-file wrote another dump than gpg decrypted")
		}
		if _, err := Restore(context.Background(), RestoreOptions{File: res.File, Key: secretKey(t, cv), ToFile: toFile}); err == nil || !strings.Contains(err.Error(), "exists already") {
			t.Errorf("--to-file over an existing file: %v", err)
		}
		// CKAN's database user may not create databases (createuser -D).
		_, err = Restore(context.Background(), RestoreOptions{File: res.File, Key: secretKey(t, cv), TargetDB: "ckan_restored", DatabaseURL: url})
		wantErr(t, err, "permission denied to create database", "--as-postgres")
		if os.Geteuid() == 0 {
			t.Setenv("PGHOST", c.SocketDir)
			if _, err := Restore(context.Background(), RestoreOptions{File: res.File, Key: secretKey(t, cv), TargetDB: "ckan_restored_pg",
				DatabaseURL: url, AsPostgres: true}); err != nil {
				t.Fatal(err)
			}
			sameRows(t, want, tableRows(t, c, c.URL("ckan_default", password, "ckan_restored_pg")))
		}
		c.Exec(t, c.SuperURL("postgres"), "ALTER ROLE ckan_default CREATEDB")
		defer c.Exec(t, c.SuperURL("postgres"), "ALTER ROLE ckan_default NOCREATEDB")
		if _, err := Restore(context.Background(), RestoreOptions{File: res.File, Key: secretKey(t, cv), TargetDB: "ckan_restored", DatabaseURL: url}); err != nil {
			t.Fatal(err)
		}
		sameRows(t, want, tableRows(t, c, c.URL("ckan_default", password, "ckan_restored")))
		_, err = Restore(context.Background(), RestoreOptions{File: res.File, Key: secretKey(t, cv), TargetDB: "ckan_restored", DatabaseURL: url})
		wantErr(t, err, `database "ckan_restored" already exists`, "choose another --target-db")
	})

	t.Run("keep plain and verify with", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "enc")
		plainDir := filepath.Join(t.TempDir(), "backup")
		res, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, cv), OutDir: out,
			Hostname: "h", Now: testNow, KeepPlainDir: plainDir, VerifyWith: secretKey(t, cv)})
		if err != nil {
			t.Fatal(err)
		}
		wantPlain := filepath.Join(plainDir, "2024-03", "ckan_db_h_2024-03-05_01-02-03.dump")
		if res.PlainFile != wantPlain {
			t.Fatalf("plain file %s, want %s", res.PlainFile, wantPlain)
		}
		mode(t, filepath.Dir(wantPlain), 0o500)
		mode(t, wantPlain, 0o400)
		plain, _ := os.ReadFile(wantPlain)
		if !bytes.Equal(plain, gpgDecrypt(t, cv, res.File)) {
			t.Error("the kept plain dump differs from the encrypted one")
		}
		if res.Verified == nil || res.Verified.Tables != len(want) {
			t.Errorf("verification %+v", res.Verified)
		}
		// A second backup in the same month opens the 0500 directory again.
		res2, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, cv), OutDir: out,
			Hostname: "h", Now: testNow.Add(time.Hour), KeepPlainDir: plainDir})
		if err != nil {
			t.Fatal(err)
		}
		mode(t, filepath.Dir(res2.PlainFile), 0o500)
	})

	t.Run("a kill between renames leaves no dump without its checksum", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "enc")
		plainDir := filepath.Join(t.TempDir(), "backup")
		var states []string
		afterRename = func(final string) {
			// What a SIGKILL right now would leave: every .gpg has its .sha256.
			files, _ := filepath.Glob(filepath.Join(out, "*", "*"))
			states = append(states, filepath.Base(final))
			for _, f := range files {
				if strings.HasSuffix(f, ".gpg") {
					if _, err := os.Stat(f + ".sha256"); err != nil {
						t.Errorf("after renaming %s: %s has no .sha256 yet", filepath.Base(final), f)
					}
				}
			}
		}
		defer func() { afterRename = nil }()
		if _, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, cv), OutDir: out,
			Hostname: "h", Now: testNow, KeepPlainDir: plainDir}); err != nil {
			t.Fatal(err)
		}
		if len(states) != 3 {
			t.Errorf("renames %v, want 3", states)
		}
	})

	t.Run("the next backup removes what a killed one left", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "enc")
		plainDir := filepath.Join(t.TempDir(), "backup")
		const stamp = "ckan_db_h_2024-03-01_00-02-00.dump"
		const gpgName = stamp + "_" + "8FD98B2183B2C228.gpg"
		const otherHost = "ckan_db_other_2024-03-01_00-02-00.dump.partial"
		left := []string{
			filepath.Join(out, "2024-03", gpgName+".partial"),
			filepath.Join(out, "2024-03", gpgName+".sha256"), // its dump never got its name
			filepath.Join(plainDir, "2024-03", stamp+".partial"),
		}
		kept := []string{filepath.Join(plainDir, "2024-03", otherHost), filepath.Join(plainDir, "2024-03", "notes.partial")}
		for _, f := range append(append([]string{}, left...), kept...) {
			os.MkdirAll(filepath.Dir(f), 0o700)
			if err := os.WriteFile(f, []byte("plain data"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		os.Chmod(filepath.Join(plainDir, "2024-03"), 0o500) // as a finished backup leaves it
		res, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, cv), OutDir: out,
			Hostname: "h", Now: testNow, KeepPlainDir: plainDir})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range left {
			if _, err := os.Lstat(f); err == nil {
				t.Errorf("%s is still there", f)
			}
		}
		for _, f := range kept {
			if _, err := os.Lstat(f); err != nil {
				t.Errorf("%s (not this host's, or not dcor's name) was removed", f)
			}
		}
		sort.Strings(res.Stale)
		want := append([]string{}, left...)
		sort.Strings(want)
		if strings.Join(res.Stale, " ") != strings.Join(want, " ") {
			t.Errorf("stale %v, want %v", res.Stale, want)
		}
		mode(t, filepath.Join(plainDir, "2024-03"), 0o500)
	})

	t.Run("two backups in one second get two names", func(t *testing.T) {
		// A live restore takes a fresh backup, often in the same second as
		// the backup before it: the second one waits for the next second.
		out := t.TempDir()
		res1, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, cv), OutDir: out, Hostname: "h"})
		if err != nil {
			t.Fatal(err)
		}
		res2, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, cv), OutDir: out, Hostname: "h"})
		if err != nil {
			t.Fatal(err)
		}
		if res1.File == res2.File {
			t.Fatalf("both backups named %s", res1.File)
		}
		for _, f := range []string{res1.File, res2.File} {
			if _, err := os.Stat(f); err != nil {
				t.Error(err)
			}
		}
		// With the time given explicitly, an existing name is refused.
		res3, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, cv), OutDir: out, Hostname: "h", Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, cv), OutDir: out, Hostname: "h", Now: testNow})
		wantErr(t, err, "exists already")
		if _, err := os.Stat(res3.File); err != nil {
			t.Error(err)
		}
	})

	t.Run("verify with a key that is no recipient", func(t *testing.T) {
		out := t.TempDir()
		_, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, cv), OutDir: out,
			Now: testNow, VerifyWith: secretKey(t, rsa)})
		wantErr(t, err, "none of the recipients")
		noFinalFiles(t, out)
	})

	t.Run("verify with catches a truncated dump", func(t *testing.T) {
		out := t.TempDir()
		pgDump := standIn(t, fmt.Sprintf("%q \"$@\" | head -c 20000", realPgDump(t, c)))
		_, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, cv), OutDir: out,
			Now: testNow, PgDump: pgDump, VerifyWith: secretKey(t, cv)})
		wantErr(t, err, "failed verification", "incomplete or unreadable", "pg_restore")
		noFinalFiles(t, out)
	})

	t.Run("as postgres", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("--as-postgres needs root")
		}
		t.Setenv("PGHOST", c.SocketDir)
		out := t.TempDir()
		// The URL's password is wrong: peer authentication does not use it.
		res, err := Run(context.Background(), Options{DatabaseURL: c.URL("ckan_default", "not-used", "ckan_default"),
			AsPostgres: true, Recipients: recipients(t, rsa), OutDir: out, Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		toFile := filepath.Join(t.TempDir(), "d.dump")
		if _, err := Restore(context.Background(), RestoreOptions{File: res.File, Key: secretKey(t, rsa), ToFile: toFile}); err != nil {
			t.Fatal(err)
		}
		_, err = Run(context.Background(), Options{DatabaseURL: c.URL("x", "y", "missing_db"),
			AsPostgres: true, Recipients: recipients(t, rsa), OutDir: out, Now: testNow.Add(time.Second)})
		wantErr(t, err, `database "missing_db" does not exist`, "as the system user postgres")
	})

	t.Run("failures leave no file", func(t *testing.T) {
		rs := recipients(t, rsa)
		cases := []struct {
			name   string
			opts   func(o *Options)
			expect []string
		}{
			{"missing database", func(o *Options) { o.DatabaseURL = c.URL("ckan_default", password, "no_such_db") },
				[]string{"backup of the database", "no_such_db", "`" + realPgDump(t, c) + " --format=custom --no-password --dbname=postgresql://ckan_default@", "exit status 1", `database "no_such_db" does not exist`}},
			{"no database in the URL", func(o *Options) { o.DatabaseURL = strings.TrimSuffix(c.URL("ckan_default", password, "x"), "/x") },
				[]string{"names no database", "postgresql://ckan_default:****@127.0.0.1:"}},
			{"not a PostgreSQL URL", func(o *Options) { o.DatabaseURL = "sqlite:///ckan.db" },
				[]string{"not a PostgreSQL URL"}},
			{"bad password", func(o *Options) { o.DatabaseURL = c.URL("ckan_default", "wrong-"+password, "ckan_default") },
				[]string{"password authentication failed", "ckan_default:****@"}},
			{"pg_dump killed mid-stream", func(o *Options) {
				o.PgDump = standIn(t, "printf PGDMP; head -c 300000 /dev/urandom; echo 'pg_dump: error: simulated crash' >&2; kill -9 $$")
			}, []string{"killed by signal 9", "simulated crash"}},
			{"pg_dump exits non-zero after output", func(o *Options) {
				o.PgDump = standIn(t, "printf PGDMP; head -c 100000 /dev/urandom; echo 'pg_dump: error: query failed: ERROR:  permission denied for table x' >&2; exit 1")
			}, []string{"exit status 1", "permission denied for table x"}},
			{"not a custom dump", func(o *Options) { o.PgDump = standIn(t, "echo 'CREATE TABLE x ();'") },
				[]string{"not a custom-format dump"}},
			{"empty output", func(o *Options) { o.PgDump = standIn(t, "exit 0") }, []string{"wrote nothing"}},
			{"pg_dump missing", func(o *Options) { o.PgDump = "/nonexistent/pg_dump" }, []string{"`/nonexistent/pg_dump --format=custom", "could not start"}},
			{"disk fills up (injected)", func(o *Options) {
				o.wrapOutput = func(w io.Writer) io.Writer { return &fullDisk{w: w, left: 200 << 10} }
			}, []string{"no space left on device", ".partial"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				o := Options{DatabaseURL: url, Recipients: rs, OutDir: out, Hostname: "h", Now: testNow}
				tc.opts(&o)
				_, err := Run(context.Background(), o)
				wantErr(t, err, tc.expect...)
				noFinalFiles(t, out)
			})
		}
	})

	t.Run("unwritable output directory", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		_, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, rsa), OutDir: filepath.Join(file, "dumps"), Now: testNow})
		wantErr(t, err, "create the dump directory", "not a directory")

		ro := mountTmpfs(t, "ro,size=1m")
		if ro == "" {
			return
		}
		_, err = Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, rsa), OutDir: filepath.Join(ro, "dumps"), Now: testNow})
		wantErr(t, err, "read-only file system")
	})

	t.Run("full disk", func(t *testing.T) {
		dir := mountTmpfs(t, "size=256k")
		if dir == "" {
			t.Skip("cannot mount a small tmpfs here; the injected full disk is tested above")
		}
		out := filepath.Join(dir, "encrypted_db_dumps")
		_, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, rsa), OutDir: out, Hostname: "h", Now: testNow})
		wantErr(t, err, "no space left on device", ".partial")
		noFinalFiles(t, out)
		// The space is free again: the next backup on a larger disk works.
		if _, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, rsa), OutDir: t.TempDir(), Now: testNow}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("concurrent run", func(t *testing.T) {
		out := t.TempDir()
		slow := standIn(t, fmt.Sprintf("sleep 2\nexec %q \"$@\"", realPgDump(t, c)))
		var first error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, first = Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, rsa), OutDir: out, Now: testNow, PgDump: slow})
		}()
		waitFor(t, func() bool { b, _ := os.ReadFile(filepath.Join(out, lockName)); return len(b) > 0 })
		start := time.Now()
		_, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, rsa), OutDir: out, Now: testNow.Add(time.Second)})
		wantErr(t, err, fmt.Sprintf("another backup is running (pid %d)", os.Getpid()))
		if d := time.Since(start); d > time.Second {
			t.Errorf("the second run waited %s instead of failing at once", d)
		}
		wg.Wait()
		if first != nil {
			t.Fatalf("the first run failed: %v", first)
		}
	})

	t.Run("canceled mid-stream", func(t *testing.T) {
		out := t.TempDir()
		pidFile := filepath.Join(t.TempDir(), "pid")
		stuck := standIn(t, fmt.Sprintf("echo $$ > %q\nprintf PGDMP; head -c 100000 /dev/urandom\nexec sleep 60", pidFile))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var once sync.Once
		start := time.Now()
		_, err := Run(ctx, Options{DatabaseURL: url, Recipients: recipients(t, rsa), OutDir: out, Now: testNow, PgDump: stuck,
			Progress: func(n int64) {
				if n >= 100005 {
					once.Do(func() { time.AfterFunc(100*time.Millisecond, cancel) })
				}
			}})
		wantErr(t, err, "interrupted", "context canceled")
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("cancel took %s", d)
		}
		noFinalFiles(t, out)
		b, _ := os.ReadFile(pidFile)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid <= 0 || syscall.Kill(pid, 0) == nil {
			t.Errorf("pg_dump (pid %d) still runs after the cancel", pid)
		}
	})

	t.Run("password in no argv and no output", func(t *testing.T) {
		out := t.TempDir()
		slow := standIn(t, fmt.Sprintf("sleep 1\nexec %q \"$@\"", realPgDump(t, c)))
		var stop atomic.Bool
		var scans atomic.Int64
		leaks := make(chan string, 10)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				if p := scanArgv(password); p != "" {
					select {
					case leaks <- p:
					default:
					}
				}
				scans.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
		}()
		res, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, rsa), OutDir: out, Now: testNow, PgDump: slow})
		stop.Store(true)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		close(leaks)
		for p := range leaks {
			t.Errorf("the password is in the argv of %s", p)
		}
		if scans.Load() < 20 {
			t.Errorf("only %d scans of /proc", scans.Load())
		}
		if strings.Contains(res.Summary(), password) || strings.Contains(fmt.Sprintf("%+v", res), password) {
			t.Error("the result shows the password")
		}
		_, err = Run(context.Background(), Options{DatabaseURL: c.URL("ckan_default", password+"x", "ckan_default"), Recipients: recipients(t, rsa), OutDir: out, Now: testNow.Add(time.Hour)})
		if err == nil || strings.Contains(err.Error(), password) {
			t.Errorf("error with a wrong password: %v", err)
		}
	})

	t.Run("retention after backup", func(t *testing.T) {
		out := t.TempDir()
		rs := recipients(t, rsa)
		for i := range 4 {
			if _, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: rs, OutDir: out, Hostname: "h",
				Now: testNow.AddDate(0, 0, 20*i), Keep: 2}); err != nil {
				t.Fatal(err)
			}
		}
		dumps, _ := listDumps(out, "h", time.Local)
		if len(dumps) != 2 || !dumps[1].time.Equal(testNow.AddDate(0, 0, 60)) {
			t.Fatalf("after 4 backups with --keep 2: %v", dumps)
		}
		if _, err := os.Stat(filepath.Join(out, "2024-03")); !os.IsNotExist(err) {
			t.Errorf("emptied month directory kept: %v", err)
		}
	})
}

// checkPackets parses the encrypted file's outer packets: n v3 PKESK
// packets, then one SEIPD v1 (MDC) packet, nothing AEAD, as gpg
// --list-packets also shows.
func checkPackets(t *testing.T, file string, n int) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr := packet.NewReader(bufio.NewReader(f))
	pkesk := 0
	for {
		p, err := pr.Next()
		if err != nil {
			t.Fatalf("after %d key packets: %v", pkesk, err)
		}
		if ek, ok := p.(*packet.EncryptedKey); ok {
			if ek.Version != 3 {
				t.Errorf("PKESK version %d, want 3", ek.Version)
			}
			pkesk++
			continue
		}
		se, ok := p.(*packet.SymmetricallyEncrypted)
		if !ok {
			t.Fatalf("packet %T, want SEIPD", p)
		}
		if se.Version != 1 || !se.IntegrityProtected {
			t.Errorf("SEIPD version %d, integrity protected %v: want version 1 with MDC", se.Version, se.IntegrityProtected)
		}
		break
	}
	if pkesk != n {
		t.Errorf("%d PKESK packets, want %d", pkesk, n)
	}
	// Without the secret key gpg lists the outer packets and exits 2.
	out, _ := gpgRun(t, gpgHome(t), "--list-packets", file)
	listing := string(out)
	if strings.Count(listing, ":pubkey enc packet: version 3") != n || !strings.Contains(listing, "mdc_method: 2") ||
		strings.Contains(strings.ToLower(listing), "aead") {
		t.Errorf("gpg --list-packets:\n%s", listing)
	}
}

// fullDisk is a writer that fails with ENOSPC after left bytes.
type fullDisk struct {
	w    io.Writer
	left int
}

func (f *fullDisk) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n, _ := f.w.Write(p[:f.left])
		f.left = 0
		return n, &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	}
	f.left -= len(p)
	return f.w.Write(p)
}

// mountTmpfs mounts a tmpfs with options for the test, or returns ""
// when this machine does not allow it.
func mountTmpfs(t *testing.T, options string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return ""
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Logf("mount tmpfs: %v %s", err, out)
		return ""
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// scanArgv returns a process whose command line contains s, or "".
func scanArgv(s string) string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(s)) {
			return p + ": " + string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
	return ""
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	t.Logf("error (as expected): %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q\ndoes not contain %q", err, p)
		}
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error shows the password: %v", err)
	}
}

func mode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s has mode %o, want %o", path, st.Mode().Perm(), want)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// programNear returns a PostgreSQL client program for the cluster.
func programNear(t *testing.T, c *pgtest.Cluster, name string) string {
	t.Helper()
	if p, err := findPgProgram(name, ""); err == nil {
		return p
	}
	return testtool.Need(t, name, c.BinDir)
}

// dbOnly strips the password from a test URL.
func dbOnly(url string) string {
	return regexp.MustCompile(`:[^:@/]*@`).ReplaceAllString(url, "@")
}
