package change

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/DCOR-dev/dcor/host"
)

// BackupDir is where dated copies of replaced files go: a directory that
// no service loads configuration from (nginx includes sites-enabled/*,
// supervisor conf.d/*.conf; a copy there would be loaded too).
const BackupDir = "/var/backups/dcor"

// KeepCopies is how many dated copies of one file are kept.
const KeepCopies = 10

// copySuffix matches the suffix of a dated copy: .dcor-YYYYmmdd-HHMMSS,
// with .N when several were made in one second.
var copySuffix = regexp.MustCompile(`\.dcor-\d{8}-\d{6}(\.\d+)?$`)

// IsDatedCopy reports whether name is the name of a dated copy.
func IsDatedCopy(name string) bool { return copySuffix.MatchString(name) }

// CopyPath is the host path of the dated copy of the file at host path p
// made at now: /var/backups/dcor/<p>.dcor-YYYYmmdd-HHMMSS.
func CopyPath(p string, now time.Time) string {
	return filepath.Join(BackupDir, filepath.Clean("/"+p)) + ".dcor-" + now.Format("20060102-150405")
}

// DatedCopy copies the file at host path p of h to its dated copy in
// BackupDir (atomically, with the original's mode and owner; directories
// 0700, as copies may hold secrets), keeps the newest KeepCopies copies
// of that file, and returns the copy's host path.
func DatedCopy(h host.Host, p string, now time.Time) (string, error) {
	src := h.Path(p)
	info, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("keep a copy of %s: %w", p, err)
	}
	base := CopyPath(p, now)
	dest := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(h.Path(dest)); os.IsNotExist(err) {
			break
		}
		if i > 100 {
			return "", fmt.Errorf("keep a copy of %s: too many copies at %s", p, base)
		}
		dest = fmt.Sprintf("%s.%d", base, i)
	}
	local := h.Path(dest)
	if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
		return "", fmt.Errorf("keep a copy of %s in %s: %w", p, BackupDir, err)
	}
	// Temporary files of copies that a killed run left behind.
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(local), "."+escapeGlob(filepath.Base(p))+".dcor-*.dcor-tmp-*"))
	for _, s := range stale {
		if info, err := os.Lstat(s); err == nil && info.Mode().IsRegular() {
			os.Remove(s)
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("keep a copy of %s: %w", p, err)
	}
	defer in.Close()
	if err := host.WriteStreamAtomic(local, in, info.Mode().Perm()); err != nil {
		return "", fmt.Errorf("keep a copy of %s at %s: %w", p, dest, err)
	}
	chownLike(local, info)
	pruneCopies(h, p)
	return dest, nil
}

// Copies lists the host paths of the dated copies of the file at host
// path p, oldest first.
func Copies(h host.Host, p string) []string {
	dir := filepath.Join(BackupDir, filepath.Dir(filepath.Clean("/"+p)))
	name := filepath.Base(p)
	entries, err := os.ReadDir(h.Path(dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if len(n) > len(name) && n[:len(name)] == name && copySuffix.MatchString(n) && copySuffix.FindStringIndex(n)[0] == len(name) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return copyTime(out[i]) < copyTime(out[j]) })
	return out
}

// copyTime is the sortable date part of a copy's name (with its .N).
func copyTime(p string) string {
	m := copySuffix.FindString(p)
	return m
}

func pruneCopies(h host.Host, p string) {
	all := Copies(h, p)
	for len(all) > KeepCopies {
		os.Remove(h.Path(all[0]))
		all = all[1:]
	}
}

// MoveCopy moves a dated copy that an older dcor left beside the file it
// copied (in a directory a service loads, such as sites-enabled/) to its
// place in BackupDir, and returns the new host path.
func MoveCopy(h host.Host, p string) (string, error) {
	src := h.PathNoFollow(p)
	info, err := os.Lstat(src)
	if err != nil {
		return "", err
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file: left alone", p)
	}
	dest := filepath.Join(BackupDir, filepath.Clean("/"+p))
	local := h.Path(dest)
	if _, err := os.Lstat(local); err == nil {
		return "", fmt.Errorf("%s exists already: move %s by hand", dest, p)
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
		return "", err
	}
	if err := os.Rename(src, local); err != nil {
		// Another file system: copy atomically, then remove the original.
		in, openErr := os.Open(src)
		if openErr != nil {
			return "", openErr
		}
		defer in.Close()
		if err := host.WriteStreamAtomic(local, in, info.Mode().Perm()); err != nil {
			return "", err
		}
		chownLike(local, info)
		if err := os.Remove(src); err != nil {
			return "", err
		}
	}
	return dest, host.SyncDir(filepath.Dir(src))
}
