package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/DCOR-dev/dcor/internal/runner"
)

// RestoreOptions say what Restore does with an encrypted dump: exactly
// one of Verify, ToFile and TargetDB.
type RestoreOptions struct {
	// File is the encrypted dump (…dump_KEYID.gpg): a file, or the key
	// of an object in Store.
	File string
	// Store, when set, holds File (an S3 bucket): the dump streams down
	// from it, nothing is downloaded first.
	Store Store
	// Key is a secret key of one of the dump's recipients.
	Key *SecretKey

	// Verify decrypts the dump and reads it with pg_restore (the table of
	// contents with --list, and every data block), writing nothing.
	Verify bool
	// ToFile writes the plain dump to this path (mode 0400, atomically).
	ToFile string
	// TargetDB creates this database and restores the dump into it. When
	// it is the live database of DatabaseURL, Force is needed, a fresh
	// backup is taken first (Backup), and the restore replaces the
	// database's objects in one transaction.
	TargetDB string

	// DatabaseURL is ckan.ini's sqlalchemy.url: the server, user and
	// password TargetDB is created and restored with.
	DatabaseURL string
	// AsPostgres runs createdb and pg_restore as the system user postgres
	// (peer authentication); the new database is owned by the URL's user.
	AsPostgres bool
	// Force allows restoring into the live database.
	Force bool
	// Backup configures the fresh backup taken before restoring into the
	// live database.
	Backup *Options
	// PgRestore is the pg_restore program; createdb and dropdb are taken
	// from beside it. "" looks them up.
	PgRestore string
	// Progress, when set, is called with the number of dump bytes
	// decrypted so far.
	Progress func(n int64)
}

// Verification is what checking a dump with pg_restore found.
type Verification struct {
	// Entries is the number of table-of-contents entries (pg_restore --list).
	Entries int `json:"entries"`
	// Tables is the number of TABLE DATA entries among them.
	Tables int `json:"tables"`
	// DumpSize is the size of the decrypted dump.
	DumpSize int64 `json:"dump_size"`
}

// RestoreResult describes a finished Restore.
type RestoreResult struct {
	// Verified is set for Verify.
	Verified *Verification
	// DumpSize is the size of the decrypted dump.
	DumpSize int64
	// Backup is the fresh backup taken before restoring into the live
	// database.
	Backup *Result
}

// Restore decrypts an encrypted dump and verifies it, writes it to a
// file, or restores it into a database.
func Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	modes := 0
	for _, on := range []bool{o.Verify, o.ToFile != "", o.TargetDB != ""} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		return nil, errors.New("say what to do with the dump: exactly one of --verify, --to-file PATH and --target-db NAME")
	}
	if o.Key == nil {
		return nil, errors.New("no secret key: pass --secret-key FILE (a secret key of one of the dump's recipients)")
	}
	if o.Store == nil {
		if _, err := os.Stat(o.File); err != nil {
			return nil, fmt.Errorf("encrypted dump %s: %w", o.File, unwrapPath(err))
		}
	}
	switch {
	case o.Verify:
		pgRestore, err := findPgProgram("pg_restore", o.PgRestore)
		if err != nil {
			return nil, err
		}
		v, err := verifyFrom(ctx, o.name(), o.opener(), o.Key, pgRestore, o.Progress)
		if err != nil {
			return nil, err
		}
		return &RestoreResult{Verified: v, DumpSize: v.DumpSize}, nil
	case o.ToFile != "":
		n, err := decryptToFile(ctx, o.name(), o.opener(), o.Key, o.ToFile, o.Progress)
		if err != nil {
			return nil, err
		}
		return &RestoreResult{DumpSize: n}, nil
	}
	return restoreDB(ctx, o)
}

// opener opens an encrypted dump for reading (a file, an S3 object).
type opener func(ctx context.Context) (io.ReadCloser, error)

// fileOpener opens the file path.
func fileOpener(path string) opener {
	return func(context.Context) (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, unwrapPath(err))
		}
		return f, nil
	}
}

// name names the dump in messages.
func (o *RestoreOptions) name() string {
	if o.Store != nil {
		return o.Store.URL(o.File)
	}
	return o.File
}

// opener opens the dump, from the store or the file.
func (o *RestoreOptions) opener() opener {
	if o.Store != nil {
		st, key := o.Store, o.File
		return func(ctx context.Context) (io.ReadCloser, error) { return st.Open(ctx, key) }
	}
	return fileOpener(o.File)
}

// openDump opens the encrypted dump path (a file) for reading with key.
func openDump(ctx context.Context, path string, key *SecretKey) (io.Reader, func(), error) {
	return openDumpFrom(ctx, path, fileOpener(path), key)
}

// openDumpFrom opens the encrypted dump named name for reading with key.
// Errors from the returned reader say that the dump is damaged.
func openDumpFrom(ctx context.Context, name string, open opener, key *SecretKey) (io.Reader, func(), error) {
	f, err := open(ctx)
	if err != nil {
		return nil, nil, err
	}
	md, err := openpgp.ReadMessage(bufio.NewReaderSize(f, 1<<20), key.keys, nil, &packet.Config{})
	if err != nil {
		f.Close()
		if errors.Is(err, pgperrors.ErrKeyIncorrect) {
			return nil, nil, fmt.Errorf("%s cannot be decrypted with %s: the dump is encrypted to %s", name, key, encryptedTo(ctx, open))
		}
		return nil, nil, fmt.Errorf("%s is not a readable OpenPGP encrypted file: %v", name, err)
	}
	if !md.IsEncrypted {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not encrypted: expected an encrypted dump (…dump_KEYID.gpg)", name)
	}
	return &dumpReader{ctx: ctx, r: md.UnverifiedBody, path: name}, func() { f.Close() }, nil
}

// encryptedTo lists the key ids an OpenPGP message is encrypted to.
func encryptedTo(ctx context.Context, open opener) string {
	f, err := open(ctx)
	if err != nil {
		return "unknown keys"
	}
	defer f.Close()
	var ids []string
	pr := packet.NewReader(bufio.NewReader(f))
	for {
		p, err := pr.Next()
		if err != nil {
			break
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			break
		}
		ids = append(ids, fmt.Sprintf("%016X", ek.KeyId))
	}
	if len(ids) == 0 {
		return "unknown keys"
	}
	return "key ids " + strings.Join(ids, ", ")
}

// dumpReader reads a decrypted dump, stops when ctx is done, and names
// the file in errors (a bad MDC at the end means a damaged file).
type dumpReader struct {
	ctx  context.Context
	r    io.Reader
	path string
}

// errDamaged marks read errors of the encrypted file.
type errDamaged struct {
	path string
	err  error
}

func (e *errDamaged) Error() string {
	return fmt.Sprintf("%s is damaged or incomplete: %v", e.path, e.err)
}

func (e *errDamaged) Unwrap() error { return e.err }

func (d *dumpReader) Read(p []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("it ends too early (truncated)")
		}
		err = &errDamaged{path: d.path, err: err}
	}
	return n, err
}

// decryptToFile writes the plain dump to dst (0400, atomically).
func decryptToFile(ctx context.Context, path string, open opener, key *SecretKey, dst string, progress func(int64)) (int64, error) {
	body, done, err := openDumpFrom(ctx, path, open, key)
	if err != nil {
		return 0, err
	}
	defer done()
	out, err := createPartial(dst)
	if err != nil {
		return 0, err
	}
	defer out.abort()
	w := bufio.NewWriterSize(&errWriter{w: out.f, name: out.partial}, 1<<20)
	n, err := copyProgress(w, body, progress)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return n, err
	}
	if err := out.finish(); err != nil {
		return n, err
	}
	return n, commit(out)
}

// copyProgress copies r to w in fixed-size chunks, calling progress with
// the bytes copied so far after each chunk.
func copyProgress(w io.Writer, r io.Reader, progress func(int64)) (int64, error) {
	buf := make([]byte, copyBufferSize)
	var n int64
	for {
		m, rerr := r.Read(buf)
		if m > 0 {
			if _, err := w.Write(buf[:m]); err != nil {
				return n, err
			}
			n += int64(m)
			if progress != nil {
				progress(n)
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// verifyFile decrypts an encrypted dump and reads all of it with
// pg_restore: --list proves the table of contents readable, a restore
// to /dev/null proves every data block complete. Nothing is written.
func verifyFile(ctx context.Context, path string, key *SecretKey, pgRestore string) (*Verification, error) {
	return verifyFrom(ctx, path, fileOpener(path), key, pgRestore, nil)
}

// verifyFrom is verifyFile of the dump that open opens, named path.
func verifyFrom(ctx context.Context, path string, open opener, key *SecretKey, pgRestore string, progress func(int64)) (*Verification, error) {
	body, done, err := openDumpFrom(ctx, path, open, key)
	if err != nil {
		return nil, err
	}
	defer done()

	toc := &tocCounter{}
	list, listIn, err := startFed(ctx, runner.Cmd{Path: pgRestore, Args: []string{"--list"}, Dir: "/", Stdout: toc})
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	full, fullIn, err := startFed(ctx, runner.Cmd{Path: pgRestore, Args: []string{"--file=/dev/null"}, Dir: "/"})
	if err != nil {
		listIn.Close()
		list.Wait()
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	// pg_restore --list stops reading after the table of contents: the
	// rest of the stream goes to the full read only.
	n, copyErr := copyProgress(io.MultiWriter(&lenientWriter{w: listIn}, fullIn), body, progress)
	listIn.Close()
	fullIn.Close()
	_, listWait := list.Wait()
	_, fullWait := full.Wait()
	var damaged *errDamaged
	if copyErr != nil && !errors.As(copyErr, &damaged) && ctx.Err() == nil {
		// pg_restore gave up early: a damaged file explains it best.
		if _, err := io.Copy(io.Discard, body); err != nil {
			copyErr = err
		}
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("verify %s: %w", path, context.Cause(ctx))
	case errors.As(copyErr, &damaged):
		return nil, copyErr
	case fullWait != nil:
		return nil, fmt.Errorf("the dump in %s is incomplete or unreadable: %w", path, fullWait)
	case listWait != nil:
		return nil, fmt.Errorf("the table of contents of the dump in %s is unreadable: %w", path, listWait)
	case copyErr != nil:
		return nil, fmt.Errorf("verify %s: %w", path, copyErr)
	case toc.entries == 0:
		return nil, fmt.Errorf("the dump in %s lists no entries (pg_restore --list)", path)
	}
	return &Verification{Entries: toc.entries, Tables: toc.tables, DumpSize: n}, nil
}

// startFed starts c with a pipe on its standard input, which the caller
// writes and closes.
func startFed(ctx context.Context, c runner.Cmd) (*runner.Process, *os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	c.Stdin = pr
	p, err := runner.Start(ctx, c)
	pr.Close()
	if err != nil {
		pw.Close()
		return nil, nil, err
	}
	return p, pw, nil
}

// lenientWriter writes to w until w fails (the reader went away), then
// drops everything.
type lenientWriter struct {
	w      io.Writer
	failed bool
}

func (l *lenientWriter) Write(p []byte) (int, error) {
	if !l.failed {
		if _, err := l.w.Write(p); err != nil {
			l.failed = true
		}
	}
	return len(p), nil
}

// tocCounter counts the entries of pg_restore --list output.
type tocCounter struct {
	line            []byte
	entries, tables int
}

func (t *tocCounter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b != '\n' {
			if len(t.line) < 4096 {
				t.line = append(t.line, b)
			}
			continue
		}
		l := bytes.TrimSpace(t.line)
		if len(l) > 0 && l[0] != ';' {
			t.entries++
			if bytes.Contains(l, []byte(" TABLE DATA ")) {
				t.tables++
			}
		}
		t.line = t.line[:0]
	}
	return len(p), nil
}

// restoreDB restores the dump into o.TargetDB.
func restoreDB(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	db, err := parseDatabaseURL(o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	target := o.TargetDB
	if strings.HasPrefix(target, "-") || strings.ContainsAny(target, "\x00/") || len(target) > 63 {
		return nil, fmt.Errorf("--target-db %q is not a usable database name", target)
	}
	pgRestore, err := findPgProgram("pg_restore", o.PgRestore)
	if err != nil {
		return nil, err
	}
	var pgUser *asPostgres
	if o.AsPostgres {
		if pgUser, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	uri := db.uri
	if o.AsPostgres {
		uri = db.localURI
	}
	pg := func(prog string, args ...string) runner.Cmd { return db.pgCommand(prog, pgUser, args...) }
	res := &RestoreResult{}
	live := target == db.Name
	if live {
		if !o.Force {
			return nil, fmt.Errorf("--target-db %s is the live CKAN database of ckan.ini: restoring replaces its data; add --force to do it (a fresh encrypted backup is taken first)", target)
		}
		if o.Backup == nil {
			return nil, errors.New("restoring into the live database needs a fresh backup first, but no backup is configured: pass --key-id")
		}
		// Read all of the dump before touching anything: pg_restore could
		// commit before a damaged end of the file shows.
		if _, err := verifyFrom(ctx, o.name(), o.opener(), o.Key, pgRestore, nil); err != nil {
			return nil, fmt.Errorf("nothing was restored: %w", err)
		}
		b, err := Run(ctx, *o.Backup)
		if err != nil {
			return nil, fmt.Errorf("the fresh backup before restoring failed, nothing was restored: %w", err)
		}
		res.Backup = b
	} else {
		createdb, err := siblingProgram(pgRestore, "createdb")
		if err != nil {
			return nil, err
		}
		args := []string{"--maintenance-db=" + uri(db.Name), "--template=template0", "--no-password"}
		if o.AsPostgres && db.User != "" {
			args = append(args, "--owner="+db.User)
		}
		if out, err := runner.Run(ctx, pg(createdb, append(args, "--", target)...)); err != nil {
			hint := fmt.Sprintf("choose another --target-db, or drop it first (dropdb %s)", target)
			if strings.Contains(string(out), "permission denied to create database") {
				hint = fmt.Sprintf("the user %s may not create databases: add --as-postgres (createdb and pg_restore run as the system user postgres), or ALTER ROLE %s CREATEDB", db.User, db.User)
			}
			return nil, fmt.Errorf("create the database %q failed: %w\n%s", target, err, hint)
		}
	}

	body, done, err := openDumpFrom(ctx, o.name(), o.opener(), o.Key)
	if err != nil {
		dropNew(ctx, live, pgRestore, db, pgUser, uri, target)
		return nil, err
	}
	defer done()
	args := []string{"--dbname=" + uri(target), "--no-password", "--exit-on-error", "--single-transaction"}
	if live {
		args = append(args, "--clean", "--if-exists")
	}
	p, stdin, err := startFed(ctx, pg(pgRestore, args...))
	if err != nil {
		dropNew(ctx, live, pgRestore, db, pgUser, uri, target)
		return nil, fmt.Errorf("restore into the database %q failed: %w", target, err)
	}
	n, copyErr := copyProgress(stdin, body, o.Progress)
	stdin.Close()
	_, waitErr := p.Wait()
	res.DumpSize = n
	var damaged *errDamaged
	if ctx.Err() == nil && copyErr == nil && waitErr == nil {
		return res, nil
	}
	var why error
	switch {
	case ctx.Err() != nil:
		why = fmt.Errorf("interrupted (%v)", context.Cause(ctx))
	case errors.As(copyErr, &damaged):
		why = copyErr
	case waitErr != nil:
		why = waitErr
	default:
		why = copyErr
	}
	if live {
		return res, fmt.Errorf("restore into the live database %q failed: %w\nthe database is unchanged (the restore ran in one transaction)", target, why)
	}
	dropNew(context.WithoutCancel(ctx), live, pgRestore, db, pgUser, uri, target)
	return res, fmt.Errorf("restore into the new database %q failed, dropped it again: %w", target, why)
}

// dropNew drops a database that restoreDB created, after a failure.
func dropNew(ctx context.Context, live bool, pgRestore string, db *database, pgUser *asPostgres, uri func(string) string, target string) {
	if live {
		return
	}
	dropdb, err := siblingProgram(pgRestore, "dropdb")
	if err != nil {
		return
	}
	runner.Run(ctx, db.pgCommand(dropdb, pgUser, "--maintenance-db="+uri(db.Name), "--no-password", "--if-exists", "--", target))
}
