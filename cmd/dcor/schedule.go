package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/spf13/cobra"
)

func (a *app) scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Schedule dcor's recurring jobs (the nightly database backup)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("schedule needs a job: dcor schedule backup --key-id ID")
		},
	}
	cmd.AddCommand(a.scheduleBackupCommand())
	return cmd
}

func (a *app) scheduleBackupCommand() *cobra.Command {
	var o backup.ScheduleOptions
	var dcorPath string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Run encrypted-database-backup every night (cron, or a systemd timer)",
		Long: `schedule backup writes /etc/cron.d/dcor-backup, which runs
"dcor encrypted-database-backup --key-id ID" as root every night (default
00:02). With --systemd it writes dcor-backup.service and dcor-backup.timer
under /etc/systemd/system instead, enables the timer, and removes the cron
file (and the other way round), so that the backup never runs twice. Files
are only rewritten when their content changes. --remove removes the job.`,
		Example: `  dcor schedule backup --key-id 8FD98B2183B2C228
  dcor schedule backup --key-id 8FD98B2183B2C228 --at 03:30 --keep-days 90 --systemd
  dcor schedule backup --remove`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Remove && (len(o.KeyIDs) > 0 || o.At != "" || o.Systemd) {
				return usageErrorf("--remove takes no other flags")
			}
			if !o.Remove && len(o.KeyIDs) == 0 {
				return usageErrorf("schedule backup needs --key-id ID (the recipient of the nightly backups)")
			}
			h := a.host()
			if dcorPath == "" {
				dcorPath = "/usr/local/bin/dcor"
				if h.Live() {
					if exe, err := os.Executable(); err == nil {
						if real, err := filepath.EvalSymlinks(exe); err == nil {
							dcorPath = real
						}
					}
				}
			}
			o.Command = dcorPath
			res, err := backup.Schedule(h, o)
			if res != nil {
				if a.json {
					enc := json.NewEncoder(a.stdout)
					enc.SetIndent("", "  ")
					enc.Encode(res)
				} else {
					for _, p := range res.Written {
						fmt.Fprintf(a.stdout, "wrote %s\n", p)
					}
					for _, p := range res.Removed {
						fmt.Fprintf(a.stdout, "removed %s\n", p)
					}
					for _, p := range res.Unchanged {
						a.logf("unchanged %s", p)
					}
					if len(res.Written) == 0 && len(res.Removed) == 0 {
						fmt.Fprintln(a.stdout, "the backup schedule is up to date")
					}
				}
			}
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			if res.SystemdChanged && h.Live() {
				return a.reloadTimer(o.Remove || !o.Systemd)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.KeyIDs, "key-id", nil, "recipient key `ID` of the backups (repeatable)")
	f.StringVar(&o.At, "at", "", "time of day `HH:MM` (default 00:02)")
	f.BoolVar(&o.Systemd, "systemd", false, "write a systemd service and timer instead of a cron file")
	f.BoolVar(&o.Remove, "remove", false, "remove the scheduled backup")
	f.IntVar(&o.Keep, "keep", 0, "pass --keep `N` to the backup")
	f.IntVar(&o.KeepDays, "keep-days", 0, "pass --keep-days `D` to the backup")
	f.StringVar(&dcorPath, "dcor", "", "the dcor `PROGRAM` the job runs (default: this one; /usr/local/bin/dcor under --root)")
	return cmd
}

// reloadTimer makes systemd read the changed units and (re)starts the
// timer, or stops it when it was removed.
func (a *app) reloadTimer(stop bool) error {
	systemctl, err := exec.LookPath("systemctl")
	if err != nil {
		return nil // no systemd here: the files take effect at its next start
	}
	cmds := [][]string{{"daemon-reload"}, {"restart", "dcor-backup.timer"}}
	if stop {
		cmds = [][]string{{"stop", "dcor-backup.timer"}, {"daemon-reload"}}
	}
	for _, args := range cmds {
		out, err := exec.CommandContext(a.ctx, systemctl, args...).CombinedOutput()
		if err != nil && !(stop && args[0] == "stop") {
			return &exitError{code: 1, msg: fmt.Sprintf("systemctl %s: %v: %s", args[0], err, out)}
		}
		a.logf("systemctl %v", args)
	}
	return nil
}
