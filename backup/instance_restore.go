package backup

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// InstanceRestoreOptions say where an instance backup is unpacked.
type InstanceRestoreOptions struct {
	// File is the encrypted archive: a file, or a key in Store.
	File  string
	Store Store
	// Key is a secret key of one of the recipients.
	Key *SecretKey
	// To is the directory the archive is unpacked into; it must not exist
	// or be empty. Member names are kept (data/…, backups/database/….pgc).
	To string
	// Overwrite unpacks into a To that is not empty (the live tree, after
	// a fresh backup): members replace the files, links and FIFOs under
	// their names; a directory in the way of a non-directory member is
	// refused, never removed.
	Overwrite bool
	// Progress, when set, is called with the archive bytes read so far.
	Progress func(n int64)
}

// InstanceRestoreResult describes an unpacked instance backup.
type InstanceRestoreResult struct {
	// Entries is the number of members unpacked, Bytes their content.
	Entries int
	Bytes   int64
	// Dump is the unpacked database dump (pg_restore reads it), else "".
	Dump string
	// Skipped are members that were not unpacked (devices as non-root).
	Skipped []string
}

// RestoreInstance decrypts an instance backup and unpacks it into To:
// directories, files, symlinks (as links, never followed), hard links,
// modes, times, and owners when run as root. Member names that leave To
// are refused. A failure leaves what was unpacked so far, in To only.
func RestoreInstance(ctx context.Context, o InstanceRestoreOptions) (*InstanceRestoreResult, error) {
	if o.Key == nil {
		return nil, errors.New("no secret key: pass --secret-key FILE")
	}
	ro := RestoreOptions{File: o.File, Store: o.Store}
	if err := os.MkdirAll(filepath.Dir(o.To), 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(o.To, 0o700); err != nil {
		if !os.IsExist(err) {
			return nil, fmt.Errorf("create %s: %w", o.To, unwrapPath(err))
		}
		entries, err := os.ReadDir(o.To)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", o.To, unwrapPath(err))
		}
		if len(entries) > 0 && !o.Overwrite {
			return nil, fmt.Errorf("%s is not empty: unpack into a new or empty directory", o.To)
		}
	}
	body, done, err := openDumpFrom(ctx, ro.name(), ro.opener(), o.Key)
	if err != nil {
		return nil, err
	}
	defer done()
	root, err := filepath.Abs(o.To)
	if err != nil {
		return nil, err
	}
	res := &InstanceRestoreResult{}
	tr := tar.NewReader(body)
	type dirMeta struct {
		path string
		hdr  *tar.Header
	}
	var dirs []dirMeta
	isRoot := os.Geteuid() == 0
	buf := make([]byte, copyBufferSize)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", ro.name(), err)
		}
		p, err := memberPath(root, hdr.Name)
		if err != nil {
			return res, err
		}
		if err := noLinkParents(root, p); err != nil {
			return res, err
		}
		if o.Overwrite && hdr.Typeflag != tar.TypeDir {
			if err := clearMember(p); err != nil {
				return res, err
			}
		}
		mode := hdr.FileInfo().Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if p == root {
				continue
			}
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.Mkdir(p, 0o700); err != nil && !os.IsExist(err) {
				return res, fmt.Errorf("create %s: %w", p, unwrapPath(err))
			}
			dirs = append(dirs, dirMeta{p, hdr})
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return res, err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
			if err != nil {
				return res, fmt.Errorf("create %s: %w", p, unwrapPath(err))
			}
			n, err := io.CopyBuffer(f, tr, buf)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return res, fmt.Errorf("write %s: %w", p, err)
			}
			res.Bytes += n
			if o.Progress != nil {
				o.Progress(res.Bytes)
			}
			if strings.HasPrefix(hdr.Name, "backups/database/") && strings.HasSuffix(hdr.Name, ".pgc") {
				res.Dump = p
			}
			setMeta(p, hdr, mode, isRoot, false)
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return res, err
			}
			if err := os.Symlink(hdr.Linkname, p); err != nil {
				return res, fmt.Errorf("create the link %s: %w", p, unwrapPath(err))
			}
			setMeta(p, hdr, mode, isRoot, true)
		case tar.TypeLink:
			target, err := memberPath(root, hdr.Linkname)
			if err != nil {
				return res, err
			}
			if err := os.Link(target, p); err != nil {
				return res, fmt.Errorf("create the hard link %s: %w", p, unwrapPath(err))
			}
		case tar.TypeFifo:
			if err := syscall.Mkfifo(p, uint32(mode.Perm())); err != nil {
				return res, fmt.Errorf("create the FIFO %s: %w", p, err)
			}
			setMeta(p, hdr, mode, isRoot, false)
		default:
			res.Skipped = append(res.Skipped, hdr.Name)
			continue
		}
		res.Entries++
	}
	// Directory modes and times last: a 0500 directory still got its files.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		setMeta(d.path, d.hdr, d.hdr.FileInfo().Mode()&(os.ModePerm|os.ModeSetgid|os.ModeSticky), isRoot, false)
	}
	return res, nil
}

// clearMember removes the file, link or FIFO at p that a member
// replaces; a directory there is refused.
func clearMember(p string) error {
	st, err := os.Lstat(p)
	if err != nil {
		return nil
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, but the archive has another kind of entry there: move it away and restore again", p)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("replace %s: %w", p, unwrapPath(err))
	}
	return nil
}

// memberPath is the path of member name under root; names that leave
// root are refused.
func memberPath(root, name string) (string, error) {
	bad := name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0)
	for _, c := range strings.Split(name, "/") {
		bad = bad || c == ".."
	}
	if bad {
		return "", fmt.Errorf("archive member %q is not a relative path inside the archive: refusing it", name)
	}
	return filepath.Join(root, filepath.Clean(name)), nil
}

// noLinkParents refuses p when a directory above it, below root, is a
// symlink (a member "a -> /etc" followed by "a/passwd").
func noLinkParents(root, p string) error {
	rel, _ := filepath.Rel(root, filepath.Dir(p))
	cur := root
	for _, c := range strings.Split(rel, string(filepath.Separator)) {
		if c == "." || c == "" {
			continue
		}
		cur = filepath.Join(cur, c)
		st, err := os.Lstat(cur)
		if err != nil {
			return nil // created as a directory later
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("archive member %s lies below the symlink %s: refusing it", p, cur)
		}
	}
	return nil
}

// setMeta sets mode, owner (root only) and times; errors are ignored as
// tar does for a non-root user.
func setMeta(p string, hdr *tar.Header, mode os.FileMode, isRoot, link bool) {
	if isRoot {
		os.Lchown(p, hdr.Uid, hdr.Gid)
	}
	if link {
		return
	}
	os.Chmod(p, mode)
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	if !hdr.ModTime.IsZero() {
		os.Chtimes(p, atime, hdr.ModTime)
	} else {
		os.Chtimes(p, time.Now(), time.Now())
	}
}
