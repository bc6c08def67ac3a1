package bench

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// Environment:
//
//	DCOR_BENCH_SCAN=1           run the benchmark (otherwise it is skipped)
//	DCOR_BENCH_RESOURCES=200000 resources in the database and the tree
//	DCOR_BENCH_REPEAT=3         timed runs of find and of dcor (the median counts)
//	DCOR_BENCH_STRICT=1         fail when dcor takes more than 1.5× find
//	DCOR_BENCH_BIN=PATH         measure this dcor instead of building ./cmd/dcor
//
// The generated host, under a temporary directory (removed at the end):
//
//	etc/ckan/default/ckan.ini                          sqlalchemy.url of the private cluster
//	data/ckan-bench/resources/ID[0:3]/ID[3:6]/ID[6:]   the resource file (10 %: a symlink
//	                                                   to its users-depot file)
//	  …/ID[6:]_condensed.rtdc, …/ID[6:]_preview.jpg    its ancillary files (regular files)
//	  …/ID[6:].rtdc~                                   garbage beside 1 % of the resources
//	data/depots/users-bench/USER-ORG/PKG[0:2]/PKG[2:4]/PKGNAME_RESID_RESNAME
//
// Orphans, which `inspect --only orphans` should report: the files of
// 1 % extra resource ids that are not in the database at all (resource file
// and both ancillaries), and the files of the 0.1 % of the resources whose
// state is "deleted" (the live ids are those whose state IS DISTINCT FROM
// 'deleted'). Packages are active, draft or deleted (8:1:1); their state
// does not decide anything here. Files of known ids with another suffix
// (.rtdc~) are garbage. dcor runs only once the newest file is older than
// settle, else it would leave every candidate alone as too recent.
//
// Times are wall clock on the same warm tree, after one untimed run of
// each command; find and dcor alternate and the median counts.
const (
	password    = "bench-scan-pw"
	storagePath = "/data/ckan-bench"
	depotsPath  = "/data/depots"
	usersDepot  = "users-bench"
	// targetRatio is the most dcor may take relative to find.
	targetRatio = 1.5
	// perPackage is the number of resources of a package.
	perPackage = 50
	// settle is how old the newest file must be before dcor is run: the
	// orphans check leaves alone files whose mtime or ctime is less than a
	// minute (inspect/storage_env.go) before it read the database, and
	// ctime cannot be set back.
	settle = 65 * time.Second
)

// idsQuery is the query a scan needs: the ids of the live resources.
const idsQuery = `SELECT id FROM resource WHERE state IS DISTINCT FROM 'deleted'`

// dcorArgs is the command measured, after `dcor --root ROOT`.
var dcorArgs = []string{"inspect", "--only", "orphans", "--check"}

func TestBenchScan(t *testing.T) {
	if os.Getenv("DCOR_BENCH_SCAN") == "" {
		t.Skip("set DCOR_BENCH_SCAN=1 to run the scan benchmark (make bench-scan)")
	}
	find := testtool.Need(t, "find")
	wc := testtool.Need(t, "wc")
	n := envInt(t, "DCOR_BENCH_RESOURCES", 200_000)
	repeat := envInt(t, "DCOR_BENCH_REPEAT", 3)
	if n < 100 || repeat < 1 {
		t.Fatalf("DCOR_BENCH_RESOURCES must be ≥ 100 and DCOR_BENCH_REPEAT ≥ 1")
	}

	work := t.TempDir()
	t.Cleanup(func() {
		s := time.Now()
		removeAll(work)
		t.Logf("removed the generated host in %s", time.Since(s).Round(10*time.Millisecond))
	})
	dcor := os.Getenv("DCOR_BENCH_BIN")
	if dcor == "" {
		dcor = testtool.BuildDcor(t, work)
	}
	c := pgtest.Start(t)
	url := c.CreateDatabase(t, "ckan_default", "ckan_default", password)
	c.Exec(t, url, pgtest.CKANSchema)

	root := filepath.Join(work, "host")
	ini := filepath.Join(root, "etc/ckan/default/ckan.ini")
	if err := os.MkdirAll(filepath.Dir(ini), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ini, []byte("[DEFAULT]\ndebug = false\n\n[app:main]\n"+
		"sqlalchemy.url = "+strings.ReplaceAll(url, "%", "%%")+"\n"+
		"ckan.storage_path = "+storagePath+"\n"+
		"ckanext.dcor_depot.depots_path = "+depotsPath+"\n"+
		"ckanext.dcor_depot.users_depot_name = "+usersDepot+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Generate the database and the tree at the same time.
	start := time.Now()
	h := plan(n)
	var wg sync.WaitGroup
	var dbErr error
	var dbTime time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := time.Now()
		dbErr = loadDatabase(c, url, h)
		dbTime = time.Since(s)
	}()
	files, err := writeTree(root, h)
	treeTime := time.Since(start)
	written := time.Now() // the newest file of the tree
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if dbErr != nil {
		t.Fatal(dbErr)
	}
	genTime := time.Since(start)
	s := time.Now()
	syscall.Sync() // no writeback of the new tree during the timings
	t.Logf("generated %d resources (%d packages, %d files and links) in %s: tree %s, database %s (in parallel); sync %s",
		n, len(h.packages), files, genTime.Round(10*time.Millisecond), treeTime.Round(10*time.Millisecond),
		dbTime.Round(10*time.Millisecond), time.Since(s).Round(10*time.Millisecond))
	fmt.Printf("bench-scan: generated %d resources, %d files and links in %s\n", n, files, genTime.Round(10*time.Millisecond))

	findDirs := []string{filepath.Join(root, storagePath, "resources"), filepath.Join(root, depotsPath, usersDepot)}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "CKAN_INI=") })
	args := append([]string{"--root", root}, dcorArgs...)
	label := "dcor " + strings.Join(dcorArgs, " ")

	dbTimes, live := timeQuery(t, c.Connect(t, url), 3)
	if live != h.live {
		t.Errorf("the query returned %d ids, %d resources are live", live, h.live)
	}

	// Warm the page cache (and check both commands) with one run each.
	wall, count := timeFind(t, find, wc, findDirs)
	if count != files {
		t.Errorf("find counted %d files and links, the generator wrote %d", count, files)
	}
	t.Logf("warm-up: find | wc -l %s (%d lines)", wall.Round(time.Millisecond), count)
	if wait := time.Until(written.Add(settle)); wait > 0 {
		t.Logf("waiting %s: dcor leaves files alone that changed (ctime) less than a minute before it read the database", wait.Round(time.Second))
		time.Sleep(wait)
	}
	d := runDcor(t, dcor, args, env)
	t.Logf("warm-up: %s %s, exit %d, peak RSS %s; last lines:\n%s", label, d.wall.Round(time.Millisecond), d.code, testtool.MiB(d.peakRSS), tail(d.out, 15))
	if d.code != 1 {
		t.Fatalf("%s exited %d, expected 1 (the tree has orphans):\n%s", label, d.code, tail(d.out, 40))
	}

	var findTimes, dcorTimes []time.Duration
	var dcorRSS int64
	for i := 0; i < repeat; i++ {
		fw, _ := timeFind(t, find, wc, findDirs)
		dr := runDcor(t, dcor, args, env)
		if dr.code != 1 {
			t.Fatalf("%s exited %d on run %d, expected 1:\n%s", label, dr.code, i+1, tail(dr.out, 40))
		}
		findTimes, dcorTimes = append(findTimes, fw), append(dcorTimes, dr.wall)
		dcorRSS = max(dcorRSS, dr.peakRSS)
		t.Logf("run %d: find | wc -l %s, %s %s", i+1, fw.Round(time.Millisecond), label, dr.wall.Round(time.Millisecond))
	}

	// One run with --json: what the check found, against what was made.
	jd := runDcor(t, dcor, append([]string{"--root", root, "--json"}, dcorArgs...), env)
	t.Logf("--json run: exit %d, %d bytes", jd.code, len(jd.out))
	found, totals := summarizeJSON(jd.out)
	if totals != nil {
		want := map[string]float64{"orphan": float64(3 * (len(h.orphans) + h.deleted)), "garbage": float64(h.garbage)}
		for k, v := range totals {
			if _, ok := want[k]; !ok {
				want[k] = 0
			}
			if v != want[k] {
				found += fmt.Sprintf("\n  NOTE: totals differ from what was made: %s %.0f, expected %.0f", k, v, want[k])
			}
		}
	}

	fm, dm, qm := median(findTimes), median(dcorTimes), median(dbTimes)
	ratio := dm.Seconds() / fm.Seconds()
	var report strings.Builder
	fmt.Fprintf(&report, "\nbench-scan: %d resources, %d files/links, warm cache, GOMAXPROCS=%d\n", n, files, runtime.GOMAXPROCS(0))
	fmt.Fprintf(&report, "%-38s%.2f s (median of %d; best %.2f s)\n", "find | wc -l:", fm.Seconds(), repeat, slices.Min(findTimes).Seconds())
	fmt.Fprintf(&report, "%-38s%.2f s (median of %d; best %.2f s; peak RSS %s)\n", label+":", dm.Seconds(), repeat, slices.Min(dcorTimes).Seconds(), testtool.MiB(dcorRSS))
	fmt.Fprintf(&report, "%-38s%.2f× (target ≤ %.1f×)\n", "ratio dcor/find:", ratio, targetRatio)
	fmt.Fprintf(&report, "database query (ids of %d live resources): %.2f s (median of 3)\n", h.live, qm.Seconds())
	fmt.Fprintf(&report, "generation: %.1f s (tree %.1f s, database %.1f s, in parallel)\n", genTime.Seconds(), treeTime.Seconds(), dbTime.Seconds())
	fmt.Fprintf(&report, "made: %d orphan ids (%d files) + %d deleted resources (%d files); %d garbage files; %d depot links\n",
		len(h.orphans), 3*len(h.orphans), h.deleted, 3*h.deleted, h.garbage, h.depot)
	fmt.Fprintf(&report, "expected: %d orphaned files, %d garbage files, 0 users-depot files\n", 3*(len(h.orphans)+h.deleted), h.garbage)
	fmt.Fprintf(&report, "dcor --json: %s\n", found)
	fmt.Fprintf(&report, "load average now %s\n", testtool.LoadAvg())
	t.Log(report.String())
	fmt.Println(report.String())
	if ratio > targetRatio && os.Getenv("DCOR_BENCH_STRICT") == "1" {
		t.Fatalf("dcor took %.2f× find, the target is ≤ %.1f×", ratio, targetRatio)
	}
}

// host is the plan of the generated host: what goes into the database
// and which files go into the tree.
type host struct {
	users, orgs []string // names; the id of each is "bench-" + name
	packages    []pkg
	resources   []res
	orphans     []string // resource ids with files but no database row
	live        int      // resources whose state is not deleted
	deleted     int      // resources whose state is deleted (their files are orphans)
	garbage     int      // resources with a garbage file beside them
	depot       int      // resources whose file is a symlink into the users depot
}

type pkg struct {
	id, name, state string
	user, org       int
}

type res struct {
	id, name, sha256 string
	pkg, position    int
	deleted          bool
	garbage          bool
	depot            bool
}

// plan makes random UUIDv4 ids for n resources in packages of
// perPackage, and n/100 orphan ids.
func plan(n int) *host {
	var seed [32]byte
	crand.Read(seed[:])
	rng := rand.New(rand.NewChaCha8(seed))
	h := &host{}
	for i := 0; i < 20; i++ {
		h.users = append(h.users, fmt.Sprintf("user%02d", i))
	}
	for i := 0; i < 10; i++ {
		h.orgs = append(h.orgs, fmt.Sprintf("org%02d", i))
	}
	states := []string{"active", "active", "active", "active", "active", "active", "active", "active", "draft", "deleted"}
	for i := 0; i < (n+perPackage-1)/perPackage; i++ {
		h.packages = append(h.packages, pkg{id: uuid4(rng), name: fmt.Sprintf("bench-dataset-%06d", i),
			state: states[i%len(states)], user: i % len(h.users), org: i % len(h.orgs)})
	}
	var sum [32]byte
	h.resources = make([]res, n)
	for i := range h.resources {
		for j := 0; j < len(sum); j += 8 {
			binary.LittleEndian.PutUint64(sum[j:], rng.Uint64())
		}
		r := res{id: uuid4(rng), pkg: i / perPackage, position: i % perPackage, sha256: hex.EncodeToString(sum[:]),
			deleted: i%1000 == 999, garbage: i%100 == 50, depot: i%10 == 3}
		r.name = fmt.Sprintf("measurement_%02d.rtdc", r.position)
		if r.deleted {
			h.deleted++
		} else {
			h.live++
		}
		if r.garbage {
			h.garbage++
		}
		if r.depot {
			h.depot++
		}
		h.resources[i] = r
	}
	for i := 0; i < n/100; i++ {
		h.orphans = append(h.orphans, uuid4(rng))
	}
	return h
}

// uuid4 is a random UUID, version 4, in its 36-character form.
func uuid4(rng *rand.Rand) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rng.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	hex.Encode(s[9:13], b[4:6])
	hex.Encode(s[14:18], b[6:8])
	hex.Encode(s[19:23], b[8:10])
	hex.Encode(s[24:36], b[10:16])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}

// loadDatabase fills user, group, package and resource with COPY, then
// analyzes resource.
func loadDatabase(c *pgtest.Cluster, url string, h *host) error {
	ctx := context.Background()
	conn, err := c.Connect2(url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	now := time.Now().UTC().Truncate(time.Second)
	copyRows := func(table string, cols []string, n int, row func(i int) []any) error {
		_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) { return row(i), nil }))
		if err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
		return nil
	}
	if err := copyRows("user", []string{"id", "name", "state", "created", "sysadmin"}, len(h.users), func(i int) []any {
		return []any{"bench-" + h.users[i], h.users[i], "active", now, false}
	}); err != nil {
		return err
	}
	if err := copyRows("group", []string{"id", "name", "title", "type", "is_organization", "state", "created"}, len(h.orgs), func(i int) []any {
		return []any{"bench-" + h.orgs[i], h.orgs[i], strings.ToUpper(h.orgs[i]), "organization", true, "active", now}
	}); err != nil {
		return err
	}
	if err := copyRows("package", []string{"id", "name", "title", "state", "type", "owner_org", "private",
		"creator_user_id", "metadata_created", "metadata_modified"}, len(h.packages), func(i int) []any {
		p := h.packages[i]
		return []any{p.id, p.name, "Bench dataset " + strconv.Itoa(i), p.state, "dataset", "bench-" + h.orgs[p.org], false,
			"bench-" + h.users[p.user], now, now}
	}); err != nil {
		return err
	}
	if err := copyRows("resource", []string{"id", "package_id", "url", "format", "position", "state", "extras", "name",
		"url_type", "size", "created", "metadata_modified", "last_modified"}, len(h.resources), func(i int) []any {
		r := h.resources[i]
		state := "active"
		if r.deleted {
			state = "deleted"
		}
		return []any{r.id, h.packages[r.pkg].id, r.name, "RT-DC", r.position, state, `{"sha256": "` + r.sha256 + `"}`, r.name,
			"upload", int64(len(fileData)), now, now, now}
	}); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "ANALYZE")
	return err
}

// fileData is the content of every generated file: the orphans check
// looks at names, not contents.
var fileData = []byte("dcor bench\n")

// writeTree writes the resource tree and the users depot under root, in
// parallel, and returns the number of files and symlinks it made.
func writeTree(root string, h *host) (int, error) {
	type job struct {
		id, depot string // depot: host path of the depot file the resource path links to
		garbage   bool
	}
	jobs := make([]job, 0, len(h.resources)+len(h.orphans))
	for _, r := range h.resources {
		j := job{id: r.id, garbage: r.garbage}
		if r.depot {
			p := h.packages[r.pkg]
			j.depot = filepath.Join(depotsPath, usersDepot, h.users[p.user]+"-"+h.orgs[p.org], p.id[0:2], p.id[2:4],
				p.name+"_"+r.id+"_"+r.name)
		}
		jobs = append(jobs, j)
	}
	for _, id := range h.orphans {
		jobs = append(jobs, job{id: id})
	}
	resources := filepath.Join(root, storagePath, "resources")
	var next atomic.Int64
	var failed atomic.Bool
	var made atomic.Int64
	var once sync.Once
	var firstErr error
	fail := func(err error) {
		once.Do(func() { firstErr = err })
		failed.Store(true)
	}
	write := func(path string) bool {
		if err := os.WriteFile(path, fileData, 0o644); err != nil {
			fail(err)
			return false
		}
		made.Add(1)
		return true
	}
	var wg sync.WaitGroup
	for w := 0; w < max(8, 4*runtime.GOMAXPROCS(0)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				dir := filepath.Join(resources, j.id[0:3], j.id[3:6])
				if err := mkdirs(dir); err != nil {
					fail(err)
					return
				}
				base := filepath.Join(dir, j.id[6:])
				if j.depot != "" {
					real := filepath.Join(root, j.depot)
					if err := mkdirs(filepath.Dir(real)); err != nil {
						fail(err)
						return
					}
					if !write(real) {
						return
					}
					if err := os.Symlink(j.depot, base); err != nil {
						fail(err)
						return
					}
					made.Add(1)
				} else if !write(base) {
					return
				}
				if !write(base+"_condensed.rtdc") || !write(base+"_preview.jpg") {
					return
				}
				if j.garbage && !write(base+".rtdc~") {
					return
				}
			}
		}()
	}
	wg.Wait()
	return int(made.Load()), firstErr
}

// removeAll removes dir like os.RemoveAll, the subdirectories of its
// two big trees in parallel.
func removeAll(dir string) {
	var subdirs []string
	for _, big := range []string{filepath.Join(dir, "host", storagePath, "resources"), filepath.Join(dir, "host", depotsPath, usersDepot)} {
		entries, _ := os.ReadDir(big)
		for _, e := range entries {
			subdirs = append(subdirs, filepath.Join(big, e.Name()))
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < max(8, 4*runtime.GOMAXPROCS(0)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(subdirs); i = int(next.Add(1)) - 1 {
				os.RemoveAll(subdirs[i])
			}
		}()
	}
	wg.Wait()
	os.RemoveAll(dir)
}

// mkdirs makes dir and its parents; a directory that exists is fine.
func mkdirs(dir string) error {
	err := os.Mkdir(dir, 0o755)
	switch {
	case err == nil, errors.Is(err, os.ErrExist):
		return nil
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	}
	return err
}

// timeFind times `find DIRS \( -type f -o -type l \) | wc -l` (two
// processes joined by a pipe) and returns the count wc printed.
func timeFind(t *testing.T, find, wc string, dirs []string) (time.Duration, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	f := exec.Command(find, append(slices.Clone(dirs), "(", "-type", "f", "-o", "-type", "l", ")")...)
	var findErr, wcOut, wcErr bytes.Buffer
	f.Stdout, f.Stderr = w, &findErr
	c := exec.Command(wc, "-l")
	c.Stdin, c.Stdout, c.Stderr = r, &wcOut, &wcErr
	start := time.Now()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r.Close()
	errF, errC := f.Wait(), c.Wait()
	wall := time.Since(start)
	if errF != nil || errC != nil {
		t.Fatalf("find | wc -l: %v, %v\n%s%s", errF, errC, findErr.String(), wcErr.String())
	}
	n, err := strconv.Atoi(strings.TrimSpace(wcOut.String()))
	if err != nil {
		t.Fatalf("wc -l printed %q", wcOut.String())
	}
	return wall, n
}

// run is one run of dcor.
type run struct {
	wall    time.Duration
	code    int
	out     []byte // stdout and stderr
	peakRSS int64  // VmHWM, sampled every 10 ms, bytes
}

func runDcor(t *testing.T, bin string, args, env []string) run {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	// Sample VmHWM: wait4's maxrss would count the RSS of this test
	// process, which the child shares until it execs.
	stopRSS := testtool.PeakRSS(cmd.Process.Pid, 10*time.Millisecond)
	err := cmd.Wait()
	r := run{wall: time.Since(start), out: out.Bytes()}
	r.peakRSS = stopRSS()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("%s: %v", bin, err)
	}
	return r
}

// vmHWM is the peak RSS in a /proc/PID/status file, in bytes (0 when
// the process is gone).
// summarizeJSON says what the orphans findings of `inspect --json` hold,
// and returns their totals by kind (nil when there are none). It reads
// the document loosely (findings[] with check, severity, message,
// details, totals[] of kind and count) so that it survives changes to
// the output.
func summarizeJSON(out []byte) (string, map[string]float64) {
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		return fmt.Sprintf("not parsable (%v): %s", err, strings.TrimSpace(tail(out, 3))), nil
	}
	list, _ := doc["findings"].([]any)
	var findings, details int
	severities := map[string]int{}
	totals := map[string]float64{}
	var messages []string
	for _, x := range list {
		f, _ := x.(map[string]any)
		if check, _ := f["check"].(string); check != "orphans" {
			continue
		}
		findings++
		sev, _ := f["severity"].(string)
		severities[sev]++
		d, _ := f["details"].([]any)
		details += len(d)
		ts, _ := f["totals"].([]any)
		for _, x := range ts {
			tot, _ := x.(map[string]any)
			kind, _ := tot["kind"].(string)
			count, _ := tot["count"].(float64)
			totals[kind] += count
		}
		if m, _ := f["message"].(string); m != "" && len(messages) < 5 {
			messages = append(messages, m)
		}
	}
	var sevs []string
	for s, k := range severities {
		sevs = append(sevs, fmt.Sprintf("%d %s", k, s))
	}
	sort.Strings(sevs)
	s := fmt.Sprintf("%d orphans findings (%s), %d detail lines, drift=%v", findings, strings.Join(sevs, ", "), details, doc["drift"])
	if len(totals) > 0 {
		var kinds []string
		for k, v := range totals {
			kinds = append(kinds, fmt.Sprintf("%s %.0f", k, v))
		}
		sort.Strings(kinds)
		s += "; totals: " + strings.Join(kinds, ", ")
	}
	for _, m := range messages {
		s += "\n  " + m
	}
	if findings > len(messages) {
		s += fmt.Sprintf("\n  … %d more", findings-len(messages))
	}
	if len(totals) == 0 {
		totals = nil
	}
	return s, totals
}

// timeQuery times idsQuery, streamed over all rows, k times (after one
// untimed run) and returns the times and the number of ids.
func timeQuery(t *testing.T, conn *pgx.Conn, k int) ([]time.Duration, int) {
	t.Helper()
	ctx := context.Background()
	once := func() int {
		rows, err := conn.Query(ctx, idsQuery)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		var id string
		for rows.Next() {
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := once()
	var times []time.Duration
	for i := 0; i < k; i++ {
		start := time.Now()
		once()
		times = append(times, time.Since(start))
	}
	return times, n
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// median of the times: the middle one, or the mean of the two middle ones.
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[… %d lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
