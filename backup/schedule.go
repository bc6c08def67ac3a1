package backup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/host"
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
	// Root, CKANIni and Config, when set, are passed on as --root,
	// --ckan-ini and --config: the job uses the host, ckan.ini and site
	// file that schedule was given. Absolute, plain paths only (they go
	// into a cron line that /bin/sh runs).
	Root, CKANIni, Config string
}

// ScheduleResult lists what Schedule changed, as host paths.
type ScheduleResult struct {
	// Written are the files written (new or changed content).
	Written []string `json:"written"`
	// Removed are the files removed.
	Removed []string `json:"removed"`
	// Unchanged are the files that had the right content already.
	Unchanged []string `json:"unchanged"`
	// SystemdChanged says that systemd unit files changed: on a live host
	// run systemctl daemon-reload, then (re)start or stop dcor-backup.timer.
	SystemdChanged bool `json:"systemd_changed"`
}

var (
	clockPattern   = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)
	commandPattern = regexp.MustCompile(`^/[A-Za-z0-9/._+-]+$`)
)

// Schedule writes, idempotently, the job that runs
// "dcor encrypted-database-backup --quiet" every night:
// /etc/cron.d/dcor-backup, or a systemd service (Type=oneshot, so that a
// failed run shows in systemctl --failed) and timer; the other kind, when
// dcor wrote it, is removed so that the backup never runs twice. Files
// are only rewritten when their content changes. Paths resolve under the
// host's root. The caller checks that the keys exist.
func Schedule(h host.Host, o ScheduleOptions) (*ScheduleResult, error) {
	res := &ScheduleResult{}
	if o.Remove {
		for _, p := range []string{systemdTimerLnk, SystemdTimer, SystemdService, CronFile} {
			if err := removeManaged(h, p, res); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	if len(o.KeyIDs) == 0 {
		return nil, errors.New("schedule backup needs at least one --key-id")
	}
	at := o.At
	if at == "" {
		at = "00:02"
	}
	m := clockPattern.FindStringSubmatch(at)
	if m == nil {
		return nil, fmt.Errorf("--at %q is not a time of day: use HH:MM, e.g. 00:02", o.At)
	}
	hour, _ := strconv.Atoi(m[1])
	minute, _ := strconv.Atoi(m[2])
	if !commandPattern.MatchString(o.Command) {
		return nil, fmt.Errorf("the dcor program path %q must be absolute and plain (letters, digits, / . _ + -)", o.Command)
	}
	args := []string{o.Command, "encrypted-database-backup"}
	for _, raw := range o.KeyIDs {
		id, err := ParseKeyID(raw)
		if err != nil {
			return nil, err
		}
		args = append(args, "--key-id", id)
	}
	if o.Keep > 0 {
		args = append(args, fmt.Sprintf("--keep=%d", o.Keep))
	}
	if o.KeepDays > 0 {
		args = append(args, fmt.Sprintf("--keep-days=%d", o.KeepDays))
	}
	for _, f := range []struct{ flag, path string }{{"--root", o.Root}, {"--ckan-ini", o.CKANIni}, {"--config", o.Config}} {
		if f.path == "" {
			continue
		}
		if !commandPattern.MatchString(f.path) {
			return nil, fmt.Errorf("%s %q cannot go into the scheduled job: it must be absolute and plain (letters, digits, / . _ + -)", f.flag, f.path)
		}
		args = append(args, f.flag+"="+f.path)
	}
	// Nothing on success, one line on failure: cron mails any output,
	// so it mails failures only; systemd marks a failed run failed.
	args = append(args, "--quiet")
	command := strings.Join(args, " ")
	head := scheduleMarker + ": the nightly encrypted backup of the CKAN database.\n" +
		"# Change it with \"dcor schedule backup\", remove it with \"dcor schedule backup --remove\".\n"

	if !o.Systemd {
		cron := head +
			"SHELL=/bin/sh\n" +
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" +
			fmt.Sprintf("%d %d * * * root %s\n", minute, hour, command)
		for _, p := range []string{systemdTimerLnk, SystemdTimer, SystemdService} {
			if err := removeManaged(h, p, res); err != nil {
				return res, err
			}
		}
		return res, writeManaged(h, CronFile, []byte(cron), res)
	}

	service := head +
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
		"IOSchedulingPriority=7\n"
	timer := head +
		"[Unit]\n" +
		"Description=Nightly encrypted backup of the CKAN database (dcor)\n\n" +
		"[Timer]\n" +
		fmt.Sprintf("OnCalendar=*-*-* %02d:%02d:00\n", hour, minute) +
		"Persistent=true\n\n" +
		"[Install]\n" +
		"WantedBy=timers.target\n"
	if err := removeManaged(h, CronFile, res); err != nil {
		return res, err
	}
	if err := writeManaged(h, SystemdService, []byte(service), res); err != nil {
		return res, err
	}
	if err := writeManaged(h, SystemdTimer, []byte(timer), res); err != nil {
		return res, err
	}
	// What "systemctl enable" does: the timer wanted by timers.target.
	link := h.PathNoFollow(systemdTimerLnk) // the link itself
	if target, err := os.Readlink(link); err == nil && target == SystemdTimer {
		res.Unchanged = append(res.Unchanged, systemdTimerLnk)
		return res, nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return res, err
	}
	os.Remove(link)
	if err := os.Symlink(SystemdTimer, link); err != nil {
		return res, fmt.Errorf("enable the timer: %w", err)
	}
	res.Written = append(res.Written, systemdTimerLnk)
	res.SystemdChanged = true
	return res, nil
}

// writeManaged writes content to the host path p unless it holds it
// already. A file there that dcor did not write is kept as a dated copy.
func writeManaged(h host.Host, p string, content []byte, res *ScheduleResult) error {
	path := h.Path(p)
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, content):
		res.Unchanged = append(res.Unchanged, p)
		return nil
	case err == nil && !bytes.HasPrefix(old, []byte(scheduleMarker)):
		if _, err := host.DatedCopy(path, time.Now()); err != nil {
			return err
		}
	case err != nil && !os.IsNotExist(err):
		return fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), unwrapPath(err))
	}
	if err := host.WriteFileAtomic(path, content, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	res.Written = append(res.Written, p)
	if strings.HasPrefix(p, "/etc/systemd/") {
		res.SystemdChanged = true
	}
	return nil
}

// removeManaged removes the host path p when dcor wrote it (or, for the
// timer link, when it points at dcor's timer). Other files are refused.
func removeManaged(h host.Host, p string, res *ScheduleResult) error {
	path := h.Path(p)
	if p == systemdTimerLnk {
		path = h.PathNoFollow(p) // the link itself
		if target, err := os.Readlink(path); err == nil && target == SystemdTimer {
			if err := os.Remove(path); err != nil {
				return err
			}
			res.Removed = append(res.Removed, p)
			res.SystemdChanged = true
		}
		return nil
	}
	old, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	if !bytes.HasPrefix(old, []byte(scheduleMarker)) {
		return fmt.Errorf("%s was not written by dcor: remove it by hand if the backup should not run from there", path)
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	res.Removed = append(res.Removed, p)
	if strings.HasPrefix(p, "/etc/systemd/") {
		res.SystemdChanged = true
	}
	return nil
}
