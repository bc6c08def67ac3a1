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
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/inspect"
	"github.com/DCOR-dev/dcor/update"
	"github.com/spf13/cobra"
)

// updateOptions are the flags of `dcor update`.
type updateOptions struct {
	check, maintenance, allowDowngrade, latest, noInspect bool
	venv                                                  string
}

func (a *app) updateCommand() *cobra.Command {
	var o updateOptions
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Update the DCOR packages of the CKAN virtualenv (pip, git) and reload CKAN",
		Long: `update upgrades pip, then the DCOR packages in this order: dcor_shared,
ckanext-dc_log_view, ckanext-dc_serve, ckanext-dc_view, ckanext-dcor_depot,
ckanext-dcor_schemas, ckanext-dcor_theme and dcor_control (when installed). A
package installed editable from a git checkout is updated with git pull
--ff-only and pip install -e; any other with pip install --upgrade, at most to
the version of the compatible-versions table's row for the installed CKAN (the
newest row of its major.minor not newer than it). A package newer than its
row is kept unless --allow-downgrade; a package that is not installed is
reported and skipped.

Before installing, update records pip freeze and the checkouts' commits; if a
step fails (or Ctrl-C stops it) it puts back exactly those versions and
commits. Then it reloads supervisor and runs the inspect checks in check mode
(their findings do not change update's exit status).

  --check            say what would change, install nothing; exit 1 when
                     updates are pending
  --maintenance      serve a maintenance page (HTTP 503) instead of the site
                     while updating; removed afterwards, also on failure
  --allow-downgrade  install the table's version also when it is older
  --latest           ignore the table: the newest releases`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runUpdate(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.check, "check", false, "install nothing; exit 1 when updates are pending")
	f.BoolVar(&o.maintenance, "maintenance", false, "serve a maintenance page while updating")
	f.BoolVar(&o.allowDowngrade, "allow-downgrade", false, "install the table's version also when it is older than the installed one")
	f.BoolVar(&o.latest, "latest", false, "ignore the compatible-versions table: the newest releases")
	f.BoolVar(&o.noInspect, "no-inspect", false, "do not run the inspect checks afterwards")
	f.StringVar(&o.venv, "venv", "", "CKAN virtualenv `DIR` on this machine (default "+host.DefaultVenv+" under --root)")
	return cmd
}

// updateJSON is the document `dcor update --json` prints.
type updateJSON struct {
	Version string `json:"dcor_version"`
	*update.Status
	Check      bool               `json:"check"`
	Pending    bool               `json:"pending"`
	Changes    []*change.Change   `json:"changes"`
	Updated    []update.Updated   `json:"updated"`
	Failed     bool               `json:"failed"`
	RolledBack bool               `json:"rolled_back,omitempty"`
	Reloaded   []change.Service   `json:"reloaded,omitempty"`
	ReloadNote string             `json:"reload_note,omitempty"`
	Inspect    *updateInspectJSON `json:"inspect,omitempty"`
}

// updateInspectJSON is the inspect checks' outcome after an update.
type updateInspectJSON struct {
	Drift    bool               `json:"drift"`
	Findings []*inspect.Finding `json:"findings"`
	Note     string             `json:"note,omitempty"`
}

// runUpdate is `dcor update`.
func (a *app) runUpdate(ctx context.Context, o updateOptions) error {
	if o.latest && o.allowDowngrade {
		return usageErrorf("--allow-downgrade is about the table's versions, which --latest ignores")
	}
	h := a.host()
	if o.venv == "" {
		o.venv = h.Path(host.DefaultVenv)
	} else if abs, err := filepath.Abs(o.venv); err == nil {
		o.venv = abs
	}
	table, err := update.EmbeddedTable()
	if err != nil {
		return err
	}
	opts := update.Options{Venv: update.Venv{Dir: o.venv}, Table: table, Latest: o.latest, AllowDowngrade: o.allowDowngrade}
	progress := a.progress()
	if progress != nil {
		progress("asking pip and git what would change…")
	}
	st, err := update.Survey(ctx, opts)
	if progress != nil {
		progress("")
	}
	if err != nil {
		if code, _ := interruptedBy(ctx); code != 0 {
			return a.stopped(nil)
		}
		return fmt.Errorf("%v; nothing was changed", err)
	}
	doc := updateJSON{Version: dcorVersion(), Status: st, Check: o.check, Pending: st.Pending(), Updated: []update.Updated{}}
	if !a.json {
		a.printUpdateStatus(st)
	}
	p := change.New(h, time.Now())
	if o.maintenance && st.Pending() {
		m := &update.Maintenance{Host: h, Site: host.NginxSite}
		if s, err := a.siteFile(); err == nil && s != nil {
			m.Title = s.FQDN
		}
		p.Do("update", m.Action())
	}
	run := update.Plan(p, st, opts)
	if o.check {
		rep, err := a.carryOut(ctx, p, planOptions{check: true})
		doc.Changes = rep.Changes
		if a.json {
			if jerr := a.emit(doc); jerr != nil {
				return jerr
			}
		} else if !st.Pending() {
			fmt.Fprintln(a.stdout, a.paint("32", "up to date: nothing to update"))
		}
		return err
	}
	if !st.Pending() {
		if a.json {
			doc.Changes = []*change.Change{}
			return a.emit(doc)
		}
		fmt.Fprintln(a.stdout, a.paint("32", "up to date: nothing to update"))
		return nil
	}
	var onStep func(*change.Change)
	if progress != nil {
		onStep = func(c *change.Change) { progress(c.String() + " …") }
	}
	rep, applyErr := a.carryOut(ctx, p, planOptions{stopOnError: true, onStep: onStep})
	if progress != nil {
		progress("")
	}
	doc.Changes, doc.Reloaded, doc.ReloadNote = rep.Changes, rep.Reloaded, rep.ReloadNote
	doc.RolledBack = run.RolledBack
	doc.Failed = applyErr != nil
	if updated, err := run.Updated(context.WithoutCancel(ctx)); err == nil && !run.RolledBack {
		doc.Updated = updated
	}
	if !a.json {
		for _, u := range doc.Updated {
			fmt.Fprintf(a.stdout, "updated %s from %s to %s\n", u.Name, u.From, u.To)
		}
		for _, c := range rep.Changes {
			if c.Undone != "" && c.Error == "" && strings.Contains(c.Undone, "failed") {
				fmt.Fprintf(a.stdout, "  %s %s: %s\n", a.paint("31", "not put back:"), c, c.Undone)
			}
		}
		switch {
		case run.RolledBack:
			fmt.Fprintln(a.stdout, a.paint("31", "the update failed: the virtualenv was put back as it was (pip freeze and the checkouts' commits as before)"))
		case applyErr != nil:
			fmt.Fprintln(a.stdout, a.paint("31", "the update failed"))
		}
		if rep.ReloadNote != "" {
			fmt.Fprintln(a.stdout, rep.ReloadNote)
		}
	}
	var ee *exitError
	if errors.As(applyErr, &ee) && ee.code > 1 { // interrupted: carryOut has said what was applied
		if a.json {
			_ = a.emit(doc)
		}
		return applyErr
	}
	if applyErr == nil && !o.noInspect {
		doc.Inspect = a.inspectAfterUpdate(ctx, h.HostPath(o.venv))
	}
	if a.json {
		if err := a.emit(doc); err != nil {
			return err
		}
	}
	return applyErr
}

// printUpdateStatus shows the table's row and each package's state.
func (a *app) printUpdateStatus(st *update.Status) {
	fmt.Fprintf(a.stdout, "virtualenv %s, CKAN %s\n", st.Venv, orNone(st.Choice.CKAN))
	fmt.Fprintf(a.stdout, "compatible versions: %s\n", st.Choice.Reason)
	if st.Choice.Row != nil {
		var parts []string
		for _, name := range update.Packages {
			if v := st.Choice.Pin(name); v != "" {
				parts = append(parts, name+" "+v)
			}
		}
		fmt.Fprintf(a.stdout, "  %s\n", strings.Join(parts, ", "))
	}
	line := func(p *update.Package) {
		state := ""
		switch {
		case p.Kind == update.KindMissing:
			state = a.paint("33", "not installed: skipped")
		case p.Pending && p.Kind == update.KindGit:
			state = fmt.Sprintf("%s (%s) → %s from %s", p.Installed, shortID(p.Head), shortID(p.Target), p.Upstream)
		case p.Pending:
			state = fmt.Sprintf("%s → %s", p.Installed, p.Target)
		case p.Note != "":
			state = p.Installed + ": " + p.Note
		default:
			state = p.Installed + " up to date"
		}
		if p.Kind == update.KindGit {
			state += " [git " + p.Checkout + "]"
		}
		fmt.Fprintf(a.stdout, "  %-22s %s\n", p.Name, state)
	}
	line(&st.Pip)
	for _, p := range st.Packages {
		line(p)
	}
	for _, d := range st.Dependencies {
		fmt.Fprintf(a.stdout, "  %-22s %s → %s (dependency)\n", d.Name, orNone(d.Installed), d.Target)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func shortID(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// inspectAfterUpdate runs the inspect checks in check mode and prints
// their summary; the outcome never changes update's exit status.
func (a *app) inspectAfterUpdate(ctx context.Context, venv string) *updateInspectJSON {
	out := &updateInspectJSON{Findings: []*inspect.Finding{}}
	h := a.host()
	s, siteErr := a.siteFile()
	if isNoSite(siteErr) {
		if _, err := os.Stat(h.Path(a.ckanIniPath())); errors.Is(err, os.ErrNotExist) {
			out.Note = "inspect was not run: this host is not configured (no site file and no ckan.ini)"
			if !a.json {
				fmt.Fprintln(a.stdout, out.Note)
			}
			return out
		}
	}
	env := &inspect.Env{Host: h, Site: s, SiteErr: siteErr, SitePath: a.config, CKANIni: a.ckanIniPath(),
		Venv: venv, Now: time.Now(), Log: a.verboseWriter()}
	rep, err := inspect.Run(ctx, env, inspect.Options{Mode: inspect.CheckOnly})
	if err != nil {
		out.Note = "inspect: " + err.Error()
		if !a.json {
			fmt.Fprintln(a.stdout, out.Note)
		}
		return out
	}
	out.Drift, out.Findings = rep.Failed(), rep.Findings
	if !a.json {
		fmt.Fprint(a.stdout, "inspect: ")
		a.printInspectSummary(rep, inspect.CheckOnly)
	}
	return out
}
