package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/doctor"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/runner"
)

// doctorOptions are the flags of `dcor doctor`.
type doctorOptions struct {
	yes, check, diff bool
	lines            int
	venv             string
}

func (a *app) doctorCommand() *cobra.Command {
	var o doctorOptions
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Recognise the known problems of DCOR's troubleshooting section in the logs and fix them",
		Long: `doctor reads the end of the host's logs (/var/log/ckan/*.log, nginx's
/var/log/nginx/error.log, and the systemd journal when systemd runs) and its
configuration, and recognises the problems that DCOR's troubleshooting section
lists. Each problem found is shown with its evidence (file:line), the
explanation and the fix:

  error-mails           email_to set and loggers below WARNING in ckan.ini
  nspkg-pth             "AttributeError: 'NoneType' object has no attribute
                        'loader'" from a …-nspkg.pth file (the .pth patch)
  plugin-not-found      PluginNotFoundException (read permission, chmod a+rX)
  hdf5-locking          "unable to lock file, errno = 37"
                        (HDF5_USE_FILE_LOCKING=FALSE in the supervisor programs
                        and the virtualenv's bin/activate)
  nginx-upload-space    pwrite() … No space left on device for uploads
                        (client_body_temp_path on /data)
  journal-size          a journal over 1 GiB without SystemMaxUse (200M)
  uwsgi-tmp             OSError: [Errno 28] from uWSGI (TMPDIR on /data)
  nginx-download-space  pwrite() … No space left on device for downloads
                        (proxy_temp_path on /data)
  uwsgi-socket-timeout  timeout during read(…) on wsgi.input (socket-timeout)
  nginx-send-timeout    [uwsgi-body-read] … Client closed connection
                        (send_timeout 7200)

A problem whose fix is already in the configuration is not reported again (the
log lines are older than the fix). Fixes that change the configuration go
through the same engine as inspect: asked per problem (y/n/a/q, d shows the
diff), -y applies them all, --check shows what -y would change; each changed
file is first copied to /var/backups/dcor, supervisor or nginx are reloaded
once. The other problems are explained. Without a terminal and without -y,
doctor behaves as --check.

Exit status: 0 when no problem is left, 1 when problems were found and are not
fixed (with --check: when any was found), 2 usage.`,
		Example: `  dcor doctor
  dcor doctor --check --diff
  dcor doctor -y
  dcor doctor --lines 50000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDoctor(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.yes, "assume-yes", "y", false, "apply every fix without asking")
	f.BoolVar(&o.check, "check", false, "change nothing; exit 1 when a problem is found")
	f.BoolVar(&o.diff, "diff", false, "show unified diffs of the file changes")
	f.IntVar(&o.lines, "lines", doctor.DefaultLines, "read the last `N` lines of each log")
	f.StringVar(&o.venv, "venv", host.DefaultVenv, "CKAN virtualenv `PATH`")
	return cmd
}

// doctorJSON is what `dcor doctor --json` prints.
type doctorJSON struct {
	Version string `json:"dcor_version"`
	Root    string `json:"root"`
	// Mode is "check", "fix" or "ask".
	Mode string `json:"mode"`
	// Logs are the logs read (host paths; "journal" for the journal).
	Logs []string `json:"logs"`
	// Lines is the number of lines read at the end of each log.
	Lines int `json:"lines"`
	// Problems is true when a problem is left (the exit status is 1).
	Problems bool              `json:"problems"`
	Findings []*doctor.Finding `json:"findings"`
	Report   *planReport       `json:"report"`
}

// runDoctor is `dcor doctor`.
func (a *app) runDoctor(ctx context.Context, o doctorOptions) error {
	if o.yes && o.check {
		return usageErrorf("--assume-yes and --check exclude each other")
	}
	if o.lines < 1 {
		return usageErrorf("--lines needs a number of lines, 1 or more")
	}
	h := a.host()
	env := &doctor.Env{Host: h, CKANIni: a.ckanIniPath(), Venv: o.venv, Lines: o.lines}
	logs := doctor.Logs(env)
	if h.Live() {
		if _, err := os.Stat("/run/systemd/system"); err == nil {
			env.Journal = func(ctx context.Context, n int) ([]string, error) {
				out, err := runner.Output(ctx, "journalctl", "--no-pager", "--quiet", "--output=short-iso", "--lines="+strconv.Itoa(n))
				if err != nil {
					return nil, err
				}
				return strings.Split(strings.TrimRight(string(out), "\n"), "\n"), nil
			}
			env.RestartJournald = func(ctx context.Context) error {
				_, err := runner.Combined(ctx, "systemctl", "restart", "systemd-journald")
				return err
			}
			logs = append(logs, "journal")
		}
	}
	stopProgress := a.showProgress("reading the logs…")
	findings, err := doctor.Diagnose(ctx, env)
	stopProgress()
	if err != nil {
		if ctx.Err() != nil {
			return a.stopped(nil)
		}
		return &exitError{code: 1, msg: err.Error() + "; nothing was changed"}
	}
	mode := "check"
	switch {
	case o.yes:
		mode = "fix"
	case o.check:
	case a.interactive() && !a.json:
		mode = "ask"
	default:
		if !a.json && hasFixable(findings) {
			fmt.Fprintln(a.stderr, "dcor: no terminal to ask at: checking only (use -y to fix)")
		}
	}
	plan := change.New(h, time.Now())
	planned := map[string]bool{}
	if mode == "ask" {
		dec := change.NewDecider(a.prompt(a.stdout))
		for _, f := range findings {
			a.printDoctorFinding(f)
			if !f.Fixable {
				continue
			}
			ok, err := dec.Decide(ctx, "fix?", func() string {
				fork := plan.Fork()
				mark := fork.Len()
				if err := f.Plan(fork); err != nil {
					return err.Error() + "\n"
				}
				var b strings.Builder
				for _, c := range fork.Since(mark) {
					if c.Diff != "" {
						b.WriteString(c.Diff)
					} else {
						fmt.Fprintf(&b, "%s\n", c)
					}
				}
				return b.String()
			})
			switch {
			case ctx.Err() != nil:
				return a.stopped(nil)
			case errors.Is(err, change.ErrQuit):
			case err != nil:
				return &exitError{code: 1, msg: err.Error()}
			}
			if ok {
				if err := f.Plan(plan); err != nil {
					f.Error = err.Error()
					continue
				}
				planned[f.Problem] = true
			}
		}
	} else if mode == "fix" || mode == "check" {
		for _, f := range findings {
			if !f.Fixable {
				continue
			}
			if err := f.Plan(plan); err != nil {
				f.Error = err.Error()
				continue
			}
			planned[f.Problem] = true
		}
	}
	if !a.json && mode != "ask" {
		for _, f := range findings {
			a.printDoctorFinding(f)
		}
	}
	check := mode == "check"
	var rep *planReport
	var applyErr error
	if len(planned) > 0 {
		rep, applyErr = a.carryOut(ctx, plan, planOptions{check: check, diff: o.diff})
		if !check && rep != nil {
			markFixed(findings, rep.Changes)
		}
		var ee *exitError
		if errors.As(applyErr, &ee) && ee.code >= 128 {
			return applyErr // interrupted: carryOut listed what was applied
		}
	}
	left := 0
	for _, f := range findings {
		if !f.Fixed {
			left++
		}
	}
	if a.json {
		if rep == nil {
			rep = &planReport{Changes: []*change.Change{}, Check: check}
		}
		if findings == nil {
			findings = []*doctor.Finding{}
		}
		if logs == nil {
			logs = []string{}
		}
		if err := a.emit(doctorJSON{Version: dcorVersion(), Root: h.Root, Mode: mode, Logs: logs, Lines: o.lines,
			Problems: left > 0, Findings: findings, Report: rep}); err != nil {
			return err
		}
	} else {
		a.printDoctorSummary(findings, logs, o.lines, mode, left)
		if rep != nil && rep.ReloadNote != "" {
			fmt.Fprintln(a.stdout, rep.ReloadNote)
		}
	}
	if left > 0 || applyErr != nil {
		return silentExit(1)
	}
	return nil
}

func hasFixable(fs []*doctor.Finding) bool {
	for _, f := range fs {
		if f.Fixable {
			return true
		}
	}
	return false
}

// markFixed marks the findings whose planned changes were all applied.
func markFixed(findings []*doctor.Finding, changes []*change.Change) {
	for _, f := range findings {
		n, ok := 0, true
		for _, c := range changes {
			if c.Check != f.Problem {
				continue
			}
			n++
			if !c.Applied || c.Error != "" {
				ok = false
				if c.Error != "" && f.Error == "" {
					f.Error = c.Error
				}
			}
		}
		f.Fixed = n > 0 && ok
	}
}

func (a *app) printDoctorFinding(f *doctor.Finding) {
	mark := a.paint("31", "✗")
	if f.Fixed {
		mark = a.paint("32", "✓")
	}
	fmt.Fprintf(a.stdout, "%s %s %s\n", mark, a.paint("1", f.Problem+":"), f.Title)
	for _, e := range f.Evidence {
		fmt.Fprintf(a.stdout, "    %s\n", a.paint("2", e.String()))
	}
	fmt.Fprintf(a.stdout, "  why: %s\n", f.Explanation)
	label := "fix:"
	if !f.Fixable {
		label = "to do:"
	}
	fmt.Fprintf(a.stdout, "  %s %s\n", label, f.Fix)
	if f.Error != "" {
		fmt.Fprintf(a.stdout, "  %s %s\n", a.paint("31", "not fixed:"), f.Error)
	}
}

func (a *app) printDoctorSummary(findings []*doctor.Finding, logs []string, lines int, mode string, left int) {
	if len(findings) == 0 {
		fmt.Fprintln(a.stdout, a.paint("32", fmt.Sprintf("no known problem found (the last %d lines of %d logs, and the configuration)", lines, len(logs))))
		return
	}
	fixable, fixed := 0, 0
	for _, f := range findings {
		if f.Fixable {
			fixable++
		}
		if f.Fixed {
			fixed++
		}
	}
	switch {
	case mode == "check" && fixable > 0:
		fmt.Fprintf(a.stdout, "%s found; %d fixable: run `dcor doctor -y` to fix\n", knownProblems(len(findings)), fixable)
	case mode == "check":
		fmt.Fprintf(a.stdout, "%s found\n", knownProblems(len(findings)))
	default:
		fmt.Fprintf(a.stdout, "%s found; fixed %d, %d left\n", knownProblems(len(findings)), fixed, left)
	}
}

func knownProblems(n int) string {
	if n == 1 {
		return "1 known problem"
	}
	return fmt.Sprintf("%d known problems", n)
}
