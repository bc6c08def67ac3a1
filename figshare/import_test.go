package figshare

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/figsharetest"
)

var (
	filesOnce sync.Once
	filesDir  string
	filesErr  error
	rtdcFiles []*figsharetest.File
)

// testFiles generates the .rtdc files once per test binary.
func testFiles(t *testing.T) []*figsharetest.File {
	t.Helper()
	filesOnce.Do(func() {
		filesDir, filesErr = os.MkdirTemp("", "figshare-files-")
		if filesErr != nil {
			return
		}
		for i, ev := range []int{20000, 12000, 30000, 5000} {
			f, err := figsharetest.NewRTDC(filesDir, 100+i, fmt.Sprintf("measurement_%d.rtdc", i+1), ev)
			if err != nil {
				filesErr = err
				return
			}
			rtdcFiles = append(rtdcFiles, f)
		}
	})
	if filesErr != nil {
		t.Fatal(filesErr)
	}
	out := []*figsharetest.File{}
	for _, f := range rtdcFiles {
		cp := *f
		out = append(out, &cp)
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if filesDir != "" {
		os.RemoveAll(filesDir)
	}
	os.Exit(code)
}

// world is a fake figshare, a fake CKAN and a host directory.
type world struct {
	fig      *figsharetest.Server
	ckan     *figsharetest.CKAN
	root     string
	articles []*figsharetest.Article
	env      *Env
	chowned  map[string]bool
}

const token = "test-token-of-the-site-user"

func newWorld(t *testing.T) *world {
	t.Helper()
	files := testFiles(t)
	arts := []*figsharetest.Article{
		{ID: 7771184, Version: 2, Title: "Reference data: calibration beads", License: "CC0",
			Description: "<p>RT-DC measurements of <b>beads</b>.</p><p>See <a href=\"https://dc.readthedocs.io\">docs</a>&amp;more.</p>",
			Authors:     []string{"Paul Müller", "Maik Herbig"}, References: []string{"10.1038/nmeth.3281", "https://example.org/x"},
			Files: []*figsharetest.File{files[0], files[1], {ID: 199, Name: "elsewhere.zip", LinkOnly: true, Size: 10}}},
		{ID: 11302595, Version: 1, Title: "Not ours", License: "CC BY 4.0", Authors: []string{"Someone"},
			Files: []*figsharetest.File{files[3]}},
		{ID: 11662773, Version: 2, Title: "Reference data: blood", License: "CC0", Authors: []string{"A B"},
			Files: []*figsharetest.File{files[2]}},
	}
	w := &world{fig: figsharetest.New(arts...), root: t.TempDir(), articles: arts, chowned: map[string]bool{}}
	fsrv := httptest.NewServer(w.fig)
	t.Cleanup(fsrv.Close)
	w.fig.URL = fsrv.URL
	w.ckan = figsharetest.NewCKAN(token, filepath.Join(w.root, "data/ckan-storage"))
	csrv := httptest.NewServer(w.ckan)
	t.Cleanup(csrv.Close)
	var mu sync.Mutex
	w.env = &Env{
		Figshare: &Client{API: fsrv.URL + "/v2", Backoff: time.Millisecond},
		CKAN:     &CKAN{URL: csrv.URL, Token: token},
		Host:     host.New("/"),
		Depots:   filepath.Join(w.root, "data/depots"),
		Storage:  filepath.Join(w.root, "data/ckan-storage"),
		Chown: func(local string) error {
			mu.Lock()
			defer mu.Unlock()
			w.chowned[local] = true
			return nil
		},
	}
	return w
}

func (w *world) dois() []string {
	var d []string
	for _, a := range w.articles {
		d = append(d, a.DOI())
	}
	return d
}

// run plans and applies an import of every article.
func (w *world) run(t *testing.T, ctx context.Context) (*Report, *change.Result) {
	t.Helper()
	p := change.New(w.env.Host, time.Now())
	rep, err := Plan(ctx, w.env, w.dois(), p)
	if err != nil {
		return nil, &change.Result{Interrupted: ctx.Err() != nil}
	}
	res := p.Apply(ctx, change.ApplyOptions{})
	rep.Finish()
	w.ckan.Wait()
	return rep, res
}

// state is the CKAN state and the host tree (relative paths; files by
// md5, links by target).
func (w *world) state(t *testing.T) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(w.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(w.root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			rel2, _ := filepath.Rel(w.root, target)
			lines = append(lines, rel+" -> "+rel2)
		case d.Type().IsRegular():
			data, _ := os.ReadFile(p)
			sum := md5.Sum(data)
			lines = append(lines, rel+" "+hex.EncodeToString(sum[:]))
		}
		return nil
	})
	sort.Strings(lines)
	return strings.ReplaceAll(w.ckan.Snapshot(), w.root, "ROOT") + "\n" + strings.Join(lines, "\n")
}

func TestMakeID(t *testing.T) {
	for name, want := range map[string]string{
		"figshare-7771184-v2":  "89bf2177-ffeb-9893-83cc-b619fc2f6663",
		"figshare-11302595-v1": "e61bb335-3523-e539-78d1-0720ad5a99f1",
		"figshare-11662773-v2": "f0b5f678-e4f0-c623-d2e4-c0f28d4c8a7a",
		"figshare-12721436-v1": "c7a98a04-4e0a-98a7-fb0b-eca379d1f219",
	} {
		var a, v int
		fmt.Sscanf(name, "figshare-%d-v%d", &a, &v)
		doi := fmt.Sprintf("10.6084/m9.figshare.%d.v%d", a, v)
		if got := MakeID(doi, name); got != want {
			t.Errorf("MakeID(%s, %s) = %s, want %s", doi, name, got, want)
		}
		pa, pv, err := ParseDOI(doi)
		if err != nil || pa != a || pv != v || DatasetName(pa, pv) != name {
			t.Errorf("ParseDOI(%s) = %d %d %v", doi, pa, pv, err)
		}
	}
	if _, _, err := ParseDOI("10.1000/not-figshare"); err == nil {
		t.Error("ParseDOI accepted a DOI without article and version")
	}
	if f := Format("x.rtdc"); f != "RT-DC" {
		t.Errorf("Format(.rtdc) = %q", f)
	}
}

func TestMap(t *testing.T) {
	a := &Article{ID: 7771184, Version: 2, Title: "T", DOI: "10.6084/m9.figshare.7771184.v2",
		Authors:    []Author{{"Paul Müller"}, {"Maik Herbig"}},
		References: []string{"10.1038/nmeth.3281", "https://example.org/x"},
		License:    License{Name: "CC0"},
		Description: "<p>First <i>para</i>graph.<br>Second line &amp; more.</p>" +
			"<p>A <a href=\"https://dc.readthedocs.io\">link</a>.</p><ul><li>one</li><li>two</li></ul>"}
	ds, err := Map(a.DOI, a)
	if err != nil {
		t.Fatal(err)
	}
	want := Dataset{ID: "89bf2177-ffeb-9893-83cc-b619fc2f6663", Name: "figshare-7771184-v2", Title: "T",
		Authors: "Paul Müller, Maik Herbig", DOI: a.DOI, References: "doi:10.1038/nmeth.3281, https://example.org/x",
		LicenseID: "CC0-1.0", OwnerOrg: "figshare-import", State: "draft",
		Notes: "First paragraph.\nSecond line & more.\n\nA [link](https://dc.readthedocs.io).\n\n  * one\n  * two"}
	if ds != want {
		t.Errorf("Map =\n%+v\nwant\n%+v", ds, want)
	}
	a.License.Name = "CC BY 4.0"
	if _, err := Map(a.DOI, a); !errors.Is(err, ErrLicense) {
		t.Errorf("Map of a CC BY article: %v, want ErrLicense", err)
	}
}

// TestImport imports two CC0 articles and skips a CC BY one; a second
// run finds everything in place and calls no writing action.
func TestImport(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rep, res := w.run(t, ctx)
	if res.Failed() {
		t.Fatalf("import failed: %+v", res.Changes)
	}
	states := map[string]string{}
	for _, a := range rep.Articles {
		states[a.DOI] = a.State
	}
	if states[w.articles[0].DOI()] != "imported" || states[w.articles[2].DOI()] != "imported" ||
		states[w.articles[1].DOI()] != "skipped" {
		t.Errorf("article states %v", states)
	}
	if !strings.Contains(rep.Articles[1].Error, "CC BY 4.0") {
		t.Errorf("skip message %q does not name the license", rep.Articles[1].Error)
	}
	pkg, err := w.env.CKAN.PackageShow(ctx, "figshare-7771184-v2")
	if err != nil {
		t.Fatal(err)
	}
	if pkg.ID != "89bf2177-ffeb-9893-83cc-b619fc2f6663" || pkg.State != "active" || len(pkg.Resources) != 2 {
		t.Fatalf("dataset %+v", pkg)
	}
	for i, r := range pkg.Resources {
		f := w.articles[0].Files[i]
		if r.ID != MakeID(pkg.ID, f.MD5) || r.Name != f.Name || r.Size != f.Size || r.Format != "RT-DC" {
			t.Errorf("resource %+v for %+v", r, f)
		}
		depot := filepath.Join(w.env.Depots, "figshare", pkg.Name, f.Name)
		h, err := HashFile(depot)
		if err != nil || h.MD5 != f.MD5 || h.SHA256 != r.SHA256 {
			t.Errorf("depot file %s: %+v %v; resource sha256 %s", depot, h, err, r.SHA256)
		}
		rpath := ResourcePath(w.env.Storage, r.ID)
		if target, err := os.Readlink(rpath); err != nil || target != depot {
			t.Errorf("%s: link to %q (%v), want %s", rpath, target, err, depot)
		}
		if !w.chowned[filepath.Dir(rpath)] || !w.chowned[filepath.Dir(filepath.Dir(rpath))] {
			t.Errorf("the two parent directories of %s were not given to www-data", rpath)
		}
	}
	if _, err := os.Stat(filepath.Join(w.env.Depots, "figshare", pkg.Name, "elsewhere.zip")); err == nil {
		t.Error("a link-only file was downloaded")
	}
	secondRunInPlace(t, w, func() string { return w.state(t) }, "resource_create")
}

// secondRunInPlace runs the import of w again: it must plan nothing,
// find every article in place (or skipped), and leave result and the
// number of calls of the CKAN action write as they were.
func secondRunInPlace(t *testing.T, w *world, result func() string, write string) {
	t.Helper()
	ctx := context.Background()
	before := result()
	writes := w.ckan.Calls(write)
	start := time.Now()
	p := change.New(w.env.Host, time.Now())
	rep, err := Plan(ctx, w.env, w.dois(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Errorf("second run plans %v", p.Changes(false))
	}
	p.Apply(ctx, change.ApplyOptions{})
	t.Logf("second run: %v", time.Since(start))
	for _, a := range rep.Articles {
		if a.State != "in place" && a.State != "skipped" {
			t.Errorf("second run: %s is %s", a.DOI, a.State)
		}
	}
	if result() != before || w.ckan.Calls(write) != writes {
		t.Error("the second run changed something")
	}
}

// TestDownloadFailures: a 5xx then success, a connection dropped in the
// middle of a file (resumed with Range, no byte fetched twice), an HTML
// page with status 200 (API and file), a wrong md5 (the file removed,
// the other article imported).
func TestDownloadFailures(t *testing.T) {
	t.Run("5xx then success, dropped connection resumed", func(t *testing.T) {
		w := newWorld(t)
		f0, f1 := w.articles[0].Files[0], w.articles[0].Files[1]
		w.fig.Fail("/v2/articles/7771184/versions/2", 2)
		w.fig.Fail(fmt.Sprintf("/files/%d", f0.ID), 3)
		w.fig.Drop(f1.ID, f1.Size/2)
		_, res := w.run(t, context.Background())
		if res.Failed() {
			t.Fatalf("import failed: %s", change.Summary(res.Changes))
		}
		if n := w.fig.Requests(fmt.Sprintf("/files/%d", f1.ID)); n != 2 {
			t.Errorf("the dropped file took %d requests, want 2 (one resumed)", n)
		}
		var want int64
		for _, a := range w.articles {
			if a.License == "CC0" {
				for _, f := range a.Files {
					if !f.LinkOnly {
						want += f.Size
					}
				}
			}
		}
		if got := w.fig.Served(); got != want {
			t.Errorf("served %d bytes for %d bytes of files: the resume fetched bytes twice", got, want)
		}
	})
	t.Run("HTML with status 200", func(t *testing.T) {
		w := newWorld(t)
		w.fig.HTML("/v2/articles/7771184/versions/2")
		w.fig.HTML(fmt.Sprintf("/files/%d", w.articles[2].Files[0].ID))
		rep, _ := w.run(t, context.Background())
		for _, i := range []int{0, 2} {
			if a := rep.Articles[i]; a.State != "failed" || !strings.Contains(a.Error, "HTML") {
				t.Errorf("%s: %s %q, want failed naming the HTML page", a.DOI, a.State, a.Error)
			}
		}
		w.fig.Clear()
		if _, res := w.run(t, context.Background()); res.Failed() {
			t.Fatalf("next run: %s", change.Summary(res.Changes))
		}
	})
	t.Run("wrong md5", func(t *testing.T) {
		w := newWorld(t)
		w.articles[0].Files[1].SuppliedMD5 = strings.Repeat("0", 32)
		rep, _ := w.run(t, context.Background())
		a := rep.Articles[0]
		if a.State != "failed" || !strings.Contains(a.Error, "md5") {
			t.Errorf("%s: %s %q, want failed naming the md5", a.DOI, a.State, a.Error)
		}
		name := w.articles[0].Files[1].Name
		for _, p := range []string{name, name + PartSuffix} {
			if _, err := os.Stat(filepath.Join(w.env.Depots, "figshare", "figshare-7771184-v2", p)); err == nil {
				t.Errorf("%s kept after the md5 mismatch", p)
			}
		}
		if rep.Articles[2].State != "imported" {
			t.Errorf("the other article: %s", rep.Articles[2].State)
		}
		pkg, _ := w.env.CKAN.PackageShow(context.Background(), "figshare-7771184-v2")
		if pkg == nil || pkg.State != "draft" || len(pkg.Resources) != 1 {
			t.Errorf("the failed article's dataset: %+v, want a draft with the one good file", pkg)
		}
	})
	t.Run("403 without a browser User-Agent", func(t *testing.T) {
		w := newWorld(t)
		resp, err := http.Get(w.fig.URL + "/v2/articles/7771184/versions/2")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("plain client: HTTP %d, want 403", resp.StatusCode)
		}
		if _, err := w.env.Figshare.Article(context.Background(), 7771184, 2); err != nil {
			t.Errorf("the client with a browser User-Agent: %v", err)
		}
	})
}

// TestMD5ChangedOnFigshare: a file whose md5 changed on figshare after
// the import is reported, and nothing is replaced.
func TestMD5ChangedOnFigshare(t *testing.T) {
	w := newWorld(t)
	if _, res := w.run(t, context.Background()); res.Failed() {
		t.Fatal(change.Summary(res.Changes))
	}
	before := w.state(t)
	w.articles[0].Files[0].SuppliedMD5 = strings.Repeat("a", 32)
	p := change.New(w.env.Host, time.Now())
	rep, err := Plan(context.Background(), w.env, w.dois(), p)
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Articles[0].Files[0]; f.Status != "md5 changed" || !strings.Contains(f.Note, "not replaced") {
		t.Errorf("file report %+v", f)
	}
	if !p.Empty() {
		t.Errorf("planned %v", p.Changes(false))
	}
	if w.state(t) != before {
		t.Error("state changed")
	}
}

// TestRepairUnlinked: a resource created by a run killed before its link
// (the placeholder in CKAN's storage) is linked by the next run.
func TestRepairUnlinked(t *testing.T) {
	w := newWorld(t)
	if _, res := w.run(t, context.Background()); res.Failed() {
		t.Fatal(change.Summary(res.Changes))
	}
	want := w.state(t)
	rid := MakeID("89bf2177-ffeb-9893-83cc-b619fc2f6663", w.articles[0].Files[1].MD5)
	rpath := ResourcePath(w.env.Storage, rid)
	os.Remove(rpath)
	os.WriteFile(rpath, DummyBytes, 0o644)
	p := change.New(w.env.Host, time.Now())
	if _, err := Plan(context.Background(), w.env, w.dois(), p); err != nil {
		t.Fatal(err)
	}
	ch := p.Changes(false)
	if len(ch) != 1 || !strings.HasPrefix(ch[0].Action, "repair: link") {
		t.Fatalf("planned %v, want one repair", ch)
	}
	if res := p.Apply(context.Background(), change.ApplyOptions{}); res.Failed() {
		t.Fatal(change.Summary(res.Changes))
	}
	if got := w.state(t); got != want {
		t.Errorf("after the repair:\n%s\nwant\n%s", got, want)
	}
	// a real file (not the placeholder) is never replaced
	os.Remove(rpath)
	os.WriteFile(rpath, []byte("somebody's data"), 0o644)
	p = change.New(w.env.Host, time.Now())
	Plan(context.Background(), w.env, w.dois(), p)
	res := p.Apply(context.Background(), change.ApplyOptions{})
	if !res.Failed() || !strings.Contains(change.Summary(res.Changes), "repair") {
		t.Errorf("a foreign file was replaced: %s", change.Summary(res.Changes))
	}
	if data, _ := os.ReadFile(rpath); string(data) != "somebody's data" {
		t.Error("the foreign file changed")
	}
}

// TestKilledAtRandomPoints interrupts the import at random points and
// runs it again (killAtRandomPoints): the second run completes and the
// result equals an uninterrupted import.
func TestKilledAtRandomPoints(t *testing.T) {
	killAtRandomPoints(t, 24, 12, []string{"organization_create", "package_create", "resource_create", "package_patch"},
		func(w *world) (func() string, func(string)) {
			return func() string { return w.state(t) }, nil
		})
}

// killAtRandomPoints interrupts the import of new worlds at random
// points (a random number of file bytes served, or right after a random
// CKAN write was committed and before its answer), then runs it again:
// the second run must complete and its result equal an uninterrupted
// import's. It makes trials trials (6 with -short), from a random
// generator seeded with seed and the time. writes are the CKAN actions
// that write. setup prepares each world (the reference one too) and
// returns how to read its result and, optionally, a check after each
// trial (given the trial's name).
func killAtRandomPoints(t *testing.T, trials int, seed uint64, writes []string,
	setup func(w *world) (result func() string, after func(trial string))) {
	t.Helper()
	ref := newWorld(t)
	refResult, _ := setup(ref)
	if _, res := ref.run(t, context.Background()); res.Failed() {
		t.Fatal(change.Summary(res.Changes))
	}
	want := refResult()
	total := ref.fig.Served()
	nwrites := 0
	for _, action := range writes {
		nwrites += ref.ckan.Calls(action)
	}
	if testing.Short() {
		trials = 6
	}
	rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
	for i := range trials {
		w := newWorld(t)
		result, after := setup(w)
		ctx, cancel := context.WithCancelCause(context.Background())
		var what string
		if i%2 == 0 {
			at := rng.Int64N(total)
			what = fmt.Sprintf("after %d of %d bytes", at, total)
			w.fig.OnBytes(func(n int64) {
				if n >= at {
					cancel(errors.New("killed"))
				}
			})
		} else {
			k := 1 + rng.IntN(nwrites)
			what = fmt.Sprintf("after CKAN write %d of %d", k, nwrites)
			var mu sync.Mutex
			n := 0
			w.ckan.OnCommit(func(string) {
				mu.Lock()
				defer mu.Unlock()
				if n++; n == k {
					cancel(errors.New("killed"))
				}
			})
		}
		w.run(t, ctx)
		cancel(nil)
		w.fig.OnBytes(nil)
		w.ckan.OnCommit(nil)
		trial := fmt.Sprintf("trial %d (%s)", i, what)
		rep, res := w.run(t, context.Background())
		if res.Failed() {
			t.Fatalf("%s: the next run failed: %s", trial, change.Summary(res.Changes))
		}
		for _, a := range rep.Articles {
			if a.State == "failed" || a.State == "not done" {
				t.Fatalf("%s: %s %s %s", trial, a.DOI, a.State, a.Error)
			}
		}
		if got := result(); got != want {
			t.Fatalf("%s: result differs from an uninterrupted import:\n%s\nwant\n%s", trial, got, want)
		}
		if after != nil {
			after(trial)
		}
		t.Logf("trial %d: killed %s; the next run completed, same result", i, what)
	}
}
