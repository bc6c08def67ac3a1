package storage

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/DCOR-dev/dcor/host"
)

// Tree is what lies below one directory: counted by ScanTree, or what
// RemoveTree removed.
type Tree struct {
	// Dir is the host path of the directory, every link on the way to it
	// resolved inside the root.
	Dir string `json:"dir"`
	// Exists is false when the directory does not exist.
	Exists bool `json:"exists"`
	// Files counts the entries that are not directories (links counted as
	// files, never followed).
	Files int `json:"files"`
	// Dirs counts the directories below Dir.
	Dirs int `json:"dirs"`
	// Bytes is the size of the files.
	Bytes int64 `json:"bytes"`
	// Top lists the names directly in Dir, sorted.
	Top []string `json:"top,omitempty"`
}

// ScanTree counts what lies below host path dir without changing
// anything: the preview of RemoveTree.
func ScanTree(h host.Host, dir string) (Tree, error) {
	return walkTree(h, dir, false, true)
}

// RemoveTree removes everything below host path dir; with keepDir the
// directory itself stays (empty), else it goes too. The links on the way
// to dir are resolved inside the root (an operator may link
// /var/lib/ckan elsewhere); from there on every removal is made on
// directory handles opened one component at a time without following
// links, as Clean does: a link inside the tree is removed as a link and
// never followed, and a directory swapped for a link while RemoveTree
// runs cannot redirect it outside the tree. A missing dir is no error.
func RemoveTree(h host.Host, dir string, keepDir bool) (Tree, error) {
	return walkTree(h, dir, true, keepDir)
}

func walkTree(h host.Host, dir string, remove, keepDir bool) (Tree, error) {
	local, err := h.Resolve(dir)
	if err != nil {
		return Tree{Dir: dir}, fmt.Errorf("%s: %v", dir, err)
	}
	resolved := h.HostPath(local)
	t := Tree{Dir: resolved}
	if resolved == "/" {
		return t, fmt.Errorf("%s resolves to the root directory: refusing to remove it", dir)
	}
	st, err := openStack(h.Join("/"))
	if err != nil {
		return t, err
	}
	defer st.close()
	fd, err := st.open(resolved)
	switch {
	case errors.Is(err, unix.ENOENT):
		return t, nil
	case err != nil:
		return t, fmt.Errorf("open %s: %v", resolved, err)
	}
	t.Exists = true
	names, err := dirNames(fd, resolved)
	if err != nil {
		return t, err
	}
	sort.Strings(names)
	t.Top = names
	if err := walkDir(fd, resolved, names, remove, &t); err != nil {
		return t, err
	}
	if remove && !keepDir {
		parent, err := st.open(host.ParentDir(resolved))
		if err != nil {
			return t, fmt.Errorf("open %s: %v", host.ParentDir(resolved), err)
		}
		if err := unix.Unlinkat(parent, baseName(resolved), unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
			return t, fmt.Errorf("remove %s: %v", resolved, err)
		}
	}
	return t, nil
}

// dirNames lists the names in the directory open as fd.
func dirNames(fd int, path string) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, fmt.Errorf("read %s: %v", path, err)
	}
	f := os.NewFile(uintptr(dup), path)
	defer f.Close()
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("read %s: %v", path, unwrapPath(err))
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %v", path, unwrapPath(err))
	}
	return names, nil
}

// walkDir counts (and with remove, removes) the entries names of the
// directory open as fd, depth first.
func walkDir(fd int, path string, names []string, remove bool, t *Tree) error {
	for _, n := range names {
		p := path + "/" + n
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("stat %s: %v", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if remove {
				if err := unix.Unlinkat(fd, n, 0); err != nil && !errors.Is(err, unix.ENOENT) {
					return fmt.Errorf("remove %s: %v", p, err)
				}
			}
			t.Files++
			t.Bytes += st.Size
			continue
		}
		cfd, err := unix.Openat(fd, n, dirFlags, 0)
		if err != nil {
			if moved(err) {
				continue // swapped for a link or gone since the stat: not ours to follow
			}
			return fmt.Errorf("open %s: %v", p, err)
		}
		sub, err := dirNames(cfd, p)
		if err == nil {
			err = walkDir(cfd, p, sub, remove, t)
		}
		unix.Close(cfd)
		if err != nil {
			return err
		}
		if remove {
			if err := unix.Unlinkat(fd, n, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("remove %s: %v", p, err)
			}
		}
		t.Dirs++
	}
	return nil
}
