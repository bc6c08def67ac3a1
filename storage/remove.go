package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// Outcome is what Clean did.
type Outcome struct {
	// Removed lists the items removed (or moved to the quarantine).
	Removed []Item
	// Skipped lists items left alone because they changed or moved
	// since the scan.
	Skipped []Problem
	// Errors holds one line per item that could not be removed.
	Errors []string
	// Dirs counts the directories that were left empty and removed.
	Dirs int
}

// Bytes is the total size of the removed items.
func (o *Outcome) Bytes() int64 {
	var n int64
	for _, it := range o.Removed {
		n += it.Size
	}
	return n
}

// Clean removes the items of the scan, or, when quarantine is not "",
// moves each to quarantine/<its host path> so that `cp -a` can bring it
// back. quarantine is a directory of this machine (not under --root); it
// must lie outside both trees. Before touching an item Clean checks
// that it is the very file the scan saw (same inode, size and times)
// and that its directory still resolves, without symbolic links, inside
// the resource tree or the users depot. Directories left empty are
// removed up to, not including, the roots of the two trees.
func (r *Result) Clean(l Layout, quarantine string) (*Outcome, error) {
	if quarantine != "" {
		if err := r.checkQuarantine(l, quarantine); err != nil {
			return nil, err
		}
	}
	out := &Outcome{}
	res := newResolver(l.Host)
	dirs := map[string]string{} // emptied candidate dir → its tree root
	for _, it := range r.Remove {
		dir := parentDir(it.Path)
		root := r.rootOf(dir)
		if root == "" {
			out.Errors = append(out.Errors, fmt.Sprintf("%s: outside the resource tree and the users depot; left alone", it.Path))
			continue
		}
		if got, err := res.resolve(dir); err != nil || got != dir {
			out.Skipped = append(out.Skipped, Problem{Changed, it.Path, "its directory moved since the scan; left alone"})
			continue
		}
		local := l.Host.Path(it.Path)
		info, err := os.Lstat(local)
		if errors.Is(err, fs.ErrNotExist) {
			out.Skipped = append(out.Skipped, Problem{Changed, it.Path, "already gone"})
			continue
		}
		if err != nil {
			out.Errors = append(out.Errors, err.Error())
			continue
		}
		if stampOf(info) != it.stamp {
			out.Skipped = append(out.Skipped, Problem{Changed, it.Path, "changed since the scan; left alone"})
			continue
		}
		if quarantine == "" {
			err = os.Remove(local)
		} else {
			err = moveTo(l, it.Path, quarantine)
		}
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", it.Path, unwrapPath(err)))
			continue
		}
		out.Removed = append(out.Removed, it)
		dirs[dir] = root
	}
	ordered := make([]string, 0, len(dirs))
	for d := range dirs {
		ordered = append(ordered, d)
	}
	sort.Slice(ordered, func(i, j int) bool { return len(ordered[i]) > len(ordered[j]) })
	for _, d := range ordered {
		root := dirs[d]
		for d != root && within(d, root) {
			if os.Remove(l.Host.Path(d)) != nil {
				break // not empty (or gone): stop climbing
			}
			out.Dirs++
			d = parentDir(d)
		}
	}
	return out, nil
}

// rootOf is the tree root that holds dir, "" for none.
func (r *Result) rootOf(dir string) string {
	switch {
	case r.resources != "" && within(dir, r.resources):
		return r.resources
	case r.usersDepot != "" && within(dir, r.usersDepot):
		return r.usersDepot
	}
	return ""
}

// checkQuarantine refuses a quarantine directory inside either tree (the
// next scan would find the moved files as orphans again).
func (r *Result) checkQuarantine(l Layout, q string) error {
	if !filepath.IsAbs(q) {
		return fmt.Errorf("quarantine directory %s: give an absolute path", q)
	}
	if info, err := os.Stat(q); err == nil && !info.IsDir() {
		return fmt.Errorf("quarantine %s is not a directory", q)
	}
	real := realLocal(q)
	for _, root := range []string{r.resources, r.usersDepot} {
		if root == "" {
			continue
		}
		if lr := realLocal(l.Host.Path(root)); within(real, lr) || within(lr, real) {
			return fmt.Errorf("quarantine %s overlaps %s; choose a directory outside the resource tree and the users depot", q, root)
		}
	}
	return nil
}

// realLocal resolves the existing part of local path p.
func realLocal(p string) string {
	p = filepath.Clean(p)
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	dir, base := filepath.Split(p)
	if dir == p || dir == "" {
		return p
	}
	return filepath.Join(realLocal(filepath.Clean(dir)), base)
}

// moveTo moves the file at host path p to quarantine/p, creating the
// directories on the way with the modes and owners of the host's.
func moveTo(l Layout, p, quarantine string) error {
	dest := filepath.Join(quarantine, p)
	if err := mirrorDirs(l, parentDir(p), quarantine); err != nil {
		return err
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("%s already exists in the quarantine; left alone", dest)
	}
	src := l.Host.Path(p)
	err := os.Rename(src, dest)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if err := copyAcross(src, dest); err != nil {
		return err
	}
	return os.Remove(src)
}

// mirrorDirs creates quarantine/dir and its parents as the host has them.
func mirrorDirs(l Layout, dir, quarantine string) error {
	if err := os.MkdirAll(quarantine, 0o700); err != nil {
		return err
	}
	var missing []string
	for d := dir; d != "/"; d = parentDir(d) {
		if _, err := os.Lstat(filepath.Join(quarantine, d)); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		mode := fs.FileMode(0o755)
		info, err := os.Stat(l.Host.Path(d))
		if err == nil {
			mode = info.Mode().Perm()
		}
		q := filepath.Join(quarantine, d)
		if err := os.Mkdir(q, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if sys, ok := statSys(info); ok {
			_ = os.Lchown(q, int(sys.Uid), int(sys.Gid)) // best effort, as cp -a
		}
		if err := os.Chmod(q, mode); err != nil {
			return err
		}
	}
	return nil
}

func statSys(info fs.FileInfo) (*syscall.Stat_t, bool) {
	if info == nil {
		return nil, false
	}
	sys, ok := info.Sys().(*syscall.Stat_t)
	return sys, ok
}

// copyAcross copies a file or link to another file system: a file goes
// to a temporary name, is synced, gets mode, owner and times, and is then
// renamed, so that dest never holds a partial file.
func copyAcross(src, dest string) error {
	info, err := os.Lstat(src)
	if err != nil {
		return err
	}
	sys, _ := statSys(info)
	if info.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dest); err != nil {
			return err
		}
		if sys != nil {
			_ = os.Lchown(dest, int(sys.Uid), int(sys.Gid))
		}
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dest + ".dcor-partial"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && sys != nil {
		_ = os.Chown(tmp, int(sys.Uid), int(sys.Gid))
	}
	if err == nil {
		err = os.Chmod(tmp, info.Mode().Perm())
	}
	if err == nil {
		err = os.Chtimes(tmp, time.Time{}, info.ModTime())
	}
	if err == nil {
		err = os.Rename(tmp, dest)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// unwrapPath drops the local path from an *fs.PathError (the caller
// names the host path).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
