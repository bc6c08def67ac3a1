package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/internal/runner"
)

// Host paths of the nightly backup job.
const (
	CronFile        = "/etc/cron.d/dcor-backup"
	SystemdService  = "/etc/systemd/system/dcor-backup.service"
	SystemdTimer    = "/etc/systemd/system/dcor-backup.timer"
	systemdTimerLnk = "/etc/systemd/system/timers.target.wants/dcor-backup.timer"
)

// scheduleMarker starts every file Schedule writes; only such files are
// ever replaced without a copy, or removed.
const scheduleMarker = "# Written by dcor schedule backup"

// ScheduleOptions configure the nightly backup job.
type ScheduleOptions struct {
	// KeyIDs are the recipients' key ids (--key-id, at least one).
	KeyIDs []string
	// At is the time of day, "HH:MM"; "" means 00:02, the documented
	// cron line's time.
	At string
	// Systemd writes a systemd service and timer instead of a cron file.
	Systemd bool
	// Remove removes the job (cron file and systemd units) instead.
	Remove bool
	// Command is the dcor program as the host sees it
	// (/usr/local/bin/dcor).
	Command string
	// Keep and KeepDays are passed on as --keep and --keep-days when > 0.
	Keep, KeepDays int
	// Daily, Monthly and Yearly are passed on as --keep-daily,
	// --keep-monthly and --keep-yearly when > 0.
	Daily, Monthly, Yearly int
	// S3 and NoLocal are passed on as --s3 and --no-local.
	S3, NoLocal bool
	// Root, CKANIni and Config, when set, are passed on as --root,
	// --ckan-ini and --config: the job uses the host, ckan.ini and site
	// file that schedule was given. Absolute, plain paths only (they go
	// into a cron line that /bin/sh runs).
	Root, CKANIni, Config string
}

var (
	clockPattern   = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)
	commandPattern = regexp.MustCompile(`^/[A-Za-z0-9/._+-]+$`)
)

// PlanSchedule plans, on the change engine's plan p, the job that runs
// "dcor encrypted-database-backup --quiet" every night:
// /etc/cron.d/dcor-backup, or a systemd service (Type=oneshot, so that a
// failed run shows in systemctl --failed) and timer, enabled; the other
// kind, when dcor wrote it, is removed so that the backup never runs
// twice. A file that holds the right content already is not planned, so
// a second run changes nothing. On the live host, a change of the
// systemd units is followed by systemctl daemon-reload and a restart (or
// stop) of the timer. Paths resolve under the plan's host. The caller
// checks that the keys exist.
func PlanSchedule(p *change.Plan, o ScheduleOptions) error {
	h := p.Host
	st := &scheduleState{plan: p}
	if o.Remove {
		for _, f := range []string{systemdTimerLnk, SystemdTimer, SystemdService, CronFile} {
			if err := st.remove(f); err != nil {
				return err
			}
		}
		st.systemctl(true)
		return nil
	}
	if len(o.KeyIDs) == 0 {
		return errors.New("schedule backup needs at least one --key-id")
	}
	at := o.At
	if at == "" {
		at = "00:02"
	}
	m := clockPattern.FindStringSubmatch(at)
	if m == nil {
		return fmt.Errorf("--at %q is not a time of day: use HH:MM, e.g. 00:02", o.At)
	}
	hour, _ := strconv.Atoi(m[1])
	minute, _ := strconv.Atoi(m[2])
	if !commandPattern.MatchString(o.Command) {
		return fmt.Errorf("the dcor program path %q must be absolute and plain (letters, digits, / . _ + -)", o.Command)
	}
	args := []string{o.Command, "encrypted-database-backup"}
	for _, raw := range o.KeyIDs {
		id, err := ParseKeyID(raw)
		if err != nil {
			return err
		}
		args = append(args, "--key-id", id)
	}
	if o.Keep > 0 {
		args = append(args, fmt.Sprintf("--keep=%d", o.Keep))
	}
	if o.KeepDays > 0 {
		args = append(args, fmt.Sprintf("--keep-days=%d", o.KeepDays))
	}
	for _, k := range []struct {
		flag string
		n    int
	}{{"--keep-daily", o.Daily}, {"--keep-monthly", o.Monthly}, {"--keep-yearly", o.Yearly}} {
		if k.n > 0 {
			args = append(args, fmt.Sprintf("%s=%d", k.flag, k.n))
		}
	}
	if o.NoLocal && !o.S3 {
		return errors.New("--no-local needs --s3: the backup would go nowhere")
	}
	if o.S3 {
		args = append(args, "--s3")
	}
	if o.NoLocal {
		args = append(args, "--no-local")
	}
	for _, f := range []struct{ flag, path string }{{"--root", o.Root}, {"--ckan-ini", o.CKANIni}, {"--config", o.Config}} {
		if f.path == "" {
			continue
		}
		if !commandPattern.MatchString(f.path) {
			return fmt.Errorf("%s %q cannot go into the scheduled job: it must be absolute and plain (letters, digits, / . _ + -)", f.flag, f.path)
		}
		args = append(args, f.flag+"="+f.path)
	}
	// Nothing on success, one line on failure: cron mails any output,
	// so it mails failures only; systemd marks a failed run failed.
	args = append(args, "--quiet")
	command := strings.Join(args, " ")

	if !o.Systemd {
		cron := scheduleHead +
			"SHELL=/bin/sh\n" +
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" +
			fmt.Sprintf("%d %d * * * root %s\n", minute, hour, command)
		for _, f := range []string{systemdTimerLnk, SystemdTimer, SystemdService} {
			if err := st.remove(f); err != nil {
				return err
			}
		}
		if err := st.write(CronFile, []byte(cron)); err != nil {
			return err
		}
		st.systemctl(true)
		return nil
	}

	service, timer := SystemdUnits(command, hour, minute)
	if err := st.remove(CronFile); err != nil {
		return err
	}
	if err := st.write(SystemdService, service); err != nil {
		return err
	}
	if err := st.write(SystemdTimer, timer); err != nil {
		return err
	}
	// What "systemctl enable" does: the timer wanted by timers.target.
	link := h.PathNoFollow(systemdTimerLnk) // the link itself
	if target, err := os.Readlink(link); err != nil || target != SystemdTimer {
		p.Do("schedule", change.Action{Description: "enable the timer: link " + systemdTimerLnk + " to " + SystemdTimer,
			Run: func(context.Context) error {
				if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
					return err
				}
				os.Remove(link)
				return os.Symlink(SystemdTimer, link)
			}})
		st.systemdChanged = true
	}
	st.systemctl(false)
	return nil
}

// scheduleHead starts every file Schedule writes.
const scheduleHead = scheduleMarker + ": the nightly encrypted backup of the CKAN database.\n" +
	"# Change it with \"dcor schedule backup\", remove it with \"dcor schedule backup --remove\".\n"

// SystemdUnits returns the text of the systemd service that runs command
// (the whole command line) and of the timer that starts it every day at
// hour:minute: what "dcor schedule backup --systemd" writes, and what the
// .deb ships, disabled, in /lib/systemd/system.
func SystemdUnits(command string, hour, minute int) (service, timer []byte) {
	service = []byte(scheduleHead +
		"[Unit]\n" +
		"Description=Encrypted backup of the CKAN database (dcor)\n" +
		"After=postgresql.service\n\n" +
		"[Service]\n" +
		"# oneshot: a backup that fails (exit 1) leaves the unit failed, listed\n" +
		"# by systemctl --failed; OnFailure= in a drop-in can mail it.\n" +
		"Type=oneshot\n" +
		"ExecStart=" + command + "\n" +
		"Nice=10\n" +
		"IOSchedulingClass=best-effort\n" +
		"IOSchedulingPriority=7\n")
	timer = []byte(scheduleHead +
		"[Unit]\n" +
		"Description=Nightly encrypted backup of the CKAN database (dcor)\n\n" +
		"[Timer]\n" +
		fmt.Sprintf("OnCalendar=*-*-* %02d:%02d:00\n", hour, minute) +
		"Persistent=true\n\n" +
		"[Install]\n" +
		"WantedBy=timers.target\n")
	return service, timer
}

// scheduleState is what PlanSchedule has planned so far.
type scheduleState struct {
	plan           *change.Plan
	systemdChanged bool
}

// write plans content for the host path f unless it holds it already (a
// file that dcor did not write is kept as the engine's dated copy).
func (st *scheduleState) write(f string, content []byte) error {
	old, err := os.ReadFile(st.plan.Host.Path(f))
	switch {
	case err == nil && bytes.Equal(old, content):
		return nil
	case err != nil && !os.IsNotExist(err):
		return fmt.Errorf("read %s: %w", f, unwrapPath(err))
	}
	if err != nil {
		old = nil
	}
	st.plan.Write("schedule", change.File{Path: f, Old: old, New: content, Mode: 0o644})
	if strings.HasPrefix(f, "/etc/systemd/") {
		st.systemdChanged = true
	}
	return nil
}

// remove plans the removal of the host path f when dcor wrote it (or, for
// the timer link, when it points at dcor's timer). Other files are refused.
func (st *scheduleState) remove(f string) error {
	h := st.plan.Host
	if f == systemdTimerLnk {
		link := h.PathNoFollow(f) // the link itself
		if target, err := os.Readlink(link); err == nil && target == SystemdTimer {
			st.plan.Do("schedule", change.Action{Description: "remove " + f,
				Run: func(context.Context) error { return os.Remove(link) }})
			st.systemdChanged = true
		}
		return nil
	}
	path := h.Path(f)
	old, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", f, unwrapPath(err))
	}
	if !bytes.HasPrefix(old, []byte(scheduleMarker)) {
		return fmt.Errorf("%s was not written by dcor: remove it by hand if the backup should not run from there", f)
	}
	st.plan.Do("schedule", change.Action{Description: "remove " + f, Run: func(context.Context) error {
		if _, err := change.DatedCopy(h, f, st.plan.Now); err != nil {
			return err
		}
		return os.Remove(path)
	}})
	if strings.HasPrefix(f, "/etc/systemd/") {
		st.systemdChanged = true
	}
	return nil
}

// systemctl plans, on the live host with systemd, the reload of changed
// units and the restart (or, when stop, the stop) of the timer.
func (st *scheduleState) systemctl(stop bool) {
	if !st.systemdChanged || !st.plan.Host.Live() {
		return
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return // no systemd running: the files take effect at its next start
	}
	cmds := [][]string{{"daemon-reload"}, {"restart", "dcor-backup.timer"}}
	desc := "systemctl daemon-reload; systemctl restart dcor-backup.timer"
	if stop {
		cmds = [][]string{{"stop", "dcor-backup.timer"}, {"daemon-reload"}}
		desc = "systemctl stop dcor-backup.timer; systemctl daemon-reload"
	}
	st.plan.Do("schedule", change.Action{Description: desc, Run: func(ctx context.Context) error {
		for _, args := range cmds {
			if _, err := runner.Combined(ctx, "systemctl", args...); err != nil && args[0] != "stop" {
				return err
			}
		}
		return nil
	}})
}
