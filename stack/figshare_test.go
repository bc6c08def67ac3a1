package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/figshare"
	"github.com/DCOR-dev/dcor/internal/figsharetest"
)

// TestImportFigshareOnTheStack imports two articles (three files) from a
// fake figshare, run inside the stack's namespace, into the seed lane's
// CKAN 2.9.8 with dcor import-figshare as the site user, the way the
// seed-era depot did (local storage, symlinks). It checks: the
// organization figshare-import ("Figshare mirror"); package_show through
// nginx (anonymous, so public and active) returns the datasets and their
// resources with DCOR's ids, names, sizes and format; each resource's
// path in CKAN's storage is a symlink to the depot file, its two parent
// directories owned by www-data; a download of each resource through
// nginx gives the depot file's bytes; dc_serve's _condensed.rtdc and
// dc_view's _preview.jpg appear next to each linked resource (dcor_shared
// 0.3.1 gives the import 10 s to link the real file); and a second run
// changes nothing (datasets, links and depot files untouched, --check
// clean) in under 2 s.
//
// The files are written by the stack's dclab 0.39.9, which DCOR reads
// them with (the minimal file of internal/rtdctest lacks setup:software
// version, and dclab 0.39.9 cannot open it).
//
// It does not apply to the 2.11 lane: CKAN 2.9.9 and later refuse a
// resource file that is a symlink (ckan/lib/uploader.py
// ResourceUpload.get_path: "Invalid storage path"), and dcor_schemas 1.x
// activates a dataset only with its resources on S3; the import to S3 is
// tested on that lane by figshare_s3_test.go.
func TestImportFigshareOnTheStack(t *testing.T) {
	e := stackEnv(t)
	if e.Lane != "2.9" {
		t.Skipf("does not apply to the %s lane (CKAN %s): CKAN >= 2.9.9 refuses symlinked resource files "+
			"(uploader.py ResourceUpload.get_path: Invalid storage path) and dcor_schemas 1.x activates datasets only from S3; "+
			"the symlink import runs on the seed lane (make stack LANE=2.9; make test-seed), the S3 import in figshare_s3_test.go",
			e.Lane, e.CKANVersion)
	}
	bin := dcor(t)
	fx := newFigshareFixture(t, e, "dcor-stack-figshare-", 501)
	arts, names := fx.arts, fx.names
	token := adminToken(t, e)
	cleanup := func() {
		for i, n := range names {
			// the links and what DCOR's jobs put beside them (else
			// orphans for the inspect test, and old files for checkJobs)
			id := figshare.MakeID(arts[i].DOI(), n)
			for _, f := range arts[i].Files {
				rpath := figshare.ResourcePath("/data/ckan-dcorstack", figshare.MakeID(id, f.MD5))
				run(t, e, time.Minute, "rm", "-f", rpath, rpath+"_condensed.rtdc", rpath+"_preview.jpg")
			}
			fx.purge(t, e, token, n)
		}
		// dc_serve/dc_view name their jobs <package id>_<position>_…
		// and enqueue none while a job of that id is in Redis (rq keeps
		// failed ones): the ids are fixed by the DOI, so the jobs of an
		// earlier run are removed, with their entries in rq's registries.
		for i, a := range arts {
			id := figshare.MakeID(a.DOI(), names[i])
			run(t, e, time.Minute, "sh", "-c", "redis-cli --scan --pattern 'rq:job:"+id+"_*' | xargs -r redis-cli del; "+
				"for k in $(redis-cli --scan --pattern 'rq:*:ckan:*'); do [ \"$(redis-cli type $k)\" = zset ] && "+
				"redis-cli zrange $k 0 -1 | grep '^"+id+"_' | xargs -r redis-cli zrem $k; done; true")
		}
	}
	cleanup()
	defer func() {
		// DCOR's jobs on the datasets end before they are purged
		waitQuiet(t, e, 2*time.Minute)
		cleanup()
	}()

	if code := fx.importFirst(t, e, bin); code != 0 {
		t.Errorf("first run: exit %d", code)
	}
	// dc_serve and dc_view enqueue their jobs at resource_create, while
	// the file is still the placeholder; dcor_shared's wait_for_resource
	// gives the import 10 s to link the real file.
	checkJobs(t, e, arts, names, 2*time.Minute)

	// the organization, as DCOR's importer makes it
	if code, doc := api(t, e, "", "organization_show", map[string]any{"id": figshare.Organization}); code != 200 ||
		result(doc)["title"] != "Figshare mirror" {
		t.Errorf("organization_show %s: HTTP %d %v", figshare.Organization, code, doc)
	}

	// No job of DCOR's for these datasets failed (dcor_shared's
	// wait_for_resource raises when the file is not linked within 10 s;
	// rq keeps exc_info zlib-compressed).
	// Then, once DCOR's jobs are done with the datasets (dcor_schemas
	// writes dc:* metadata with package_revise), what the second run must
	// leave as it is.
	waitQuiet(t, e, 2*time.Minute)
	for i, a := range arts {
		id := figshare.MakeID(a.DOI(), names[i])
		failed := mustRun(t, e, time.Minute, "sh", "-c", "for k in $(redis-cli --scan --pattern 'rq:failed:*'); do "+
			"for j in $(redis-cli zrange $k 0 -1 | grep '^"+id+"_'); do echo \"== $k $j\"; redis-cli hget rq:job:$j exc_info | "+
			"python3 -c 'import sys, zlib; print(zlib.decompressobj().decompress(sys.stdin.buffer.read()).decode(errors=\"replace\")[-600:])'; done; done")
		if strings.TrimSpace(failed) != "" {
			t.Errorf("DCOR's jobs for %s failed:\n%s", names[i], failed)
		}
	}
	before := importState(t, e, token, arts, names)
	fx.importAgain(t, e, bin)
	if after := importState(t, e, token, arts, names); after != before {
		t.Errorf("the second run changed something:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	fx.eachResource(t, e, func(name, wantID, rid string, f *figsharetest.File, rd map[string]any) {
		if rd["id"] != rid || rd["name"] != f.Name || rd["format"] != "RT-DC" || rd["size"] != float64(f.Size) {
			t.Errorf("resource %v, want id %s name %s size %d format RT-DC", rd, rid, f.Name, f.Size)
		}
		depot := "/data/depots/figshare/" + name + "/" + f.Name
		rpath := figshare.ResourcePath("/data/ckan-dcorstack", rid)
		if got := strings.TrimSpace(mustRun(t, e, time.Minute, "readlink", rpath)); got != depot {
			t.Errorf("%s → %s, want %s", rpath, got, depot)
		}
		owners := mustRun(t, e, time.Minute, "stat", "-c", "%U", filepath.Dir(rpath), filepath.Dir(filepath.Dir(rpath)))
		if strings.TrimSpace(owners) != "www-data\nwww-data" {
			t.Errorf("owners of %s's parents: %q", rpath, owners)
		}
		dl := filepath.Join(fx.dir, fmt.Sprintf("dl-%d", f.ID))
		mustRun(t, e, time.Minute, "curl", "-sSfL", "--cacert", e.Cert, "-o", dl,
			fmt.Sprintf("%s/dataset/%s/resource/%s/download/%s", e.URL, wantID, rid, f.Name))
		got, err := figshare.HashFile(dl)
		want := strings.Fields(mustRun(t, e, time.Minute, "md5sum", depot))[0]
		if err != nil || got.MD5 != want || want != f.MD5 {
			t.Errorf("download of %s through nginx: md5 %s (%v), the depot file's %s, figshare's %s", f.Name, got.MD5, err, want, f.MD5)
		}
	})
}

// mkRTDC writes an .rtdc file with dclab's own writer and the metadata
// dclab's IntegrityChecker wants (setup:software version among them),
// then prints the sanity check's complaints (none expected).
const mkRTDC = `import sys, numpy as np, dclab
from dclab.rtdc_dataset.writer import RTDCWriter
path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
meta = {
 "experiment": {"date": "2022-01-01", "event count": n, "run index": 1, "sample": "figshare test", "time": "12:00:00"},
 "imaging": {"flash device": "LED", "flash duration": 2.0, "frame rate": 2000.0, "pixel size": 0.34,
             "roi position x": 0, "roi position y": 0, "roi size x": 250, "roi size y": 80},
 "online_contour": {"bin area min": 10, "bin kernel": 5, "bin threshold": -6, "image blur": 0, "no absdiff": True},
 "setup": {"channel width": 20.0, "chip region": "channel", "flow rate": 0.16, "flow rate sample": 0.04,
           "flow rate sheath": 0.12, "identifier": "figshare-test", "medium": "CellCarrier",
           "module composition": "AcCellerator", "software version": "dclab " + dclab.__version__},
}
with RTDCWriter(path, mode="reset") as w:
    w.store_metadata(meta)
    w.store_feature("deform", rng.uniform(0.01, 0.1, n))
    w.store_feature("area_um", rng.uniform(20, 120, n))
    w.store_feature("bright_avg", rng.uniform(80, 120, n))
    w.store_feature("time", np.arange(n) / 2000.0)
    w.store_feature("frame", np.arange(n) + 1)
    w.store_feature("index_online", np.arange(n))
with dclab.IntegrityChecker(path) as ic:
    print([str(c.msg) for c in ic.sanity_check()])
`

// rtdcFile is an article's .rtdc file. On the seed lane it is written by
// the stack's own dclab (0.39.9), because DCOR reads it there: dcor_schemas
// runs dclab's IntegrityChecker before it lets a dataset become active,
// and dc_serve/dc_view condense it and plot its preview; the minimal file
// of internal/rtdctest lacks setup:software version, which dclab 0.39.9
// needs to open a file at all (KeyError). On the 2.11 lane it is
// rtdctest's file, as before.
func rtdcFile(t *testing.T, e *Env, dir string, id int, name string, events int) *figsharetest.File {
	t.Helper()
	if e.Lane != "2.9" {
		f, err := figsharetest.NewRTDC(dir, id, name, events)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	script := filepath.Join(dir, "mkrtdc.py")
	if err := os.WriteFile(script, []byte(mkRTDC), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("%d-%s", id, name))
	out := mustRun(t, e, 2*time.Minute, e.Venv+"/bin/python", script, p, fmt.Sprint(events), fmt.Sprint(id))
	if strings.TrimSpace(lastLine(out)) != "[]" {
		t.Fatalf("dclab's sanity check of %s: %s", name, out)
	}
	f, err := figsharetest.FileOf(id, name, p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// importState describes what an import made: each dataset's
// metadata_modified, state and resources (id, name, size, sha256,
// last_modified), each resource path's link target, inode and mtime, its
// parents' owners, and each depot file's inode, size and mtime. Two equal
// states mean nothing was changed between them.
func importState(t *testing.T, e *Env, token string, arts []*figsharetest.Article, names []string) string {
	t.Helper()
	var b strings.Builder
	for i, a := range arts {
		code, doc := api(t, e, token, "package_show", map[string]any{"id": names[i]})
		if code != 200 {
			t.Fatalf("package_show %s: HTTP %d %v", names[i], code, doc)
		}
		pkg := result(doc)
		fmt.Fprintf(&b, "%s %v %v\n", names[i], pkg["metadata_modified"], pkg["state"])
		for _, r := range pkg["resources"].([]any) {
			rd := r.(map[string]any)
			fmt.Fprintf(&b, "  %v %v %v %v %v\n", rd["id"], rd["name"], rd["size"], rd["sha256"], rd["last_modified"])
		}
		id := figshare.MakeID(a.DOI(), names[i])
		for _, f := range a.Files {
			rpath := figshare.ResourcePath("/data/ckan-dcorstack", figshare.MakeID(id, f.MD5))
			b.WriteString(mustRun(t, e, time.Minute, "stat", "-c", "%N %i %Y %U",
				rpath, filepath.Dir(rpath), filepath.Dir(filepath.Dir(rpath)),
				"/data/depots/figshare/"+names[i]+"/"+f.Name))
		}
	}
	return b.String()
}

// waitQuiet waits (at most within) until the stack's rq queues are empty
// and no worker is busy, twice in a row a second apart.
func waitQuiet(t *testing.T, e *Env, within time.Duration) {
	t.Helper()
	const count = `n=0
for k in $(redis-cli --scan --pattern 'rq:queue:*'); do n=$((n + $(redis-cli llen "$k"))); done
for k in $(redis-cli --scan --pattern 'rq:wip:*'); do n=$((n + $(redis-cli zcard "$k"))); done
for w in $(redis-cli smembers rq:workers); do [ "$(redis-cli hget "$w" state)" = busy ] && n=$((n + 1)); done
echo $n`
	quiet := 0
	for end := time.Now().Add(within); quiet < 2; time.Sleep(time.Second) {
		out, code := run(t, e, time.Minute, "sh", "-c", count)
		if code == 0 && strings.TrimSpace(out) == "0" {
			quiet++
			continue
		}
		quiet = 0
		if time.Now().After(end) {
			t.Errorf("DCOR's rq jobs still running after %v (%s)", within, strings.TrimSpace(out))
			return
		}
	}
}

// checkJobs waits (at most within) for the _condensed.rtdc of dc_serve and
// the _preview.jpg of dc_view next to each linked resource, and logs when
// they appeared; a resource the import did not link is reported.
func checkJobs(t *testing.T, e *Env, arts []*figsharetest.Article, names []string, within time.Duration) {
	t.Helper()
	start := time.Now()
	for i, a := range arts {
		id := figshare.MakeID(a.DOI(), names[i])
		for _, f := range a.Files {
			rpath := figshare.ResourcePath("/data/ckan-dcorstack", figshare.MakeID(id, f.MD5))
			if _, code := run(t, e, time.Minute, "test", "-L", rpath); code != 0 {
				t.Errorf("%s/%s: %s is not a symlink, so DCOR's jobs wait for it in vain", names[i], f.Name, rpath)
				continue
			}
			for _, suffix := range []string{"_condensed.rtdc", "_preview.jpg"} {
				for {
					if _, code := run(t, e, time.Minute, "test", "-s", rpath+suffix); code == 0 {
						t.Logf("%s/%s: %s after %v", names[i], f.Name, suffix, time.Since(start).Round(100*time.Millisecond))
						break
					}
					if time.Since(start) > within {
						t.Errorf("%s/%s: no %s within %v (see the workers' logs in %s/root/var/log/ckan)", names[i], f.Name, suffix, within, e.State)
						break
					}
					time.Sleep(500 * time.Millisecond)
				}
			}
		}
	}
}
