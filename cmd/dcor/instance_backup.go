package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/internal/bytesize"
	"github.com/spf13/cobra"
)

// instanceBackupDir is DCOR's directory of encrypted instance backups.
const instanceBackupDir = "/backups/instance-encrypted"

// instanceBackupOptions are the flags of `dcor encrypted-instance-backup`.
type instanceBackupOptions struct {
	b                backupOptions
	skipS3           bool
	include, exclude []string
}

// instanceBackupJSON is what encrypted-instance-backup --json prints.
type instanceBackupJSON struct {
	File       string   `json:"file,omitempty"`
	S3         string   `json:"s3,omitempty"`
	Size       int64    `json:"size"`
	SHA256     string   `json:"sha256"`
	DumpSize   int64    `json:"dump_size"`
	Files      int      `json:"files"`
	Bytes      int64    `json:"bytes"`
	Seconds    float64  `json:"duration_seconds"`
	Recipients []string `json:"recipients"`
	Pruned     []string `json:"pruned,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
}

func (a *app) instanceBackupCommand() *cobra.Command {
	var o instanceBackupOptions
	cmd := &cobra.Command{
		Use:   "encrypted-instance-backup",
		Short: "Back the database and the storage tree up, encrypted, to S3 (and /backups/instance-encrypted)",
		Long: `encrypted-instance-backup (dcor_control's name and flags) writes one tar archive
(PAX: symlinks as links, owners, modes and times kept) of the database dump
(member backups/database/ckan_db_<host>_<time>.pgc) and of ckan.storage_path
(members named by the host path without its leading "/", e.g. data/…),
encrypted to the recipients' OpenPGP keys (GnuPG 2.2 decrypts it), as one
stream to
  /backups/instance-encrypted/YYYY-MM/backup_instance_<host>_<time>_<KEYID>_dcor.tar.gpg
and, unless --skip-s3, to the S3 bucket of ckan.ini's dcor_object_store.*
(DCOR's <bucket_name>000000000-backup, key YYYY/MM/<name>) as a multipart
upload that is read back and checked. Nothing readable is ever written to
disk: the dump is spooled (for its size) to an unlinked file encrypted with a
random key held in memory. A failed or interrupted backup leaves nothing
under a final name (the multipart upload is aborted; a killed run's is
aborted by the next run).

--include adds host directories to the archive, --exclude leaves out entries
whose host path or name matches a pattern (filepath.Match: *.tmp,
/data/ckan-*/webassets). Retention (--keep, --keep-daily, …) prunes only
dcor's instance backups of this host, locally and in the bucket.

restore-instance-backup unpacks one into a directory.`,
		Example: `  dcor encrypted-instance-backup --key-id 8FD98B2183B2C228
  dcor encrypted-instance-backup --key-id 8FD98B2183B2C228 --skip-s3 --exclude '*/webassets'
  dcor encrypted-instance-backup --key-id 8FD98B2183B2C228 --no-local --keep-daily 14 --keep-monthly 12 --keep-yearly 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runInstanceBackup(cmd.Context(), o)
		},
	}
	o.b.register(cmd)
	f := cmd.Flags()
	f.Lookup("out-dir").DefValue = instanceBackupDir
	f.Lookup("out-dir").Usage = "host `DIR` of the encrypted instance backups (YYYY-MM/ below it)"
	o.b.outDir = instanceBackupDir
	f.BoolVar(&o.skipS3, "skip-s3", false, "do not upload to S3 (local file only)")
	f.BoolVar(&o.b.noLocal, "no-local", false, "upload to S3 only, write no local file")
	f.StringVar(&o.b.s3f.bucket, "s3-bucket", "", "the S3 `BUCKET` (default: the site file's backup.s3.bucket, else DCOR's <dcor_object_store.bucket_name>000000000-backup)")
	f.StringVar(&o.b.s3f.prefix, "s3-prefix", "", "put the keys under `PREFIX`/YYYY/MM/")
	f.StringArrayVar(&o.include, "include", nil, "also archive host `DIR` (repeatable)")
	f.StringArrayVar(&o.exclude, "exclude", nil, "leave out entries whose host path or name matches `PATTERN` (repeatable)")
	f.IntVar(&o.b.keep, "keep", 0, "keep only the newest `N` instance backups of this host (0: all)")
	f.IntVar(&o.b.keepDays, "keep-days", 0, "remove this host's instance backups older than `D` days (0: never)")
	f.BoolVar(&o.b.quiet, "quiet", false, "print nothing on success and one line on failure (for cron)")
	registerRetention(cmd, &o.b)
	return cmd
}

// runInstanceBackup is `dcor encrypted-instance-backup`.
func (a *app) runInstanceBackup(ctx context.Context, o instanceBackupOptions) error {
	b := o.b
	if len(b.keys.keyIDs) == 0 && len(b.keys.keyFiles) == 0 {
		return usageErrorf("encrypted-instance-backup needs a recipient: --key-id ID or --key-file FILE")
	}
	if b.keep < 0 || b.keepDays < 0 || b.daily < 0 || b.monthly < 0 || b.yearly < 0 {
		return usageErrorf("--keep, --keep-days, --keep-daily, --keep-monthly and --keep-yearly must not be negative")
	}
	if b.noLocal && o.skipS3 {
		return usageErrorf("--no-local and --skip-s3 leave nowhere to write the backup")
	}
	for _, p := range o.exclude {
		if _, err := filepath.Match(p, ""); err != nil {
			return usageErrorf("--exclude %q is not a valid pattern", p)
		}
	}
	fail := func(err error) error {
		msg := err.Error()
		if b.quiet {
			msg = oneLine(msg)
		}
		return &exitError{code: 1, msg: msg}
	}
	b.s3 = !o.skipS3
	bo, err := b.options(ctx, a)
	if err != nil {
		return fail(err)
	}
	f, err := ckanini.Load(a.host().Path(a.ckanIniPath()))
	if err != nil {
		return fail(fmt.Errorf("read ckan.ini %s: %v", a.ckanIniPath(), err))
	}
	var trees []string
	if sp, _ := f.Get("ckan.storage_path"); strings.TrimSpace(sp) != "" {
		trees = append(trees, a.host().Path(strings.TrimSpace(sp)))
	} else if len(o.include) == 0 {
		return fail(fmt.Errorf("ckan.storage_path is not set in %s: set it, or name the directories with --include", a.ckanIniPath()))
	}
	for _, d := range o.include {
		if !filepath.IsAbs(d) {
			return usageErrorf("--include %s: give an absolute host path", d)
		}
		trees = append(trees, a.host().Path(d))
	}
	root := a.root
	if root == "" {
		root = "/"
	}
	io := backup.InstanceOptions{Database: bo, Recipients: bo.Recipients, Trees: trees, Root: root, Exclude: o.exclude,
		OutDir: bo.OutDir, NoLocal: b.noLocal, Remote: bo.Remote,
		Retention: backup.Retention{Keep: b.keep, KeepDays: b.keepDays, Daily: b.daily, Monthly: b.monthly, Yearly: b.yearly}}
	var prog *progressLine
	if isTerminal(a.stderr) && !a.json {
		prog = &progressLine{w: a.stderr, verb: "dumped", start: time.Now()}
		io.Database.Progress = prog.update
	}
	res, err := backup.RunInstance(ctx, io)
	prog.done()
	if err != nil && res == nil {
		return fail(err)
	}
	for _, p := range res.Stale {
		a.logf("removed %s, left by a killed backup", p)
	}
	h := a.host()
	if res.File != "" {
		res.File = h.HostPath(res.File)
	}
	for i, p := range res.Pruned {
		if !strings.HasPrefix(p, "s3://") {
			res.Pruned[i] = h.HostPath(p)
		}
	}
	for _, w := range res.Warnings {
		if !b.quiet {
			fmt.Fprintf(a.stderr, "%s %s\n", a.paint("33", "warning:"), w)
		}
	}
	var perr error
	switch {
	case a.json:
		j := instanceBackupJSON{File: res.File, S3: res.Remote, Size: res.Size, SHA256: res.SHA256, DumpSize: res.DumpSize,
			Files: res.Files, Bytes: res.Bytes, Seconds: res.Duration.Seconds(), Pruned: res.Pruned, Warnings: res.Warnings}
		for _, r := range res.Recipients {
			j.Recipients = append(j.Recipients, r.KeyID)
		}
		perr = a.emit(j)
	case !b.quiet:
		fmt.Fprintln(a.stdout, res.Summary())
		for _, p := range res.Pruned {
			a.logf("removed old backup %s", p)
		}
	}
	if err != nil {
		return fail(err)
	}
	return perr
}

// restoreInstanceOptions are the argument and flags of `dcor
// restore-instance-backup`.
type restoreInstanceOptions struct {
	file, secretKey, passphraseFile, to string
	// force allows DIR to overlap the live storage tree, after a fresh
	// instance backup with the flags in backup.
	force  bool
	backup instanceBackupOptions
}

func (a *app) restoreInstanceCommand() *cobra.Command {
	var o restoreInstanceOptions
	cmd := &cobra.Command{
		Use:   "restore-instance-backup FILE|s3://BUCKET/KEY --to DIR",
		Short: "Decrypt an encrypted instance backup and unpack it into a new directory",
		Long: `restore-instance-backup decrypts an instance backup (a file, or an object of the
S3 bucket streamed down) with the secret key of one of its recipients and
unpacks it into DIR, which must not exist or be empty: the storage tree under
DIR/data/… (symlinks as links, modes, times, and owners when run as root) and
the database dump as DIR/backups/database/….pgc (restore it with pg_restore,
or move the tree into place, with CKAN stopped). It never writes over the
live storage tree (DIR may not be ckan.storage_path, lie inside it or
contain it) unless --force: then it first takes a fresh encrypted instance
backup as encrypted-instance-backup does (give its recipients with --key-id
or --key-file; --skip-s3, --out-dir), and only when that succeeded unpacks
over the tree, replacing the files and links of the archive under their
names (--to / puts data/… back where it was).`,
		Example: `  dcor restore-instance-backup s3://circle-000000000-backup/2025/07/backup_instance_dcor_2025-07-02_05-10-00_8FD98B2183B2C228_dcor.tar.gpg \
    --secret-key /root/backup-secret.asc --to /srv/restore-2025-07-02`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			return a.runRestoreInstance(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.secretKey, "secret-key", "", "secret key `FILE` of one of the recipients")
	f.StringVar(&o.passphraseFile, "passphrase-file", "", "passphrase of the secret key, first line of `FILE`")
	f.StringVar(&o.to, "to", "", "unpack into host `DIR` (new or empty)")
	f.BoolVar(&o.force, "force", false, "allow --to to overlap the live storage tree (a fresh instance backup is taken first)")
	o.backup.b.register(cmd)
	f.Lookup("out-dir").DefValue = instanceBackupDir
	f.Lookup("out-dir").Usage = "with --force: host `DIR` of the fresh instance backup"
	o.backup.b.outDir = instanceBackupDir
	f.BoolVar(&o.backup.skipS3, "skip-s3", false, "with --force: do not upload the fresh backup to S3")
	return cmd
}

// runRestoreInstance is `dcor restore-instance-backup`.
func (a *app) runRestoreInstance(ctx context.Context, o restoreInstanceOptions) error {
	if o.secretKey == "" || o.to == "" {
		return usageErrorf("restore-instance-backup needs --secret-key FILE and --to DIR")
	}
	if !filepath.IsAbs(o.to) {
		return usageErrorf("--to %s: give an absolute host path", o.to)
	}
	overlap := false
	if f, err := ckanini.Load(a.host().Path(a.ckanIniPath())); err == nil {
		if sp, _ := f.Get("ckan.storage_path"); strings.TrimSpace(sp) != "" {
			live := filepath.Clean(strings.TrimSpace(sp))
			to := filepath.Clean(o.to)
			if within(to, live) || within(live, to) {
				if !o.force {
					return &exitError{code: 1, msg: fmt.Sprintf("--to %s overlaps the live storage tree %s (ckan.storage_path): unpack into another directory, or pass --force (a fresh backup is taken first)", o.to, live)}
				}
				overlap = true
			}
		}
	}
	if overlap && len(o.backup.b.keys.keyIDs) == 0 && len(o.backup.b.keys.keyFiles) == 0 {
		return usageErrorf("--force restores over the live storage tree after a fresh encrypted instance backup: give its recipients with --key-id ID or --key-file FILE")
	}
	key, err := loadSecretKey(o.secretKey, o.passphraseFile)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	ro := backup.InstanceRestoreOptions{File: o.file, Key: key, To: a.host().Path(o.to), Overwrite: overlap}
	if bucket, objKey, ok := parseS3URL(o.file); ok {
		st, err := a.s3Store(ctx, s3Flags{bucket: bucket})
		if err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
		ro.Store, ro.File = st, objKey
	} else if strings.HasPrefix(o.file, "s3://") {
		return usageErrorf("%s is not an S3 URL like s3://BUCKET/YYYY/MM/NAME.gpg", o.file)
	}
	if overlap {
		// The fresh backup first; its failure stops the restore. With
		// --json only the restore's document is printed.
		b := o.backup
		json := a.json
		if json {
			b.b.quiet, a.json = true, false
		}
		err := a.runInstanceBackup(ctx, b)
		a.json = json
		if err != nil {
			return err
		}
	}
	res, err := backup.RestoreInstance(ctx, ro)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	dump := ""
	if res.Dump != "" {
		dump = a.host().HostPath(res.Dump)
	}
	if a.json {
		return a.emit(map[string]any{"source": o.file, "to": o.to, "entries": res.Entries, "bytes": res.Bytes, "dump": dump, "skipped": res.Skipped})
	}
	fmt.Fprintf(a.stdout, "unpacked %s into %s: %d entries, %s", o.file, o.to, res.Entries, bytesize.Format(res.Bytes))
	if dump != "" {
		fmt.Fprintf(a.stdout, ", database dump %s", dump)
	}
	fmt.Fprintln(a.stdout)
	for _, s := range res.Skipped {
		a.logf("skipped %s (device file)", s)
	}
	return nil
}

// within says whether the clean path p is dir or lies below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
