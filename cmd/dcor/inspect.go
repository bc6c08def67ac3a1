package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/inspect"
	"github.com/DCOR-dev/dcor/site"
	"github.com/spf13/cobra"
)

// inspectOptions are the flags of `dcor inspect`.
type inspectOptions struct {
	yes, check, diff, verifyChecksums bool
	only, skip                        []string
	venv, quarantine                  string
	maxDelete                         int
}

func (a *app) inspectCommand() *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Compare the host with what it should be and fix the differences",
		Long: `inspect compares the host with DCOR's expected configuration: ckan.ini, the
uWSGI file, the nginx site, the supervisor programs, directory permissions and
the DCOR theme, and looks for orphaned files: files in the resource tree and
the users depot that belong to no live resource in the CKAN database. It shows
each finding and asks "fix? [y,n,a,q,d,?]": y fixes it, n skips it, a fixes it
and all the rest, q fixes nothing more, d shows the change (its diff) and asks
again. The orphaned files are one finding, asked once. The resources check
(file, HDF5, ancillary files, --verify-checksums) reads every resource file and
runs only when named: --only resources.

  -y, --assume-yes  fix everything without asking
  --check           change nothing; exit 1 when anything drifted, 0 when clean
  --diff            show unified diffs of every file change (with --check:
                    the diffs that -y would apply)
  --quarantine DIR  move orphaned files to DIR/<host path> instead of deleting
                    them; undo with the cp -a command that inspect prints
  --max-delete N    let the orphans clean-up remove up to N files (it refuses
                    more than 5 % of the files, and more than 100, by default)

Without a terminal and without -y, inspect behaves as --check: it never waits
for input. A changed file is first copied to /var/backups/dcor/<path>.dcor-
YYYYmmdd-HHMMSS (the last 10 copies of each file are kept). Ctrl-C stops at
the next safe point: nothing more is written, exit 130 (SIGTERM: 143).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runInspect(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.yes, "assume-yes", "y", false, "fix everything without asking")
	f.BoolVar(&o.check, "check", false, "change nothing; exit 1 when the host drifted")
	f.BoolVar(&o.diff, "diff", false, "show unified diffs of file changes")
	f.StringSliceVar(&o.only, "only", nil, "run only these checks (comma-separated)")
	f.StringSliceVar(&o.skip, "skip", nil, "skip these checks (comma-separated)")
	f.StringVar(&o.quarantine, "quarantine", "", "move orphaned files under `DIR` (a path on this machine) instead of deleting them")
	f.IntVar(&o.maxDelete, "max-delete", 0, "orphans: allow removing up to `N` files, over the 5 % guard")
	f.BoolVar(&o.verifyChecksums, "verify-checksums", false, "resources check: compare every file's sha256 with the database")
	f.StringVar(&o.venv, "venv", "", "CKAN virtualenv `PATH` (default /usr/lib/ckan/default)")
	return cmd
}

// runInspect is `dcor inspect`.
func (a *app) runInspect(ctx context.Context, o inspectOptions) error {
	if o.yes && o.check {
		return usageErrorf("--assume-yes and --check exclude each other")
	}
	if o.maxDelete < 0 {
		return usageErrorf("--max-delete needs a number of files, 0 or more")
	}
	checks, err := inspect.SelectChecks(o.only, o.skip)
	if err != nil {
		return usageErrorf("%v", err)
	}
	selected := map[string]bool{}
	for _, c := range checks {
		selected[c.Name] = true
	}
	if o.verifyChecksums && !selected["resources"] {
		return usageErrorf("--verify-checksums belongs to the resources check: add --only resources")
	}
	if o.maxDelete > 0 && !selected["orphans"] {
		return usageErrorf("--max-delete belongs to the orphans check, which is not selected")
	}
	if o.quarantine != "" {
		if !selected["orphans"] {
			return usageErrorf("--quarantine belongs to the orphans check, which is not selected")
		}
		if o.quarantine, err = filepath.Abs(o.quarantine); err != nil {
			return usageErrorf("--quarantine: %v", err)
		}
	}
	s, siteErr := a.siteFile()
	if siteErr != nil && s.Kind == "" && !isNoSite(siteErr) {
		return &exitError{code: 1, msg: siteErr.Error()}
	}
	h := a.host()
	if isNoSite(siteErr) {
		if _, err := os.Stat(h.Path(a.ckanIniPath())); errors.Is(err, os.ErrNotExist) {
			where := a.config + " and " + a.ckanIniPath()
			if !h.Live() {
				where += " under " + h.Root
			}
			return &exitError{code: 1, msg: "this host is not configured: no site file and no ckan.ini (looked for " + where +
				"); nothing was changed. Run `dcor init --kind KIND --fqdn FQDN --email EMAIL` first, or point --config/--ckan-ini at them"}
		}
	}
	if o.venv == "" {
		o.venv = "/usr/lib/ckan/default"
	}
	env := &inspect.Env{Host: h, Site: s, SiteErr: siteErr, SitePath: a.config,
		CKANIni: a.ckanIniPath(), Venv: o.venv, Now: time.Now(), Log: a.verboseWriter(),
		Quarantine: o.quarantine, VerifyChecksums: o.verifyChecksums, MaxDelete: o.maxDelete,
		Progress: a.progress()}
	mode := inspect.CheckOnly
	switch {
	case o.yes:
		mode = inspect.FixAll
	case o.check:
	case a.interactive() && !a.json:
		mode = inspect.Ask
		env.AskValue = func(prompt string, secret bool) (string, error) {
			if secret {
				return a.askSecretTwice(prompt)
			}
			fmt.Fprint(a.stderr, prompt+": ")
			return a.readAnswer(ctx)
		}
	default:
		if !a.json {
			fmt.Fprintln(a.stderr, "dcor: no terminal to ask at: checking only (use -y to fix)")
		}
	}
	opts := inspect.Options{Mode: mode, Only: o.only, Skip: o.skip, Reload: true, Diffs: o.diff || a.json}
	lastCheck := ""
	show := func(f *inspect.Finding) {
		if f.Check != lastCheck {
			fmt.Fprintln(a.stdout, a.paint("1", f.Check))
			lastCheck = f.Check
			a.lastPath = ""
		}
		a.printFinding(f)
	}
	if mode == inspect.Ask {
		opts.Show = show
		opts.Decider = change.NewDecider(a.prompt(a.stdout))
	}
	rep, err := inspect.Run(ctx, env, opts)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if a.json {
		return a.printInspectJSON(rep, mode)
	}
	if mode != inspect.Ask {
		for _, f := range rep.Findings {
			show(f)
		}
	}
	if o.diff {
		for _, c := range rep.Changes {
			fmt.Fprint(a.stdout, a.colorDiff(c.Diff))
		}
	}
	if rep.Interrupted {
		var applied []*change.Change
		for _, c := range rep.Changes {
			if c.Applied {
				applied = append(applied, c)
			}
		}
		return a.stopped(applied)
	}
	a.printInspectSummary(rep, mode)
	if rep.Failed() {
		return silentExit(1)
	}
	return nil
}

// isNoSite reports whether err says only that the site file is missing.
func isNoSite(err error) bool { return errors.Is(err, site.ErrNoSiteFile) }

func (a *app) printFinding(f *inspect.Finding) {
	mark := a.paint("31", "✗")
	switch {
	case f.Fixed:
		mark = a.paint("32", "✓")
	case f.Severity == inspect.Warning:
		mark = a.paint("33", "!")
	case f.Severity == inspect.Unmanaged:
		mark = a.paint("36", "?")
	}
	if f.Path != "" && f.Path != a.lastPath && !strings.Contains(f.String(), f.Path) {
		fmt.Fprintf(a.stdout, "  %s\n", a.paint("2", f.Path))
	}
	a.lastPath = f.Path
	fmt.Fprintf(a.stdout, "  %s %s\n", mark, f.String())
	for _, d := range f.Details {
		fmt.Fprintf(a.stdout, "      - %s\n", d)
	}
	if f.Error != "" {
		fmt.Fprintf(a.stdout, "    %s %s\n", a.paint("31", "not fixed:"), f.Error)
	}
}

func (a *app) colorDiff(d string) string {
	if !a.color() {
		return d
	}
	lines := strings.SplitAfter(d, "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			lines[i] = a.paint("1", strings.TrimRight(l, "\n")) + "\n"
		case strings.HasPrefix(l, "+"):
			lines[i] = a.paint("32", strings.TrimRight(l, "\n")) + "\n"
		case strings.HasPrefix(l, "-"):
			lines[i] = a.paint("31", strings.TrimRight(l, "\n")) + "\n"
		case strings.HasPrefix(l, "@@"):
			lines[i] = a.paint("36", strings.TrimRight(l, "\n")) + "\n"
		}
	}
	return strings.Join(lines, "")
}

func (a *app) printInspectSummary(rep *inspect.Report, mode inspect.Mode) {
	var drift, fixable, fixed, unmanaged, warnings, failures int
	for _, f := range rep.Findings {
		switch f.Severity {
		case inspect.Drift:
			drift++
		case inspect.Unmanaged:
			unmanaged++
		case inspect.Warning:
			warnings++
		case inspect.Failure:
			failures++
		}
		if f.Fixable {
			fixable++
		}
		if f.Fixed {
			fixed++
		}
	}
	if len(rep.Findings) == 0 {
		fmt.Fprintln(a.stdout, a.paint("32", "no drift: the host matches DCOR's configuration"))
		return
	}
	parts := []string{fmt.Sprintf("%d drifted", drift)}
	if failures > 0 {
		parts = append(parts, fmt.Sprintf("%d could not be checked", failures))
	}
	if unmanaged > 0 {
		parts = append(parts, fmt.Sprintf("%d not managed", unmanaged))
	}
	if warnings > 0 {
		parts = append(parts, fmt.Sprintf("%d warnings", warnings))
	}
	summary := strings.Join(parts, ", ")
	switch mode {
	case inspect.CheckOnly:
		fmt.Fprintf(a.stdout, "%s; %d fixable: run `dcor inspect -y` to fix\n", summary, fixable)
	default:
		fmt.Fprintf(a.stdout, "%s; fixed %d\n", summary, fixed)
		if rep.Quit {
			fmt.Fprintln(a.stdout, "stopped at the prompt (q): nothing more was fixed")
		}
		a.printChanges(rep.Changes)
		if len(rep.Reloaded) > 0 {
			fmt.Fprintf(a.stdout, "reloaded %s\n", joinServices(rep.Reloaded))
		}
		if rep.ReloadNote != "" {
			fmt.Fprintln(a.stdout, rep.ReloadNote)
		}
	}
}

// inspectJSON is the document `dcor inspect --json` prints (README: "JSON output").
type inspectJSON struct {
	Version    string             `json:"dcor_version"`
	Root       string             `json:"root"`
	CKANIni    string             `json:"ckan_ini"`
	Mode       string             `json:"mode"`
	Drift      bool               `json:"drift"`
	Findings   []*inspect.Finding `json:"findings"`
	Changes    []*change.Change   `json:"changes"`
	Reloaded   []change.Service   `json:"reloaded"`
	ReloadNote string             `json:"reload_note,omitempty"`
	// Interrupted is true when a signal stopped the run (exit 130/143).
	Interrupted bool `json:"interrupted,omitempty"`
}

func (a *app) printInspectJSON(rep *inspect.Report, mode inspect.Mode) error {
	doc := inspectJSON{Version: dcorVersion(), Root: a.host().Root, CKANIni: a.ckanIniPath(),
		Mode:  map[inspect.Mode]string{inspect.CheckOnly: "check", inspect.FixAll: "fix", inspect.Ask: "ask"}[mode],
		Drift: rep.Failed(), Findings: rep.Findings, Changes: rep.Changes, Reloaded: rep.Reloaded, ReloadNote: rep.ReloadNote,
		Interrupted: rep.Interrupted}
	if err := a.emit(doc); err != nil {
		return err
	}
	if rep.Interrupted {
		return a.stopped(nil)
	}
	if rep.Failed() {
		return silentExit(1)
	}
	return nil
}

// printChanges lists what a run changed, where the old versions went, and
// what failed.
func (a *app) printChanges(changes []*change.Change) {
	for _, c := range changes {
		switch {
		case c.Error != "":
			fmt.Fprintf(a.stdout, "  %s %s: %s\n", a.paint("31", "not done:"), c, c.Error)
		case c.Action != "":
			fmt.Fprintf(a.stdout, "  done: %s\n", c.Action)
		case c.Created:
			fmt.Fprintf(a.stdout, "  created %s\n", c.Path)
		case c.Backup != "":
			fmt.Fprintf(a.stdout, "  changed %s (old version kept as %s)\n", c.Path, c.Backup)
		default:
			fmt.Fprintf(a.stdout, "  changed %s\n", c.Path)
		}
	}
}

func joinServices(s []change.Service) string {
	names := make([]string, len(s))
	for i, x := range s {
		names[i] = string(x)
	}
	return strings.Join(names, ", ")
}
