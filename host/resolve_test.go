package host

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// rootedTree is a host under a temporary root with the links of every
// case Resolve handles, and a directory outside the root (at its real,
// absolute path) that the absolute links name.
type rootedTree struct {
	h       Host
	outside string // absolute path of a directory outside the root
}

func newRootedTree(t *testing.T) rootedTree {
	t.Helper()
	outside := t.TempDir()
	h := New(t.TempDir())
	mkdir := func(p string) {
		if err := os.MkdirAll(filepath.Join(h.Root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := func(p, content string) {
		mkdir(filepath.Dir(p))
		if err := os.WriteFile(filepath.Join(h.Root, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		mkdir(filepath.Dir(p))
		if err := os.Symlink(target, filepath.Join(h.Root, p)); err != nil {
			t.Fatal(err)
		}
	}
	// The decoy outside the root: what the kernel would reach.
	if err := os.WriteFile(filepath.Join(outside, "ckan.ini"), []byte("outside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file(outside+"/ckan.ini", "inside\n")
	link("/etc/ckan/default/ckan.ini", outside+"/ckan.ini")
	file("/etc/x", "x\n")
	link("/data/deep/up", "../../../../../../etc/x")
	link("/chain/a", "/chain/b")
	link("/chain/b", "c")
	file("/chain/c", "c\n")
	link("/loop/1", "/loop/2")
	link("/loop/2", "/loop/1")
	link("/loop/self", "self")
	link("/var/dangling", "/var/new/file.conf")
	mkdir("/data/srv/www")
	link("/srv", "/data/srv")
	link("/out", outside) // a directory link out of the root
	link("/data/dl", "/x/y")
	mkdir("/x/y")
	return rootedTree{h: h, outside: outside}
}

func TestResolve(t *testing.T) {
	tr := newRootedTree(t)
	h := tr.h
	for _, c := range []struct{ name, p, want string }{
		{"absolute link", "/etc/ckan/default/ckan.ini", tr.outside + "/ckan.ini"},
		{"relative link with ..", "/data/deep/up", "/etc/x"},
		{"chain", "/chain/a", "/chain/c"},
		{"dangling", "/var/dangling", "/var/new/file.conf"},
		{"nonexistent tail", "/etc/nothere/x/y", "/etc/nothere/x/y"},
		{"link to a directory in the middle", "/srv/www/index.html", "/data/srv/www/index.html"},
		{"directory link out of the root", "/out/ckan.ini", tr.outside + "/ckan.ini"},
		{".. after a link is the target's parent", "/data/dl/../z", "/x/z"},
		{".. below a missing directory", "/nope/deeper/../../etc/ckan/default/ckan.ini", tr.outside + "/ckan.ini"},
		{"relative host path", "etc/x", "/etc/x"},
		{"root", "/", "/"},
		{".. cannot climb", "/../../etc/x", "/etc/x"},
	} {
		got, err := h.Resolve(c.p)
		want := filepath.Join(h.Root, c.want)
		if err != nil || got != want {
			t.Errorf("%s: Resolve(%s) = %s, %v; want %s", c.name, c.p, got, err, want)
		}
		if p := h.Path(c.p); p != want {
			t.Errorf("%s: Path(%s) = %s; want %s", c.name, c.p, p, want)
		}
		if back := h.HostPath(got); back != c.want {
			t.Errorf("%s: HostPath(%s) = %s; want %s", c.name, got, back, c.want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	tr := newRootedTree(t)
	h := tr.h
	for _, p := range []string{"/loop/1", "/loop/self/x", "/loop/2/"} {
		_, err := h.Resolve(p)
		if !errors.Is(err, syscall.ELOOP) {
			t.Errorf("Resolve(%s): %v, want a loop", p, err)
		}
		// Path gives a path no system call takes: never the loop's way out.
		if _, err := os.Stat(h.Path(p)); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat of Path(%s) = %q: %v", p, h.Path(p), err)
		}
	}
	for _, p := range []string{"/etc/x/y", "/chain/a/y", "/etc/x/..", "/etc/x/."} {
		_, err := h.Resolve(p)
		if !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("Resolve(%s): %v, want not a directory", p, err)
		}
		if _, err := os.Stat(h.Path(p)); !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("stat of Path(%s) = %q: %v, want not a directory", p, h.Path(p), err)
		}
	}
}

func TestPathNoFollowAndJoin(t *testing.T) {
	tr := newRootedTree(t)
	h := tr.h
	link := h.PathNoFollow("/srv/www/../../../etc/ckan/default/ckan.ini")
	if want := filepath.Join(h.Root, "etc/ckan/default/ckan.ini"); link != want {
		t.Fatalf("PathNoFollow = %s, want %s", link, want)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("PathNoFollow gave no link: %v %v", fi, err)
	}
	if got, want := h.PathNoFollow("/srv/www/f"), filepath.Join(h.Root, "data/srv/www/f"); got != want {
		t.Errorf("PathNoFollow through a directory link = %s, want %s", got, want)
	}
	if got, want := h.PathNoFollow("/srv/www/.."), filepath.Join(h.Root, "data/srv"); got != want {
		t.Errorf("PathNoFollow(..) = %s, want %s", got, want)
	}
	if got, want := h.Join("/srv/../srv/www"), filepath.Join(h.Root, "srv/www"); got != want {
		t.Errorf("Join = %s, want %s", got, want)
	}
	live := New("/")
	for _, p := range []string{"/etc/../x", "etc/y", "/"} {
		want := filepath.Join("/", p)
		if live.Path(p) != want || live.PathNoFollow(p) != want || live.Join(p) != want {
			t.Errorf("live host changed %s: %s %s %s", p, live.Path(p), live.PathNoFollow(p), live.Join(p))
		}
	}
}

// TestWritesStayUnderRoot: writing through Path and WriteFileAtomic edits
// the file inside the root that the absolute link names, never the file
// at the same path outside the root.
func TestWritesStayUnderRoot(t *testing.T) {
	tr := newRootedTree(t)
	h := tr.h
	decoy := filepath.Join(tr.outside, "ckan.ini")
	inside := filepath.Join(h.Root, tr.outside, "ckan.ini")

	if err := h.WriteFileAtomic(h.Path("/etc/ckan/default/ckan.ini"), []byte("new\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(inside); string(b) != "new\n" {
		t.Errorf("file under the root holds %q", b)
	}
	if fi, err := os.Lstat(h.Join("/etc/ckan/default/ckan.ini")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	// A directory link out of the root, unresolved.
	if err := h.WriteFileAtomic(h.Join("/out/new.conf"), []byte("n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tr.outside, "new.conf")); err == nil {
		t.Error("WriteFileAtomic wrote outside the root")
	}
	if b, _ := os.ReadFile(filepath.Join(h.Root, tr.outside, "new.conf")); string(b) != "n\n" {
		t.Errorf("new.conf under the root holds %q", b)
	}
	// A dangling link: the write creates its target under the root.
	if err := os.MkdirAll(filepath.Dir(h.Path("/var/dangling")), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h.WriteFileAtomic(h.Path("/var/dangling"), []byte("d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(h.Root, "var/new/file.conf")); string(b) != "d\n" {
		t.Errorf("dangling link's target holds %q", b)
	}
	if b, _ := os.ReadFile(decoy); string(b) != "outside\n" {
		t.Errorf("the file outside the root was changed: %q", b)
	}
	entries, _ := os.ReadDir(tr.outside)
	if len(entries) != 1 {
		t.Errorf("files appeared outside the root: %v", entries)
	}
	if err := h.WriteFileAtomic(filepath.Join(tr.outside, "ckan.ini"), []byte("x"), 0o644); err == nil {
		t.Error("WriteFileAtomic of a path outside the root succeeded")
	}
	if err := h.WriteFileAtomic(h.Join("/loop/self/x"), []byte("x"), 0o644); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("WriteFileAtomic into a directory that is a loop: %v", err)
	}
}

// FuzzResolve links two paths of a small tree to arbitrary targets and
// resolves an arbitrary path: resolution ends, the result lies under the
// root, and the only errors are a loop or a file on the way.
func FuzzResolve(f *testing.F) {
	f.Add("../../etc/hostname", "/data/a", "/data/l1/x")
	f.Add("/data/l2", "/data/l1", "/data/l1/f")
	f.Add("../../../../../../../data/a/f", "a/../../a", "/data/l2/f")
	f.Add("", ".", "/data/l1/../l2/f")
	f.Add("/etc/hostname/../..", "l1", "data/l2/../../..")
	f.Add("/nowhere/../../..", "/data/a/f/", "/data/l1/./../l2/")
	f.Fuzz(func(t *testing.T, t1, t2, p string) {
		if strings.ContainsRune(t1+t2+p, 0) || len(t1) > 200 || len(t2) > 200 || len(p) > 300 || t1 == "" || t2 == "" {
			return
		}
		h := New(t.TempDir())
		for _, d := range []string{"/data/a", "/etc"} {
			os.MkdirAll(h.Join(d), 0o755)
		}
		os.WriteFile(h.Join("/data/a/f"), []byte("f"), 0o644)
		os.WriteFile(h.Join("/etc/hostname"), []byte("h"), 0o644)
		if os.Symlink(t1, h.Join("/data/l1")) != nil || os.Symlink(t2, h.Join("/data/l2")) != nil {
			return
		}
		got, err := h.Resolve(p)
		if got != filepath.Clean(got) || (got != h.Root && !strings.HasPrefix(got, h.Root+"/")) {
			t.Fatalf("Resolve(%q) with l1=%q l2=%q = %q: not under the root", p, t1, t2, got)
		}
		if err != nil {
			if !errors.Is(err, syscall.ELOOP) && !errors.Is(err, syscall.ENOTDIR) && !errors.Is(err, syscall.ENAMETOOLONG) {
				t.Fatalf("Resolve(%q) with l1=%q l2=%q: unexpected error %v", p, t1, t2, err)
			}
			if _, serr := os.Stat(h.Path(p)); serr == nil {
				t.Fatalf("Resolve(%q) with l1=%q l2=%q: %v, but Path gives %q, which exists", p, t1, t2, err, h.Path(p))
			}
			return
		}
		// No link is left on the way: what exists of it is link-free.
		for q := got; q != h.Root; q = filepath.Dir(q) {
			if fi, err := os.Lstat(q); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
				t.Fatalf("Resolve(%q) with l1=%q l2=%q = %q: %s is a link", p, t1, t2, got, q)
			}
		}
		if lp := h.Path(p); lp != got {
			t.Fatalf("Path(%q) = %q, Resolve = %q", p, lp, got)
		}
	})
}
