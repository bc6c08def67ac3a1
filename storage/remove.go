package storage

import (
	"errors"
	"fmt"
	"github.com/DCOR-dev/dcor/host"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
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
// must lie outside both trees. Every removal and move is made relative
// to directory handles opened from the host's root one component at a
// time without following symbolic links (see dirStack): an item whose
// directory is now a link, or gone, is left alone, and a directory that
// is swapped for a link while Clean runs cannot redirect it. Before
// touching an item Clean checks, on its directory's handle, that it is
// the very file the scan saw (same inode, size and times). Directories
// left empty are removed up to, not including, the roots of the two
// trees.
func (r *Result) Clean(l Layout, quarantine string) (*Outcome, error) {
	var q *dirStack
	if quarantine != "" {
		if err := r.checkQuarantine(l, quarantine); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(quarantine, 0o700); err != nil {
			return nil, fmt.Errorf("quarantine %s: %v", quarantine, unwrapPath(err))
		}
		var err error
		if q, err = openStack(quarantine); err != nil {
			return nil, fmt.Errorf("quarantine %s: %v", quarantine, unwrapPath(err))
		}
		defer q.close()
	}
	src, err := openStack(l.Host.Join("/"))
	if err != nil {
		return nil, err
	}
	defer src.close()
	out := &Outcome{}
	dirs := map[string]string{} // emptied candidate dir → its tree root
	for _, it := range r.Remove {
		dir, name := host.ParentDir(it.Path), baseName(it.Path)
		root := r.rootOf(dir)
		if root == "" || name == "" {
			out.Errors = append(out.Errors, fmt.Sprintf("%s: outside the resource tree and the users depot; left alone", it.Path))
			continue
		}
		fd, err := src.open(dir)
		if moved(err) {
			out.Skipped = append(out.Skipped, Problem{Changed, it.Path, "its directory moved since the scan; left alone"})
			continue
		}
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", dir, err))
			continue
		}
		var st unix.Stat_t
		err = unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			out.Skipped = append(out.Skipped, Problem{Changed, it.Path, "already gone"})
			continue
		}
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("%s: %v", it.Path, err))
			continue
		}
		if stampOfStat(&st) != it.stamp {
			out.Skipped = append(out.Skipped, Problem{Changed, it.Path, "changed since the scan; left alone"})
			continue
		}
		if q == nil {
			err = unix.Unlinkat(fd, name, 0)
		} else {
			err = moveAt(src, fd, q, dir, name, it.stamp)
		}
		var changed errChanged
		if errors.As(err, &changed) {
			out.Skipped = append(out.Skipped, Problem{Changed, it.Path, string(changed)})
			continue
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
			parent := host.ParentDir(d)
			pfd, err := src.open(parent)
			if err != nil || unix.Unlinkat(pfd, baseName(d), unix.AT_REMOVEDIR) != nil {
				break // not empty (or gone, or a link): stop climbing
			}
			out.Dirs++
			d = parent
		}
	}
	return out, nil
}

// errChanged says that an item changed while it was being moved; it is
// left alone.
type errChanged string

func (e errChanged) Error() string { return string(e) }

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
		if lr := realLocal(l.Host.Join(root)); within(real, lr) || within(lr, real) {
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

// moveAt moves the entry name of the directory handle srcDir (host
// directory dir, open on src) to the same host path below the
// quarantine q, creating the directories on the way with the modes and
// owners of the host's. It never replaces an entry of the quarantine.
// Across file systems the file is copied and the original removed.
func moveAt(src *dirStack, srcDir int, q *dirStack, dir, name string, want stamp) error {
	dstDir, err := q.mirror(dir, src)
	if err != nil {
		return err
	}
	err = unix.Renameat2(srcDir, name, dstDir, name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) { // file system without RENAME_NOREPLACE
		err = renameNoReplace(srcDir, name, dstDir, name)
	}
	switch {
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%s already exists in the quarantine; left alone", host.JoinHost(dir, name))
	case !errors.Is(err, unix.EXDEV):
		return err
	}
	if err := copyAt(srcDir, dstDir, name, want); err != nil {
		return err
	}
	// The copy is complete; the original goes unless it changed meanwhile.
	var st unix.Stat_t
	if err := unix.Fstatat(srcDir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || stampOfStat(&st) != want {
		unix.Unlinkat(dstDir, name, 0)
		return errChanged("changed while it was copied to the quarantine; left alone")
	}
	return unix.Unlinkat(srcDir, name, 0)
}

// renameNoReplace renames where renameat2 has no RENAME_NOREPLACE: it
// refuses an existing destination (checked just before, on the handle).
func renameNoReplace(oldDir int, oldName string, newDir int, newName string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(newDir, newName, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return unix.EEXIST
	}
	return unix.Renameat(oldDir, oldName, newDir, newName)
}

// copyAt copies the entry name of srcDir (a file or a link) to dstDir on
// another file system: a file goes to a temporary name, is synced, gets
// mode, owner and times, and is then renamed, so that the quarantine
// never holds a partial file. The file copied must be the one the scan
// saw.
func copyAt(srcDir, dstDir int, name string, want stamp) error {
	var st unix.Stat_t
	if err := unix.Fstatat(srcDir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if stampOfStat(&st) != want {
		return errChanged("changed since the scan; left alone")
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		target, err := readlinkAt(srcDir, name)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(target, dstDir, name); err != nil {
			return err
		}
		_ = unix.Fchownat(dstDir, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
		return unix.UtimesNanoAt(dstDir, name, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("not a regular file or link")
	}
	infd, err := unix.Openat(srcDir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	in := os.NewFile(uintptr(infd), name)
	defer in.Close()
	var got unix.Stat_t
	if err := unix.Fstat(infd, &got); err != nil {
		return err
	}
	if stampOfStat(&got) != want {
		return errChanged("changed since the scan; left alone")
	}
	tmp := name + ".dcor-partial"
	outfd, err := unix.Openat(dstDir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(outfd), tmp)
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if err == nil {
		_ = unix.Fchown(outfd, int(got.Uid), int(got.Gid)) // best effort, as cp -a
		err = unix.Fchmod(outfd, got.Mode&0o7777)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		times := []unix.Timespec{got.Atim, got.Mtim}
		err = unix.UtimesNanoAt(dstDir, tmp, times, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err == nil {
		err = unix.Renameat2(dstDir, tmp, dstDir, name, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) {
			err = renameNoReplace(dstDir, tmp, dstDir, name)
		}
	}
	if err != nil {
		unix.Unlinkat(dstDir, tmp, 0)
	}
	return err
}

// readlinkAt reads the target of link name in dir.
func readlinkAt(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// stampOfStat is the stamp of a stat result (as stampOf).
func stampOfStat(st *unix.Stat_t) stamp {
	return stamp{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
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
