package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// timeLayout is the time stamp in dump file names (facts §1).
const timeLayout = "2006-01-02_15-04-05"

// encryptedName matches encrypted dump file names:
// ckan_db_<hostname>_YYYY-MM-DD_HH-MM-SS.dump_<KEYID>[+<KEYID>…].gpg.
var encryptedName = regexp.MustCompile(`^ckan_db_(.+)_(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.dump_([0-9A-Fa-f]{8,40}(?:\+[0-9A-Fa-f]{8,40})*)\.gpg$`)

// monthName matches the YYYY-MM directories dumps are kept in.
var monthName = regexp.MustCompile(`^\d{4}-\d{2}$`)

// dumpName is the plain dump's file name (the 2021 tool's).
func dumpName(hostname string, t time.Time) string {
	return "ckan_db_" + hostname + "_" + t.Format(timeLayout) + ".dump"
}

// encryptedFileName is the encrypted dump's file name.
func encryptedFileName(hostname string, t time.Time, recipients []*Recipient) string {
	ids := make([]string, len(recipients))
	for i, r := range recipients {
		ids[i] = r.KeyID
	}
	return dumpName(hostname, t) + "_" + strings.Join(ids, "+") + ".gpg"
}

// encryptedDump is an encrypted dump found in the output directory.
type encryptedDump struct {
	path string
	time time.Time
}

// listDumps lists hostname's encrypted dumps under dir/YYYY-MM/, oldest
// first. Only names that match the naming pattern are listed.
func listDumps(dir, hostname string, loc *time.Location) ([]encryptedDump, error) {
	months, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var dumps []encryptedDump
	for _, m := range months {
		if !m.IsDir() || !monthName.MatchString(m.Name()) {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(dir, m.Name()))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			sm := encryptedName.FindStringSubmatch(e.Name())
			if sm == nil || sm[1] != hostname || !e.Type().IsRegular() {
				continue
			}
			t, err := time.ParseInLocation(timeLayout, sm[2], loc)
			if err != nil {
				continue
			}
			dumps = append(dumps, encryptedDump{path: filepath.Join(dir, m.Name(), e.Name()), time: t})
		}
	}
	sort.Slice(dumps, func(i, j int) bool {
		if !dumps[i].time.Equal(dumps[j].time) {
			return dumps[i].time.Before(dumps[j].time)
		}
		return dumps[i].path < dumps[j].path
	})
	return dumps, nil
}

// prune removes hostname's encrypted dumps (and their .sha256 files)
// in dir beyond the newest keep (keep > 0) and those older than keepDays
// days (keepDays > 0); the dump just written (current) is never removed.
// Month directories left empty are removed. It returns the removed dumps.
func prune(dir, hostname string, keep, keepDays int, now time.Time, current string) ([]string, error) {
	return pruneLocal(dir, hostname, Retention{Keep: keep, KeepDays: keepDays}, now, current)
}

// pruneLocal is PruneStore on the LocalStore of dir, with current a path.
func pruneLocal(dir, hostname string, r Retention, now time.Time, current string) ([]string, error) {
	cur := ""
	if rel, err := filepath.Rel(dir, current); err == nil && current != "" {
		cur = filepath.ToSlash(rel)
	}
	removed, err := PruneStore(context.Background(), &LocalStore{Dir: dir}, hostname, KindDatabase, r, now, cur)
	if err != nil {
		return removed, fmt.Errorf("%w (in %s)", err, dir)
	}
	return removed, nil
}

// plainName matches the plain dump's file name (dumpName).
var plainName = regexp.MustCompile(`^ckan_db_(.+)_(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.dump$`)

// removeStale removes what a killed backup (SIGKILL, power loss) of
// hostname left in dir/YYYY-MM/: NAME.partial files of dcor's own dump
// names (encrypted dump, .sha256, plain dump), and a .sha256 whose
// encrypted dump does not exist (a kill between the two renames of a
// commit, or of a prune). It must run under the backup lock of dir, when
// no other backup can be writing there. Other files are never touched.
// It returns the files it removed.
func removeStale(dir, hostname string) []string {
	var removed []string
	months, _ := os.ReadDir(dir)
	for _, m := range months {
		if !m.IsDir() || !monthName.MatchString(m.Name()) {
			continue
		}
		mdir := filepath.Join(dir, m.Name())
		entries, _ := os.ReadDir(mdir)
		for _, e := range entries {
			if !e.Type().IsRegular() || !staleName(mdir, e.Name(), hostname) {
				continue
			}
			p := filepath.Join(mdir, e.Name())
			if err := removeIn(mdir, p); err == nil {
				removed = append(removed, p)
			}
		}
	}
	if len(removed) > 0 {
		syncDirs(removed)
	}
	return removed
}

// staleName reports whether name, in the month directory mdir, is a
// leftover of a killed backup of hostname.
func staleName(mdir, name, hostname string) bool {
	ours := func(n string) bool {
		if sm := encryptedName.FindStringSubmatch(n); sm != nil {
			return sm[1] == hostname
		}
		if sm := instanceName.FindStringSubmatch(n); sm != nil {
			return sm[1] == hostname
		}
		sm := plainName.FindStringSubmatch(n)
		return sm != nil && sm[1] == hostname
	}
	if base, ok := strings.CutSuffix(name, ".partial"); ok {
		return ours(strings.TrimSuffix(base, ".sha256"))
	}
	if gpg, ok := strings.CutSuffix(name, ".sha256"); ok && ours(gpg) && strings.HasSuffix(gpg, ".gpg") {
		_, err := os.Lstat(filepath.Join(mdir, gpg))
		return os.IsNotExist(err)
	}
	return false
}

// removeIn removes p from dir; a plain dump's month directory is 0500
// after a backup, so it is opened for the removal when needed.
func removeIn(dir, p string) error {
	err := os.Remove(p)
	if !os.IsPermission(err) {
		return err
	}
	st, serr := os.Stat(dir)
	if serr != nil || os.Chmod(dir, st.Mode().Perm()|0o700) != nil {
		return err
	}
	defer os.Chmod(dir, st.Mode().Perm())
	return os.Remove(p)
}
