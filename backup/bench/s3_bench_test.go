package bench

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/s3test"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// TestBenchS3 measures off-site backups against a local S3 server
// (Versity Gateway on loopback, its directory on the same disk):
//
//   - encrypted-database-backup --s3 --no-local of a ≥ DCOR_BENCH_GIB
//     (default 1) GiB dump against bare pg_dump -Fc > /dev/null, and
//     dcor's peak RSS;
//   - encrypted-instance-backup --skip-s3 of a storage tree of
//     DCOR_BENCH_TREE_GIB (default 1) GiB against tar | gpg --encrypt to a
//     local file, and with S3.
//
// DCOR_BENCH_S3=1 runs it (make bench-s3).
func TestBenchS3(t *testing.T) {
	if os.Getenv("DCOR_BENCH_S3") == "" {
		t.Skip("set DCOR_BENCH_S3=1 to run the S3 benchmark (make bench-s3)")
	}
	gib := 1.0
	if s := os.Getenv("DCOR_BENCH_GIB"); s != "" {
		gib, _ = strconv.ParseFloat(s, 64)
	}
	treeGiB := 1.0
	if s := os.Getenv("DCOR_BENCH_TREE_GIB"); s != "" {
		treeGiB, _ = strconv.ParseFloat(s, 64)
	}
	gpg := testtool.Need(t, "gpg")
	srv := s3test.Start(t)
	srv.MakeBucket(t, "circle-000000000-backup")

	work := t.TempDir()
	dcor := testtool.BuildDcor(t, work)
	c := pgtest.Start(t)
	url := c.CreateDatabase(t, "ckan_default", "ckan_default", password)
	c.Exec(t, url, pgtest.CKANSchema)
	c.Exec(t, url, `CREATE TABLE bench_blob (id bigint, data text)`)
	pgDump := filepath.Join(c.BinDir, "pg_dump")
	if p, err := exec.LookPath("pg_dump"); err == nil {
		pgDump = p
	}
	libpq := regexp.MustCompile(`:[^:@/]*@`).ReplaceAllString(url, "@")

	root := filepath.Join(work, "host")
	ini := filepath.Join(root, "etc/ckan/default/ckan.ini")
	os.MkdirAll(filepath.Dir(ini), 0o755)
	os.MkdirAll(filepath.Join(root, "backups"), 0o700)
	os.WriteFile(ini, []byte("[app:main]\nsqlalchemy.url = "+strings.ReplaceAll(url, "%", "%%")+"\n"+
		"ckan.storage_path = /data/ckan-bench\n"+
		"dcor_object_store.endpoint_url = "+srv.Endpoint+"\n"+
		"dcor_object_store.access_key_id = "+srv.AccessKey+"\n"+
		"dcor_object_store.secret_access_key = "+srv.SecretKey+"\n"+
		"dcor_object_store.bucket_name = circle-{organization_id}\n"), 0o600)
	pub, home := benchKey(t, gpg, work)
	pgEnv := append(os.Environ(), "PGPASSWORD="+password)

	// The database: ≥ gib GiB of custom dump.
	rows := int64(50_000)
	loadRows(t, c, url, 0, rows)
	perRow := float64(dumpSize(t, pgDump, libpq, pgEnv)) / float64(rows)
	if need := int64(gib*float64(1<<30)*1.03/perRow) - rows; need > 0 {
		start := time.Now()
		loadRows(t, c, url, rows, need)
		rows += need
		t.Logf("loaded %d rows in %s", rows, time.Since(start).Round(time.Second))
		c.Exec(t, c.SuperURL("ckan_default"), "CHECKPOINT")
	}
	dumpBytes := dumpSize(t, pgDump, libpq, pgEnv)

	var report strings.Builder
	bare := timeRun(t, exec.Command("sh", "-c", `exec "$0" --format=custom --no-password --dbname="$1" > /dev/null`, pgDump, libpq), pgEnv)
	s3run := timeRun(t, exec.Command(dcor, "--root", root, "encrypted-database-backup", "--key-file", pub, "--pg-dump", pgDump, "--s3", "--no-local"), os.Environ())
	local := timeRun(t, exec.Command(dcor, "--root", root, "encrypted-database-backup", "--key-file", pub, "--pg-dump", pgDump), os.Environ())
	fmt.Fprintf(&report, "\ndatabase dump %.2f GiB (%d rows)\n", float64(dumpBytes)/(1<<30), rows)
	fmt.Fprintf(&report, "  bare pg_dump -Fc > /dev/null      %8s\n", bare.wall.Round(10*time.Millisecond))
	fmt.Fprintf(&report, "  dcor backup, local file           %8s  %.3f×  peak RSS %s\n", local.wall.Round(10*time.Millisecond), local.wall.Seconds()/bare.wall.Seconds(), testtool.MiB(local.hwm))
	fmt.Fprintf(&report, "  dcor backup --s3 --no-local       %8s  %.3f×  peak RSS %s (upload, read back, checksum stored)\n", s3run.wall.Round(10*time.Millisecond), s3run.wall.Seconds()/bare.wall.Seconds(), testtool.MiB(s3run.hwm))

	// The storage tree: files of 1–16 MiB of random data.
	tree := filepath.Join(root, "data/ckan-bench")
	var treeBytes int64
	buf := make([]byte, 16<<20)
	for i := 0; treeBytes < int64(treeGiB*float64(1<<30)); i++ {
		n := (1 + i%16) << 20
		rand.Read(buf[:n])
		d := filepath.Join(tree, "resources", fmt.Sprintf("%03d", i%100))
		os.MkdirAll(d, 0o755)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), buf[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		treeBytes += int64(n)
	}
	exec.Command("sync").Run()
	// dcor_control's way, without bzip2: pg_dump to a file, then tar of
	// the dump and the tree through gpg to a local file.
	enc := filepath.Join(work, "tar.gpg")
	old := timeRun(t, exec.Command("sh", "-c", `"$3" --format=custom --no-password --dbname="$4" --file="$0/backups/db.pgc" && tar -C "$0" -cf - backups data/ckan-bench | "$1" --batch --trust-model always --compress-algo none --encrypt --recipient bench@dcor.test --output "$2"`,
		root, gpg, enc, pgDump, libpq), append(pgEnv, "GNUPGHOME="+home))
	os.Remove(enc)
	os.RemoveAll(filepath.Join(root, "backups"))
	inst := timeRun(t, exec.Command(dcor, "--root", root, "encrypted-instance-backup", "--key-file", pub, "--pg-dump", pgDump, "--skip-s3"), os.Environ())
	instS3 := timeRun(t, exec.Command(dcor, "--root", root, "encrypted-instance-backup", "--key-file", pub, "--pg-dump", pgDump, "--no-local"), os.Environ())
	total := float64(treeBytes+dumpBytes) / (1 << 20)
	fmt.Fprintf(&report, "instance backup: tree %.2f GiB + dump %.2f GiB\n", float64(treeBytes)/(1<<30), float64(dumpBytes)/(1<<30))
	fmt.Fprintf(&report, "  pg_dump > f; tar | gpg --encrypt  %8s  %5.0f MiB/s\n", old.wall.Round(10*time.Millisecond), total/old.wall.Seconds())
	fmt.Fprintf(&report, "  dcor instance backup --skip-s3    %8s  %5.0f MiB/s  peak RSS %s (dump spooled, then tree)\n", inst.wall.Round(10*time.Millisecond), total/inst.wall.Seconds(), testtool.MiB(inst.hwm))
	fmt.Fprintf(&report, "  dcor instance backup --no-local   %8s  %5.0f MiB/s  peak RSS %s\n", instS3.wall.Round(10*time.Millisecond), total/instS3.wall.Seconds(), testtool.MiB(instS3.hwm))
	fmt.Fprintf(&report, "load average now %s\n", testtool.LoadAvg())
	t.Log(report.String())
	fmt.Println(report.String())
}
