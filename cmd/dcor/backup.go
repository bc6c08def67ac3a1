package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/internal/bytesize"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/site"
	"github.com/spf13/cobra"
)

// backupKeyFlags are the flags that choose the recipients of a backup.
type backupKeyFlags struct {
	keyIDs   []string
	keyFiles []string
	keyDir   string
}

func (k *backupKeyFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&k.keyIDs, "key-id", nil, "encrypt to the public key with this `ID` (16-hex long id or fingerprint; repeatable), found in the key directory, else in root's GnuPG keyring")
	f.StringArrayVar(&k.keyFiles, "key-file", nil, "encrypt to the public key in `FILE` (repeatable)")
	f.StringVar(&k.keyDir, "key-dir", "", "host `DIR` of recipients' armored public keys (default: the site file's backup.key_dir, else "+host.DefaultBackupKeyDir+")")
}

// recipients loads the recipient keys the flags name.
func (k *backupKeyFlags) recipients(ctx context.Context, a *app, s *site.Site) ([]*backup.Recipient, error) {
	dir := k.keyDir
	if dir == "" {
		dir = s.BackupKeyDir()
	}
	return backup.LoadRecipients(ctx, backup.KeySources{IDs: k.keyIDs, Files: k.keyFiles, Dir: a.host().Path(dir),
		Warn: func(msg string) { fmt.Fprintf(a.stderr, "%s %s\n", a.paint("33", "warning:"), msg) }})
}

// backupSite is the site file for backups: a missing one is fine (the
// machine's host name, the default key directory).
func (a *app) backupSite() (*site.Site, error) {
	s, err := a.siteFile()
	if err != nil && !errors.Is(err, site.ErrNoSiteFile) {
		return nil, err
	}
	return s, nil
}

// ckanDatabaseURL is ckan.ini's sqlalchemy.url.
func (a *app) ckanDatabaseURL() (string, error) {
	path := a.ckanIniPath()
	f, err := ckanini.Load(a.host().Path(path))
	if err != nil {
		return "", fmt.Errorf("read ckan.ini %s: %v (set --ckan-ini or $CKAN_INI)", path, err)
	}
	return ckandb.IniURL(f.Get, path)
}

// backupOptions are the flags of `dcor encrypted-database-backup`;
// restore-database-backup takes the ones register declares for the fresh
// backup before a restore into the live database.
type backupOptions struct {
	keys           backupKeyFlags
	outDir         string
	keepPlain      string
	keep, keepDays int
	// daily, monthly and yearly keep the newest dump of so many days,
	// months and years (restic's --keep-daily, …).
	daily, monthly, yearly int
	// s3 also uploads the dump to the S3 bucket; noLocal writes no
	// local file.
	s3, noLocal    bool
	s3f            s3Flags
	verifyWith     string
	passphraseFile string
	asPostgres     bool
	pgDump         string
	quiet          bool
}

// register declares the flags that restore-database-backup shares.
func (b *backupOptions) register(cmd *cobra.Command) {
	b.keys.register(cmd)
	f := cmd.Flags()
	f.StringVar(&b.outDir, "out-dir", host.EncryptedDumpsDir, "host `DIR` of the encrypted dumps (YYYY-MM/ below it)")
	f.BoolVar(&b.asPostgres, "as-postgres", false, "run pg_dump as the system user postgres (peer authentication) instead of with sqlalchemy.url's password")
	f.StringVar(&b.pgDump, "pg-dump", "", "pg_dump `PROGRAM` (default: from PATH, else the newest /usr/lib/postgresql/*/bin)")
}

// options turns the flags into backup options.
func (b *backupOptions) options(ctx context.Context, a *app) (backup.Options, error) {
	s, err := a.backupSite()
	if err != nil {
		return backup.Options{}, err
	}
	dbURL, err := a.ckanDatabaseURL()
	if err != nil {
		return backup.Options{}, err
	}
	rs, err := b.keys.recipients(ctx, a, s)
	if err != nil {
		return backup.Options{}, err
	}
	o := backup.Options{DatabaseURL: dbURL, AsPostgres: b.asPostgres, Recipients: rs,
		OutDir: a.host().Path(b.outDir), Hostname: s.HostnameOrDefault(), Keep: b.keep, KeepDays: b.keepDays,
		Daily: b.daily, Monthly: b.monthly, Yearly: b.yearly, PgDump: b.pgDump, NoLocal: b.noLocal}
	if b.s3 {
		st, err := a.s3Store(ctx, b.s3f)
		if err != nil {
			return o, err
		}
		o.Remote = st
	}
	if b.keepPlain != "" {
		o.KeepPlainDir = a.host().Path(b.keepPlain)
	}
	if b.verifyWith != "" {
		if o.VerifyWith, err = loadSecretKey(b.verifyWith, b.passphraseFile); err != nil {
			return o, err
		}
	}
	return o, nil
}

// loadSecretKey reads a secret key, unlocked with the passphrase in
// passphraseFile (first line) when given.
func loadSecretKey(path, passphraseFile string) (*backup.SecretKey, error) {
	var pass []byte
	if passphraseFile != "" {
		p, err := readSecretFile(passphraseFile)
		if err != nil {
			return nil, err
		}
		pass = []byte(p)
	}
	return backup.LoadSecretKey(path, pass)
}

// backupJSON is what encrypted-database-backup --json prints.
type backupJSON struct {
	File       string               `json:"file,omitempty"`
	S3         string               `json:"s3,omitempty"`
	Size       int64                `json:"size"`
	SHA256     string               `json:"sha256"`
	DumpSize   int64                `json:"dump_size"`
	Seconds    float64              `json:"duration_seconds"`
	Recipients []string             `json:"recipients"`
	PlainFile  string               `json:"plain_file,omitempty"`
	Verified   *backup.Verification `json:"verified,omitempty"`
	Pruned     []string             `json:"pruned,omitempty"`
}

func (a *app) backupCommand() *cobra.Command {
	var o backupOptions
	cmd := &cobra.Command{
		Use:   "encrypted-database-backup",
		Short: "Back the CKAN database up, encrypted to OpenPGP keys, into /data/encrypted_db_dumps",
		Long: `encrypted-database-backup runs pg_dump --format=custom on the database of
ckan.ini's sqlalchemy.url and streams the dump, encrypted to the recipients'
public keys (GnuPG 2.2 decrypts it), to
  /data/encrypted_db_dumps/YYYY-MM/ckan_db_<host>_YYYY-MM-DD_HH-MM-SS.dump_<KEYID>.gpg
(directory 0700, file 0400) with a .sha256 file beside it. The plain dump never
touches the disk unless --keep-plain asks for it. A failed or interrupted
backup leaves no file under a final name and exits 1; a second backup while
one runs exits 1 at once.

Recipients: --key-id looks the key up in the key directory (*.asc), then in
root's GnuPG keyring; --key-file takes a key file. Several recipients make one
file that any of them decrypts. Expired and revoked keys, and keys without an
encryption subkey, are refused.

Under cron it prints exactly one line (file, size, duration, sha256); on a
terminal it also shows progress. With --quiet (the scheduled job) it prints
nothing on success and one line on failure, so that cron mails only failures.
A backup that was killed (SIGKILL, power loss) leaves ….partial files; the
next backup of this host removes them (the plain dump's with the same
--keep-plain). Key files and --verify-with are paths on this
machine; the directories are host paths (under --root).`,
		Example: `  dcor encrypted-database-backup --key-id 8FD98B2183B2C228
  dcor encrypted-database-backup --key-id 8FD98B2183B2C228 --key-file /root/admin2.asc --keep-days 90
  dcor encrypted-database-backup --key-id 8FD98B2183B2C228 --verify-with /root/backup-secret.asc`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runBackup(cmd.Context(), o)
		},
	}
	o.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.keepPlain, "keep-plain", "", "also keep the plain dump under host `DIR`/YYYY-MM/ (the 2021 way: dir 0500, file 0400)")
	f.IntVar(&o.keep, "keep", 0, "keep only the newest `N` encrypted dumps of this host (0: all)")
	f.IntVar(&o.keepDays, "keep-days", 0, "remove this host's encrypted dumps older than `D` days (0: never)")
	f.StringVar(&o.verifyWith, "verify-with", "", "decrypt the new dump with the secret key in `FILE` and check it with pg_restore before it gets its name")
	f.StringVar(&o.passphraseFile, "passphrase-file", "", "passphrase of the --verify-with key, first line of `FILE`")
	f.BoolVar(&o.quiet, "quiet", false, "print nothing on success and one line on failure (for cron, which mails any output)")
	registerRetention(cmd, &o)
	registerS3(cmd, &o)
	return cmd
}

// runBackup is `dcor encrypted-database-backup`.
func (a *app) runBackup(ctx context.Context, o backupOptions) error {
	if len(o.keys.keyIDs) == 0 && len(o.keys.keyFiles) == 0 {
		return usageErrorf("encrypted-database-backup needs a recipient: --key-id ID or --key-file FILE")
	}
	if o.keep < 0 || o.keepDays < 0 || o.daily < 0 || o.monthly < 0 || o.yearly < 0 {
		return usageErrorf("--keep, --keep-days, --keep-daily, --keep-monthly and --keep-yearly must not be negative")
	}
	if o.noLocal && !o.s3 {
		return usageErrorf("--no-local writes the dump to S3 only: give --s3 too")
	}
	if (o.s3f.bucket != "" || o.s3f.prefix != "") && !o.s3 {
		return usageErrorf("--s3-bucket and --s3-prefix apply to --s3")
	}
	if o.noLocal && o.keepPlain != "" {
		a.logf("--keep-plain with --no-local: the plain dump is the only local file")
	}
	if o.passphraseFile != "" && o.verifyWith == "" {
		return usageErrorf("--passphrase-file unlocks the --verify-with key: give --verify-with too")
	}
	bo, err := o.options(ctx, a)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	var prog *progressLine
	if isTerminal(a.stderr) && !a.json {
		prog = &progressLine{w: a.stderr, verb: "dumped", start: time.Now()}
		bo.Progress = prog.update
	}
	for _, r := range bo.Recipients {
		a.logf("recipient %s from %s", r, r.Source)
	}
	res, err := backup.Run(ctx, bo)
	prog.done()
	fail := func(err error) error {
		msg := err.Error()
		if o.quiet {
			msg = oneLine(msg)
		}
		return &exitError{code: 1, msg: msg}
	}
	if err != nil && res == nil {
		return fail(err)
	}
	for _, p := range res.Stale {
		a.logf("removed %s, left by a killed backup", a.host().HostPath(p))
	}
	var perr error
	if !o.quiet || a.json {
		perr = a.printBackup(res)
	}
	if err != nil { // written, but retention failed
		return fail(err)
	}
	return perr
}

// oneLine folds a message into one line: its lines, trimmed, joined by
// " | ".
func oneLine(msg string) string {
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " | ")
}

// printBackup prints a finished backup: one line, or its JSON document.
func (a *app) printBackup(res *backup.Result) error {
	h := a.host()
	if res.File != "" {
		res.File = h.HostPath(res.File)
	}
	if res.PlainFile != "" {
		res.PlainFile = h.HostPath(res.PlainFile)
	}
	for i, p := range res.Pruned {
		if !strings.HasPrefix(p, "s3://") {
			res.Pruned[i] = h.HostPath(p)
		}
	}
	if a.json {
		j := backupJSON{File: res.File, S3: res.Remote, Size: res.Size, SHA256: res.SHA256, DumpSize: res.DumpSize,
			Seconds: res.Duration.Seconds(), PlainFile: res.PlainFile, Verified: res.Verified, Pruned: res.Pruned}
		for _, r := range res.Recipients {
			j.Recipients = append(j.Recipients, r.KeyID)
		}
		return a.emit(j)
	}
	fmt.Fprintln(a.stdout, res.Summary())
	for _, p := range res.Pruned {
		a.logf("removed old dump %s", p)
	}
	return nil
}

// progressLine shows bytes and rate on a terminal, at most 5 times a
// second, on one line that done clears.
type progressLine struct {
	w       io.Writer
	verb    string
	start   time.Time
	last    time.Time
	printed bool
}

func (p *progressLine) update(n int64) {
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	rate := float64(n) / now.Sub(p.start).Seconds()
	fmt.Fprintf(p.w, "\r\x1b[K%s %s (%s/s)", p.verb, bytesize.Format(n), bytesize.Format(int64(rate)))
	p.printed = true
}

func (p *progressLine) done() {
	if p != nil && p.printed {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// registerRetention declares the retention flags beyond --keep and
// --keep-days.
func registerRetention(cmd *cobra.Command, o *backupOptions) {
	f := cmd.Flags()
	f.IntVar(&o.daily, "keep-daily", 0, "keep the newest dump of each of the last `N` days (with --keep: also the newest --keep)")
	f.IntVar(&o.monthly, "keep-monthly", 0, "keep the newest dump of each of the last `N` months")
	f.IntVar(&o.yearly, "keep-yearly", 0, "keep the newest dump of each of the last `N` years")
}

// registerS3 declares --s3, --no-local, --s3-bucket and --s3-prefix.
func registerS3(cmd *cobra.Command, o *backupOptions) {
	f := cmd.Flags()
	f.BoolVar(&o.s3, "s3", false, "also upload the encrypted dump to the S3 bucket of ckan.ini's dcor_object_store.* (streamed, read back and checked; pruned with the same retention)")
	f.BoolVar(&o.noLocal, "no-local", false, "with --s3: write no local file, upload only")
	f.StringVar(&o.s3f.bucket, "s3-bucket", "", "the S3 `BUCKET` (default: the site file's backup.s3.bucket, else DCOR's <dcor_object_store.bucket_name>000000000-backup)")
	f.StringVar(&o.s3f.prefix, "s3-prefix", "", "put the keys under `PREFIX`/YYYY/MM/ (default: none, as DCOR)")
}
