package host

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// WriteFileAtomic writes data to path so that path holds either its old
// content or all of data, never a part: it writes a temporary file in the
// same directory, fsyncs it, renames it over path and fsyncs the directory.
// The temporary file is removed on any error.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
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
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
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

// ReplaceFile writes a new version of an existing configuration file:
// the old file is first copied to NAME.dcor-YYYYmmdd-HHMMSS beside it
// (mode and owner kept), then the new content replaces it atomically,
// keeping the old file's mode and owner. It returns the path of the copy
// ("" when the file did not exist before).
func ReplaceFile(path string, data []byte, now time.Time) (string, error) {
	info, err := os.Lstat(path)
	switch {
	case os.IsNotExist(err):
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", err
		}
		return "", WriteFileAtomic(path, data, 0o644)
	case err != nil:
		return "", err
	case info.IsDir():
		return "", fmt.Errorf("%s is a directory, expected a file", path)
	}
	if info.Mode()&os.ModeSymlink != 0 {
		// Edit the file the link points to, keep the link.
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return "", err
		}
		return ReplaceFile(target, data, now)
	}
	copyPath, err := DatedCopy(path, now)
	if err != nil {
		return "", err
	}
	if err := WriteFileAtomic(path, data, info.Mode().Perm()); err != nil {
		return copyPath, err
	}
	chownLike(path, info)
	return copyPath, nil
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
