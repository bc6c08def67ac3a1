package inspect

import (
	"errors"
	"fmt"
	"sort"
	"strings"

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
	// CheckOnly changes nothing.
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
	// Decide is asked, in Ask mode, whether to fix a finding. It is
	// called for every finding in order (fixable or not), so that the
	// caller can print each one as it comes; other modes do not call it.
	Decide func(f *Finding) bool
	// Reload reloads services after changes (nil: never).
	Reload func(r *Report)
}

// Report is the outcome of a run.
type Report struct {
	Findings []*Finding `json:"findings"`
	Changes  []*Change  `json:"changes"`
	// Reloaded lists the services reloaded; ReloadNote says why not.
	Reloaded   []string `json:"reloaded"`
	ReloadNote string   `json:"reload_note,omitempty"`
	// ReloadFailed is true when a reload was tried and failed.
	ReloadFailed bool `json:"reload_failed,omitempty"`
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
	return r.ReloadFailed
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

// Run runs the selected checks on env and, as the mode says, fixes what
// they find.
func Run(env *Env, opts Options) (*Report, error) {
	checks, err := SelectChecks(opts.Only, opts.Skip)
	if err != nil {
		return nil, err
	}
	tx := newTx(env.Host, opts.Mode == CheckOnly, env.Now)
	rep := &Report{Findings: []*Finding{}, Changes: []*Change{}, Reloaded: []string{}}
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
	for _, c := range checks {
		for _, f := range safeRun(c, env) {
			f.Check = c.Name
			rep.Findings = append(rep.Findings, f)
			fix := f.fix != nil
			if opts.Mode == Ask {
				fix = opts.Decide != nil && opts.Decide(f) && fix
			}
			if !fix {
				continue
			}
			if err := safeFix(f, tx); err != nil {
				f.Error = err.Error()
				if errors.Is(err, errChownRefused) {
					f.Severity = Warning
				}
				continue
			}
			f.Fixed = opts.Mode != CheckOnly
		}
	}
	rep.Changes = append(rep.Changes, tx.Commit(maskLine)...)
	// A finding whose file could not be written is not fixed.
	failed := map[string]string{}
	for _, c := range rep.Changes {
		if c.Error != "" {
			failed[c.Path] = c.Error
		}
	}
	for _, f := range rep.Findings {
		if msg, ok := failed[f.Path]; ok && f.Fixed {
			f.Fixed = false
			f.Error = msg
		}
	}
	sort.SliceStable(rep.Changes, func(i, j int) bool { return rep.Changes[i].Path < rep.Changes[j].Path })
	if opts.Mode != CheckOnly && opts.Reload != nil {
		opts.Reload(rep)
	}
	return rep, nil
}

// maskLine hides secret values in a line of an INI-style file, for diffs.
func maskLine(path, line string) string {
	trimmed := strings.TrimLeft(line, " \t#;")
	i := strings.IndexAny(trimmed, "=:")
	if i <= 0 {
		return line
	}
	key := strings.TrimSpace(trimmed[:i])
	if !ckanini.IsSecret(key) {
		return line
	}
	value := strings.TrimSpace(trimmed[i+1:])
	masked := ckanini.Mask(key, value)
	if masked == value {
		return line
	}
	j := strings.LastIndex(line, value)
	if j < 0 {
		return line
	}
	return line[:j] + masked + line[j+len(value):]
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
