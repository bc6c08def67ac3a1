package storage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/host"
)

// FuzzResolve links two paths of a small tree to arbitrary targets and
// checks that resolution ends, stays under the root, and yields a clean
// path without links that exists (or says why not).
func FuzzResolve(f *testing.F) {
	f.Add("../../etc/hostname", "/data/a", "/data/l1/x")
	f.Add("/data/l2", "/data/l1", "/data/l1/f")
	f.Add("../../../../../../../data/a/f", "a/../../a", "/data/l2/f")
	f.Add("", ".", "/data/l1/../l2/f")
	f.Fuzz(func(t *testing.T, t1, t2, p string) {
		if strings.ContainsRune(t1+t2+p, 0) || len(t1) > 200 || len(t2) > 200 || len(p) > 200 || t1 == "" || t2 == "" {
			return
		}
		root := t.TempDir()
		h := host.New(root)
		for _, d := range []string{"/data/a", "/etc"} {
			os.MkdirAll(h.Path(d), 0o755)
		}
		os.WriteFile(h.Path("/data/a/f"), []byte("f"), 0o644)
		os.WriteFile(h.Path("/etc/hostname"), []byte("h"), 0o644)
		if os.Symlink(t1, h.Path("/data/l1")) != nil || os.Symlink(t2, h.Path("/data/l2")) != nil {
			return
		}
		got, err := newResolver(h).resolve("/" + strings.TrimLeft(p, "/"))
		if err != nil {
			if !errors.Is(err, ErrBroken) && !errors.Is(err, ErrLoop) && !errors.Is(err, fs.ErrPermission) &&
				!strings.Contains(err.Error(), "name too long") {
				t.Fatalf("resolve(%q) with l1=%q l2=%q: unexpected error %v", p, t1, t2, err)
			}
			return
		}
		if got != filepath.Clean(got) || !strings.HasPrefix(got, "/") {
			t.Fatalf("resolve(%q) = %q: not clean and absolute", p, got)
		}
		info, err := os.Lstat(h.Path(got))
		if err != nil || info.Mode()&fs.ModeSymlink != 0 {
			t.Fatalf("resolve(%q) = %q: %v, mode %v", p, got, err, info)
		}
		// No link is left on the way: the kernel resolves the result to itself.
		if real, err := filepath.EvalSymlinks(h.Path(got)); err == nil && real != filepath.Join(mustReal(t, root), got) {
			t.Fatalf("resolve(%q) = %q, but the kernel says %q", p, got, real)
		}
	})
}

func mustReal(t *testing.T, p string) string {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	if real == "/" {
		return ""
	}
	return real
}
