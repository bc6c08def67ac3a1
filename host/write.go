package host

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
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

// ReplaceFile writes a new version of an existing configuration file on
// the live host: the old file is first copied to NAME.dcor-YYYYmmdd-HHMMSS
// beside it (mode and owner kept), then the new content replaces it
// atomically, keeping the old file's mode and owner. A symbolic link is
// kept and the file it points to is edited (a dangling link's target is
// created). It returns the path of the copy ("" when the file did not
// exist before). Under a root other than "/" use Host.ReplaceFile.
func ReplaceFile(path string, data []byte, now time.Time) (string, error) {
	return New("/").ReplaceFile(path, data, now)
}

// ReplaceFile is the package's ReplaceFile for local path p under the
// host's root (a path Path returned): symbolic links on the way, the last
// one included, are resolved inside the root (see Resolve), so the write
// never lands outside it.
func (h Host) ReplaceFile(p string, data []byte, now time.Time) (string, error) {
	real, err := h.resolveLocal(p)
	if err != nil {
		return "", err
	}
	info, err := os.Lstat(real)
	switch {
	case os.IsNotExist(err):
		if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
			return "", err
		}
		return "", WriteFileAtomic(real, data, 0o644)
	case err != nil:
		return "", err
	case info.IsDir():
		return "", fmt.Errorf("%s is a directory, expected a file", p)
	case info.Mode()&os.ModeSymlink != 0:
		// Resolve left no link: one was made since.
		return "", fmt.Errorf("%s changed into a symbolic link while dcor was writing it; run dcor again", real)
	}
	copyPath, err := DatedCopy(real, now)
	if err != nil {
		return "", err
	}
	if err := WriteFileAtomic(real, data, info.Mode().Perm()); err != nil {
		return copyPath, err
	}
	chownLike(real, info)
	return copyPath, nil
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

// DatedCopy copies path to NAME.dcor-YYYYmmdd-HHMMSS beside it and returns
// the copy's path. An existing copy of the same second gets a numeric
// suffix rather than being overwritten.
func DatedCopy(path string, now time.Time) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	src, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	base := path + ".dcor-" + now.Format("20060102-150405")
	dst := base
	var out *os.File
	for i := 1; ; i++ {
		out, err = os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
		if err == nil {
			break
		}
		if !os.IsExist(err) || i > 100 {
			return "", fmt.Errorf("keep a copy of %s: %w", path, err)
		}
		dst = fmt.Sprintf("%s.%d", base, i)
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		os.Remove(dst)
		return "", fmt.Errorf("keep a copy of %s: %w", path, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst)
		return "", err
	}
	if err := out.Close(); err != nil {
		os.Remove(dst)
		return "", err
	}
	chownLike(dst, info)
	return dst, nil
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
