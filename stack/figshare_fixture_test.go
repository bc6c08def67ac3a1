package stack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/figshare"
	"github.com/DCOR-dev/dcor/internal/figsharetest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// figshareFixture is what the import-figshare tests on the stack share:
// two articles (three .rtdc files) served by a fake figshare inside the
// stack's namespace, the names of their datasets, and the arguments
// that import both.
type figshareFixture struct {
	// dir holds the files, readable inside the namespace; it is removed
	// at the test's cleanup.
	dir   string
	arts  []*figsharetest.Article
	names []string // the datasets' names, in the order of arts
	// url is the fake figshare's; args import both articles from it.
	url  string
	args []string
}

// newFigshareFixture writes the files (rtdcFile, ids firstID to
// firstID+2) into a new directory named after prefix and starts the fake
// figshare inside the namespace; it is stopped at the test's cleanup.
func newFigshareFixture(t *testing.T, e *Env, prefix string, firstID int) *figshareFixture {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	f1 := rtdcFile(t, e, dir, firstID, "calibration_beads.rtdc", 60000)
	f2 := rtdcFile(t, e, dir, firstID+1, "blood.rtdc", 30000)
	f3 := rtdcFile(t, e, dir, firstID+2, "hl60.rtdc", 40000)
	arts := []*figsharetest.Article{
		{ID: 7771184, Version: 2, Title: "Reference data: calibration beads", License: "CC0",
			Authors: []string{"Paul Müller"}, References: []string{"10.1038/nmeth.3281"},
			Description: "<p>RT-DC measurements of beads.</p>", Files: []*figsharetest.File{f1, f2}},
		{ID: 11662773, Version: 2, Title: "Reference data: HL60", License: "CC0",
			Authors: []string{"Maik Herbig"}, Description: "<p>HL60 cells</p>", Files: []*figsharetest.File{f3}},
	}
	spec, _ := json.Marshal(arts)
	specPath := filepath.Join(dir, "articles.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(dir, "fakefigshare")
	if out, err := exec.Command(testtool.Need(t, "go"), "build", "-o", fake, "github.com/DCOR-dev/dcor/internal/figsharetest/fakefigshare").CombinedOutput(); err != nil {
		t.Fatalf("go build fakefigshare: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	argv := e.Command(fake, "-spec", specPath)
	srv := exec.CommandContext(ctx, argv[0], argv[1:]...)
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); srv.Wait() })
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("fakefigshare: %v", err)
	}
	url = strings.TrimSpace(url)
	return &figshareFixture{dir: dir, arts: arts, url: url,
		names: []string{"figshare-7771184-v2", "figshare-11662773-v2"},
		args:  []string{"import-figshare", "--figshare-url", url + "/v2", "--doi", arts[0].DOI(), "--doi", arts[1].DOI()}}
}

// purge removes the dataset name, if there is one, and its depot
// directory.
func (fx *figshareFixture) purge(t *testing.T, e *Env, token, name string) {
	t.Helper()
	if code, _ := api(t, e, token, "package_show", map[string]any{"id": name}); code == 200 {
		api(t, e, token, "dataset_purge", map[string]any{"id": name})
	}
	run(t, e, time.Minute, "rm", "-rf", "/data/depots/figshare/"+name)
}

// importFirst runs the import (dcor bin) and logs how it went; it
// returns dcor's exit code.
func (fx *figshareFixture) importFirst(t *testing.T, e *Env, bin string) int {
	t.Helper()
	start := time.Now()
	out, code := run(t, e, 5*time.Minute, bin, fx.args...)
	t.Logf("first run %v, exit %d:\n%s", time.Since(start).Round(time.Millisecond), code, out)
	return code
}

// importAgain runs the import a second time: it must succeed, find both
// articles in place within 2 s, and --check must then find nothing to
// do.
func (fx *figshareFixture) importAgain(t *testing.T, e *Env, bin string) {
	t.Helper()
	start := time.Now()
	out, code := run(t, e, 5*time.Minute, bin, fx.args...)
	second := time.Since(start)
	t.Logf("second run %v, exit %d:\n%s", second.Round(time.Millisecond), code, out)
	if code != 0 {
		t.Fatalf("second run: exit %d", code)
	}
	if strings.Count(out, ": in place") != 2 {
		t.Errorf("second run did not find both articles in place:\n%s", out)
	}
	if second > 2*time.Second {
		t.Errorf("second run took %v, goal under 2 s", second)
	}
	if out, code := run(t, e, 5*time.Minute, bin, append(fx.args, "--check")...); code != 0 {
		t.Errorf("--check after the import: exit %d\n%s", code, out)
	}
}

// eachResource reads the dataset of each article through nginx,
// anonymously (so it must be public and active), checks its id, state,
// license, DOI and circle and the number of its resources, and calls
// check with each resource (rd) and its file: name is the dataset's,
// id its id, rid the resource id DCOR derives.
func (fx *figshareFixture) eachResource(t *testing.T, e *Env, check func(name, id, rid string, f *figsharetest.File, rd map[string]any)) {
	t.Helper()
	for i, a := range fx.arts {
		name := fx.names[i]
		code, doc := api(t, e, "", "package_show", map[string]any{"id": name})
		if code != 200 {
			t.Fatalf("package_show %s (anonymous, so public and active): HTTP %d %v", name, code, doc)
		}
		pkg := result(doc)
		wantID := figshare.MakeID(a.DOI(), name)
		if pkg["id"] != wantID || pkg["state"] != "active" || pkg["license_id"] != "CC0-1.0" ||
			pkg["doi"] != a.DOI() || fmt.Sprint(pkg["organization"].(map[string]any)["name"]) != figshare.Organization {
			t.Errorf("dataset %s: id %v state %v license %v doi %v", name, pkg["id"], pkg["state"], pkg["license_id"], pkg["doi"])
		}
		res := pkg["resources"].([]any)
		if len(res) != len(a.Files) {
			t.Fatalf("%s has %d resources, want %d", name, len(res), len(a.Files))
		}
		for j, r := range res {
			f := a.Files[j]
			check(name, wantID, figshare.MakeID(wantID, f.MD5), f, r.(map[string]any))
		}
	}
}
