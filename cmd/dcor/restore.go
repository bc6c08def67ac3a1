package main

import (
	"encoding/json"
	"fmt"
	"github.com/DCOR-dev/dcor/internal/bytesize"
	"time"

	"github.com/DCOR-dev/dcor/backup"
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

func (a *app) restoreCommand() *cobra.Command {
	var b backupRun
	var secretKey, passphraseFile, toFile, targetDB string
	var verify, force bool
	cmd := &cobra.Command{
		Use:   "restore-database-backup FILE",
		Short: "Decrypt an encrypted database dump: verify it, write it to a file, or restore it into a database",
		Long: `restore-database-backup decrypts an encrypted dump (…dump_KEYID.gpg) with the
secret key of one of its recipients and does one of:

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
			modes := 0
			for _, on := range []bool{verify, toFile != "", targetDB != ""} {
				if on {
					modes++
				}
			}
			if modes != 1 {
				return usageErrorf("say what to do with the dump: exactly one of --verify, --to-file PATH and --target-db NAME")
			}
			if secretKey == "" {
				return usageErrorf("restore-database-backup needs --secret-key FILE (the secret key of one of the dump's recipients)")
			}
			if force && targetDB == "" {
				return usageErrorf("--force only applies to --target-db")
			}
			key, err := loadSecretKey(secretKey, passphraseFile)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			o := backup.RestoreOptions{File: args[0], Key: key, Verify: verify, ToFile: toFile, TargetDB: targetDB,
				AsPostgres: b.asPostgres, Force: force}
			if targetDB != "" {
				if o.DatabaseURL, err = a.ckanDatabaseURL(); err != nil {
					return &exitError{code: 1, msg: err.Error()}
				}
				if force {
					if len(b.keys.keyIDs) == 0 && len(b.keys.keyFiles) == 0 {
						return usageErrorf("--force restores into the live database after a fresh encrypted backup: give its recipients with --key-id ID or --key-file FILE")
					}
					bo, err := b.options(a)
					if err != nil {
						return &exitError{code: 1, msg: err.Error()}
					}
					o.Backup = &bo
				}
			}
			var prog *progressLine
			if isTerminal(a.stderr) && !a.json {
				prog = &progressLine{w: a.stderr, verb: "decrypted", start: time.Now()}
				o.Progress = prog.update
			}
			res, err := backup.Restore(a.ctx, o)
			prog.done()
			if res != nil && res.Backup != nil {
				a.printBackup(res.Backup)
			}
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			j := restoreJSON{File: args[0], DumpSize: res.DumpSize, Verified: res.Verified}
			if res.Backup != nil {
				j.Backup = res.Backup.File
			}
			switch {
			case verify:
				j.Action = "verify"
				if !a.json {
					fmt.Fprintf(a.stdout, "verified %s: %d entries, %d tables, %s dump\n", args[0],
						res.Verified.Entries, res.Verified.Tables, bytesize.Format(res.DumpSize))
				}
			case toFile != "":
				j.Action, j.Target = "to-file", toFile
				if !a.json {
					fmt.Fprintf(a.stdout, "wrote %s (%s)\n", toFile, bytesize.Format(res.DumpSize))
				}
			default:
				j.Action, j.Target = "target-db", targetDB
				if !a.json {
					fmt.Fprintf(a.stdout, "restored %s into the database %s (%s dump)\n", args[0], targetDB, bytesize.Format(res.DumpSize))
				}
			}
			if a.json {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(j)
			}
			return nil
		},
	}
	b.register(cmd)
	f := cmd.Flags()
	f.StringVar(&secretKey, "secret-key", "", "secret key `FILE` of one of the dump's recipients (gpg --export-secret-keys --armor ID)")
	f.StringVar(&passphraseFile, "passphrase-file", "", "passphrase of the secret key, first line of `FILE`")
	f.BoolVar(&verify, "verify", false, "decrypt and read the whole dump with pg_restore; write nothing")
	f.StringVar(&toFile, "to-file", "", "write the plain dump to `PATH` (0400)")
	f.StringVar(&targetDB, "target-db", "", "create database `NAME` and restore into it")
	f.BoolVar(&force, "force", false, "allow --target-db to be the live database of ckan.ini (a fresh backup is taken first)")
	return cmd
}
