package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// createDatasetsScript makes datasets in one CKAN process, through CKAN's
// own actions as the site user (package_create, indexed by CKAN):
// argv = ckan.ini, name prefix, count, license_id. It prints
// {"seconds": …, "ids": […]} as its last line.
const createDatasetsScript = `import json, sys, time
from ckan.cli import CKANConfigLoader
from ckan.config.middleware import make_app
ini, prefix, n, license_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
app = make_app(CKANConfigLoader(ini).get_config())
with app._wsgi_app.test_request_context():
    from ckan.plugins import toolkit
    act = toolkit.get_action
    site = act("get_site_user")({"ignore_auth": True}, {})
    ctx = lambda: {"user": site["name"], "ignore_auth": True}
    org = prefix + "-circle"
    try:
        act("organization_show")(ctx(), {"id": org})
    except toolkit.ObjectNotFound:
        act("organization_create")(ctx(), {"name": org})
    t0, ids = time.time(), []
    for i in range(n):
        d = act("package_create")(ctx(), {"name": "%s-%05d" % (prefix, i), "title": "Bench %d" % i, "owner_org": org,
            "authors": "A. Person", "license_id": license_id, "state": "draft", "tags": [{"name": "bench"}]})
        ids.append(d["id"])
    print(json.dumps({"seconds": time.time() - t0, "ids": ids}))
`

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestBenchResetDatasets (make bench-reset, DCOR_BENCH_RESET=1) measures
// `dcor reset --datasets -y` on 1 000 datasets of a side CKAN 2.11.5 of
// the stack (its backup included) against dcor_control's way, one
// `ckan -c ckan.ini dataset purge ID` per dataset: 20 of them are timed
// and the time extrapolated to 1 000. DCOR_BENCH_DATASETS and
// DCOR_BENCH_PURGES change the counts; DCOR_BENCH_STRICT=1 fails above
// the goal (60 s).
func TestBenchResetDatasets(t *testing.T) {
	if os.Getenv("DCOR_BENCH_RESET") == "" {
		t.Skip("set DCOR_BENCH_RESET=1 (make bench-reset)")
	}
	n, per := envInt("DCOR_BENCH_DATASETS", 1000), envInt("DCOR_BENCH_PURGES", 20)
	e := stackEnv(t)
	bin := dcor(t)
	s := newSideCKAN(t, e, "bench", nil)
	license := siteLicense(t, &s.env)
	site := filepath.Join(s.dir, "site.yaml")
	os.WriteFile(site, []byte("hostname: bench\nbackup:\n  key_dir: "+filepath.Join(s.dir, "no-keys")+"\n"), 0o644)
	script := filepath.Join(s.dir, "create.py")
	os.WriteFile(script, []byte(createDatasetsScript), 0o644)
	// the datasets are made with ckan.search.solr_commit = false (one
	// Solr commit at the end instead of one per dataset); the timed purges
	// run with the stack's ckan.ini settings
	fast := filepath.Join(s.dir, "ckan-create.ini")
	data, _ := os.ReadFile(s.ini)
	if !strings.Contains(string(data), "\nckan.search.solr_commit = true\n") {
		t.Fatal("the stack's ckan.ini has no line ckan.search.solr_commit = true")
	}
	os.WriteFile(fast, []byte(strings.Replace(string(data), "\nckan.search.solr_commit = true\n", "\nckan.search.solr_commit = false\n", 1)), 0o644)
	create := func(prefix string, count int) []string {
		t.Helper()
		out := mustRun(t, e, 2*time.Hour, e.Venv+"/bin/python", script, fast, prefix, strconv.Itoa(count), license)
		var r struct {
			Seconds float64
			IDs     []string
		}
		if err := json.Unmarshal([]byte(lastLine(out)), &r); err != nil || len(r.IDs) != count {
			t.Fatalf("create %d datasets: %v\n%s", count, err, out)
		}
		mustRun(t, e, time.Minute, "curl", "-sS", "--fail", e.Solr+"/update?commit=true")
		t.Logf("made %d datasets in %.0f s (one CKAN process)", count, r.Seconds)
		return r.IDs
	}
	count := func() (db, solr int) {
		db, _ = strconv.Atoi(s.sql(`SELECT count(*) FROM package`)[0])
		return db, solrCount(t, e, `+site_id:"`+s.siteID+`"`)
	}

	create("bench", n)
	if db, solr := count(); db != n || solr != n {
		t.Fatalf("%d datasets in the database, %d in Solr, want %d", db, solr, n)
	}
	out, code, took := s.reset(bin, site, "--datasets", "-y")
	if code != 0 {
		t.Fatalf("dcor reset --datasets -y: exit %d\n%s", code, out)
	}
	if db, solr := count(); db != 0 || solr != 0 {
		t.Fatalf("after dcor reset --datasets: %d datasets in the database, %d in Solr", db, solr)
	}

	ids := create("purge", per)
	start := time.Now()
	for _, id := range ids {
		mustRun(t, e, 5*time.Minute, e.Venv+"/bin/ckan", "-c", s.ini, "dataset", "purge", id)
	}
	perTook := time.Since(start)
	if db, solr := count(); db != 0 || solr != 0 {
		t.Fatalf("after %d ckan dataset purge: %d datasets in the database, %d in Solr", per, db, solr)
	}
	each := perTook / time.Duration(per)
	extrapolated := each * time.Duration(n)
	fmt.Printf("dcor reset --datasets -y, %d datasets (backup included): %.1f s\n", n, took.Seconds())
	fmt.Printf("ckan dataset purge ID, %d of them: %.1f s, %.2f s each; for %d: %.0f s (extrapolated)\n",
		per, perTook.Seconds(), each.Seconds(), n, extrapolated.Seconds())
	fmt.Printf("ratio: %.0fx\n", extrapolated.Seconds()/took.Seconds())
	if os.Getenv("DCOR_BENCH_STRICT") != "" && took > 60*time.Second {
		t.Errorf("dcor reset --datasets took %v, goal under 60 s", took)
	}
}
