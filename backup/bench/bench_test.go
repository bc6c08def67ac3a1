package bench

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// Environment:
//
//	DCOR_BENCH_BACKUP=1      run the benchmark (otherwise it is skipped)
//	DCOR_BENCH_GIB=1,2       custom-dump sizes to measure, in GiB
//	DCOR_BENCH_REPEAT=2      runs of bare pg_dump and of dcor per size (the fastest counts)
//	DCOR_BENCH_STRICT=1      fail when a target is missed (≤ 1.10× pg_dump, RSS < 64 MiB)
const password = "bench-Pa55:w@rd"

// measurement is one timed run of a program.
type measurement struct {
	wall    time.Duration
	hwm     int64 // peak RSS of the process itself (VmHWM), bytes
	treeRSS int64 // peak RSS of the process and its waited-for children (wait4), bytes
}

func TestBenchBackup(t *testing.T) {
	if os.Getenv("DCOR_BENCH_BACKUP") == "" {
		t.Skip("set DCOR_BENCH_BACKUP=1 to run the backup benchmark (make bench-backup)")
	}
	gpg := testtool.Need(t, "gpg")
	sizes := []float64{1, 2}
	if s := os.Getenv("DCOR_BENCH_GIB"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				t.Fatalf("DCOR_BENCH_GIB: %v", err)
			}
			sizes = append(sizes, v)
		}
	}
	repeat := 2
	if s := os.Getenv("DCOR_BENCH_REPEAT"); s != "" {
		repeat, _ = strconv.Atoi(s)
	}

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
	libpq := regexp.MustCompile(`:[^:@/]*@`).ReplaceAllString(url, "@") // the URL without its password

	// A host tree for dcor: ckan.ini and a recipient key.
	root := filepath.Join(work, "host")
	ini := filepath.Join(root, "etc/ckan/default/ckan.ini")
	os.MkdirAll(filepath.Dir(ini), 0o755)
	os.WriteFile(ini, []byte("[app:main]\nsqlalchemy.url = "+strings.ReplaceAll(url, "%", "%%")+"\n"), 0o644)
	pub, home := benchKey(t, gpg, work)

	pgEnv := append(os.Environ(), "PGPASSWORD="+password)
	bare := func() measurement {
		return timeRun(t, exec.Command("sh", "-c", `exec "$0" --format=custom --no-password --dbname="$1" > /dev/null`, pgDump, libpq), pgEnv)
	}
	outDir := filepath.Join(root, "data/encrypted_db_dumps")
	runDcor := func() (measurement, int64) {
		os.RemoveAll(outDir)
		m := timeRun(t, exec.Command(dcor, "--root", root, "encrypted-database-backup", "--key-file", pub, "--pg-dump", pgDump), os.Environ())
		files, _ := filepath.Glob(filepath.Join(outDir, "*", "*.gpg"))
		if len(files) != 1 {
			t.Fatalf("dcor wrote %v", files)
		}
		st, _ := os.Stat(files[0])
		return m, st.Size()
	}
	old := func() (measurement, int64) {
		dump := filepath.Join(work, "old.dump")
		os.Remove(dump)
		os.Remove(dump + ".gpg")
		start := time.Now()
		m1 := timeRun(t, exec.Command(pgDump, "--format=custom", "--no-password", "--dbname="+libpq, "--file="+dump), pgEnv)
		cmd := gpgCmd(gpg, home, "--trust-model", "always", "--output", dump+".gpg", "--encrypt", "--recipient", "bench@dcor.test", dump)
		m2 := timeRun(t, cmd, cmd.Env)
		st, _ := os.Stat(dump)
		os.Remove(dump)
		os.Remove(dump + ".gpg")
		return measurement{wall: time.Since(start), hwm: max(m1.hwm, m2.hwm)}, st.Size()
	}

	// Calibrate: dump bytes per row of 1 KiB random hex text.
	rows := int64(0)
	load := func(n int64) {
		start := time.Now()
		loadRows(t, c, url, rows, n)
		rows += n
		t.Logf("loaded %d rows (%d in total) in %s", n, rows, time.Since(start).Round(time.Second))
	}
	load(50_000)
	calib := dumpSize(t, pgDump, libpq, pgEnv)
	perRow := float64(calib) / float64(rows)
	t.Logf("calibration: %d rows dump to %d bytes (%.0f bytes a row)", rows, calib, perRow)

	var report strings.Builder
	fmt.Fprintf(&report, "\n%-10s %-10s %-12s %-12s %-12s %-14s %-12s %-14s %-14s\n",
		"dump", "rows", "pg_dump", "dcor", "dcor/pg_dump", "2021 way", "2021/dcor", "dcor peak RSS", "with pg_dump")
	var rss []int64
	failed := false
	for _, gib := range sizes {
		want := int64(gib * float64(1<<30) * 1.02)
		if need := int64(float64(want)/perRow) - rows; need > 0 {
			load(need)
			c.Exec(t, c.SuperURL("ckan_default"), "CHECKPOINT")
		}
		var b, d measurement
		var encSize int64
		for i := 0; i < repeat; i++ {
			mb := bare()
			md, size := runDcor()
			if i == 0 || mb.wall < b.wall {
				b = mb
			}
			if i == 0 || md.wall < d.wall {
				d.wall = md.wall
			}
			d.hwm, d.treeRSS, encSize = max(d.hwm, md.hwm), max(d.treeRSS, md.treeRSS), size
			t.Logf("%.1f GiB run %d: pg_dump %s, dcor %s (peak RSS %s)", gib, i+1, mb.wall.Round(time.Millisecond), md.wall.Round(time.Millisecond), testtool.MiB(md.hwm))
		}
		o, dumpBytes := old()
		perRow = float64(dumpBytes) / float64(rows)
		ratio := d.wall.Seconds() / b.wall.Seconds()
		fmt.Fprintf(&report, "%-10s %-10d %-12s %-12s %-12.3f %-14s %-12.2f %-14s %-14s\n",
			fmt.Sprintf("%.2f GiB", float64(dumpBytes)/(1<<30)), rows, b.wall.Round(10*time.Millisecond), d.wall.Round(10*time.Millisecond),
			ratio, o.wall.Round(10*time.Millisecond), o.wall.Seconds()/d.wall.Seconds(), testtool.MiB(d.hwm), testtool.MiB(d.treeRSS))
		if dumpBytes < int64(gib*float64(1<<30)) {
			t.Logf("note: the dump is %d bytes, under the %.1f GiB asked for", dumpBytes, gib)
		}
		if float64(encSize) < float64(dumpBytes)*0.99 {
			t.Errorf("encrypted dump %d bytes, plain %d: the dump was cut", encSize, dumpBytes)
		}
		if ratio > 1.10 || d.hwm >= 64<<20 {
			failed = true
		}
		rss = append(rss, d.hwm)
	}
	if len(rss) > 1 && rss[len(rss)-1] > rss[0]+8<<20 {
		failed = true
		fmt.Fprintf(&report, "peak RSS grows with the database: %s → %s\n", testtool.MiB(rss[0]), testtool.MiB(rss[len(rss)-1]))
	}
	fmt.Fprintf(&report, "targets: dcor/pg_dump ≤ 1.10, dcor peak RSS < 64 MiB and not growing; load average now %s\n", testtool.LoadAvg())
	t.Log(report.String())
	fmt.Println(report.String())
	if failed && os.Getenv("DCOR_BENCH_STRICT") == "1" {
		t.Fatal("a target was missed")
	}
}

// timeRun runs cmd and measures its wall time and peak memory: VmHWM of
// the process itself, sampled, and wait4's maxrss (the largest of the
// process and its children).
func timeRun(t *testing.T, cmd *exec.Cmd, env []string) measurement {
	t.Helper()
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopRSS := testtool.PeakRSS(cmd.Process.Pid, 20*time.Millisecond)
	err := cmd.Wait()
	wall := time.Since(start)
	hwm := stopRSS()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	var tree int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		tree = ru.Maxrss << 10
	}
	return measurement{wall: wall, hwm: hwm, treeRSS: tree}
}

// dumpSize is the size of the database's custom dump.
func dumpSize(t *testing.T, pgDump, url string, env []string) int64 {
	t.Helper()
	cmd := exec.Command("sh", "-c", `"$0" --format=custom --no-password --dbname="$1" | wc -c`, pgDump, url)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	return n
}

// loadRows appends n rows of 1 KiB random hex text (which compresses to
// about half) to bench_blob, over two connections (two cores).
func loadRows(t *testing.T, c *pgtest.Cluster, url string, first, n int64) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for part := int64(0); part < 2; part++ {
		from, count := first+part*(n/2), n/2
		if part == 1 {
			count = n - n/2
		}
		conn := c.Connect(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := &hexRows{next: from, end: from + count, rng: rand.New(rand.NewPCG(uint64(from), 42))}
			_, err := conn.CopyFrom(context.Background(), pgx.Identifier{"bench_blob"}, []string{"id", "data"}, src)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// hexRows makes rows of random hex text for COPY.
type hexRows struct {
	next, end int64
	rng       *rand.Rand
	raw       [512]byte
}

func (h *hexRows) Next() bool { h.next++; return h.next <= h.end }

func (h *hexRows) Values() ([]any, error) {
	for i := 0; i < len(h.raw); i += 8 {
		v := h.rng.Uint64()
		for j := 0; j < 8; j++ {
			h.raw[i+j] = byte(v >> (8 * j))
		}
	}
	return []any{h.next, hex.EncodeToString(h.raw[:])}, nil
}

func (h *hexRows) Err() error { return nil }

// benchKey makes a recipient key in a GnuPG home under work and returns
// the path of its armored public key and the home.
func benchKey(t *testing.T, gpg, work string) (pub, home string) {
	t.Helper()
	home = filepath.Join(work, "gnupg")
	os.Mkdir(home, 0o700)
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Run()
	})
	if out, err := gpgCmd(gpg, home, "--quick-gen-key", "bench <bench@dcor.test>", "default", "default", "never").CombinedOutput(); err != nil {
		t.Fatalf("gpg: %v %s", err, out)
	}
	pub = filepath.Join(work, "pub.asc")
	out, err := gpgCmd(gpg, home, "--armor", "--export").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pub, out, 0o644)
	return pub, home
}

// gpgCmd is gpg with the GnuPG home home, never asking for a passphrase.
func gpgCmd(gpg, home string, args ...string) *exec.Cmd {
	cmd := exec.Command(gpg, append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	return cmd
}
