// Package backup makes encrypted dumps of the CKAN database of a DCOR
// host, checks them and restores them (facts §7).
//
// Run streams pg_dump --format=custom through OpenPGP encryption (GnuPG
// 2.2 compatible: v4 keys, SEIPD v1 with MDC, no compression) into
// /data/encrypted_db_dumps/YYYY-MM/ckan_db_<host>_<time>.dump_<KEYID>.gpg
// with a .sha256 file beside it. The plain dump never touches the disk
// unless asked for, memory use does not grow with the database, and a
// failed or interrupted backup leaves no file under a final name.
// Restore decrypts a dump to check it, to a file, or into a database.
//
// pg_dump writes to a pipe, so its custom dump has no data offsets in the
// table of contents. pg_restore reads such a dump in order (--list, a
// full restore, also from a pipe); a parallel (-j) or out-of-order
// restore needs the dump as a file (restore-database-backup --to-file).
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/DCOR-dev/dcor/internal/bytesize"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/runner"
)

// Options configure one backup.
type Options struct {
	// DatabaseURL is ckan.ini's sqlalchemy.url. Its password reaches
	// pg_dump through PGPASSWORD, never through the argument list.
	DatabaseURL string
	// AsPostgres runs pg_dump as the system user postgres against the
	// URL's database name over the local socket (peer authentication), as
	// the 2021 tool's "sudo -u postgres pg_dump" did. It needs root.
	AsPostgres bool
	// Recipients are the keys the dump is encrypted to (LoadRecipients).
	Recipients []*Recipient
	// OutDir is the directory of encrypted dumps (host path
	// /data/encrypted_db_dumps); dumps go to OutDir/YYYY-MM/.
	OutDir string
	// Hostname names the dump file; "" means this machine's short name.
	Hostname string
	// KeepPlainDir, when set, also keeps the plain dump the 2021 way:
	// KeepPlainDir/YYYY-MM/ckan_db_<host>_<time>.dump (dir 0500, file 0400).
	KeepPlainDir string
	// Keep, when > 0, keeps only the newest Keep encrypted dumps.
	Keep int
	// KeepDays, when > 0, removes encrypted dumps older than KeepDays days.
	KeepDays int
	// Daily, Monthly and Yearly, when > 0, keep the newest dump of each of
	// the last so many days, months and years (with Keep: also the newest
	// Keep); the others are removed (Retention).
	Daily, Monthly, Yearly int
	// Remote, when set, also receives the encrypted dump (an S3 bucket:
	// streamed as a multipart upload, read back and checked), and is
	// pruned with the same retention.
	Remote Store
	// NoLocal writes no local file: the dump goes to Remote only. The
	// backup lock is still taken in OutDir.
	NoLocal bool
	// VerifyWith, when set, decrypts the new dump with this secret key and
	// checks it with pg_restore before it gets its final name.
	VerifyWith *SecretKey
	// Now is the time that names the dump; zero means now.
	Now time.Time
	// PgDump is the pg_dump program; "" looks it up (PATH, then
	// /usr/lib/postgresql/*/bin).
	PgDump string
	// PgRestore is the pg_restore program for VerifyWith; "" looks it up.
	PgRestore string
	// Progress, when set, is called as the dump streams, with the number
	// of dump bytes encrypted so far.
	Progress func(dumped int64)

	// wrapOutput, in tests, wraps the output file's writer (a disk that
	// fills up).
	wrapOutput func(io.Writer) io.Writer
}

// Result describes a finished backup.
type Result struct {
	// File is the encrypted dump ("" with NoLocal).
	File string
	// Remote is the uploaded object's URL (s3://BUCKET/KEY), else "".
	Remote string
	// Size is its size in bytes.
	Size int64
	// SHA256 is its checksum in hex, also written to File + ".sha256".
	SHA256 string
	// DumpSize is the size of the plain dump that pg_dump wrote.
	DumpSize int64
	// Duration is how long the backup took.
	Duration time.Duration
	// Recipients are the keys the dump was encrypted to.
	Recipients []*Recipient
	// PlainFile is the plain dump kept with KeepPlainDir, else "".
	PlainFile string
	// Verified is the check made with VerifyWith, else nil.
	Verified *Verification
	// Pruned lists the old dumps that retention removed (paths, URLs).
	Pruned []string
	// Stale lists the leftovers of a killed backup of this host that this
	// one removed (….partial files, a .sha256 without its dump).
	Stale []string
}

// Summary is the one line a backup prints under cron: file, size,
// duration and checksum.
func (r *Result) Summary() string {
	where := destinations(r.File, r.Remote)
	s := fmt.Sprintf("encrypted database backup %s: %s in %s, sha256 %s",
		where, bytesize.Format(r.Size), r.Duration.Round(100*time.Millisecond), r.SHA256)
	if r.Verified != nil {
		s += fmt.Sprintf(", verified (%d tables)", r.Verified.Tables)
	}
	if len(r.Pruned) > 0 {
		s += fmt.Sprintf(", removed %d old", len(r.Pruned))
	}
	return s
}

// encryptConfig makes dumps that GnuPG 2.2 decrypts: no AEAD (so SEIPD
// v1 with MDC and v3 PKESK packets), no v6 keys, no compression (the
// custom dump is compressed already), AES-256 when the keys allow it.
// Keys are checked at the real time, not at the time that names the dump.
func encryptConfig() *packet.Config {
	return &packet.Config{
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
		AEADConfig:             nil,
		V6Keys:                 false,
	}
}

// copyBufferSize is the size of the chunks the dump streams in; memory
// use does not depend on the database size.
const copyBufferSize = 256 << 10

// Run makes one encrypted backup. On any failure, and when ctx is
// canceled (SIGINT, SIGTERM), it removes what it wrote, leaves no file
// under a final name and returns an error that includes pg_dump's own
// message.
func Run(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	if len(o.Recipients) == 0 {
		return nil, errors.New("no recipient key: pass --key-id or --key-file")
	}
	if o.OutDir == "" {
		return nil, errors.New("no output directory for encrypted dumps")
	}
	src, err := prepareDump(&o, o.Now)
	if err != nil {
		return nil, err
	}
	db, now, pgDump, pgUser := src.db, src.now, src.pgDump, src.pgUser
	pgRestore := ""
	if o.VerifyWith != nil {
		if !o.VerifyWith.readsFor(o.Recipients) {
			return nil, fmt.Errorf("--verify-with key %s is none of the recipients (%s): it could not read the dump", o.VerifyWith, recipientList(o.Recipients))
		}
		if pgRestore, err = siblingOrOverride(o.PgRestore, pgDump, "pg_restore"); err != nil {
			return nil, err
		}
	}

	if err := makeDir(o.OutDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the dump directory %s: %w (is /data mounted and writable?)", o.OutDir, err)
	}
	unlock, err := lock(o.OutDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	local := &LocalStore{Dir: o.OutDir, wrap: o.wrapOutput}
	stale := local.CleanStale(ctx, o.Hostname, start)
	if o.Remote != nil {
		stale = append(stale, o.Remote.CleanStale(ctx, o.Hostname, start)...)
	}

	var final string
	for {
		final = local.URL(local.Key(now, encryptedFileName(o.Hostname, now, o.Recipients)))
		if _, err := os.Lstat(final); err != nil {
			break
		}
		if !o.Now.IsZero() {
			return nil, fmt.Errorf("%s exists already (a backup of the same second): not overwriting it; run the backup again", final)
		}
		// A backup of this second exists (e.g. the one a live restore takes
		// right after a backup): the names have one-second resolution, so
		// wait, under the lock, for the next second.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(now.Truncate(time.Second).Add(time.Second))):
		}
		now = time.Now()
	}
	name := encryptedFileName(o.Hostname, now, o.Recipients)
	// The targets: the local file unless NoLocal, the S3 object with Remote.
	var uploads []Upload
	var localUp *localUpload
	unfinished := ""
	if !o.NoLocal {
		up, err := local.Create(ctx, local.Key(now, name))
		if err != nil {
			return nil, err
		}
		defer up.Abort()
		localUp = up.(*localUpload)
		uploads = append(uploads, up)
		unfinished = localUp.out.partial
	}
	remoteKey := ""
	var remoteUp Upload
	if o.Remote != nil {
		remoteKey = o.Remote.Key(now, name)
		up, err := o.Remote.Create(ctx, remoteKey)
		if err != nil {
			return nil, err
		}
		defer up.Abort()
		remoteUp = up
		uploads = append(uploads, up)
		if unfinished == "" {
			unfinished = "upload " + o.Remote.URL(remoteKey) + " (aborted)"
		}
	}

	var plain *partialFile
	if o.KeepPlainDir != "" {
		pmonth := filepath.Join(o.KeepPlainDir, now.Format("2006-01"))
		if err := makeDir(o.KeepPlainDir, 0o700); err != nil {
			return nil, fmt.Errorf("--keep-plain: create %s: %w", o.KeepPlainDir, err)
		}
		if filepath.Clean(o.KeepPlainDir) != filepath.Clean(o.OutDir) {
			unlockPlain, err := lock(o.KeepPlainDir)
			if err != nil {
				return nil, fmt.Errorf("--keep-plain: %w", err)
			}
			defer unlockPlain()
			stale = append(stale, removeStale(o.KeepPlainDir, o.Hostname)...)
		}
		if err := makeDir(pmonth, 0o700); err != nil {
			return nil, fmt.Errorf("--keep-plain: create %s: %w", pmonth, err)
		}
		os.Chmod(pmonth, 0o700) // 0500 from an earlier backup: open it while writing
		defer os.Chmod(pmonth, 0o500)
		if plain, err = createPartial(filepath.Join(pmonth, dumpName(o.Hostname, now))); err != nil {
			return nil, fmt.Errorf("--keep-plain: %w", err)
		}
		defer plain.abort()
	}

	// The pipeline: pg_dump | encrypt | (local file, S3 upload, sha256);
	// plain file beside.
	hints := &openpgp.FileHints{IsBinary: true, FileName: dumpName(o.Hostname, now), ModTime: now}
	enc, sum, err := encryptTo(uploads, o.Recipients, hints)
	if err != nil {
		return nil, fmt.Errorf("start encrypting to %s: %w", recipientList(o.Recipients), err)
	}
	var sink io.Writer = enc
	if plain != nil {
		sink = io.MultiWriter(enc, &errWriter{w: plain.f, name: plain.partial})
	}

	dumped, err := dump(ctx, o, db, pgDump, pgUser, sink, unfinished)
	if err != nil {
		return nil, err
	}

	// Finish the OpenPGP message (MDC), then the files and the upload.
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("finish encrypting %s: %w", unfinished, err)
	}
	for _, u := range uploads {
		if err := u.Finish(ctx); err != nil {
			return nil, fmt.Errorf("backup of %s failed: %w; removed the unfinished file", describe(o, db), err)
		}
	}
	if plain != nil {
		if err := plain.finish(); err != nil {
			return nil, fmt.Errorf("--keep-plain: %w", err)
		}
	}
	res := &Result{File: final, Size: sum.n, SHA256: sum.hex(),
		DumpSize: dumped, Recipients: o.Recipients, Stale: stale}
	if o.NoLocal {
		res.File = ""
	}
	if o.VerifyWith != nil {
		// The local file, else the uploaded object, read back.
		v, err := verifyFrom(ctx, unfinished, uploads[0].Open, o.VerifyWith, pgRestore, nil)
		if ctx.Err() == nil && err != nil {
			return nil, fmt.Errorf("the new dump failed verification, removed it: %w", err)
		}
		res.Verified = v
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("backup of %s interrupted (%v): removed the unfinished %s", describe(o, db), context.Cause(ctx), unfinished)
	}
	if localUp != nil {
		if plain != nil {
			localUp.also = []*partialFile{plain}
		}
		if err := localUp.Commit(ctx, res.SHA256); err != nil {
			return nil, err
		}
	} else if plain != nil {
		if err := commit(plain); err != nil {
			return nil, fmt.Errorf("--keep-plain: %w", err)
		}
	}
	if plain != nil {
		res.PlainFile = plain.final
	}
	if remoteUp != nil {
		if err := remoteUp.Commit(ctx, res.SHA256); err != nil {
			if localUp == nil {
				return nil, fmt.Errorf("backup of %s: %w", describe(o, db), err)
			}
			res.Duration = time.Since(start)
			return res, fmt.Errorf("backup %s written, but the upload failed: %w", final, err)
		}
		res.Remote = o.Remote.URL(remoteKey)
	}
	res.Duration = time.Since(start)
	r := o.retention()
	var errs []string
	if localUp != nil {
		pruned, err := pruneLocal(o.OutDir, o.Hostname, r, now, final)
		res.Pruned = append(res.Pruned, pruned...)
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if o.Remote != nil {
		pruned, err := PruneStore(ctx, o.Remote, o.Hostname, KindDatabase, r, now, remoteKey)
		res.Pruned = append(res.Pruned, pruned...)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%v (in %s)", err, o.Remote))
		}
	}
	if len(errs) > 0 {
		where := final
		if localUp == nil {
			where = res.Remote
		}
		return res, fmt.Errorf("backup %s written, but %s", where, strings.Join(errs, "; "))
	}
	return res, nil
}

// retention is the retention policy of the options.
func (o *Options) retention() Retention {
	return Retention{Keep: o.Keep, KeepDays: o.KeepDays, Daily: o.Daily, Monthly: o.Monthly, Yearly: o.Yearly}
}

// dump runs pg_dump and streams its output into sink. Errors say what
// failed and include pg_dump's command line and its own message. pg_dump
// dies with dcor (the runner's parent-death signal), also when it is
// blocked on a lock.
func dump(ctx context.Context, o Options, db *database, pgDump string, pgUser *asPostgres, sink io.Writer, partial string) (int64, error) {
	dumpCtx, stopDump := context.WithCancel(ctx)
	defer stopDump()
	dbname := "--dbname=" + db.uri(db.Name)
	if o.AsPostgres {
		dbname = "--dbname=" + db.localURI(db.Name)
	}
	c := db.pgCommand(pgDump, pgUser, "--format=custom", "--no-password", dbname)
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	c.Stdout = pw
	p, err := runner.Start(dumpCtx, c)
	pw.Close()
	what := describe(o, db)
	if err != nil {
		pr.Close()
		return 0, fmt.Errorf("backup of %s failed: %w", what, err)
	}
	dumped, copyErr := copyDump(sink, pr, o.Progress)
	if copyErr != nil {
		stopDump() // its output has nowhere to go
	}
	pr.Close()
	stderr, waitErr := p.Wait()
	pgMsg := db.redact(runner.Tail(string(stderr)))
	switch {
	case ctx.Err() != nil:
		return 0, fmt.Errorf("backup of %s interrupted (%v): removed the unfinished %s", what, context.Cause(ctx), partial)
	case copyErr != nil && errors.Is(copyErr, errNotCustomDump):
		return 0, fmt.Errorf("pg_dump (%s) of %s: %w%s", pgDump, what, copyErr, withOutput(pgMsg))
	case copyErr != nil: // pg_dump's own message is only that it was stopped
		return 0, fmt.Errorf("backup of %s failed: %w; removed the unfinished file", what, copyErr)
	case waitErr != nil:
		return 0, fmt.Errorf("backup of %s failed: %w", what, waitErr)
	case dumped == 0:
		return 0, fmt.Errorf("pg_dump of %s wrote nothing%s", what, withOutput(pgMsg))
	}
	return dumped, nil
}

// describe names the database being backed up, without its password.
func describe(o Options, db *database) string {
	if o.AsPostgres {
		return fmt.Sprintf("the database %q (as the system user postgres)", db.Name)
	}
	return "the database " + db.Masked()
}

func siblingOrOverride(override, prog, name string) (string, error) {
	if override != "" {
		return override, nil
	}
	return siblingProgram(prog, name)
}

func recipientList(rs []*Recipient) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

func withOutput(msg string) string {
	if msg == "" {
		return ""
	}
	return ":\n" + msg
}

// errNotCustomDump: the program run as pg_dump wrote something else than
// a custom-format dump.
var errNotCustomDump = errors.New("the output is not a custom-format dump (it does not start with PGDMP)")

// copyDump streams pg_dump's output r into w in fixed-size chunks,
// checking that it is a custom-format dump and reporting progress.
func copyDump(w io.Writer, r io.Reader, progress func(int64)) (int64, error) {
	c := &dumpChecker{w: w}
	n, err := copyProgress(c, r, progress)
	if err == nil && n > 0 && len(c.head) < len(dumpMagic) {
		err = errNotCustomDump
	}
	return n, err
}

// dumpMagic starts every custom-format dump.
const dumpMagic = "PGDMP"

// dumpChecker passes writes through to w once the first bytes are the
// custom-format dump magic; otherwise it fails with errNotCustomDump.
type dumpChecker struct {
	w    io.Writer
	head []byte
}

func (c *dumpChecker) Write(p []byte) (int, error) {
	if len(c.head) < len(dumpMagic) {
		c.head = append(c.head, p[:min(len(p), len(dumpMagic)-len(c.head))]...)
		if !strings.HasPrefix(dumpMagic, string(c.head)) {
			return 0, errNotCustomDump
		}
	}
	return c.w.Write(p)
}

// errWriter names the file in write errors ("write X: no space left on
// device").
type errWriter struct {
	w    io.Writer
	name string
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return n, fmt.Errorf("write %s: %w", e.name, err)
	}
	return n, nil
}

// makeDir creates dir with perm when it does not exist (parents 0755).
func makeDir(dir string, perm os.FileMode) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, perm); err != nil && !os.IsExist(err) {
		return err
	}
	return os.Chmod(dir, perm)
}

// partialFile is a file written as NAME.partial and renamed to NAME once
// complete, so that NAME is never a part of a file.
type partialFile struct {
	final, partial string
	f              *os.File
	done           bool
}

func createPartial(final string) (*partialFile, error) {
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("%s exists already: not overwriting it", final)
	}
	p := &partialFile{final: final, partial: final + ".partial"}
	f, err := os.OpenFile(p.partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", p.partial, unwrapPath(err))
	}
	p.f = f
	return p, nil
}

// write writes small content to NAME.partial and finishes it.
func (p *partialFile) write(data []byte) error {
	q, err := createPartial(p.final)
	if err != nil {
		return err
	}
	*p = *q
	if _, err := p.f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", p.partial, unwrapPath(err))
	}
	return p.finish()
}

// finish makes NAME.partial durable and read-only (0400).
func (p *partialFile) finish() error {
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", p.partial, unwrapPath(err))
	}
	if err := p.f.Chmod(0o400); err != nil {
		return fmt.Errorf("chmod %s: %w", p.partial, unwrapPath(err))
	}
	if err := p.f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p.partial, unwrapPath(err))
	}
	p.f = nil
	return nil
}

// abort removes NAME.partial unless it was committed.
func (p *partialFile) abort() {
	if p == nil || p.done || p.partial == "" {
		return
	}
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	os.Remove(p.partial)
	p.partial = ""
}

// commit renames the finished partial files to their final names, in
// order, and fsyncs their directories. When a rename fails, the files
// already renamed are removed again, so that either all or none exist.
func commit(files ...*partialFile) error {
	for i, p := range files {
		if _, err := os.Lstat(p.final); err == nil {
			err = fmt.Errorf("%s appeared while writing: not overwriting it", p.final)
			rollback(files[:i])
			return err
		}
		if err := os.Rename(p.partial, p.final); err != nil {
			rollback(files[:i])
			return fmt.Errorf("rename %s: %w", p.partial, unwrapPath(err))
		}
		p.done = true
		if afterRename != nil {
			afterRename(p.final)
		}
	}
	var paths []string
	for _, p := range files {
		paths = append(paths, p.final)
	}
	return syncDirs(paths)
}

// afterRename, in tests, sees the files after each rename of a commit:
// what a kill at that moment would leave.
var afterRename func(final string)

func rollback(files []*partialFile) {
	for _, p := range files {
		os.Remove(p.final)
		p.done = false
	}
}

// syncDirs fsyncs the directories of paths once each.
func syncDirs(paths []string) error {
	seen := map[string]bool{}
	for _, p := range paths {
		d := filepath.Dir(p)
		if seen[d] {
			continue
		}
		seen[d] = true
		if err := host.SyncDir(d); err != nil {
			return fmt.Errorf("sync directory %s: %w", d, err)
		}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// dumpSource is what every dump (encrypted, plain, instance) needs before
// pg_dump starts: the database, the host name for file names, the time
// that dates the file, pg_dump and, for --as-postgres, its user.
type dumpSource struct {
	db     *database
	now    time.Time
	pgDump string
	pgUser *asPostgres
}

// prepareDump checks o and finds what a dump of its database needs; it
// fills in o.Hostname when empty. now is o.Now's value (zero: the time now).
func prepareDump(o *Options, now time.Time) (*dumpSource, error) {
	db, err := parseDatabaseURL(o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if o.Hostname == "" {
		o.Hostname = host.Hostname()
	}
	if strings.ContainsAny(o.Hostname, "/\x00") || strings.HasPrefix(o.Hostname, ".") {
		return nil, fmt.Errorf("host name %q cannot be part of a file name", o.Hostname)
	}
	if now.IsZero() {
		now = time.Now()
	}
	pgDump, err := findPgProgram("pg_dump", o.PgDump)
	if err != nil {
		return nil, err
	}
	var pgUser *asPostgres
	if o.AsPostgres {
		if pgUser, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	return &dumpSource{db: db, now: now, pgDump: pgDump, pgUser: pgUser}, nil
}

// destinations names where a backup went: its local file, its S3 URL, or
// both.
func destinations(file, remote string) string {
	switch {
	case file == "":
		return remote
	case remote != "":
		return file + " and " + remote
	}
	return file
}

// ciphertext counts and hashes what an encrypted backup writes.
type ciphertext struct {
	n    int64
	hash hash.Hash
}

func (c *ciphertext) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.hash.Write(p)
}

// hex is the sha256 of the ciphertext.
func (c *ciphertext) hex() string { return hex.EncodeToString(c.hash.Sum(nil)) }

// encryptTo returns the OpenPGP writer to recipients whose ciphertext goes
// to every upload, counted and hashed in sum: the one encryption step of
// the database and the instance backups.
func encryptTo(uploads []Upload, recipients []*Recipient, hints *openpgp.FileHints) (io.WriteCloser, *ciphertext, error) {
	sum := &ciphertext{hash: sha256.New()}
	sinks := []io.Writer{sum}
	for _, u := range uploads {
		sinks = append(sinks, u)
	}
	entities := make([]*openpgp.Entity, len(recipients))
	for i, r := range recipients {
		entities[i] = r.entity
	}
	enc, err := openpgp.Encrypt(io.MultiWriter(sinks...), entities, nil, hints, encryptConfig())
	return enc, sum, err
}
