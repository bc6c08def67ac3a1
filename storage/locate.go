package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Locate finds the file of host path p (a resource path or an ancillary
// file beside it), following symbolic links as the host would, and
// returns its path on this machine and the resolved host path. The
// error wraps fs.ErrNotExist, ErrBroken or ErrLoop, or says that p is
// not a regular file.
func (l Layout) Locate(p string) (localPath, resolved string, err error) {
	info, err := os.Lstat(l.Host.Join(p))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("%w: %s does not exist", fs.ErrNotExist, p)
		}
		return "", "", err
	}
	resolved = p
	if info.Mode()&fs.ModeSymlink != 0 {
		resolved, err = newResolver(l.Host).resolve(p)
		if err != nil {
			return "", "", err
		}
		if info, err = os.Stat(l.Host.Join(resolved)); err != nil {
			return "", "", err
		}
	}
	if !info.Mode().IsRegular() {
		return "", "", fmt.Errorf("%s is not a regular file", resolved)
	}
	return l.Host.Join(resolved), resolved, nil
}
