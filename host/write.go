package host

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WriteFileAtomic writes data to path so that path holds either its old
// content or all of data, never a part (see WriteStreamAtomic).
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteStreamAtomic(path, bytes.NewReader(data), perm)
}

// WriteStreamAtomic writes what r yields to path so that path holds either
// its old content or all of it, never a part: it writes a temporary file
// .NAME.dcor-tmp-* in the same directory, mode 0600 until it is complete
// (a half-written ckan.ini is never readable by others), fsyncs it, gives
// it perm, renames it over path and fsyncs the directory. The temporary
// file is removed on any error; one that a killed run left behind is
// removed by the change engine's next write of path.
func WriteStreamAtomic(path string, r io.Reader, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".dcor-tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err := io.Copy(tmp, r); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	return SyncDir(dir)
}

// WriteFileAtomic is the package's WriteFileAtomic for local path p under
// the host's root: the directory is resolved inside the root (see
// Resolve); a symbolic link at p itself is replaced by the file, never
// followed.
func (h Host) WriteFileAtomic(p string, data []byte, perm os.FileMode) error {
	dir, err := h.resolveLocal(filepath.Dir(p))
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, filepath.Base(p)), data, perm)
}

// resolveLocal resolves local path p, which must lie under the root,
// inside the root.
func (h Host) resolveLocal(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s: dcor needs an absolute path here", p)
	}
	if !h.Live() && !within(filepath.Clean(p), h.Root) {
		return "", fmt.Errorf("%s is outside the root %s; dcor writes only under it", p, h.Root)
	}
	return h.Resolve(h.HostPath(p))
}

// within reports whether clean path p is dir or lies below it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// SyncDir fsyncs a directory so that a rename in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !os.IsPermission(err) {
		return err
	}
	return nil
}
