package storage

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/testtool"
	"golang.org/x/sys/unix"
)

const (
	resourcesDir = "/data/ckan-test/resources"
	usersDepot   = "/data/depots/users-test"
	figshare     = "/data/depots/figshare/figshare-7771184-v2"
)

// tree builds a host under a temp root.
type tree struct {
	t    *testing.T
	host host.Host
}

func newTree(t *testing.T) *tree {
	tr := &tree{t: t, host: host.New(t.TempDir())}
	tr.mkdir(resourcesDir)
	tr.mkdir(usersDepot)
	tr.mkdir(figshare)
	return tr
}

func (tr *tree) layout() Layout {
	return Layout{Host: tr.host, Resources: resourcesDir, UsersDepot: usersDepot}
}

func (tr *tree) mkdir(p string) {
	if err := os.MkdirAll(tr.host.Join(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
}

// file writes host path p and dates it an hour ago (before any scan).
func (tr *tree) file(p, content string) string {
	tr.mkdir(host.ParentDir(p))
	lp := tr.host.Join(p)
	if err := os.WriteFile(lp, []byte(content), 0o644); err != nil {
		tr.t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(lp, old, old); err != nil {
		tr.t.Fatal(err)
	}
	return p
}

func (tr *tree) link(p, target string) string {
	tr.mkdir(host.ParentDir(p))
	if err := os.Symlink(target, tr.host.Join(p)); err != nil {
		tr.t.Fatal(err)
	}
	return p
}

// resource writes a resource file and both ancillary files.
func (tr *tree) resource(id string) string {
	p := tr.layout().ResourcePath(id)
	tr.file(p, "rtdc "+id)
	tr.file(p+CondensedSuffix, "condensed")
	tr.file(p+PreviewSuffix, "jpeg")
	return p
}

// linkedResource puts the resource file in the users depot, named as
// DCOR names it, and links the resource path to it.
func (tr *tree) linkedResource(pkgName, pkgID, id, resName string) (link, target string) {
	target = usersDepot + "/alice-circle/" + pkgID[0:2] + "/" + pkgID[2:4] + "/" + pkgName + "_" + id + "_" + resName
	tr.file(target, "depot "+id)
	link = tr.layout().ResourcePath(id)
	tr.link(link, target)
	tr.file(link+CondensedSuffix, "condensed")
	tr.file(link+PreviewSuffix, "jpeg")
	return link, target
}

func (tr *tree) exists(p string) bool {
	_, err := os.Lstat(tr.host.Join(p))
	return err == nil
}

func (tr *tree) scan(known ...string) *Result {
	tr.t.Helper()
	set := NewIDSet(len(known))
	for _, id := range known {
		set.Add(id)
	}
	res, err := Scan(context.Background(), tr.layout(), set, time.Now(), Options{Workers: 3})
	if err != nil {
		tr.t.Fatal(err)
	}
	return res
}

func paths(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Path)
	}
	return out
}

func problems(r *Result, kind ProblemKind) []string {
	var out []string
	for _, p := range r.Problems {
		if p.Kind == kind {
			out = append(out, p.Path)
		}
	}
	return out
}

const (
	idA = "0a1b2c3d-0000-4000-8000-00000000000a" // live
	idB = "0a1b2c3d-0000-4000-8000-00000000000b" // live, linked
	idO = "0a1b2c3d-0000-4000-8000-0000000000f1" // orphan
	idP = "4f00aa11-0000-4000-8000-0000000000f2" // orphan linked into users depot
	idF = "5f00aa11-0000-4000-8000-0000000000f3" // orphan linked into figshare depot
	pkg = "b0b0c0c0-1111-4111-8111-111111111111"
)

func TestScanFindsOrphansAndGarbage(t *testing.T) {
	tr := newTree(t)
	a := tr.resource(idA)
	linkB, targetB := tr.linkedResource("my_data_set", pkg, idB, "cells_2020_x.rtdc")
	o := tr.resource(idO)
	garbage := tr.file(a+".rtdc~", "editor copy")
	linkP, targetP := tr.linkedResource("orphaned-set", pkg, idP, "beads.rtdc")
	figFile := tr.file(figshare+"/calibration_beads.rtdc", "figshare")
	linkF := tr.link(tr.layout().ResourcePath(idF), figFile)

	res := tr.scan(idA, idB)
	want := []string{
		a + ".rtdc~",
		o, o + CondensedSuffix, o + PreviewSuffix,
		linkP, linkP + CondensedSuffix, linkP + PreviewSuffix,
		linkF,
		targetP,
	}
	slices.Sort(want)
	if got := paths(res.Remove); !slices.Equal(got, want) {
		t.Fatalf("remove:\n got %q\nwant %q", got, want)
	}
	kinds := map[string]Kind{}
	for _, it := range res.Remove {
		kinds[it.Path] = it.Kind
	}
	if kinds[garbage] != Garbage || kinds[o] != Orphan || kinds[targetP] != DepotOrphan {
		t.Errorf("kinds: %v", kinds)
	}
	for _, it := range res.Remove {
		if it.Path == linkF && !strings.Contains(it.Note, "is kept: outside the users depot") {
			t.Errorf("figshare link note: %q", it.Note)
		}
	}
	if res.Files != 16 {
		t.Errorf("files seen: %d, want 16", res.Files)
	}
	if res.LiveFiles != 2 { // idA's file and idB's link
		t.Errorf("live resources with a file: %d, want 2", res.LiveFiles)
	}

	out, err := res.Clean(tr.layout(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) > 0 || len(out.Skipped) > 0 || len(out.Removed) != len(want) {
		t.Fatalf("clean: %+v", out)
	}
	for _, p := range want {
		if tr.exists(p) {
			t.Errorf("%s still exists", p)
		}
	}
	for _, p := range []string{a, a + CondensedSuffix, a + PreviewSuffix, linkB, targetB, figFile} {
		if !tr.exists(p) {
			t.Errorf("%s was removed", p)
		}
	}
	// Emptied directories go, up to the roots.
	if tr.exists(host.ParentDir(o)) && host.ParentDir(o) != host.ParentDir(a) {
		t.Errorf("empty directory %s kept", host.ParentDir(o))
	}
	if tr.exists(host.ParentDir(host.ParentDir(linkP))) {
		t.Errorf("empty directories of the orphan link kept")
	}
	if !tr.exists(host.ParentDir(targetP)) {
		t.Errorf("the depot directory that still holds %s was removed", targetB)
	}
	if !tr.exists(resourcesDir) || !tr.exists(usersDepot) {
		t.Error("a tree root was removed")
	}
	// Nothing left to do.
	if again := tr.scan(idA, idB); len(again.Remove) != 0 {
		t.Errorf("second scan: %q", paths(again.Remove))
	}
}

func TestScanNeverLeavesTheUsersDepot(t *testing.T) {
	tr := newTree(t)
	outside := tr.file("/etc/hostname", "host")
	lookalike := tr.file("/data/depots/users-test-other/alice/aa/bb/x_"+idP+"_y", "lookalike")
	viaDots := tr.file(figshare+"/dots.rtdc", "figshare")
	// A directory inside the users depot that is a link out of it.
	tr.link(usersDepot+"/sneaky", "/data/depots/figshare")
	sneaky := figshare + "/sneaky.rtdc"
	tr.file(sneaky, "figshare")

	ids := []string{
		"11111111-0000-4000-8000-000000000001",
		"11111111-0000-4000-8000-000000000002",
		"11111111-0000-4000-8000-000000000003",
		"11111111-0000-4000-8000-000000000004",
		"11111111-0000-4000-8000-000000000005",
		"11111111-0000-4000-8000-000000000006",
	}
	l := tr.layout()
	links := []string{
		tr.link(l.ResourcePath(ids[0]), "/etc/hostname"),
		tr.link(l.ResourcePath(ids[1]), "../../../../../../../../../../etc/hostname"),
		tr.link(l.ResourcePath(ids[2]), "/data/depots/users-test-other/alice/aa/bb/x_"+idP+"_y"),
		tr.link(l.ResourcePath(ids[3]), usersDepot+"/../figshare/figshare-7771184-v2/dots.rtdc"),
		tr.link(l.ResourcePath(ids[4]), usersDepot+"/sneaky/figshare-7771184-v2/sneaky.rtdc"),
		// relative, through the users depot and out again
		tr.link(l.ResourcePath(ids[5]), "../../../../depots/users-test/../figshare/figshare-7771184-v2/dots.rtdc"),
	}
	res := tr.scan()
	for _, it := range res.Remove {
		if !slices.Contains(links, it.Path) {
			t.Errorf("would remove %s (%s)", it.Path, it.Note)
		}
	}
	if len(res.Remove) != len(links) {
		t.Errorf("remove %q, want the %d links", paths(res.Remove), len(links))
	}
	if _, err := res.Clean(l, ""); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{outside, lookalike, viaDots, sneaky} {
		if !tr.exists(p) {
			t.Errorf("%s outside the users depot was removed", p)
		}
	}
	for _, p := range links {
		if tr.exists(p) {
			t.Errorf("orphan link %s kept", p)
		}
	}
}

func TestScanReportsLoopsAndBrokenLinks(t *testing.T) {
	tr := newTree(t)
	l := tr.layout()
	// Live resources whose links loop or point at nothing: reported, kept.
	loopA := tr.link(l.ResourcePath(idA), l.ResourcePath(idA)+"-self")
	tr.link(l.ResourcePath(idA)+"-self", l.ResourcePath(idA))
	broken := tr.link(l.ResourcePath(idB), usersDepot+"/gone/aa/bb/x_"+idB+"_y")
	// Orphan links that loop or are broken: removed, link only.
	loopO := tr.link(l.ResourcePath(idO), "loop1")
	tr.link(host.ParentDir(loopO)+"/loop1", "loop2")
	tr.link(host.ParentDir(loopO)+"/loop2", "loop1")
	brokenO := tr.link(l.ResourcePath(idP), "/data/nowhere")

	done := make(chan *Result)
	go func() { done <- tr.scan(idA, idB) }()
	var res *Result
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("scan followed a link loop forever")
	}
	if got := problems(res, LinkLoop); !slices.Equal(got, []string{loopA}) {
		t.Errorf("loops: %q", got)
	}
	if got := problems(res, BrokenLink); !slices.Equal(got, []string{broken}) {
		t.Errorf("broken: %q", got)
	}
	removed := paths(res.Remove)
	for _, p := range []string{loopO, brokenO, host.ParentDir(loopO) + "/loop1", host.ParentDir(loopO) + "/loop2"} {
		if !slices.Contains(removed, p) {
			t.Errorf("orphan link %s not removed: %q", p, removed)
		}
	}
	for _, it := range res.Remove {
		if it.Path == loopO && !strings.Contains(it.Note, "loop") || it.Path == brokenO && !strings.Contains(it.Note, "broken") {
			t.Errorf("%s: note %q", it.Path, it.Note)
		}
	}
	// "-self" is a live id with a suffix: garbage, link only.
	if !slices.Contains(removed, loopA+"-self") {
		t.Errorf("garbage link not removed: %q", removed)
	}
}

func TestScanLeavesNewFilesAlone(t *testing.T) {
	tr := newTree(t)
	o := tr.resource(idO)
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(tr.host.Join(o), future, future); err != nil {
		t.Fatal(err)
	}
	res := tr.scan()
	if slices.Contains(paths(res.Remove), o) {
		t.Fatal("a file changed after the scan began is to be removed")
	}
	if got := problems(res, Changed); !slices.Equal(got, []string{o}) {
		t.Errorf("changed: %q", got)
	}
	// A file that changes between the scan and the clean-up stays too.
	res2 := tr.scan()
	cond := o + CondensedSuffix
	if err := os.WriteFile(tr.host.Join(cond), []byte("new content"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := res2.Clean(tr.layout(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !tr.exists(cond) || len(out.Skipped) != 1 || out.Skipped[0].Path != cond {
		t.Errorf("changed file: exists=%v skipped=%+v", tr.exists(cond), out.Skipped)
	}
	if tr.exists(o + PreviewSuffix) {
		t.Error("unchanged orphan kept")
	}
}

func TestScanDepotNamesWithUnderscores(t *testing.T) {
	tr := newTree(t)
	// package and resource names with "_", live and orphaned
	live := tr.file(usersDepot+"/bob-lab/b0/b0/my_pkg_v2_"+idA+"_cells_day_1.rtdc", "live")
	orphan := tr.file(usersDepot+"/bob-lab/b0/b0/my_pkg_v2_"+idO+"_cells_day_1.rtdc", "orphan")
	noID := tr.file(usersDepot+"/bob-lab/b0/b0/README_for_admins.txt", "notes")
	res := tr.scan(idA)
	if got := paths(res.Remove); !slices.Equal(got, []string{orphan}) {
		t.Errorf("remove %q, want only %s", got, orphan)
	}
	if got := problems(res, Unexpected); !slices.Equal(got, []string{noID}) {
		t.Errorf("unexpected: %q", got)
	}
	if _, err := res.Clean(tr.layout(), ""); err != nil {
		t.Fatal(err)
	}
	if !tr.exists(live) || tr.exists(orphan) || !tr.exists(noID) {
		t.Error("wrong depot files removed")
	}
}

func TestScanProtectsTargetsOfLiveLinks(t *testing.T) {
	tr := newTree(t)
	// A live resource links to a depot file whose name has another
	// (unknown) id: the file must stay.
	target := tr.file(usersDepot+"/alice-circle/b0/b0/set_"+idO+"_x.rtdc", "data")
	tr.link(tr.layout().ResourcePath(idA), target)
	// An orphan link points at a depot file named after a live resource.
	liveFile := tr.file(usersDepot+"/alice-circle/b0/b0/set_"+idB+"_y.rtdc", "data")
	tr.link(tr.layout().ResourcePath(idP), liveFile)
	res := tr.scan(idA, idB)
	if got := paths(res.Remove); !slices.Equal(got, []string{tr.layout().ResourcePath(idP)}) {
		t.Errorf("remove %q", got)
	}
	if got := problems(res, Kept); !slices.Equal(got, []string{target}) {
		t.Errorf("kept: %q, want %s", got, target)
	}
}

func TestScanUnexpectedEntriesAreLeftAlone(t *testing.T) {
	tr := newTree(t)
	stray := tr.file(resourcesDir+"/stray.txt", "x")
	lost := tr.file(resourcesDir+"/lost+found/0001", "fsck")
	deep := tr.file(resourcesDir+"/0a1/b2c/dir/file", "x")
	res := tr.scan()
	if len(res.Remove) != 0 {
		t.Errorf("remove %q", paths(res.Remove))
	}
	got := problems(res, Unexpected)
	for _, p := range []string{stray, host.ParentDir(lost), host.ParentDir(deep)} {
		if !slices.Contains(got, p) {
			t.Errorf("%s not reported: %q", p, got)
		}
	}
}

func TestQuarantineRoundTrip(t *testing.T) {
	quarantineRoundTrip(t, filepath.Join(t.TempDir(), "quarantine"))
}

// TestQuarantineAcrossFileSystems moves to a quarantine on another file
// system (tmpfs at /dev/shm): files are copied, with mode and times,
// links stay links, and the originals go.
func TestQuarantineAcrossFileSystems(t *testing.T) {
	var a, b unix.Stat_t
	if unix.Stat("/dev/shm", &a) != nil || unix.Stat(t.TempDir(), &b) != nil || a.Dev == b.Dev {
		t.Skip("no /dev/shm on another file system than the test's temporary directory")
	}
	q, err := os.MkdirTemp("/dev/shm", "dcor-quarantine-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(q) })
	quarantineRoundTrip(t, q)
	err = filepath.Walk(q, func(p string, info os.FileInfo, err error) error {
		if strings.HasSuffix(p, ".dcor-partial") {
			t.Errorf("partial copy left: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func quarantineRoundTrip(t *testing.T, q string) {
	cp := testtool.Need(t, "cp")
	tr := newTree(t)
	tr.resource(idA)
	o := tr.resource(idO)
	linkP, targetP := tr.linkedResource("set", pkg, idP, "x.rtdc")
	before := snapshot(t, tr.host.Root)
	res := tr.scan(idA)
	out, err := res.Clean(tr.layout(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) > 0 || len(out.Removed) != 7 {
		t.Fatalf("clean: %+v", out)
	}
	for _, p := range []string{o, linkP, targetP} {
		if tr.exists(p) {
			t.Errorf("%s still in the tree", p)
		}
		if _, err := os.Lstat(filepath.Join(q, p)); err != nil {
			t.Errorf("%s not in the quarantine: %v", p, err)
		}
	}
	// Undo as the README says: cp -a QUARANTINE/data ROOT/
	if b, err := exec.Command(cp, "-a", filepath.Join(q, "data"), tr.host.Root+"/").CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, b)
	}
	if after := snapshot(t, tr.host.Root); after != before {
		t.Errorf("undo did not restore the tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// A quarantine inside the trees is refused.
	if _, err := tr.scan(idA).Clean(tr.layout(), tr.host.Join(resourcesDir+"/q")); err == nil {
		t.Error("quarantine inside the resource tree accepted")
	}
}

// snapshot lists every path under root with its type, mode, size and
// link target.
func snapshot(t *testing.T, root string) string {
	var b strings.Builder
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		target, _ := os.Readlink(p)
		line := rel + " " + info.Mode().String() + " " + target
		if !info.IsDir() { // directory times change with their entries
			line += " " + strconv.FormatInt(info.Size(), 10) + " " + info.ModTime().UTC().Format(time.RFC3339Nano)
		}
		b.WriteString(line + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLocate(t *testing.T) {
	tr := newTree(t)
	l := tr.layout()
	a := tr.resource(idA)
	_, target := tr.linkedResource("set", pkg, idB, "x.rtdc")
	tr.link(l.ResourcePath(idO), "/data/nowhere")
	tr.link(l.ResourcePath(idP), l.ResourcePath(idP))
	if lp, resolved, err := l.Locate(a); err != nil || resolved != a || lp != tr.host.Join(a) {
		t.Errorf("Locate(file) = %s, %s, %v", lp, resolved, err)
	}
	if _, resolved, err := l.Locate(l.ResourcePath(idB)); err != nil || resolved != target {
		t.Errorf("Locate(link) = %s, %v", resolved, err)
	}
	if _, _, err := l.Locate(l.ResourcePath(idO)); !errors.Is(err, ErrBroken) {
		t.Errorf("broken link: %v", err)
	}
	if _, _, err := l.Locate(l.ResourcePath(idP)); !errors.Is(err, ErrLoop) {
		t.Errorf("loop: %v", err)
	}
	if _, _, err := l.Locate(l.ResourcePath(idF)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestScanWithoutResourceTree(t *testing.T) {
	h := host.New(t.TempDir())
	_, err := Scan(context.Background(), Layout{Host: h, Resources: resourcesDir, UsersDepot: usersDepot}, NewIDSet(0), time.Now(), Options{})
	if !errors.Is(err, ErrNoTree) {
		t.Fatalf("err = %v, want ErrNoTree", err)
	}
}
