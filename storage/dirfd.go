package storage

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// dirFlags open a directory without following a symbolic link: a
// component that is a link (or no directory) is ELOOP or ENOTDIR.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// dirStack holds open handles of the directories of one path below a
// base directory, each opened relative to the one above it without
// following symbolic links. Every removal and move of Clean is made
// relative to these handles, never by path: a directory that another
// process swaps for a link during the run cannot redirect it (the
// handle stays on the directory that was opened; the link is refused).
// Opening the next path reuses the handles of the components it shares
// with the last one.
type dirStack struct {
	base  int
	names []string
	fds   []int
}

// openStack opens the base directory at local path base (followed as
// given: it is --root, "/" or the quarantine an administrator named).
func openStack(base string) (*dirStack, error) {
	fd, err := unix.Open(base, dirFlags&^unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: base, Err: err}
	}
	return &dirStack{base: fd}, nil
}

// components splits a clean absolute host path into its names; "." and
// ".." are refused (resolved paths have none).
func components(p string) ([]string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, nil
	}
	names := strings.Split(p, "/")
	for _, n := range names {
		if n == "" || n == "." || n == ".." {
			return nil, fmt.Errorf("%s is not a resolved path", p)
		}
	}
	return names, nil
}

// top is the handle of the deepest open directory.
func (s *dirStack) top() int {
	if len(s.fds) == 0 {
		return s.base
	}
	return s.fds[len(s.fds)-1]
}

// truncate closes the handles below depth n.
func (s *dirStack) truncate(n int) {
	for len(s.fds) > n {
		unix.Close(s.fds[len(s.fds)-1])
		s.fds = s.fds[:len(s.fds)-1]
		s.names = s.names[:len(s.names)-1]
	}
}

// shared is how many leading names path has in common with the stack.
func (s *dirStack) shared(names []string) int {
	i := 0
	for i < len(names) && i < len(s.names) && names[i] == s.names[i] {
		i++
	}
	return i
}

// open returns the handle of host path dir. An error from the walk is
// a unix.Errno: ELOOP or ENOTDIR when a component is a link or no
// directory, ENOENT when it is gone.
func (s *dirStack) open(dir string) (int, error) {
	names, err := components(dir)
	if err != nil {
		return -1, err
	}
	s.truncate(s.shared(names))
	for _, n := range names[len(s.names):] {
		fd, err := unix.Openat(s.top(), n, dirFlags, 0)
		if err != nil {
			return -1, err
		}
		s.fds = append(s.fds, fd)
		s.names = append(s.names, n)
	}
	return s.top(), nil
}

// mirror returns the handle of host path dir below the base, creating
// the missing directories with the mode and owner of the same
// directories of src (which must hold dir open), as cp -a would.
func (s *dirStack) mirror(dir string, src *dirStack) (int, error) {
	names, err := components(dir)
	if err != nil {
		return -1, err
	}
	s.truncate(s.shared(names))
	for _, n := range names[len(s.names):] {
		depth := len(s.names)
		created := false
		err := unix.Mkdirat(s.top(), n, 0o700)
		switch {
		case err == nil:
			created = true
		case !errors.Is(err, unix.EEXIST):
			return -1, err
		}
		fd, err := unix.Openat(s.top(), n, dirFlags, 0)
		if err != nil {
			return -1, err
		}
		s.fds = append(s.fds, fd)
		s.names = append(s.names, n)
		if created && depth < len(src.fds) && src.names[depth] == n {
			var st unix.Stat_t
			if unix.Fstat(src.fds[depth], &st) == nil {
				_ = unix.Fchown(fd, int(st.Uid), int(st.Gid)) // best effort, as cp -a
				if err := unix.Fchmod(fd, st.Mode&0o7777); err != nil {
					return -1, err
				}
			}
		}
	}
	return s.top(), nil
}

// close closes every handle.
func (s *dirStack) close() {
	if s == nil {
		return
	}
	s.truncate(0)
	unix.Close(s.base)
}

// moved reports whether err from open means that the directory is no
// longer where the scan saw it (a link now, or gone).
func moved(err error) bool {
	return errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENOENT)
}
