package inspect

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/ckanini"
)

// Check is one named unit of inspection.
type Check struct {
	// Name selects the check with --only and --skip.
	Name string
	// Summary says in a few words what the check looks at.
	Summary string
	// OptIn checks run only when --only names them (they are slow).
	OptIn bool
	// usesSite is set for checks that compare with the site file.
	usesSite bool
	run      func(env *Env) []*Finding
}

// Checks are all checks, in the order they run.
func Checks() []Check {
	return []Check{
		{Name: "ckan-ini", Summary: "ckan.ini has DCOR's options for this site", usesSite: true, run: checkCKANIni},
		{Name: "uwsgi", Summary: "the uWSGI file matches DCOR's template", usesSite: true, run: checkUWSGI},
		{Name: "copies", Summary: "no dated copy of a file lies where a service loads it (sites-enabled/, conf.d/)", run: checkCopies},
		{Name: "nginx", Summary: "the nginx site has the template's directives", usesSite: true, run: checkNginx},
		{Name: "supervisor", Summary: "the five supervisor programs match their templates", usesSite: true, run: checkSupervisor},
		{Name: "permissions", Summary: "DCOR's directories exist, owned by www-data, mode 0755", usesSite: true, run: checkPermissions},
		{Name: "theme", Summary: "the DCOR theme's i18n and CSS branding are generated", usesSite: true, run: checkTheme},
		{Name: "resources", Summary: "every live resource's file exists, opens and has its ancillary files (only with --only)", OptIn: true, run: checkResources},
		{Name: "orphans", Summary: "no file in the resource tree or users depot without a live resource", run: checkOrphans},
	}
}

// Mode is how inspect treats the findings.
type Mode int

const (
	// CheckOnly changes nothing: it plans the fixes and shows them.
	CheckOnly Mode = iota
	// FixAll fixes every fixable finding.
	FixAll
	// Ask asks before each fix.
	Ask
)

// Options select the checks and the mode of a run.
type Options struct {
	Mode Mode
	// Only and Skip name checks; empty Only means all.
	Only, Skip []string
	// Show is called for every finding as it is found, in Ask mode before
	// its question (so that the caller can print each one as it comes).
	Show func(f *Finding)
	// Decider asks, in Ask mode, whether to fix a finding.
	Decider *change.Decider
	// Diffs computes the masked unified diff of every change (--diff, --json).
	Diffs bool
	// Reload reloads the services the applied changes name (false: never).
	Reload bool
	// OnStep is called before each change is applied (progress).
	OnStep func(c *change.Change)
}

// Report is the outcome of a run.
type Report struct {
	Findings []*Finding       `json:"findings"`
	Changes  []*change.Change `json:"changes"`
	// Reloaded lists the services reloaded; ReloadNote says why not.
	Reloaded   []change.Service `json:"reloaded"`
	ReloadNote string           `json:"reload_note,omitempty"`
	// ReloadFailed is true when a reload was tried and failed.
	ReloadFailed bool `json:"reload_failed,omitempty"`
	// Interrupted is true when Ctrl-C (or SIGTERM) stopped the run: what
	// is listed as applied was done, nothing after it.
	Interrupted bool `json:"interrupted,omitempty"`
	// Quit is true when the person answered q at a prompt.
	Quit bool `json:"quit,omitempty"`
}

// Failed reports whether the run should exit non-zero: drift left
// unfixed, a check that could not look, or a change that failed.
func (r *Report) Failed() bool {
	for _, f := range r.Findings {
		if f.Fails() {
			return true
		}
	}
	for _, c := range r.Changes {
		if c.Error != "" {
			return true
		}
	}
	return r.ReloadFailed || r.Interrupted
}

// SelectChecks resolves --only and --skip into checks, rejecting unknown names.
func SelectChecks(only, skip []string) ([]Check, error) {
	all := Checks()
	known := map[string]bool{}
	var names []string
	for _, c := range all {
		known[c.Name] = true
		names = append(names, c.Name)
	}
	for _, n := range append(append([]string{}, only...), skip...) {
		if !known[n] {
			return nil, fmt.Errorf("unknown check %q; checks are: %s", n, strings.Join(names, ", "))
		}
	}
	in := func(list []string, n string) bool {
		for _, x := range list {
			if x == n {
				return true
			}
		}
		return false
	}
	var out []Check
	for _, c := range all {
		if len(only) > 0 && !in(only, c.Name) || len(only) == 0 && c.OptIn {
			continue
		}
		if in(skip, c.Name) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Run runs the selected checks on env and, as the mode says, plans the
// fixes of what they find, applies the plan and reloads the services it
// touched. A cancelled ctx stops the run at the next safe point: at a
// prompt or between two changes; nothing is written after that.
func Run(ctx context.Context, env *Env, opts Options) (*Report, error) {
	checks, err := SelectChecks(opts.Only, opts.Skip)
	if err != nil {
		return nil, err
	}
	plan := change.New(env.Host, env.Now)
	rep := &Report{Findings: []*Finding{}, Changes: []*change.Change{}, Reloaded: []change.Service{}}
	usesSite := false
	for _, c := range checks {
		usesSite = usesSite || c.usesSite
	}
	if env.SiteErr != nil && usesSite {
		checks = append([]Check{{Name: "site", run: func(env *Env) []*Finding {
			return []*Finding{{Path: env.SitePath, Severity: Drift,
				Message: env.SiteErr.Error() + "; until then only kind-neutral ckan.ini options are checked"}}
		}}}, checks...)
	}
	env.ctx = ctx
	var planned []*Finding
checks:
	for _, c := range checks {
		if ctx.Err() != nil {
			rep.Interrupted = true
			break
		}
		found := safeRun(c, env)
		if env.siteSave != nil {
			plan.Write("site", *env.siteSave)
			env.siteSave = nil
		}
		for _, f := range found {
			f.Check = c.Name
			rep.Findings = append(rep.Findings, f)
			if opts.Mode == Ask && opts.Show != nil {
				opts.Show(f)
			}
			if f.fix == nil {
				continue
			}
			if opts.Mode == Ask && !rep.Quit {
				ok, err := opts.Decider.Decide(ctx, "fix?", func() string { return preview(env, plan, f) })
				switch {
				case errors.Is(err, change.ErrQuit):
					rep.Quit = true
					continue
				case err != nil: // interrupted at the prompt
					rep.Interrupted = true
					break checks
				case !ok:
					continue
				}
			}
			if rep.Quit {
				continue
			}
			if err := safeFix(f, &Tx{plan: plan, env: env, finding: f}); err != nil {
				f.Error = err.Error()
				continue
			}
			planned = append(planned, f)
		}
	}
	env.flushIni(plan)
	if rep.Interrupted {
		// Nothing was written: the plan is applied only at the end.
		return rep, nil
	}
	if opts.Mode == CheckOnly {
		rep.Changes = plan.Changes(opts.Diffs)
		return rep, nil
	}
	res := plan.Apply(ctx, change.ApplyOptions{Diffs: opts.Diffs, OnStep: opts.OnStep})
	rep.Changes = res.Changes
	rep.Interrupted = res.Interrupted
	markFixed(planned, res)
	if opts.Reload {
		r := change.Reload(ctx, env.Host, change.Services(res.Changes))
		rep.Reloaded, rep.ReloadNote, rep.ReloadFailed = r.Reloaded, r.Note(), r.Failed
	}
	return rep, nil
}

// markFixed marks a planned finding fixed when every file and action it
// planned was applied.
func markFixed(planned []*Finding, res *change.Result) {
	failed := map[string]string{}
	applied := map[string]bool{}
	for _, c := range res.Changes {
		if c.Path == "" {
			continue
		}
		if c.Error != "" {
			failed[c.Path] = c.Error
		} else if c.Applied {
			applied[c.Path] = true
		}
	}
	for _, f := range planned {
		f.Fixed = true
		for _, p := range f.paths {
			if msg, ok := failed[p]; ok {
				f.Fixed, f.Error = false, msg
			}
		}
		if f.applyErr != nil {
			f.Fixed, f.Error = false, f.applyErr.Error()
			if errors.Is(f.applyErr, errChownRefused) {
				f.Severity = Warning
			}
		}
		if f.Fixed && f.ran < f.actions {
			f.Fixed, f.Error = false, "not done: "+notDone(res)
		}
	}
}

func notDone(res *change.Result) string {
	if res.Interrupted {
		return "interrupted"
	}
	return "an earlier step failed"
}

// preview plans f's fix on a copy of the plan and returns what it would
// change: the diffs of its files and its actions (the d key at a prompt).
func preview(env *Env, plan *change.Plan, f *Finding) string {
	env.flushIni(plan)
	fork := plan.Fork()
	mark := fork.Len()
	saved, savedDirty := env.ini, env.iniDirty
	if env.ini != nil {
		content := env.iniOriginal()
		if b, ok := fork.Staged(env.CKANIni); ok {
			content = b
		}
		if scratch, err := ckanini.Parse(env.Host.Path(env.CKANIni), content); err == nil {
			env.ini = scratch
		}
	}
	fixed := *f
	fixed.paths, fixed.actions = nil, 0
	err := safeFix(&fixed, &Tx{plan: fork, env: env, finding: &fixed})
	env.flushIni(fork)
	env.ini, env.iniDirty = saved, savedDirty
	if err != nil {
		return "cannot show the change: " + err.Error() + "\n"
	}
	var b strings.Builder
	for _, c := range fork.Since(mark) {
		if c.Diff != "" {
			b.WriteString(c.Diff)
		} else {
			fmt.Fprintf(&b, "%s\n", c)
		}
	}
	if b.Len() == 0 {
		return "(no change to show)\n"
	}
	return b.String()
}

// safeRun runs a check; a bug that panics becomes a failure finding
// instead of a crash that would leave the user with a stack trace.
func safeRun(c Check, env *Env) (out []*Finding) {
	defer func() {
		if r := recover(); r != nil {
			out = append(out, &Finding{Severity: Failure,
				Message: fmt.Sprintf("internal error in check %s: %v (nothing was changed by it; please report this)", c.Name, r)})
		}
	}()
	return c.run(env)
}

func safeFix(f *Finding, tx *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error while fixing: %v (please report this)", r)
		}
	}()
	return f.fix(tx)
}
