package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/s3test"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// TestS3BackupCommands runs encrypted-database-backup --s3, backups list
// --s3 and restore-database-backup s3://… against a real S3 server, with
// the endpoint and credentials in ckan.ini's dcor_object_store.* keys.
func TestS3BackupCommands(t *testing.T) {
	gpg := testtool.Need(t, "gpg")
	srv := s3test.Start(t)
	srv.MakeBucket(t, "circle-000000000-backup")
	c := pgtest.Start(t)
	const password = "pw:with@chars/"
	url := c.CreateDatabase(t, "ckan_default", "ckan_default", password)
	c.Exec(t, url, pgtest.CKANSchema)
	c.Exec(t, url, `INSERT INTO "user" (id, name, state) SELECT 'u' || g, 'user' || g, 'active' FROM generate_series(1, 300) g`)
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}

	root := t.TempDir()
	ini := filepath.Join(root, "etc/ckan/default/ckan.ini")
	os.MkdirAll(filepath.Dir(ini), 0o755)
	writeIni := func(secret, bucket string) {
		t.Helper()
		content := "[app:main]\nckan.storage_path = /data/ckan-h\nsqlalchemy.url = " + strings.ReplaceAll(url, "%", "%%") + "\n" +
			"dcor_object_store.endpoint_url = " + srv.Endpoint + "\n" +
			"dcor_object_store.access_key_id = " + srv.AccessKey + "\n" +
			"dcor_object_store.secret_access_key = " + secret + "\n" +
			"dcor_object_store.bucket_name = " + bucket + "\n" +
			"dcor_object_store.ssl_verify = true\n"
		if err := os.WriteFile(ini, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeIni(srv.SecretKey, "circle-{organization_id}")
	pub, sec := newBackupKey(t, gpg)
	dcor := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"--root", root}, args...), strings.NewReader(""), &stdout, &stderr)
		if all := stdout.String() + stderr.String(); strings.Contains(all, password) || strings.Contains(all, srv.SecretKey) {
			t.Errorf("dcor %v shows a secret:\n%s", args, all)
		}
		return code, stdout.String(), stderr.String()
	}

	code, out, errOut := dcor("encrypted-database-backup", "--key-file", pub, "--s3", "--no-local")
	if code != 0 || errOut != "" || strings.Count(out, "\n") != 1 {
		t.Fatalf("backup --s3: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	m := regexp.MustCompile(`backup (s3://circle-000000000-backup/\d{4}/\d{2}/ckan_db_\S+\.gpg):`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no S3 URL in %q", out)
	}
	if _, err := os.Stat(filepath.Join(root, "data/encrypted_db_dumps")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(root, "data/encrypted_db_dumps"))
		for _, e := range entries {
			if e.Name() != ".dcor-backup.lock" {
				t.Errorf("--no-local left %s", e.Name())
			}
		}
	}

	code, out, _ = dcor("backups", "list", "--s3")
	if code != 0 || !strings.Contains(out, m[1]) || !strings.Contains(out, " yes ") || !strings.Contains(out, "1 backup of") {
		t.Fatalf("backups list --s3: exit %d\n%s", code, out)
	}
	code, out, _ = dcor("--json", "backups", "list", "--s3")
	if code != 0 || !strings.Contains(out, `"verified": true`) {
		t.Fatalf("backups list --s3 --json: exit %d\n%s", code, out)
	}

	code, out, errOut = dcor("restore-database-backup", m[1], "--secret-key", sec, "--verify")
	if code != 0 || !strings.Contains(out, "verified s3://") {
		t.Fatalf("verify from S3: exit %d\n%s%s", code, out, errOut)
	}
	c.Exec(t, c.SuperURL("postgres"), "ALTER ROLE ckan_default CREATEDB")
	code, out, errOut = dcor("restore-database-backup", m[1], "--secret-key", sec, "--target-db", "ckan_from_s3")
	if code != 0 {
		t.Fatalf("restore from S3: exit %d\n%s%s", code, out, errOut)
	}
	var n int
	conn := c.Connect(t, c.URL("ckan_default", password, "ckan_from_s3"))
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM "user"`).Scan(&n); err != nil || n != 300 {
		t.Fatalf("restored %d users, %v", n, err)
	}

	// Faults: one line on stderr, exit 1, nothing new in the bucket.
	before := srv.Keys(t, "circle-000000000-backup")
	for _, tc := range []struct {
		name, secret, bucket, want string
	}{
		{"wrong credentials", "wrong-secret", "circle-{organization_id}", "refused the credentials"},
		{"missing bucket", srv.SecretKey, "nothing-{organization_id}", "S3 bucket nothing-000000000-backup does not exist"},
	} {
		writeIni(tc.secret, tc.bucket)
		code, out, errOut = dcor("encrypted-database-backup", "--key-file", pub, "--s3")
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || strings.Contains(errOut, tc.secret) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q", tc.name, code, out, errOut, tc.want)
		}
	}
	writeIni(srv.SecretKey, "circle-{organization_id}")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // the environment overrides ckan.ini
	code, _, errOut = dcor("encrypted-database-backup", "--key-file", pub, "--s3")
	if code != 1 || !strings.Contains(errOut, "S3 endpoint http://127.0.0.1:1 is unreachable") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("unreachable endpoint: exit %d, stderr %q", code, errOut)
	}
	t.Setenv("AWS_ENDPOINT_URL", "")
	if after := srv.Keys(t, "circle-000000000-backup"); len(after) != len(before) {
		t.Errorf("failed backups changed the bucket: %q -> %q", before, after)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "data/encrypted_db_dumps"))
	for _, e := range entries {
		if e.Name() != ".dcor-backup.lock" {
			t.Errorf("failed backups left %s", e.Name())
		}
	}

	code, _, errOut = dcor("encrypted-database-backup", "--key-file", pub, "--no-local")
	if code != 2 || !strings.Contains(errOut, "give --s3 too") {
		t.Errorf("--no-local without --s3: exit %d, %s", code, errOut)
	}

	// The instance backup: database and storage tree, to S3 and locally.
	tree := filepath.Join(root, "data/ckan-h")
	os.MkdirAll(filepath.Join(tree, "resources/abc"), 0o755)
	os.WriteFile(filepath.Join(tree, "resources/abc/file"), []byte("resource data"), 0o640)
	os.Symlink("file", filepath.Join(tree, "resources/abc/link"))
	code, out, errOut = dcor("encrypted-instance-backup", "--key-file", pub, "--keep", "1")
	if code != 0 || errOut != "" || !strings.Contains(out, "/backups/instance-encrypted/") || !strings.Contains(out, " and s3://circle-000000000-backup/") {
		t.Fatalf("encrypted-instance-backup: exit %d\n%s%s", code, out, errOut)
	}
	im := regexp.MustCompile(`and (s3://\S+\.tar\.gpg):`).FindStringSubmatch(out)
	if im == nil {
		t.Fatalf("no S3 URL in %q", out)
	}
	code, _, errOut = dcor("restore-instance-backup", im[1], "--secret-key", sec, "--to", "/data/ckan-h/x")
	if code != 1 || !strings.Contains(errOut, "overlaps the live storage tree") {
		t.Errorf("restore over the live tree: exit %d, %s", code, errOut)
	}
	code, out, errOut = dcor("restore-instance-backup", im[1], "--secret-key", sec, "--to", "/srv/restored")
	if code != 0 || !strings.Contains(out, "database dump /srv/restored/backups/database/") {
		t.Fatalf("restore-instance-backup: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(root, "srv/restored/data/ckan-h/resources/abc/file")); err != nil || string(b) != "resource data" {
		t.Errorf("restored file: %q, %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(root, "srv/restored/data/ckan-h/resources/abc/link")); err != nil || l != "file" {
		t.Errorf("restored link: %q, %v", l, err)
	}
	// --force over the live tree: a fresh backup first (of the changed
	// tree), then the archive's files replace the live ones.
	os.WriteFile(filepath.Join(tree, "resources/abc/file"), []byte("changed"), 0o640)
	time.Sleep(1100 * time.Millisecond) // backup names have whole seconds
	code, _, errOut = dcor("restore-instance-backup", im[1], "--secret-key", sec, "--to", "/", "--force")
	if code != 2 || !strings.Contains(errOut, "give its recipients") {
		t.Errorf("--force without recipients: exit %d, %s", code, errOut)
	}
	code, _, errOut = dcor("restore-instance-backup", im[1], "--secret-key", sec, "--to", "/")
	if code != 1 || !strings.Contains(errOut, "overlaps the live storage tree") {
		t.Errorf("restore to / without --force: exit %d, %s", code, errOut)
	}
	code, out, errOut = dcor("restore-instance-backup", im[1], "--secret-key", sec, "--to", "/", "--force", "--key-file", pub, "--skip-s3")
	if code != 0 {
		t.Fatalf("restore-instance-backup --force: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(tree, "resources/abc/file")); err != nil || string(b) != "resource data" {
		t.Errorf("live file after --force: %q, %v", b, err)
	}
	fm := regexp.MustCompile(`(/backups/instance-encrypted/\S+\.tar\.gpg)`).FindStringSubmatch(out)
	if fm == nil || strings.Index(out, fm[1]) > strings.Index(out, "unpacked ") {
		t.Fatalf("no fresh backup before the restore in %q", out)
	}
	code, out, errOut = dcor("restore-instance-backup", filepath.Join(root, fm[1]), "--secret-key", sec, "--to", "/srv/fresh")
	if code != 0 {
		t.Fatalf("restore the fresh backup: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(root, "srv/fresh/data/ckan-h/resources/abc/file")); err != nil || string(b) != "changed" {
		t.Errorf("the fresh backup holds %q, %v; want the tree before the restore", b, err)
	}
	code, out, _ = dcor("backups", "list", "--s3")
	if code != 0 || !strings.Contains(out, " instance ") || !strings.Contains(out, " database ") {
		t.Errorf("backups list --s3 after the instance backup: exit %d\n%s", code, out)
	}

	// schedule backup --s3: the bucket is checked now, DCOR's retention
	// by default.
	keyDir := filepath.Join(root, "etc/dcor/backup-keys")
	os.MkdirAll(keyDir, 0o700)
	pubData, _ := os.ReadFile(pub)
	os.WriteFile(filepath.Join(keyDir, "backup.asc"), pubData, 0o600)
	code, out, _ = dcor("--json", "encrypted-database-backup", "--key-file", pub)
	km := regexp.MustCompile(`"recipients": \[\s*"([0-9A-F]{16})"`).FindStringSubmatch(out)
	if code != 0 || km == nil {
		t.Fatalf("no key id in %s", out)
	}
	code, out, errOut = dcor("schedule", "backup", "--key-id", km[1], "--s3", "--dcor", "/usr/local/bin/dcor")
	if code != 0 {
		t.Fatalf("schedule backup --s3: exit %d\n%s%s", code, out, errOut)
	}
	cron, _ := os.ReadFile(filepath.Join(root, "etc/cron.d/dcor-backup"))
	if !strings.Contains(string(cron), "--keep-daily=14 --keep-monthly=12 --keep-yearly=10 --s3 ") {
		t.Errorf("cron file:\n%s", cron)
	}
	writeIni("wrong-secret", "circle-{organization_id}")
	code, _, errOut = dcor("schedule", "backup", "--key-id", km[1], "--s3", "--at", "03:00", "--dcor", "/usr/local/bin/dcor")
	if code != 1 || !strings.Contains(errOut, "refused the credentials") {
		t.Errorf("schedule backup --s3 with wrong credentials: exit %d, %s", code, errOut)
	}
}
