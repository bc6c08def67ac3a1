// Package update updates the DCOR Python packages of a CKAN virtualenv,
// as `dcor update` does: pip first, then dcor_shared, the extensions and
// dcor_control, each from its git checkout (git pull --ff-only, pip
// install -e) or from the package index (pip install --upgrade, at most
// the version of the compatible-versions table's row for the installed
// CKAN). Survey finds out what would change without installing anything;
// Plan puts the steps on a change.Plan: a record of `pip freeze` and of
// the checkouts' HEADs whose rollback puts both back when a later step
// fails, then one action per package. pip and git run through
// internal/runner.
package update

import (
	"context"
	"fmt"
	"strings"

	"github.com/DCOR-dev/dcor/change"
)

// Packages are the DCOR packages in the order they are updated
// (dcor_control's newest order): dcor_shared first, which the others
// import, dcor_control last.
var Packages = []string{
	"dcor_shared",
	"ckanext-dc_log_view",
	"ckanext-dc_serve",
	"ckanext-dc_view",
	"ckanext-dcor_depot",
	"ckanext-dcor_schemas",
	"ckanext-dcor_theme",
	"dcor_control",
}

// optional packages are updated when installed and not reported missing.
var optional = map[string]bool{"dcor-control": true}

// How a package is installed.
const (
	KindIndex    = "index"    // from the package index (PyPI)
	KindGit      = "git"      // editable, from a git checkout
	KindEditable = "editable" // editable, not from a git checkout: left alone
	KindMissing  = "missing"  // not installed
)

// Options say what to update.
type Options struct {
	// Venv is the CKAN virtualenv.
	Venv Venv
	// Table is the compatible-versions table.
	Table *Table
	// Latest ignores the table: the newest releases.
	Latest bool
	// AllowDowngrade installs a table version older than the installed one.
	AllowDowngrade bool
}

// Package is one DCOR package: how it is installed and what would change.
type Package struct {
	Name string `json:"name"`
	// Kind: index, git, editable or missing.
	Kind string `json:"kind"`
	// Installed is the installed version ("" when missing).
	Installed string `json:"installed,omitempty"`
	// Pin is the table's version for it ("" for none).
	Pin string `json:"pin,omitempty"`
	// Target is the version pip would install (index), or the upstream
	// commit (git); "" when nothing would change.
	Target string `json:"target,omitempty"`
	// Checkout is the git work tree (git, editable).
	Checkout string `json:"checkout,omitempty"`
	// Head is the checkout's commit; Upstream the remote branch.
	Head     string `json:"head,omitempty"`
	Upstream string `json:"upstream,omitempty"`
	// Pending is true when the update would change it.
	Pending bool `json:"pending"`
	// Note says why it is left alone or what is special about it.
	Note string `json:"note,omitempty"`
}

// Dependency is a package that is not a DCOR package but would change too.
type Dependency struct {
	Name      string `json:"name"`
	Installed string `json:"installed,omitempty"`
	Target    string `json:"target"`
}

// Status is what Survey found.
type Status struct {
	// Venv is the virtualenv's directory.
	Venv string `json:"venv"`
	// Choice is the table row that applies.
	Choice *Choice `json:"table"`
	// Pip is pip's own version and the version it would be upgraded to.
	Pip Package `json:"pip"`
	// Packages are the DCOR packages in update order.
	Packages []*Package `json:"packages"`
	// Dependencies would change with them.
	Dependencies []Dependency `json:"dependencies,omitempty"`

	installed map[string]Installed
}

// Pending reports whether the update would change anything.
func (s *Status) Pending() bool {
	if s.Pip.Pending {
		return true
	}
	for _, p := range s.Packages {
		if p.Pending {
			return true
		}
	}
	return false
}

// Survey finds the installed versions (`pip list`), the row of the table,
// what pip would install (one `pip install --dry-run --report -` for pip
// and every package from the index) and whether each checkout's upstream
// has new commits (`git ls-remote`). It installs and changes nothing.
func Survey(ctx context.Context, o Options) (*Status, error) {
	if err := o.Venv.Check(); err != nil {
		return nil, err
	}
	inst, err := o.Venv.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the installed packages of %s: %w", o.Venv.Dir, err)
	}
	s := &Status{Venv: o.Venv.Dir, installed: inst}
	ckan := inst["ckan"].Version
	if o.Latest {
		s.Choice = &Choice{CKAN: ckan, Latest: true, Reason: "--latest: the newest releases, the table is not used"}
	} else if s.Choice, err = o.Table.Select(ckan); err != nil {
		return nil, err
	}
	s.Pip = Package{Name: "pip", Kind: KindIndex, Installed: inst["pip"].Version}
	reqs := []string{"pip"}
	for _, name := range Packages {
		p := &Package{Name: name, Kind: KindIndex}
		got, ok := inst[Canonical(name)]
		switch {
		case !ok && optional[Canonical(name)]:
			continue
		case !ok:
			p.Kind, p.Note = KindMissing, "not installed: skipped"
		case got.Editable != "":
			p.Installed, p.Checkout = got.Version, got.Editable
			if co, isGit := FindCheckout(ctx, got.Editable); isGit {
				p.Kind, p.Checkout = KindGit, co.Dir
				surveyGit(ctx, co, p)
			} else {
				p.Kind, p.Note = KindEditable, "editable install from "+got.Editable+", not a git checkout: left alone"
			}
		default:
			p.Installed = got.Version
			p.Pin = s.Choice.Pin(name)
			switch {
			case p.Pin == "":
				reqs = append(reqs, name)
			case CompareVersions(p.Installed, p.Pin) > 0 && !o.AllowDowngrade:
				p.Note = fmt.Sprintf("kept: %s is newer than the table's %s for CKAN %s (--allow-downgrade installs %s)", p.Installed, p.Pin, s.Choice.Row.CKAN, p.Pin)
			default:
				reqs = append(reqs, name+"=="+p.Pin)
			}
		}
		s.Packages = append(s.Packages, p)
	}
	planned, err := o.Venv.DryRun(ctx, reqs)
	if err != nil {
		return nil, err
	}
	byName := map[string]*Package{"pip": &s.Pip}
	for _, p := range s.Packages {
		if p.Kind == KindIndex {
			byName[Canonical(p.Name)] = p
		}
	}
	for _, pl := range planned {
		c := Canonical(pl.Name)
		if p, ok := byName[c]; ok {
			if pl.Version != p.Installed {
				p.Target, p.Pending = pl.Version, true
			}
			continue
		}
		if inst[c].Version != pl.Version {
			s.Dependencies = append(s.Dependencies, Dependency{Name: pl.Name, Installed: inst[c].Version, Target: pl.Version})
		}
	}
	return s, nil
}

// surveyGit fills in a checkout's HEAD and whether its upstream is ahead.
func surveyGit(ctx context.Context, co Checkout, p *Package) {
	var err error
	if p.Head, err = co.Head(ctx); err != nil {
		p.Note = "git: " + err.Error()
		return
	}
	if dirty, err := co.Dirty(ctx); err != nil || dirty != "" {
		p.Note = "the checkout has local changes (git status): not updated; commit or stash them"
		return
	}
	up, err := co.Upstream(ctx)
	if err != nil {
		p.Note = err.Error()
		return
	}
	p.Upstream = up.Remote + " " + strings.TrimPrefix(up.Ref, "refs/heads/")
	if up.Commit != "" && up.Commit != p.Head && !co.Contains(ctx, up.Commit) {
		p.Target, p.Pending = up.Commit, true
	}
}

// Run is the state the planned steps share: the record the rollback puts
// back.
type Run struct {
	opts       Options
	status     *Status
	freeze     []string
	heads      map[string]string // checkout → HEAD before
	touched    map[string]bool   // checkouts pulled
	recorded   bool
	RolledBack bool
}

// Plan puts the update on p: the record (with its rollback), pip's own
// upgrade, and one step per pending package, each asking for a reload of
// supervisor. Nothing is planned when nothing is pending.
func Plan(p *change.Plan, s *Status, o Options) *Run {
	r := &Run{opts: o, status: s, heads: map[string]string{}, touched: map[string]bool{}}
	if !s.Pending() {
		return r
	}
	p.Do("update", change.Action{
		Description: "record pip freeze and the checkouts' HEADs of " + s.Venv + " (put back if a step fails)",
		Run:         r.record, Rollback: r.rollback})
	if s.Pip.Pending {
		p.Do("update", change.Action{Description: fmt.Sprintf("upgrade pip %s → %s (pip install --upgrade pip)", s.Pip.Installed, s.Pip.Target),
			Run: func(ctx context.Context) error { return o.Venv.Install(ctx, "--upgrade", "pip") }})
	}
	for _, pk := range s.Packages {
		if !pk.Pending {
			continue
		}
		pk := pk
		switch pk.Kind {
		case KindGit:
			co := Checkout{Dir: pk.Checkout}
			p.Do("update", change.Action{
				Description: fmt.Sprintf("update %s from its checkout %s (git pull --ff-only %s; pip install -e)", pk.Name, pk.Checkout, short(pk.Target)),
				Reload:      []change.Service{change.Supervisor},
				Run: func(ctx context.Context) error {
					r.touched[co.Dir] = true
					if err := co.Pull(ctx); err != nil {
						return err
					}
					return o.Venv.Install(ctx, "-e", co.Dir)
				}})
		default:
			req := pk.Name
			if pk.Pin != "" {
				req += "==" + pk.Pin
			}
			p.Do("update", change.Action{
				Description: fmt.Sprintf("update %s %s → %s (pip install --upgrade %s)", pk.Name, pk.Installed, pk.Target, req),
				Reload:      []change.Service{change.Supervisor},
				Run:         func(ctx context.Context) error { return o.Venv.Install(ctx, "--upgrade", req) }})
		}
	}
	return r
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

// record notes `pip freeze --all` and the HEAD of every git checkout.
func (r *Run) record(ctx context.Context) error {
	fr, err := r.opts.Venv.Freeze(ctx)
	if err != nil {
		return err
	}
	for _, pk := range r.status.Packages {
		if pk.Kind != KindGit {
			continue
		}
		h, err := Checkout{Dir: pk.Checkout}.Head(ctx)
		if err != nil {
			return err
		}
		r.heads[pk.Checkout] = h
	}
	r.freeze, r.recorded = fr, true
	return nil
}

// rollback puts the recorded HEADs back (only in the checkouts this run
// pulled), then exactly the recorded distributions: what was added is
// uninstalled, what changed or went missing reinstalled at its recorded
// version (--no-deps), editable checkouts reinstalled from their reset
// tree; and checks that `pip freeze` is the record again.
func (r *Run) rollback(ctx context.Context) error {
	if !r.recorded {
		return nil
	}
	v := r.opts.Venv
	var editables []string
	for dir := range r.touched {
		head := r.heads[dir]
		co := Checkout{Dir: dir}
		if now, err := co.Head(ctx); err != nil || now != head {
			if err := co.ResetTo(ctx, head); err != nil {
				return fmt.Errorf("putting %s back at %s: %w", dir, short(head), err)
			}
		}
		editables = append(editables, dir)
	}
	after, err := v.Freeze(ctx)
	if err != nil {
		return err
	}
	before := byFreezeName(r.freeze)
	now := byFreezeName(after)
	var extra, reinstall []string
	for name, line := range now {
		if _, ok := before[name]; !ok && name != "" {
			extra = append(extra, name)
		} else if before[name] != line && !strings.HasPrefix(before[name], "-e ") {
			reinstall = append(reinstall, before[name])
		}
	}
	for name, line := range before {
		if _, ok := now[name]; !ok && !strings.HasPrefix(line, "-e ") {
			reinstall = append(reinstall, line)
		}
	}
	if len(extra) > 0 {
		if err := v.Uninstall(ctx, extra...); err != nil {
			return err
		}
	}
	if len(reinstall) > 0 {
		if err := v.Install(ctx, append([]string{"--no-deps"}, reinstall...)...); err != nil {
			return err
		}
	}
	for _, dir := range editables {
		if err := v.Install(ctx, "--no-deps", "-e", dir); err != nil {
			return err
		}
	}
	final, err := v.Freeze(ctx)
	if err != nil {
		return err
	}
	if diff := freezeDiff(r.freeze, final); diff != "" {
		return fmt.Errorf("the virtualenv still differs from before the update: %s", diff)
	}
	r.RolledBack = true
	return nil
}

func byFreezeName(lines []string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		if n := freezeName(l); n != "" {
			m[n] = l
		}
	}
	return m
}

// freezeDiff says in one line how two freezes differ ("" when equal).
func freezeDiff(before, after []string) string {
	b, a := map[string]bool{}, map[string]bool{}
	for _, l := range before {
		b[l] = true
	}
	for _, l := range after {
		a[l] = true
	}
	var d []string
	for _, l := range before {
		if !a[l] {
			d = append(d, "-"+l)
		}
	}
	for _, l := range after {
		if !b[l] {
			d = append(d, "+"+l)
		}
	}
	return strings.Join(d, ", ")
}

// Updated is one package whose version changed.
type Updated struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Updated compares the installed versions now with those Survey found:
// pip and the DCOR packages whose version changed.
func (r *Run) Updated(ctx context.Context) ([]Updated, error) {
	now, err := r.opts.Venv.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Updated
	names := append([]string{"pip"}, Packages...)
	for _, n := range names {
		c := Canonical(n)
		was, is := r.status.installed[c].Version, now[c].Version
		if was != is && is != "" {
			out = append(out, Updated{Name: n, From: was, To: is})
		}
	}
	for _, pk := range r.status.Packages {
		if pk.Kind != KindGit || !r.touched[pk.Checkout] {
			continue
		}
		head, err := Checkout{Dir: pk.Checkout}.Head(ctx)
		if err == nil && head != pk.Head && now[Canonical(pk.Name)].Version == pk.Installed {
			out = append(out, Updated{Name: pk.Name, From: pk.Installed + " (" + short(pk.Head) + ")", To: pk.Installed + " (" + short(head) + ")"})
		}
	}
	return out, nil
}
