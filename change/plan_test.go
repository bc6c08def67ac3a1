package change

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/host"
)

var now = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func testHost(t *testing.T) (host.Host, string) {
	dir := t.TempDir()
	return host.New(dir), dir
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The dated copy goes to /var/backups/dcor/<host path>, never beside the
// file: a copy in sites-enabled/ is loaded by nginx (issue 9, defect 2).
func TestDatedCopyOutsideLoadedDirectories(t *testing.T) {
	h, dir := testHost(t)
	site := filepath.Join(dir, "etc/nginx/sites-enabled/ckan")
	write(t, site, "old\n", 0o640)
	p := New(h, now)
	p.Write("nginx", File{Path: "/etc/nginx/sites-enabled/ckan", Old: []byte("old\n"), New: []byte("new\n")})
	res := p.Apply(context.Background(), ApplyOptions{})
	if res.Failed() {
		t.Fatalf("apply failed: %+v", res.Changes[0])
	}
	entries, _ := os.ReadDir(filepath.Dir(site))
	if len(entries) != 1 {
		t.Fatalf("sites-enabled holds %d entries, want only the site", len(entries))
	}
	want := "/var/backups/dcor/etc/nginx/sites-enabled/ckan.dcor-20261207-100000"
	if res.Changes[0].Backup != want {
		t.Fatalf("backup at %q, want %q", res.Changes[0].Backup, want)
	}
	if got := read(t, filepath.Join(dir, want)); got != "old\n" {
		t.Fatalf("copy holds %q", got)
	}
	if info, _ := os.Stat(filepath.Join(dir, want)); info.Mode().Perm() != 0o640 {
		t.Fatalf("copy mode %v, want the original's 0640", info.Mode().Perm())
	}
	if got := read(t, site); got != "new\n" {
		t.Fatalf("site holds %q", got)
	}
	if info, _ := os.Stat(site); info.Mode().Perm() != 0o640 {
		t.Fatalf("site mode %v, want kept 0640", info.Mode().Perm())
	}
}

func TestKeepsTenCopies(t *testing.T) {
	h, dir := testHost(t)
	f := filepath.Join(dir, "etc/x.ini")
	write(t, f, "0", 0o644)
	for i := 1; i <= 13; i++ {
		p := New(h, now.Add(time.Duration(i)*time.Second))
		p.Write("x", File{Path: "/etc/x.ini", Old: []byte(read(t, f)), New: []byte(strings.Repeat("x", i))})
		if res := p.Apply(context.Background(), ApplyOptions{}); res.Failed() {
			t.Fatal(res.Changes[0].Error)
		}
	}
	copies := Copies(h, "/etc/x.ini")
	if len(copies) != KeepCopies {
		t.Fatalf("%d copies kept, want %d: %v", len(copies), KeepCopies, copies)
	}
	if got := read(t, filepath.Join(dir, copies[len(copies)-1])); got != strings.Repeat("x", 12) {
		t.Fatalf("newest copy holds %q", got)
	}
}

func TestRefusesFileChangedSincePlanned(t *testing.T) {
	h, dir := testHost(t)
	f := filepath.Join(dir, "etc/x.ini")
	write(t, f, "someone else's edit\n", 0o644)
	p := New(h, now)
	p.Write("x", File{Path: "/etc/x.ini", Old: []byte("as read\n"), New: []byte("new\n")})
	res := p.Apply(context.Background(), ApplyOptions{})
	if !res.Failed() || !strings.Contains(res.Changes[0].Error, "changed while dcor was working on it") {
		t.Fatalf("changed file replaced: %+v", res.Changes[0])
	}
	if got := read(t, f); got != "someone else's edit\n" {
		t.Fatalf("file holds %q", got)
	}
}

func TestValidationKeepsOldFile(t *testing.T) {
	h, dir := testHost(t)
	f := filepath.Join(dir, "etc/x.ini")
	write(t, f, "old\n", 0o644)
	p := New(h, now)
	p.Write("x", File{Path: "/etc/x.ini", Old: []byte("old\n"), New: []byte("bad\n"),
		Validate: func(ctx context.Context, local string, data []byte) error { return errors.New("rejected") }})
	res := p.Apply(context.Background(), ApplyOptions{})
	if res.Changes[0].Error != "rejected" || read(t, f) != "old\n" {
		t.Fatalf("validation ignored: %+v", res.Changes[0])
	}
}

// write, action, write: the file is written before the action and again after it.
func TestWriteActionWriteOrder(t *testing.T) {
	h, dir := testHost(t)
	f := filepath.Join(dir, "etc/ckan.ini")
	write(t, f, "a\n", 0o640)
	p := New(h, now)
	p.Write("ckan-ini", File{Path: "/etc/ckan.ini", Old: []byte("a\n"), New: []byte("b\n")})
	p.Write("ckan-ini", File{Path: "/etc/ckan.ini", Old: []byte("a\n"), New: []byte("c\n")})
	var seen string
	p.Do("theme", Action{Description: "run ckan", Run: func(ctx context.Context) error {
		seen = read(t, f)
		return nil
	}})
	p.Write("theme", File{Path: "/etc/ckan.ini", Old: []byte("a\n"), New: []byte("d\n")})
	changes := p.Changes(true)
	if len(changes) != 3 {
		t.Fatalf("%d changes, want write, action, write", len(changes))
	}
	if !strings.Contains(changes[2].Diff, "-a") || !strings.Contains(changes[2].Diff, "+d") {
		t.Fatalf("diff is not first old → last new:\n%s", changes[2].Diff)
	}
	res := p.Apply(context.Background(), ApplyOptions{})
	if res.Failed() {
		t.Fatalf("%+v", res.Changes)
	}
	if seen != "c\n" {
		t.Fatalf("the action saw %q, want the first write's c", seen)
	}
	if read(t, f) != "d\n" {
		t.Fatal("second write missing")
	}
	if n := len(Copies(h, "/etc/ckan.ini")); n != 1 {
		t.Fatalf("%d dated copies, want 1 (the original)", n)
	}
	if got := Services(res.Changes); len(got) != 0 {
		t.Fatalf("services %v", got)
	}
}

func TestInterruptStopsBeforeNextStep(t *testing.T) {
	h, dir := testHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := New(h, now)
	p.Do("a", Action{Description: "first", Run: func(context.Context) error { cancel(); return nil }})
	p.Write("b", File{Path: "/etc/new.ini", New: []byte("x"), Mode: 0o600})
	res := p.Apply(ctx, ApplyOptions{})
	if !res.Interrupted || !res.Changes[0].Applied || res.Changes[1].Applied {
		t.Fatalf("%+v %+v", res.Changes[0], res.Changes[1])
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/new.ini")); err == nil {
		t.Fatal("wrote after the interruption")
	}
}

func TestStopOnError(t *testing.T) {
	h, _ := testHost(t)
	ran := false
	p := New(h, now)
	p.Do("backup", Action{Description: "back up", Run: func(context.Context) error { return errors.New("disk full") }})
	p.Do("reset", Action{Description: "reset", Run: func(context.Context) error { ran = true; return nil }})
	res := p.Apply(context.Background(), ApplyOptions{StopOnError: true})
	if ran || !strings.Contains(res.Changes[1].Error, "not done") {
		t.Fatalf("ran the step after a failed one: %+v", res.Changes[1])
	}
}

func TestNewFileModeAndStaleTemps(t *testing.T) {
	h, dir := testHost(t)
	stale := filepath.Join(dir, "etc/dcor/.dcor.yaml.dcor-tmp-123")
	write(t, stale, "password: leaked", 0o600)
	p := New(h, now)
	p.Write("init", File{Path: "/etc/dcor/dcor.yaml", New: []byte("kind: testing\n"), Mode: 0o600})
	if res := p.Apply(context.Background(), ApplyOptions{}); res.Failed() {
		t.Fatal(res.Changes[0].Error)
	}
	info, err := os.Stat(filepath.Join(dir, "etc/dcor/dcor.yaml"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v %v", info, err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Fatal("stale temporary file left")
	}
}

func TestSincePreviewsOneStep(t *testing.T) {
	h, _ := testHost(t)
	p := New(h, now)
	p.Write("x", File{Path: "/etc/x.ini", Old: []byte("a = 1\nb = 1\n"), New: []byte("a = 2\nb = 1\n")})
	fork := p.Fork()
	mark := fork.Len()
	fork.Write("x", File{Path: "/etc/x.ini", Old: []byte("a = 1\nb = 1\n"), New: []byte("a = 2\nb = 2\n")})
	cs := fork.Since(mark)
	if len(cs) != 1 || strings.Contains(cs[0].Diff, "-a = 1") || !strings.Contains(cs[0].Diff, "+b = 2") {
		t.Fatalf("preview: %+v", cs)
	}
	if b, _ := p.Staged("/etc/x.ini"); string(b) != "a = 2\nb = 1\n" {
		t.Fatalf("fork changed the plan: %q", b)
	}
}

func TestDecider(t *testing.T) {
	answers := []Answer{Yes, No, All}
	asked := 0
	d := NewDecider(func(ctx context.Context, q string, preview func() string) (Answer, error) {
		a := answers[asked]
		asked++
		return a, nil
	})
	var got []bool
	for i := 0; i < 5; i++ {
		ok, err := d.Decide(context.Background(), "fix?", nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ok)
	}
	if asked != 3 || got[0] != true || got[1] != false || !got[2] || !got[3] || !got[4] {
		t.Fatalf("asked %d, got %v", asked, got)
	}
	q := NewDecider(func(context.Context, string, func() string) (Answer, error) { return Quit, nil })
	if ok, err := q.Decide(context.Background(), "fix?", nil); ok || !errors.Is(err, ErrQuit) {
		t.Fatal("q did not quit")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewDecider(nil).Decide(ctx, "fix?", nil); !errors.Is(err, context.Canceled) {
		t.Fatal("cancelled context not seen")
	}
}

// A site that is a link into sites-available (Debian's way) is written at
// the link's target; the link stays a link; the copy is of the target.
func TestWritesThroughLink(t *testing.T) {
	h, dir := testHost(t)
	write(t, filepath.Join(dir, "etc/nginx/sites-available/ckan"), "old\n", 0o644)
	if err := os.Symlink("../sites-available/ckan", filepath.Join(dir, "etc/nginx/sites-enabled/ckan")); err != nil {
		if err := os.MkdirAll(filepath.Join(dir, "etc/nginx/sites-enabled"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../sites-available/ckan", filepath.Join(dir, "etc/nginx/sites-enabled/ckan")); err != nil {
			t.Fatal(err)
		}
	}
	p := New(h, now)
	p.Write("nginx", File{Path: "/etc/nginx/sites-enabled/ckan", Old: []byte("old\n"), New: []byte("new\n")})
	res := p.Apply(context.Background(), ApplyOptions{})
	if res.Failed() {
		t.Fatal(res.Changes[0].Error)
	}
	if info, err := os.Lstat(filepath.Join(dir, "etc/nginx/sites-enabled/ckan")); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced")
	}
	if got := read(t, filepath.Join(dir, "etc/nginx/sites-available/ckan")); got != "new\n" {
		t.Fatalf("target holds %q", got)
	}
	if res.Changes[0].Backup != "/var/backups/dcor/etc/nginx/sites-available/ckan.dcor-20261207-100000" {
		t.Fatalf("copy at %s", res.Changes[0].Backup)
	}
}
