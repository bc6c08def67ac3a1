package inspect

import (
	"context"
	"github.com/DCOR-dev/dcor/change"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/pgtest"
	rt "github.com/DCOR-dev/dcor/internal/resourcetest"
	"github.com/DCOR-dev/dcor/internal/testtool"
	"github.com/DCOR-dev/dcor/site"
	"github.com/DCOR-dev/dcor/storage"
)

// resourceHost builds the resourcetest host on a real PostgreSQL.
func resourceHost(t *testing.T) (*Env, string) {
	t.Helper()
	c := pgtest.Start(t)
	url := c.CreateDatabase(t, "ckan_default", "ckan_default", "pw%with:odd@chars")
	c.Exec(t, url, pgtest.CKANSchemaFor(t))
	beads := testtool.SharedTestdata(t, "calibration_beads_47.rtdc")
	root := t.TempDir()
	if err := rt.Build(root, url, beads); err != nil {
		t.Fatal(err)
	}
	return resourceEnv(root), root
}

func resourceEnv(root string) *Env {
	return &Env{Host: host.New(root), Site: &site.Site{}, CKANIni: rt.CKANIni,
		Venv: host.DefaultVenv, Now: time.Now()}
}

func findingsOf(rep *Report, sev Severity) []*Finding {
	var out []*Finding
	for _, f := range rep.Findings {
		if f.Severity == sev {
			out = append(out, f)
		}
	}
	return out
}

// orphanPaths are the host paths the orphans check must remove.
var orphanPaths = func() []string {
	var out []string
	for _, id := range []string{rt.Deleted, rt.Orphan, rt.OrphanLinked} {
		out = append(out, rt.Path(id), rt.Path(id)+storage.CondensedSuffix, rt.Path(id)+storage.PreviewSuffix)
	}
	for _, id := range []string{rt.OrphanFig, rt.OrphanDots, rt.OrphanAbs, rt.OrphanLoop, rt.OrphanBroken} {
		out = append(out, rt.Path(id))
	}
	return append(out, rt.Path(rt.OrphanLoop)+storage.CondensedSuffix, rt.Path(rt.Live)+".rtdc~",
		rt.DepotPath(rt.OrphanLinked), rt.DepotPath(rt.DepotOrphan))
}()

// keptPaths must survive every clean-up.
var keptPaths = func() []string {
	out := append([]string{rt.Path(rt.OrphanNew), rt.DepotPath(rt.LiveLinked)}, rt.Outside...)
	for _, id := range []string{rt.Live, rt.LiveLinked, rt.LiveDraft, rt.LiveDeletedDS, rt.NoAncillary, rt.Beads} {
		out = append(out, rt.Path(id))
	}
	return out
}()

func exists(root, p string) bool {
	_, err := os.Lstat(filepath.Join(root, p))
	return err == nil
}

func TestOrphansCheckFixAndQuarantine(t *testing.T) {
	env, root := resourceHost(t)
	rep, err := Run(context.Background(), env, Options{Mode: CheckOnly, Only: []string{"orphans"}})
	if err != nil {
		t.Fatal(err)
	}
	drift := findingsOf(rep, Drift)
	if len(drift) != 1 || !drift[0].Fixable {
		t.Fatalf("want one fixable finding for the whole set, got %+v", rep.Findings)
	}
	f := drift[0]
	want := []Total{{"orphan", 15, 0}, {"users-depot", 2, 0}, {"garbage", 1, 0}}
	if len(f.Totals) != 3 {
		t.Fatalf("totals %+v", f.Totals)
	}
	for i, tot := range f.Totals {
		if tot.Kind != want[i].Kind || tot.Count != want[i].Count || tot.Bytes <= 0 {
			t.Errorf("total %d = %+v, want %s × %d", i, tot, want[i].Kind, want[i].Count)
		}
	}
	if !strings.HasPrefix(f.Message, "15 orphaned files (") || len(f.Details) != 18 {
		t.Errorf("summary %q with %d details", f.Message, len(f.Details))
	}
	warnings := map[string]bool{}
	for _, w := range findingsOf(rep, Warning) {
		warnings[w.Message] = true
	}
	for _, m := range []string{
		"broken links of live resources (the resources check reports them): 1",
		"files changed since the database was read, left alone: 1",
	} {
		if !warnings[m] {
			t.Errorf("no warning %q in %v", m, warnings)
		}
	}
	for _, p := range orphanPaths {
		if !exists(root, p) {
			t.Fatalf("--check removed %s", p)
		}
	}

	// -y --quarantine moves everything, keeping host paths.
	q := filepath.Join(t.TempDir(), "quarantine")
	env = resourceEnv(root)
	env.Quarantine = q
	rep, err = Run(context.Background(), env, Options{Mode: FixAll, Only: []string{"orphans"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		t.Fatalf("fix failed: %+v", findingsOf(rep, Drift)[0])
	}
	for _, p := range orphanPaths {
		if exists(root, p) {
			t.Errorf("%s still in the tree", p)
		}
		if _, err := os.Lstat(filepath.Join(q, p)); err != nil {
			t.Errorf("%s not in the quarantine", p)
		}
	}
	for _, p := range keptPaths {
		if !exists(root, p) {
			t.Errorf("%s was removed", p)
		}
	}
	if exists(root, rt.Resources+"/300") {
		t.Error("the emptied directories of an orphan were kept")
	}
	if !exists(root, rt.Resources) || !exists(root, rt.UsersDepot) {
		t.Error("a tree root was removed")
	}
	again, _ := Run(context.Background(), resourceEnv(root), Options{Mode: CheckOnly, Only: []string{"orphans"}})
	if len(findingsOf(again, Drift)) != 0 {
		t.Errorf("orphans left after the fix: %+v", findingsOf(again, Drift)[0])
	}

	// Undo: the quarantine goes back with cp -a, and the check sees the
	// same orphans again.
	cp := testtool.Need(t, "cp")
	undo := findingsOf(rep, Drift)[0].Details
	if len(undo) == 0 || !strings.HasPrefix(undo[0], "undo: cp -a ") {
		t.Fatalf("no undo command in %q", undo)
	}
	args := strings.Fields(strings.TrimPrefix(undo[0], "undo: cp "))
	if b, err := exec.Command(cp, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", undo[0], err, b)
	}
	back, _ := Run(context.Background(), resourceEnv(root), Options{Mode: CheckOnly, Only: []string{"orphans"}})
	if d := findingsOf(back, Drift); len(d) != 1 || d[0].Message != f.Message {
		t.Fatalf("after undo: %+v, want %q", back.Findings, f.Message)
	}

	// -y deletes.
	rep, _ = Run(context.Background(), resourceEnv(root), Options{Mode: FixAll, Only: []string{"orphans"}})
	if rep.Failed() {
		t.Fatalf("fix failed: %+v", rep.Findings)
	}
	for _, p := range orphanPaths {
		if exists(root, p) {
			t.Errorf("%s not removed", p)
		}
	}
	for _, p := range keptPaths {
		if !exists(root, p) {
			t.Errorf("%s was removed", p)
		}
	}
}

func TestOrphansAskOnce(t *testing.T) {
	env, root := resourceHost(t)
	asked := 0
	rep, err := Run(context.Background(), env, Options{Mode: Ask, Only: []string{"orphans"},
		Decider: change.NewDecider(func(context.Context, string, func() string) (change.Answer, error) {
			asked++
			return change.No, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	if asked != 1 {
		t.Errorf("asked %d times, want once for the whole set", asked)
	}
	if !rep.Failed() {
		t.Error("declined orphans do not fail the run")
	}
	for _, p := range orphanPaths {
		if !exists(root, p) {
			t.Fatalf("declined, yet %s was removed", p)
		}
	}
}

func TestOrphansWithoutDatabaseDeleteNothing(t *testing.T) {
	root := t.TempDir()
	// A port nothing listens on.
	if err := rt.Build(root, "postgresql://ckan:pw@127.0.0.1:1/ckan", ""); err == nil {
		t.Fatal("Build filled a database that does not exist")
	}
	// Build stops at the database; the tree is complete.
	rep, err := Run(context.Background(), resourceEnv(root), Options{Mode: FixAll, Only: []string{"orphans", "resources"}})
	if err != nil {
		t.Fatal(err)
	}
	fails := findingsOf(rep, Failure)
	if len(fails) != 2 || !rep.Failed() {
		t.Fatalf("want a failure from each check, got %+v", rep.Findings)
	}
	for _, f := range fails {
		if !strings.Contains(f.Message, "cannot read the live resources") || strings.Contains(f.Message, ":pw@") {
			t.Errorf("message %q", f.Message)
		}
	}
	if !strings.HasSuffix(fails[1].Message, "no file was removed") {
		t.Errorf("orphans message %q", fails[1].Message)
	}
	for _, p := range orphanPaths[:3] {
		if !exists(root, p) {
			t.Errorf("%s removed without a database", p)
		}
	}
}

func TestResourcesCheck(t *testing.T) {
	env, root := resourceHost(t)
	env.VerifyChecksums = true
	rep, err := Run(context.Background(), env, Options{Mode: FixAll, Only: []string{"resources"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, f := range rep.Findings {
		if f.Fixable || f.Fixed {
			t.Errorf("resources finding is fixable: %+v", f)
		}
		got[f.Message] = f.Details
	}
	ckan := host.DefaultVenv + "/bin/ckan -c " + rt.CKANIni
	want := map[string][]string{
		"resources without a file: 1": {rt.LiveBroken + ": " + rt.Path(rt.LiveBroken) + ": broken link (" +
			rt.UsersDepot + "/alice-circle/gone does not exist)"},
		".rtdc files that do not open with HDF5 or hold no events: 2": {
			rt.Truncated + ": " + rt.Path(rt.Truncated) + ": cannot open as HDF5 (truncated or damaged)",
			rt.NoEventCount + ": " + rt.Path(rt.NoEventCount) + `: no attribute "experiment:event count"`},
		"RT-DC resources without _condensed.rtdc: 1; regenerate with `" + ckan + " run-jobs-dc-serve`": {
			rt.NoAncillary + ": " + rt.Path(rt.NoAncillary) + "_condensed.rtdc: missing"},
		"RT-DC resources without _preview.jpg: 1; regenerate with `" + ckan + " run-jobs-dc-view`": {
			rt.NoAncillary + ": " + rt.Path(rt.NoAncillary) + "_preview.jpg: missing"},
		"files whose sha256 differs from the database: 1": nil,
	}
	for m, details := range want {
		d, ok := got[m]
		if !ok {
			t.Errorf("no finding %q", m)
			continue
		}
		if details != nil && !slices.Equal(d, details) {
			t.Errorf("%s:\n got %q\nwant %q", m, d, details)
		}
		delete(got, m)
	}
	for m := range got {
		t.Errorf("unexpected finding %q: %q", m, got[m])
	}
	for _, f := range rep.Findings {
		for _, d := range f.Details {
			if strings.Contains(d, rt.Beads) || strings.Contains(d, rt.Live+":") || strings.Contains(d, rt.LiveLinked) {
				t.Errorf("a good resource is reported: %s", d)
			}
		}
	}
	if !exists(root, rt.Path(rt.Truncated)) {
		t.Error("the resources check removed a file")
	}
	// Without --verify-checksums no checksum is read.
	rep, _ = Run(context.Background(), resourceEnv(root), Options{Mode: CheckOnly, Only: []string{"resources"}})
	for _, f := range rep.Findings {
		if strings.Contains(f.Message, "sha256") {
			t.Errorf("checksums compared without VerifyChecksums: %s", f.Message)
		}
	}
}
