package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
	"github.com/spf13/cobra"
)

// scheduleOptions are the flags of `dcor schedule` (it has none: its
// subcommands do the work).
type scheduleOptions struct{}

func (a *app) scheduleCommand() *cobra.Command {
	var o scheduleOptions
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Schedule dcor's recurring jobs (the nightly database backup)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runSchedule(cmd.Context(), o)
		},
	}
	cmd.AddCommand(a.scheduleBackupCommand())
	return cmd
}

// runSchedule is `dcor schedule` without a job: a usage error.
func (a *app) runSchedule(ctx context.Context, o scheduleOptions) error {
	return usageErrorf("schedule needs a job: dcor schedule backup --key-id ID")
}

// scheduleBackupOptions are the flags of `dcor schedule backup`.
type scheduleBackupOptions struct {
	backup.ScheduleOptions
	dcorPath    string
	check, diff bool
}

func (a *app) scheduleBackupCommand() *cobra.Command {
	var o scheduleBackupOptions
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Run encrypted-database-backup every night (cron, or a systemd timer)",
		Long: `schedule backup writes /etc/cron.d/dcor-backup, which runs
"dcor encrypted-database-backup --key-id ID --quiet" as root every night
(default 00:02): it prints nothing on success and one line on failure, so
cron mails failures only. With --systemd it writes dcor-backup.service
(Type=oneshot: a failed run shows in systemctl --failed) and
dcor-backup.timer under /etc/systemd/system instead, enables the timer, and
removes the cron file (and the other way round), so that the backup never
runs twice. Files are only rewritten when their content changes; a replaced
file is kept in /var/backups/dcor. --remove removes the job. --check says
whether anything would change (exit 1), --diff shows how.

The key must exist now (in the backup key directory or root's GnuPG
keyring) and be usable. With --s3 the job also uploads to the S3 bucket (checked now, with the
credentials of ckan.ini's dcor_object_store.*, the site file or the
environment the job will see); without a retention flag it then keeps 14
daily, 12 monthly and 10 yearly backups. A --root, --ckan-ini or --config given to schedule
(or $CKAN_INI) goes into the job when it is not the default.`,
		Example: `  dcor schedule backup --key-id 8FD98B2183B2C228
  dcor schedule backup --key-id 8FD98B2183B2C228 --at 03:30 --keep-days 90 --systemd
  dcor schedule backup --key-id 8FD98B2183B2C228 --s3   # off site, keeps 14 daily, 12 monthly, 10 yearly
  dcor schedule backup --remove`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runScheduleBackup(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.KeyIDs, "key-id", nil, "recipient key `ID` of the backups (repeatable)")
	f.StringVar(&o.At, "at", "", "time of day `HH:MM` (default 00:02)")
	f.BoolVar(&o.Systemd, "systemd", false, "write a systemd service and timer instead of a cron file")
	f.BoolVar(&o.Remove, "remove", false, "remove the scheduled backup")
	f.IntVar(&o.Keep, "keep", 0, "pass --keep `N` to the backup")
	f.IntVar(&o.KeepDays, "keep-days", 0, "pass --keep-days `D` to the backup")
	f.IntVar(&o.Daily, "keep-daily", 0, "pass --keep-daily `N` to the backup (with --s3 and no other retention flag: 14)")
	f.IntVar(&o.Monthly, "keep-monthly", 0, "pass --keep-monthly `N` to the backup (with --s3 and no other retention flag: 12)")
	f.IntVar(&o.Yearly, "keep-yearly", 0, "pass --keep-yearly `N` to the backup (with --s3 and no other retention flag: 10)")
	f.BoolVar(&o.S3, "s3", false, "the backup also uploads to the S3 bucket (encrypted-database-backup --s3); checked now")
	f.BoolVar(&o.NoLocal, "no-local", false, "with --s3: upload only, no local file")
	f.StringVar(&o.dcorPath, "dcor", "", "the dcor `PROGRAM` the job runs (default: this one; /usr/local/bin/dcor under --root)")
	f.BoolVar(&o.check, "check", false, "change nothing; exit 1 when the schedule would change")
	f.BoolVar(&o.diff, "diff", false, "show the diffs of the files")
	return cmd
}

// runScheduleBackup is `dcor schedule backup`.
func (a *app) runScheduleBackup(ctx context.Context, o scheduleBackupOptions) error {
	if o.Remove && (len(o.KeyIDs) > 0 || o.At != "" || o.Systemd) {
		return usageErrorf("--remove takes no other flags")
	}
	if o.NoLocal && !o.S3 {
		return usageErrorf("--no-local needs --s3")
	}
	if o.Remove && (o.S3 || o.NoLocal) {
		return usageErrorf("--remove takes no other flags")
	}
	if !o.Remove && len(o.KeyIDs) == 0 {
		return usageErrorf("schedule backup needs --key-id ID (the recipient of the nightly backups)")
	}
	h := a.host()
	if o.dcorPath == "" {
		o.dcorPath = "/usr/local/bin/dcor"
		if h.Live() {
			if exe, err := os.Executable(); err == nil {
				if real, err := filepath.EvalSymlinks(exe); err == nil {
					o.dcorPath = real
				}
			}
		}
	}
	o.Command = o.dcorPath
	if !o.Remove {
		if err := a.scheduledJobFlags(&o.ScheduleOptions); err != nil {
			return err
		}
		// The key must exist now, not fail the first night.
		s, err := a.backupSite()
		if err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
		keys := backupKeyFlags{keyIDs: o.KeyIDs}
		if _, err := keys.recipients(ctx, a, s); err != nil {
			return &exitError{code: 1, msg: "schedule backup: " + err.Error()}
		}
		if o.S3 {
			// The bucket must be reachable with the credentials now.
			if _, err := a.s3Store(ctx, s3Flags{}); err != nil {
				return &exitError{code: 1, msg: "schedule backup --s3: " + err.Error()}
			}
			if o.Keep == 0 && o.KeepDays == 0 && o.Daily == 0 && o.Monthly == 0 && o.Yearly == 0 {
				o.Daily, o.Monthly, o.Yearly = 14, 12, 10
			}
		}
	}
	plan := change.New(h, time.Now())
	if err := backup.PlanSchedule(plan, o.ScheduleOptions); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	if plan.Empty() && !a.json {
		fmt.Fprintln(a.stdout, "the backup schedule is up to date")
		return nil
	}
	rep, err := a.carryOut(ctx, plan, planOptions{check: o.check, diff: o.diff, stopOnError: true})
	if a.json {
		if jerr := a.emit(rep); jerr != nil {
			return jerr
		}
	}
	return err
}

// scheduledJobFlags puts the --root, ckan.ini and site file of this
// run into the job when they are not the defaults.
func (a *app) scheduledJobFlags(o *backup.ScheduleOptions) error {
	if a.root != "" && filepath.Clean(a.root) != "/" {
		abs, err := filepath.Abs(a.root)
		if err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("--root %s: %v", a.root, err)}
		}
		o.Root = abs
	}
	if p := a.ckanIniPath(); filepath.Clean(p) != host.DefaultCKANIni {
		o.CKANIni = p
	}
	if a.config != "" && filepath.Clean(a.config) != host.DefaultSiteFile {
		o.Config = a.config
	}
	for _, f := range []struct{ flag, path string }{{"--ckan-ini (or $CKAN_INI)", o.CKANIni}, {"--config", o.Config}} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			return usageErrorf("%s %s: give an absolute path, the scheduled job runs elsewhere", f.flag, f.path)
		}
	}
	return nil
}
