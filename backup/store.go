package backup

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Store is where encrypted backups are kept: a local directory
// (LocalStore) or an S3 bucket (S3Store). The backup writer streams into
// an Upload, and retention and listing work on Objects, the same way for
// both (restic's backend shape).
type Store interface {
	// String names the store in messages: a directory, s3://BUCKET/PREFIX.
	String() string
	// Key is the key of the backup file name made at t.
	Key(t time.Time, name string) string
	// URL names the backup under key in messages and for restore.
	URL(key string) string
	// Create starts writing the backup under key. Nothing exists under
	// key before the Upload is committed; an aborted Upload leaves
	// nothing.
	Create(ctx context.Context, key string) (Upload, error)
	// List lists the backups of hostname that dcor wrote, oldest first.
	// Objects that dcor did not write are never listed.
	List(ctx context.Context, hostname string) ([]Object, error)
	// Open reads the backup under key.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Remove removes the backup under key and its checksum.
	Remove(ctx context.Context, key string) error
	// CleanStale removes what killed backups of hostname left (partial
	// files, unfinished multipart uploads, objects without their
	// checksum) from before the time before (the running backup's start)
	// and returns what it removed. It runs under the backup lock.
	CleanStale(ctx context.Context, hostname string, before time.Time) []string
}

// Upload is a backup being written into a Store.
type Upload interface {
	io.Writer
	// Finish ends the data. Open reads it afterwards (a check before
	// Commit); on S3 the object exists from here on, and Abort removes
	// it again.
	Finish(ctx context.Context) error
	// Open reads the finished data back.
	Open(ctx context.Context) (io.ReadCloser, error)
	// Commit stores the checksum (hex sha256 of all that was written)
	// with the backup and gives it its final name.
	Commit(ctx context.Context, sha256 string) error
	// Abort removes everything the Upload wrote, unless it was committed.
	Abort()
}

// Object is a backup in a Store.
type Object struct {
	// Key is its key in the store.
	Key string `json:"key"`
	// URL names it (a host path or s3://BUCKET/KEY).
	URL string `json:"url"`
	// Kind is "database" or "instance".
	Kind string `json:"kind"`
	// Time is the time in its name.
	Time time.Time `json:"time"`
	// Size is its size in bytes.
	Size int64 `json:"size"`
	// SHA256 is the checksum stored with it ("" when there is none).
	SHA256 string `json:"sha256,omitempty"`
	// Verified says that the stored checksum was checked against the
	// data after the upload (S3: the data read back; local: the .sha256
	// file beside it).
	Verified bool `json:"verified"`
}

// Backup kinds.
const (
	KindDatabase = "database"
	KindInstance = "instance"
)

// instanceName matches instance backup names:
// backup_instance_<host>_YYYY-MM-DD_HH-MM-SS_<KEYID>[+…]_dcor.tar.gpg.
var instanceName = regexp.MustCompile(`^backup_instance_(.+)_(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})_([0-9A-Fa-f]{8,40}(?:\+[0-9A-Fa-f]{8,40})*)_dcor\.tar\.gpg$`)

// instanceFileName is the instance backup's file name.
func instanceFileName(hostname string, t time.Time, recipients []*Recipient) string {
	return "backup_instance_" + hostname + "_" + t.Format(timeLayout) + "_" + keyIDs(recipients) + "_dcor.tar.gpg"
}

func keyIDs(recipients []*Recipient) string {
	ids := make([]string, len(recipients))
	for i, r := range recipients {
		ids[i] = r.KeyID
	}
	return strings.Join(ids, "+")
}

// parseName says whether name is one of dcor's backup names for
// hostname, of which kind, and made when.
func parseName(name, hostname string, loc *time.Location) (kind string, t time.Time, ok bool) {
	sm := encryptedName.FindStringSubmatch(name)
	kind = KindDatabase
	if sm == nil {
		sm = instanceName.FindStringSubmatch(name)
		kind = KindInstance
	}
	if sm == nil || sm[1] != hostname {
		return "", time.Time{}, false
	}
	t, err := time.ParseInLocation(timeLayout, sm[2], loc)
	return kind, t, err == nil
}

// Retention says which backups to keep: the newest Keep, the newest of
// each of the last Daily days, Monthly months and Yearly years (restic's
// --keep-last/-daily/-monthly/-yearly); KeepDays removes everything older
// than that many days in any case. All zero keeps everything.
type Retention struct {
	Keep, KeepDays, Daily, Monthly, Yearly int
}

// Active reports whether r removes anything at all.
func (r Retention) Active() bool {
	return r.Keep > 0 || r.KeepDays > 0 || r.Daily > 0 || r.Monthly > 0 || r.Yearly > 0
}

// String describes r ("keep 10, daily 14, …").
func (r Retention) String() string {
	var s []string
	for _, x := range []struct {
		n    int
		name string
	}{{r.Keep, "last"}, {r.Daily, "daily"}, {r.Monthly, "monthly"}, {r.Yearly, "yearly"}, {r.KeepDays, "max days"}} {
		if x.n > 0 {
			s = append(s, fmt.Sprintf("%s %d", x.name, x.n))
		}
	}
	return strings.Join(s, ", ")
}

// expired returns, for times sorted oldest first, which ones r removes.
func (r Retention) expired(times []time.Time, now time.Time) []bool {
	out := make([]bool, len(times))
	if !r.Active() {
		return out
	}
	gfs := r.Daily > 0 || r.Monthly > 0 || r.Yearly > 0
	keep := make([]bool, len(times))
	if gfs {
		for _, b := range []struct {
			n      int
			layout string
		}{{r.Daily, "2006-01-02"}, {r.Monthly, "2006-01"}, {r.Yearly, "2006"}} {
			last, count := "", 0
			for i := len(times) - 1; i >= 0 && count < b.n; i-- {
				if p := times[i].Format(b.layout); p != last {
					keep[i] = true
					last = p
					count++
				}
			}
		}
	}
	cutoff := now.AddDate(0, 0, -r.KeepDays)
	for i, t := range times {
		newer := len(times) - 1 - i
		inLast := r.Keep > 0 && newer < r.Keep
		old := r.KeepDays > 0 && t.Before(cutoff)
		switch {
		case old:
			out[i] = true
		case gfs:
			out[i] = !keep[i] && !inLast
		default:
			out[i] = r.Keep > 0 && !inLast
		}
	}
	return out
}

// PruneStore removes hostname's backups of kind from s that r expires;
// current (the key just written) is never removed. It returns the URLs
// it removed.
func PruneStore(ctx context.Context, s Store, hostname, kind string, r Retention, now time.Time, current string) ([]string, error) {
	if !r.Active() {
		return nil, nil
	}
	all, err := s.List(ctx, hostname)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	var objs []Object
	var times []time.Time
	for _, o := range all {
		if o.Kind == kind {
			objs = append(objs, o)
			times = append(times, o.Time)
		}
	}
	var removed, errs []string
	for i, exp := range r.expired(times, now) {
		if !exp || objs[i].Key == current {
			continue
		}
		if err := s.Remove(ctx, objs[i].Key); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		removed = append(removed, objs[i].URL)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("retention: %s", strings.Join(errs, "; "))
	}
	return removed, nil
}

// LocalStore keeps backups in Dir/YYYY-MM/NAME with NAME.sha256 beside
// them (directories 0700, files 0400), written as NAME.partial and
// renamed.
type LocalStore struct {
	Dir string

	// wrap, in tests, wraps the file's writer (a disk that fills up).
	wrap func(io.Writer) io.Writer
}

func (l *LocalStore) String() string { return l.Dir }

// Key is YYYY-MM/name.
func (l *LocalStore) Key(t time.Time, name string) string {
	return t.Format("2006-01") + "/" + name
}

// URL is the file's path.
func (l *LocalStore) URL(key string) string { return filepath.Join(l.Dir, filepath.FromSlash(key)) }

// Create starts KEY.partial (the month directory is made 0700).
func (l *LocalStore) Create(ctx context.Context, key string) (Upload, error) {
	final := l.URL(key)
	if err := makeDir(filepath.Dir(final), 0o700); err != nil {
		return nil, fmt.Errorf("create the dump directory %s: %w", filepath.Dir(final), err)
	}
	out, err := createPartial(final)
	if err != nil {
		return nil, err
	}
	var w io.Writer = out.f
	if l.wrap != nil {
		w = l.wrap(w)
	}
	return &localUpload{out: out, w: bufio.NewWriterSize(&errWriter{w: w, name: out.partial}, 1<<20)}, nil
}

type localUpload struct {
	out, sum *partialFile
	w        *bufio.Writer
	// also are more finished partial files committed with this one (the
	// --keep-plain dump): all or none get their names.
	also []*partialFile
}

func (u *localUpload) Write(p []byte) (int, error) { return u.w.Write(p) }

func (u *localUpload) Finish(ctx context.Context) error {
	if err := u.w.Flush(); err != nil {
		return err
	}
	return u.out.finish()
}

func (u *localUpload) Open(ctx context.Context) (io.ReadCloser, error) {
	return os.Open(u.out.partial)
}

// Commit writes NAME.sha256 and renames both: the .sha256 gets its name
// first, so that a file under its final name always has its checksum
// beside it (a kill between the renames leaves a .sha256 alone, which
// the next backup removes).
func (u *localUpload) Commit(ctx context.Context, sum string) error {
	u.sum = &partialFile{final: u.out.final + ".sha256"}
	line := sum + "  " + filepath.Base(u.out.final) + "\n"
	if err := u.sum.write([]byte(line)); err != nil {
		return err
	}
	return commit(append([]*partialFile{u.sum, u.out}, u.also...)...)
}

func (u *localUpload) Abort() {
	u.out.abort()
	u.sum.abort()
}

// List lists hostname's backups under Dir/YYYY-MM/, oldest first.
func (l *LocalStore) List(ctx context.Context, hostname string) ([]Object, error) {
	months, err := os.ReadDir(l.Dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var objs []Object
	for _, m := range months {
		if !m.IsDir() || !monthName.MatchString(m.Name()) {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(l.Dir, m.Name()))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			kind, t, ok := parseName(e.Name(), hostname, time.Local)
			if !ok || !e.Type().IsRegular() {
				continue
			}
			key := m.Name() + "/" + e.Name()
			o := Object{Key: key, URL: l.URL(key), Kind: kind, Time: t}
			if st, err := e.Info(); err == nil {
				o.Size = st.Size()
			}
			if b, err := os.ReadFile(o.URL + ".sha256"); err == nil {
				if f := strings.Fields(string(b)); len(f) == 2 && f[1] == e.Name() && len(f[0]) == 64 {
					o.SHA256, o.Verified = f[0], true
				}
			}
			objs = append(objs, o)
		}
	}
	sortObjects(objs)
	return objs, nil
}

func sortObjects(objs []Object) {
	sort.Slice(objs, func(i, j int) bool {
		if !objs[i].Time.Equal(objs[j].Time) {
			return objs[i].Time.Before(objs[j].Time)
		}
		return objs[i].Key < objs[j].Key
	})
}

// Open opens the file under key.
func (l *LocalStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return os.Open(l.URL(key))
}

// Remove removes the file under key, its .sha256, and its month
// directory when that is empty.
func (l *LocalStore) Remove(ctx context.Context, key string) error {
	p := l.URL(key)
	if err := os.Remove(p); err != nil {
		return err
	}
	if err := os.Remove(p + ".sha256"); err != nil && !os.IsNotExist(err) {
		return err
	}
	month := filepath.Dir(p)
	if os.Remove(month) == nil { // only succeeds when empty
		return syncDirs([]string{month})
	}
	return syncDirs([]string{p})
}

// CleanStale removes partial files of killed backups (removeStale).
func (l *LocalStore) CleanStale(ctx context.Context, hostname string, before time.Time) []string {
	return removeStale(l.Dir, hostname)
}
