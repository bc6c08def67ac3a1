package inspect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	rt "github.com/DCOR-dev/dcor/internal/resourcetest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// guardSite builds a resourcetest host in database name of cluster c and
// returns its root and the database's URL.
func guardSite(t *testing.T, c *pgtest.Cluster, name string) (root, url string) {
	t.Helper()
	url = c.CreateDatabase(t, name, "ckan_default", "pw")
	c.Exec(t, url, pgtest.CKANSchemaFor(t))
	root = t.TempDir()
	if err := rt.Build(root, url, testtool.SharedTestdata(t, "calibration_beads_47.rtdc")); err != nil {
		t.Fatal(err)
	}
	return root, url
}

// pointAt makes the host's ckan.ini name database url.
func pointAt(t *testing.T, root, url string) {
	t.Helper()
	p := filepath.Join(root, rt.CKANIni)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^sqlalchemy\.url = .*$`)
	data = re.ReplaceAll(data, []byte("sqlalchemy.url = "+strings.ReplaceAll(url, "%", "%%")))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// addOrphans writes n orphaned resource files, dated an hour back.
func addOrphans(t *testing.T, root string, n int) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for i := range n {
		p := filepath.Join(root, rt.Path(fmt.Sprintf("40000000-0000-4000-8000-%012d", i)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("orphan"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// runOrphans runs `inspect --only orphans -y` with --max-delete maxDelete.
func runOrphans(t *testing.T, root string, maxDelete int) *Report {
	t.Helper()
	env := resourceEnv(root)
	env.MaxDelete = maxDelete
	rep, err := Run(context.Background(), env, Options{Mode: FixAll, Only: []string{"orphans"}})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// refused checks that rep holds the guard's failure, not fixable, whose
// message contains every part of want, and that no file went.
func refused(t *testing.T, rep *Report, root string, want ...string) {
	t.Helper()
	var f *Finding
	for _, x := range rep.Findings {
		if x.Severity == Failure && strings.HasPrefix(x.Message, "refused to remove ") {
			f = x
		}
		if x.Fixed {
			t.Errorf("fixed despite the guard: %s", x.Message)
		}
	}
	if f == nil {
		t.Fatalf("no refusal in %+v", rep.Findings)
	}
	t.Logf("refusal: %s", f.Message)
	if f.Fixable || !rep.Failed() {
		t.Errorf("refusal fixable=%v, run failed=%v", f.Fixable, rep.Failed())
	}
	for _, w := range want {
		if !strings.Contains(f.Message, w) {
			t.Errorf("message %q lacks %q", f.Message, w)
		}
	}
	if len(f.Details) == 0 || len(f.Totals) == 0 {
		t.Errorf("refusal does not list what would go: %+v", f)
	}
	for _, p := range append(append([]string{}, orphanPaths...), keptPaths...) {
		if !exists(root, p) {
			t.Errorf("%s removed despite the guard", p)
		}
	}
}

// TestOrphanGuard: the clean-up refuses, removing nothing, when ckan.ini
// names an empty database (issue: inspect removed every file), another
// site's database, or when it would remove more than 5 % (and more than
// 100) of the files; --max-delete N allows up to N files.
func TestOrphanGuard(t *testing.T) {
	c := pgtest.Start(t)

	t.Run("empty database", func(t *testing.T) {
		root, _ := guardSite(t, c, "site_empty")
		empty := c.CreateDatabase(t, "ckan_test", "ckan_default", "pw")
		c.Exec(t, empty, pgtest.CKANSchemaFor(t))
		pointAt(t, root, empty)
		refused(t, runOrphans(t, root, 0), root, "the database has no live resource",
			"nothing was removed, and --max-delete N does not lift this guard")
		// --max-delete does not lift it.
		refused(t, runOrphans(t, root, 1000000), root, "the database has no live resource")
	})

	t.Run("another site's database", func(t *testing.T) {
		root, _ := guardSite(t, c, "site_a")
		other := c.CreateDatabase(t, "site_b", "ckan_default", "pw")
		c.Exec(t, other, pgtest.CKANSchemaFor(t))
		// Site b has 30 live resources; 10 of them share ids with
		// resources of this tree (as after a copy of the database).
		c.Exec(t, other, `INSERT INTO package (id, name, state) VALUES ('b0000000-0000-4000-8000-000000000001', 'b', 'active')`)
		shared := []string{rt.Live, rt.LiveLinked, rt.LiveDraft, rt.LiveDeletedDS, rt.LiveBroken,
			rt.Truncated, rt.NoEventCount, rt.NoAncillary, rt.BadChecksum, rt.Beads}
		for i := range 30 {
			id := fmt.Sprintf("b0000000-0000-4000-8000-%012d", i)
			if i < len(shared) {
				id = shared[i]
			}
			c.Exec(t, other, `INSERT INTO resource (id, package_id, url, state, url_type)
				VALUES ($1, 'b0000000-0000-4000-8000-000000000001', 'x.rtdc', 'active', 'upload')`, id)
		}
		pointAt(t, root, other)
		refused(t, runOrphans(t, root, 0), root, "only 10 of the 30 live uploaded resources have their file in the tree",
			"different sites", "--max-delete N does not lift this guard")
		refused(t, runOrphans(t, root, 1000000), root, "only 10 of the 30 live uploaded resources")
	})

	t.Run("links are not uploads", func(t *testing.T) {
		// 200 live resources that link elsewhere (no file in the tree)
		// beside this tree's uploads: the tree is this site's; the one
		// orphan goes.
		root, url := guardSite(t, c, "site_links")
		for i := range 200 {
			c.Exec(t, url, `INSERT INTO resource (id, package_id, url, state)
				VALUES ($1, $2, 'https://example.org/data.csv', 'active')`, fmt.Sprintf("c0000000-0000-4000-8000-%012d", i), rt.PkgActive)
		}
		rep := runOrphans(t, root, 0)
		if rep.Failed() {
			t.Fatalf("refused a site with link resources: %+v", rep.Findings)
		}
		if exists(root, rt.Path(rt.Orphan)) {
			t.Error("orphan kept")
		}
	})

	t.Run("more than 5 %", func(t *testing.T) {
		root, _ := guardSite(t, c, "site_many")
		addOrphans(t, root, 200)
		rep := runOrphans(t, root, 0)
		refused(t, rep, root, "refused to remove 218 of ", "more than 5 % and more than 100 files",
			"allow it with --max-delete 218")
		for _, f := range rep.Findings {
			if f.Severity == Failure && len(f.Totals) > 0 && f.Totals[0].Count != 215 {
				t.Errorf("totals %+v", f.Totals)
			}
		}
		// A limit below the count refuses too, naming the count needed.
		refused(t, runOrphans(t, root, 217), root, "more than --max-delete 217 allows", "--max-delete 218")
		// The limit that the message names removes them.
		rep = runOrphans(t, root, 218)
		if rep.Failed() {
			t.Fatalf("--max-delete 218: %+v", rep.Findings)
		}
		for _, p := range orphanPaths {
			if exists(root, p) {
				t.Errorf("%s kept with --max-delete 218", p)
			}
		}
		for _, p := range keptPaths {
			if !exists(root, p) {
				t.Errorf("%s removed", p)
			}
		}
		if exists(root, rt.Path("40000000-0000-4000-8000-000000000000")) {
			t.Error("an added orphan is left")
		}
	})

	t.Run("at most 100 files", func(t *testing.T) {
		// 100 of about 130 files: more than 5 %, but not more than 100.
		root, _ := guardSite(t, c, "site_few")
		addOrphans(t, root, 82)
		rep := runOrphans(t, root, 0)
		if rep.Failed() {
			t.Fatalf("100 files refused: %+v", rep.Findings)
		}
		if exists(root, rt.Path(rt.Orphan)) {
			t.Error("orphan kept")
		}
	})
}
