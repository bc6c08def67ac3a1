package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
)

// scheduled is what one schedule run did.
type scheduled struct {
	written, removed []string
	systemd          bool
}

// schedule plans the job and applies the plan, as `dcor schedule backup` does.
func schedule(h host.Host, o ScheduleOptions) (*scheduled, error) {
	p := change.New(h, time.Now())
	if err := PlanSchedule(p, o); err != nil {
		return nil, err
	}
	res := p.Apply(context.Background(), change.ApplyOptions{StopOnError: true})
	out := &scheduled{}
	for _, c := range res.Changes {
		if c.Error != "" {
			return out, errors.New(c.Error)
		}
		switch {
		case c.Path != "":
			out.written = append(out.written, c.Path)
		case strings.HasPrefix(c.Action, "remove "):
			out.removed = append(out.removed, strings.TrimPrefix(c.Action, "remove "))
		}
		if strings.Contains(c.Path+c.Action, "/etc/systemd/") {
			out.systemd = true
		}
	}
	return out, nil
}

func TestSchedule(t *testing.T) {
	h := host.New(t.TempDir())
	o := ScheduleOptions{KeyIDs: []string{"0x8fd98b2183b2c228"}, Command: "/usr/local/bin/dcor"}
	res, err := schedule(h, o)
	if err != nil {
		t.Fatal(err)
	}
	cron, _ := os.ReadFile(h.Path(CronFile))
	wantLine := "2 0 * * * root /usr/local/bin/dcor encrypted-database-backup --key-id 8FD98B2183B2C228 --quiet\n"
	if !strings.HasSuffix(string(cron), wantLine) || !strings.HasPrefix(string(cron), scheduleMarker) {
		t.Errorf("cron file:\n%s", cron)
	}
	if len(res.written) != 1 || res.written[0] != CronFile {
		t.Errorf("written %v", res.written)
	}
	st, _ := os.Stat(h.Path(CronFile))
	if st.Mode().Perm() != 0o644 {
		t.Errorf("cron file mode %o", st.Mode().Perm())
	}

	// Idempotent: the same options write nothing.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(h.Path(CronFile), old, old)
	res, err = schedule(h, o)
	if err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(h.Path(CronFile))
	if len(res.written) != 0 || !st2.ModTime().Equal(old) {
		t.Errorf("second run wrote %v (mtime %v)", res.written, st2.ModTime())
	}

	// Another time and retention rewrite it.
	o.At, o.Keep, o.KeyIDs = "23:45", 30, []string{"8FD98B2183B2C228", "3F989792302BBD316E25900B1785FA9C279D46D5"}
	if _, err := schedule(h, o); err != nil {
		t.Fatal(err)
	}
	cron, _ = os.ReadFile(h.Path(CronFile))
	if !strings.Contains(string(cron), "45 23 * * * root /usr/local/bin/dcor encrypted-database-backup --key-id 8FD98B2183B2C228 --key-id 3F989792302BBD316E25900B1785FA9C279D46D5 --keep=30 --quiet\n") {
		t.Errorf("cron file:\n%s", cron)
	}

	// The root, ckan.ini and site file of schedule go into the job; a
	// path that /bin/sh would split or expand is refused.
	withPaths := o
	withPaths.Root, withPaths.CKANIni, withPaths.Config = "/srv/host", "/etc/ckan/x/ckan.ini", "/etc/dcor/x.yaml"
	if _, err := schedule(h, withPaths); err != nil {
		t.Fatal(err)
	}
	cron, _ = os.ReadFile(h.Path(CronFile))
	if !strings.Contains(string(cron), " --keep=30 --root=/srv/host --ckan-ini=/etc/ckan/x/ckan.ini --config=/etc/dcor/x.yaml --quiet\n") {
		t.Errorf("cron file:\n%s", cron)
	}
	for _, bad := range []string{"relative/ckan.ini", "/etc/ckan/my ckan.ini", "/etc/$(reboot)"} {
		badPaths := o
		badPaths.CKANIni = bad
		if _, err := schedule(h, badPaths); err == nil || !strings.Contains(err.Error(), "absolute and plain") {
			t.Errorf("--ckan-ini %q: %v", bad, err)
		}
	}
	if _, err := schedule(h, o); err != nil {
		t.Fatal(err)
	}
	cron, _ = os.ReadFile(h.Path(CronFile))
	if !strings.Contains(string(cron), " --keep=30 --quiet\n") {
		t.Errorf("cron file:\n%s", cron)
	}

	// systemd replaces cron.
	o.Systemd = true
	res, err = schedule(h, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.Path(CronFile)); !os.IsNotExist(err) {
		t.Error("the cron file stays beside the systemd timer: the backup would run twice")
	}
	svc, _ := os.ReadFile(h.Path(SystemdService))
	timer, _ := os.ReadFile(h.Path(SystemdTimer))
	if !strings.Contains(string(svc), "ExecStart=/usr/local/bin/dcor encrypted-database-backup --key-id 8FD98B2183B2C228") ||
		!strings.Contains(string(svc), "Type=oneshot") || !strings.Contains(string(timer), "OnCalendar=*-*-* 23:45:00\n") ||
		!strings.Contains(string(timer), "WantedBy=timers.target") {
		t.Errorf("service:\n%s\ntimer:\n%s", svc, timer)
	}
	if target, _ := os.Readlink(h.PathNoFollow(systemdTimerLnk)); target != SystemdTimer {
		t.Errorf("timer not enabled: link to %q", target)
	}
	if !res.systemd || len(res.removed) != 1 {
		t.Errorf("result %+v", res)
	}
	res, _ = schedule(h, o)
	if res.systemd || len(res.written) != 0 {
		t.Errorf("second systemd run changed %+v", res)
	}

	// Remove removes everything dcor wrote.
	res, err = schedule(h, ScheduleOptions{Remove: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.removed) != 3 || !res.systemd {
		t.Errorf("removed %v", res.removed)
	}
	for _, p := range []string{CronFile, SystemdService, SystemdTimer, systemdTimerLnk} {
		if _, err := os.Lstat(h.PathNoFollow(p)); !os.IsNotExist(err) {
			t.Errorf("%s left", p)
		}
	}
}

func TestScheduleForeignFiles(t *testing.T) {
	h := host.New(t.TempDir())
	os.MkdirAll(filepath.Dir(h.Path(CronFile)), 0o755)
	os.WriteFile(h.Path(CronFile), []byte("0 1 * * * root /root/scripts/encrypted_database_backup.sh\n"), 0o644)
	_, err := schedule(h, ScheduleOptions{Remove: true})
	if err == nil || !strings.Contains(err.Error(), "not written by dcor") {
		t.Errorf("remove of a hand-written file: %v", err)
	}
	if _, err := schedule(h, ScheduleOptions{KeyIDs: []string{"8FD98B2183B2C228"}, Command: "/usr/bin/dcor"}); err != nil {
		t.Fatal(err)
	}
	copies := change.Copies(h, CronFile)
	if len(copies) != 1 {
		t.Errorf("the hand-written file was not kept as a copy: %v", copies)
	}
	// Bad input never reaches a cron line.
	for _, o := range []ScheduleOptions{
		{KeyIDs: []string{"8FD98B2183B2C228; rm -rf /"}, Command: "/usr/bin/dcor"},
		{KeyIDs: []string{"8FD98B2183B2C228"}, Command: "dcor"},
		{KeyIDs: []string{"8FD98B2183B2C228"}, Command: "/usr/bin/dcor $(x)"},
		{KeyIDs: []string{"8FD98B2183B2C228"}, Command: "/usr/bin/dcor", At: "24:00"},
		{KeyIDs: []string{"8FD98B2183B2C228"}, Command: "/usr/bin/dcor", At: "2am"},
		{Command: "/usr/bin/dcor"},
	} {
		if _, err := schedule(h, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestScheduleS3(t *testing.T) {
	h := host.New(t.TempDir())
	o := ScheduleOptions{KeyIDs: []string{"8FD98B2183B2C228"}, Command: "/usr/local/bin/dcor",
		S3: true, NoLocal: true, Daily: 14, Monthly: 12, Yearly: 10}
	if _, err := schedule(h, o); err != nil {
		t.Fatal(err)
	}
	cron, _ := os.ReadFile(h.Path(CronFile))
	wantLine := "2 0 * * * root /usr/local/bin/dcor encrypted-database-backup --key-id 8FD98B2183B2C228 --keep-daily=14 --keep-monthly=12 --keep-yearly=10 --s3 --no-local --quiet\n"
	if !strings.HasSuffix(string(cron), wantLine) {
		t.Errorf("cron file:\n%s\nwant the line %s", cron, wantLine)
	}
	o.S3 = false
	if _, err := schedule(h, o); err == nil || !strings.Contains(err.Error(), "--no-local needs --s3") {
		t.Errorf("--no-local without --s3: %v", err)
	}
}
