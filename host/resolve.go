package host

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// MaxLinks is how many symbolic links one resolution follows before it
// calls the path a loop (Linux's limit; the error is ELOOP).
const MaxLinks = 40

// Resolve returns the path on this machine of host path p with every
// symbolic link on the way resolved as the host would see it: an
// absolute link target starts at the root, ".." never climbs above it,
// so the result always lies under the root. The last component is
// followed too. The part of p that does not exist is kept as written
// (a dangling link gives its target, so that writing the result creates
// the file the link names). Relative paths are taken relative to the
// host's "/".
//
// The error wraps syscall.ELOOP (more than MaxLinks links, a loop) or
// syscall.ENOTDIR (a component on the way is a file), or is the error of
// a failed lstat or readlink.
func (h Host) Resolve(p string) (string, error) {
	resolved, _, err := h.resolve(p)
	return h.Join(resolved), err
}

// resolve is Resolve in host paths. On an error it returns the host path
// the resolution stopped at and the components still to resolve.
func (h Host) resolve(p string) (string, []string, error) {
	hops := 0
	resolved := "/" // a clean host path without links
	missing := 0    // how many trailing components of resolved do not exist
	rest := strings.Split(p, "/")
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = ParentDir(resolved)
			if missing > 0 {
				missing--
			}
			continue
		}
		next := JoinHost(resolved, c)
		if missing > 0 {
			// Below a missing directory nothing exists: keep the names.
			resolved, missing = next, missing+1
			continue
		}
		local := h.Join(next)
		info, err := os.Lstat(local)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			resolved, missing = next, 1
			continue
		case err != nil:
			// ENOTDIR here means a directory on the way changed under us.
			return next, rest, err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			hops++
			if hops > MaxLinks {
				return next, rest, &fs.PathError{Op: "resolve", Path: next, Err: syscall.ELOOP}
			}
			target, err := os.Readlink(local)
			if err != nil {
				return next, rest, err
			}
			if strings.HasPrefix(target, "/") {
				resolved = "/"
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		if !info.IsDir() && hasName(rest) {
			return next, rest, &fs.PathError{Op: "resolve", Path: next, Err: syscall.ENOTDIR}
		}
		resolved = next
	}
	return resolved, nil, nil
}

// hasName reports whether components hold anything but empty names, as
// "file/" or "file/." still need file to be a directory.
func hasName(components []string) bool {
	for _, c := range components {
		if c != "" {
			return true
		}
	}
	return false
}

// JoinHost joins a name to a clean host path dir by its text ("/" +
// "etc" is "/etc").
func JoinHost(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// ParentDir is the parent of a clean host path ("/" for "/" and "/x").
func ParentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// Path returns the path on this machine of host path p (absolute, as
// written in configuration files; a relative path is taken relative to
// the host's "/"). Under a root other than "/" every symbolic link on
// the way, the last component included, is resolved inside the root
// (see Resolve), so that reading or writing the result never leaves the
// root. On the live host ("/") the path is only cleaned: the kernel
// resolves it.
//
// When p cannot be resolved, Path returns a path on which the caller's
// system call fails as the kernel's own resolution would: through the
// file in the way ("not a directory") or the directory dcor may not
// search ("permission denied"); for a symbolic link loop or any other
// failure, a path that every system call refuses (it holds a NUL byte),
// never a link's way out of the root. Resolve returns these errors.
//
// To act on a link itself (lstat, readlink, remove, symlink) use
// PathNoFollow.
func (h Host) Path(p string) string {
	if h.Live() {
		return h.Join(p)
	}
	resolved, rest, err := h.resolve(p)
	if err == nil {
		return h.Join(resolved)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && (pe.Op == "resolve" && pe.Err == syscall.ENOTDIR ||
		pe.Op == "lstat" && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENAMETOOLONG))) {
		// A file in the way, or a directory dcor may not search: the
		// kernel stops at the same component, whatever follows, and the
		// caller's error says why.
		local := h.Join(resolved)
		if len(rest) > 0 {
			local += "/" + strings.Join(rest, "/")
		}
		return local
	}
	// A loop, or another failure: a path no system call takes, never a
	// link's way out of the root.
	return h.Join(resolved) + "\x00"
}

// PathNoFollow is Path for acting on the last component itself (lstat,
// readlink, remove, rename, symlink): the directories on the way are
// resolved inside the root as by Path, the last name is not followed.
func (h Host) PathNoFollow(p string) string {
	if h.Live() {
		return h.Join(p)
	}
	i := strings.LastIndexByte(p, '/')
	base := p[i+1:]
	if base == "" || base == "." || base == ".." {
		return h.Path(p)
	}
	dir := "/"
	if i > 0 {
		dir = p[:i]
	}
	return filepath.Join(h.Path(dir), base)
}

// Join places host path p under the root by its text alone: no
// symbolic link is resolved and ".." is cleaned lexically (it cannot
// climb above the root). It is for paths the caller has resolved itself
// (storage's resolver, which checks every component); anything else
// uses Path.
func (h Host) Join(p string) string {
	if h.Live() {
		return filepath.Join("/", p)
	}
	return filepath.Join(h.Root, filepath.Clean("/"+p))
}
