package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/DCOR-dev/dcor/internal/bytesize"
	"github.com/spf13/cobra"
)

// restoreJSON is what restore-database-backup --json prints.
type restoreJSON struct {
	File     string               `json:"file"`
	Action   string               `json:"action"`
	Target   string               `json:"target,omitempty"`
	DumpSize int64                `json:"dump_size"`
	Verified *backup.Verification `json:"verified,omitempty"`
	Backup   string               `json:"fresh_backup,omitempty"`
}

// restoreOptions are the argument and flags of `dcor
// restore-database-backup`.
type restoreOptions struct {
	// file is the encrypted dump.
	file                      string
	secretKey, passphraseFile string
	toFile, targetDB          string
	verify, force             bool
	// backup holds the flags of the fresh backup that --force takes
	// first (recipients, --out-dir, --as-postgres, --pg-dump).
	backup backupOptions
}

func (a *app) restoreCommand() *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore-database-backup FILE|s3://BUCKET/KEY",
		Short: "Decrypt an encrypted database dump: verify it, write it to a file, or restore it into a database",
		Long: `restore-database-backup decrypts an encrypted dump (…dump_KEYID.gpg) with the
secret key of one of its recipients and does one of (FILE may be an object
in the S3 bucket of off-site backups, s3://BUCKET/YYYY/MM/NAME.gpg: it streams
down, with the endpoint and credentials of ckan.ini's dcor_object_store.*, the
site file's backup.s3 or the AWS_* environment):

  --verify          pipe it into pg_restore (--list, and a full read): proves
                    the dump complete and readable; writes nothing
  --to-file PATH    write the plain dump (mode 0400, atomically)
  --target-db NAME  create database NAME on the server of ckan.ini's
                    sqlalchemy.url and restore into it (in one transaction;
                    a failed restore drops NAME again)

Restoring into the live database of ckan.ini needs --force, and first takes a
fresh encrypted backup (give its recipients with --key-id or --key-file); the
restore then replaces the database's objects in one transaction.
--as-postgres runs createdb and pg_restore as the system user postgres, for
when the CKAN database user may not create databases.`,
		Example: `  dcor restore-database-backup /data/encrypted_db_dumps/2024-03/ckan_db_dcor_2024-03-05_00-02-01.dump_8FD98B2183B2C228.gpg \
    --secret-key /root/backup-secret.asc --verify
  dcor restore-database-backup FILE --secret-key KEY.asc --target-db ckan_restored --as-postgres`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			return a.runRestore(cmd.Context(), o)
		},
	}
	o.backup.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.secretKey, "secret-key", "", "secret key `FILE` of one of the dump's recipients (gpg --export-secret-keys --armor ID)")
	f.StringVar(&o.passphraseFile, "passphrase-file", "", "passphrase of the secret key, first line of `FILE`")
	f.BoolVar(&o.verify, "verify", false, "decrypt and read the whole dump with pg_restore; write nothing")
	f.StringVar(&o.toFile, "to-file", "", "write the plain dump to `PATH` (0400)")
	f.StringVar(&o.targetDB, "target-db", "", "create database `NAME` and restore into it")
	f.BoolVar(&o.force, "force", false, "allow --target-db to be the live database of ckan.ini (a fresh backup is taken first)")
	return cmd
}

// runRestore is `dcor restore-database-backup`. With --json its one
// document is the restore's (the fresh backup's file in fresh_backup),
// or the fresh backup's when the restore after it failed.
func (a *app) runRestore(ctx context.Context, o restoreOptions) error {
	if strings.HasPrefix(o.file, "s3://") {
		if _, _, ok := parseS3URL(o.file); !ok {
			return usageErrorf("%s is not an S3 URL like s3://BUCKET/YYYY/MM/NAME.gpg", o.file)
		}
	}
	modes := 0
	for _, on := range []bool{o.verify, o.toFile != "", o.targetDB != ""} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		return usageErrorf("say what to do with the dump: exactly one of --verify, --to-file PATH and --target-db NAME")
	}
	if o.secretKey == "" {
		return usageErrorf("restore-database-backup needs --secret-key FILE (the secret key of one of the dump's recipients)")
	}
	if o.force && o.targetDB == "" {
		return usageErrorf("--force only applies to --target-db")
	}
	key, err := loadSecretKey(o.secretKey, o.passphraseFile)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	ro := backup.RestoreOptions{File: o.file, Key: key, Verify: o.verify, ToFile: o.toFile, TargetDB: o.targetDB,
		AsPostgres: o.backup.asPostgres, Force: o.force}
	if bucket, objKey, ok := parseS3URL(o.file); ok {
		// Streamed down from the bucket: credentials and endpoint as for
		// --s3 backups, the bucket from the URL.
		st, err := a.s3Store(ctx, s3Flags{bucket: bucket})
		if err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
		ro.Store, ro.File = st, objKey
	}
	if o.targetDB != "" {
		if ro.DatabaseURL, err = a.ckanDatabaseURL(); err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
		if o.force {
			if len(o.backup.keys.keyIDs) == 0 && len(o.backup.keys.keyFiles) == 0 {
				return usageErrorf("--force restores into the live database after a fresh encrypted backup: give its recipients with --key-id ID or --key-file FILE")
			}
			bo, err := o.backup.options(ctx, a)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			ro.Backup = &bo
		}
	}
	var prog *progressLine
	if isTerminal(a.stderr) && !a.json {
		prog = &progressLine{w: a.stderr, verb: "decrypted", start: time.Now()}
		ro.Progress = prog.update
	}
	res, err := backup.Restore(ctx, ro)
	prog.done()
	if res != nil && res.Backup != nil && (!a.json || err != nil) {
		if perr := a.printBackup(res.Backup); perr != nil && err == nil {
			return perr
		}
	}
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	j := restoreJSON{File: o.file, DumpSize: res.DumpSize, Verified: res.Verified}
	if res.Backup != nil && a.json { // printed (and named as a host path) otherwise
		j.Backup = a.host().HostPath(res.Backup.File)
	}
	switch {
	case o.verify:
		j.Action = "verify"
		if !a.json {
			fmt.Fprintf(a.stdout, "verified %s: %d entries, %d tables, %s dump\n", o.file,
				res.Verified.Entries, res.Verified.Tables, bytesize.Format(res.DumpSize))
		}
	case o.toFile != "":
		j.Action, j.Target = "to-file", o.toFile
		if !a.json {
			fmt.Fprintf(a.stdout, "wrote %s (%s)\n", o.toFile, bytesize.Format(res.DumpSize))
		}
	default:
		j.Action, j.Target = "target-db", o.targetDB
		if !a.json {
			fmt.Fprintf(a.stdout, "restored %s into the database %s (%s dump)\n", o.file, o.targetDB, bytesize.Format(res.DumpSize))
		}
	}
	if a.json {
		return a.emit(j)
	}
	return nil
}
