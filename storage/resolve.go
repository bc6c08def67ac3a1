package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/DCOR-dev/dcor/host"
)

// maxHops is how many symbolic links one resolution follows before it
// calls the path a loop (Linux's limit, ELOOP).
const maxHops = 40

var (
	// ErrLoop says that resolving a path met a symbolic link loop (or
	// more than 40 links).
	ErrLoop = errors.New("symbolic link loop")
	// ErrBroken says that a path, or a link on the way, points at
	// nothing.
	ErrBroken = errors.New("broken link")
)

// resolver turns host paths into host paths without symbolic links, as
// the kernel would on the host: absolute link targets start at the
// host's root, ".." never climbs above it. Containment questions are
// then answered on resolved paths, never on the text of link targets.
// A resolver caches the directories it has resolved; it is not safe for
// concurrent use (each scan worker has its own).
type resolver struct {
	host host.Host
	// dirs maps resolved host paths to "is a real directory".
	dirs map[string]bool
}

func newResolver(h host.Host) *resolver {
	return &resolver{host: h, dirs: map[string]bool{}}
}

// resolve follows every symbolic link in host path p. The error wraps
// ErrLoop or ErrBroken (with the resolved prefix that is missing).
func (r *resolver) resolve(p string) (string, error) {
	hops := 0
	resolved := "/"
	rest := splitPath(p)
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = host.ParentDir(resolved)
			continue
		}
		next := host.JoinHost(resolved, c)
		if len(rest) > 0 && r.dirs[next] {
			resolved = next
			continue
		}
		info, err := os.Lstat(r.host.Join(next))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return next, fmt.Errorf("%w: %s does not exist", ErrBroken, next)
		}
		if err != nil {
			return next, err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			hops++
			if hops > maxHops {
				return next, fmt.Errorf("%w at %s", ErrLoop, next)
			}
			target, err := os.Readlink(r.host.Join(next))
			if err != nil {
				return next, err
			}
			if strings.HasPrefix(target, "/") {
				resolved = "/"
			}
			rest = append(splitPath(target), rest...)
			continue
		}
		if len(rest) > 0 {
			if !info.IsDir() {
				return next, fmt.Errorf("%w: %s is not a directory", ErrBroken, next)
			}
			r.dirs[next] = true
		}
		resolved = next
	}
	return resolved, nil
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// baseName is the last component of host path p.
func baseName(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// within reports whether host path p is dir or lies below it; both must
// be resolved and clean. It compares whole path components.
func within(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir) && p[len(dir)] == '/'
}
