// Package change is the one mechanism by which dcor changes a host.
//
// A command does not write files or run destructive steps itself: it
// plans them. A Plan is an ordered list of file writes (host path, old and
// new content, mode, a validation hook, the services to reload) and
// actions (a description and a function). The same planning code serves
// every mode:
//
//   - a dry run (`--check`, `--diff`) plans and shows Changes — the masked
//     unified diffs of exactly what a real run would write — and stops;
//   - asking (Decider) lets the person say y/n/a/q per change, and d to see
//     its diff first; the caller plans only what was accepted;
//   - Apply writes each file atomically (temporary file 0600, fsync,
//     rename, fsync of the directory) after a dated copy of the old
//     version in /var/backups/dcor (never where a service loads it), runs
//     the actions in order, and stops at the next safe point when its
//     context is cancelled;
//   - Reload reloads, once at the end, the services that the applied
//     changes named (never under a --root other than "/").
//
// inspect, init, schedule, templates render, the site-file save — and
// the commands that come next (reset, update, import-figshare) — all plan
// and apply through this package.
package change

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/host"
)

// Service is a service whose configuration a change touches.
type Service string

// The services dcor reloads.
const (
	// Supervisor runs CKAN (uWSGI) and its workers; `supervisorctl reload`.
	Supervisor Service = "supervisor"
	// Nginx serves the site; `systemctl reload nginx` or `nginx -s reload`.
	Nginx Service = "nginx"
)

// File is a planned write of one file.
type File struct {
	// Path is the host path ("/etc/ckan/default/ckan.ini").
	Path string
	// Old is the content the planner read; nil when the file does not
	// exist. Apply refuses to replace a file whose content is no longer Old.
	Old []byte
	// New is the content to write.
	New []byte
	// Mode is the permission of a new file; an existing file keeps its
	// mode and owner. Files that hold secrets are given 0600 or 0640.
	Mode os.FileMode
	// Validate, when set, checks the new content (local is the path on
	// this machine) before it replaces the file; an error keeps the old file.
	Validate func(ctx context.Context, local string, data []byte) error
	// Reload names the services that read this file.
	Reload []Service
}

// Action is a planned step that is not a file write: a directory to
// create, an owner to change, a program to run, files to remove.
type Action struct {
	// Description says what the action does, for people ("create /data/…").
	Description string
	// Run performs it; it must honour ctx.
	Run func(ctx context.Context) error
	// Reload names the services to reload after it ran.
	Reload []Service
	// Undo, when set, is run once every step is over — also when a later
	// step failed or the run was interrupted — if Run succeeded: the
	// second half of a pair such as maintenance page on / off. Undos run
	// in reverse order, after the rollbacks, with a context that the
	// interruption does not cancel.
	Undo func(ctx context.Context) error
	// Rollback, when set, is run only when a later step failed or the run
	// was interrupted, if Run succeeded: it puts back the state Run
	// recorded (the versions before an update).
	Rollback func(ctx context.Context) error
}

// item is one step of a plan: a file write or an action.
type item struct {
	check  string
	file   *File
	action *Action
}

// Plan is an ordered list of file writes and actions.
type Plan struct {
	// Host maps host paths to paths on this machine.
	Host host.Host
	// Now dates the copies of replaced files.
	Now time.Time
	// Mask hides secrets in one line of a diff of the file at path (nil:
	// MaskSecrets).
	Mask func(path, line string) string

	items []*item
	// floor is the first item a Write may merge into (a fork does not
	// change the steps it was forked with).
	floor int
}

// New returns an empty plan for h, dated now.
func New(h host.Host, now time.Time) *Plan {
	return &Plan{Host: h, Now: now}
}

// Write plans f on behalf of check (the check or step that wants it).
// Writing the same path again replaces the planned content (the first Old
// stays); when an action was planned in between, the file is written a
// second time after that action (write ckan.ini, run a ckan command,
// write ckan.ini again).
func (p *Plan) Write(check string, f File) {
	for i := len(p.items) - 1; i >= p.floor; i-- {
		it := p.items[i]
		if it.action != nil {
			break
		}
		if it.file.Path == f.Path {
			it.file.New = f.New
			if f.Validate != nil {
				it.file.Validate = f.Validate
			}
			it.file.Reload = mergeServices(it.file.Reload, f.Reload)
			return
		}
	}
	if prev, ok := p.Staged(f.Path); ok {
		f.Old = prev
	}
	cp := f
	p.items = append(p.items, &item{check: check, file: &cp})
}

// Do plans action a on behalf of check.
func (p *Plan) Do(check string, a Action) {
	cp := a
	p.items = append(p.items, &item{check: check, action: &cp})
}

// Staged returns the newest content planned for host path path.
func (p *Plan) Staged(path string) ([]byte, bool) {
	for i := len(p.items) - 1; i >= 0; i-- {
		if f := p.items[i].file; f != nil && f.Path == path {
			return f.New, true
		}
	}
	return nil, false
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes(false)) == 0 }

// Len is the number of steps planned so far (a mark for Since).
func (p *Plan) Len() int { return len(p.items) }

// Fork returns a copy of the plan that can be extended without changing
// p (to preview one more change before asking about it).
func (p *Plan) Fork() *Plan {
	q := *p
	q.floor = len(p.items)
	q.items = make([]*item, len(p.items))
	for i, it := range p.items {
		cp := *it
		if it.file != nil {
			f := *it.file
			cp.file = &f
		}
		q.items[i] = &cp
	}
	return &q
}

// Change is a planned step as people and machines see it; after Apply it
// also says what happened.
type Change struct {
	// Check is the check or step that planned it.
	Check string `json:"check"`
	// Path is the host path of a file write ("" for an action).
	Path string `json:"path,omitempty"`
	// Action describes an action ("" for a file write).
	Action string `json:"action,omitempty"`
	// Created is true for a file that did not exist.
	Created bool `json:"created,omitempty"`
	// Diff is the unified diff of a file write, secrets masked (only when
	// diffs were asked for).
	Diff string `json:"diff,omitempty"`
	// Applied is true once the step was carried out.
	Applied bool `json:"applied"`
	// Backup is the host path of the dated copy of the old file.
	Backup string `json:"backup,omitempty"`
	// Error says why the step failed or was not carried out.
	Error string `json:"error,omitempty"`
	// Undone says what the step's deferred undo or rollback did ("undone",
	// "rolled back", or why it failed).
	Undone string `json:"undone,omitempty"`

	item *item
}

// String is the change in a few words.
func (c *Change) String() string {
	switch {
	case c.Action != "":
		return c.Action
	case c.Created:
		return "create " + c.Path
	default:
		return "change " + c.Path
	}
}

// Changes lists the steps of the plan that change something: file writes
// whose content differs from the old one, and every action. With diffs,
// each file write carries its masked unified diff (several writes of one
// file show as one change from the first old to the last new content).
func (p *Plan) Changes(diffs bool) []*Change {
	var out []*Change
	firstOld := map[string][]byte{}
	for _, it := range p.items {
		if it.file != nil {
			if _, ok := firstOld[it.file.Path]; !ok {
				firstOld[it.file.Path] = it.file.Old
			}
		}
	}
	for _, it := range p.items {
		if it.action != nil {
			out = append(out, &Change{Check: it.check, Action: it.action.Description, item: it})
			continue
		}
		f := it.file
		if f.Old != nil && string(f.Old) == string(f.New) {
			continue
		}
		out = append(out, &Change{Check: it.check, Path: f.Path, Created: f.Old == nil, item: it})
	}
	if diffs {
		// One diff per path, on its last change: first old → last new.
		last := map[string]*Change{}
		for _, c := range out {
			if c.Path != "" {
				last[c.Path] = c
			}
		}
		for path, c := range last {
			old := firstOld[path]
			c.Created = old == nil
			c.Diff = UnifiedDiff(path, old, c.item.file.New, p.maskFor(path))
		}
	}
	return out
}

// Since lists the changes planned after mark (a Len taken earlier), with
// their diffs against what was planned before mark: the preview of one
// finding's fix.
func (p *Plan) Since(mark int) []*Change {
	var out []*Change
	seen := map[string]bool{}
	for i := mark; i < len(p.items); i++ {
		it := p.items[i]
		if it.action != nil {
			out = append(out, &Change{Check: it.check, Action: it.action.Description, item: it})
			continue
		}
		path := it.file.Path
		if seen[path] {
			continue
		}
		seen[path] = true
		before := (&Plan{items: p.items[:mark]})
		old, ok := before.Staged(path)
		if !ok {
			old = p.firstOld(path)
		}
		newest, _ := p.Staged(path)
		if old != nil && string(old) == string(newest) {
			continue
		}
		out = append(out, &Change{Check: it.check, Path: path, Created: old == nil,
			Diff: UnifiedDiff(path, old, newest, p.maskFor(path)), item: it})
	}
	return out
}

func (p *Plan) firstOld(path string) []byte {
	for _, it := range p.items {
		if it.file != nil && it.file.Path == path {
			return it.file.Old
		}
	}
	return nil
}

func (p *Plan) maskFor(path string) func(string) string {
	mask := p.Mask
	if mask == nil {
		mask = MaskSecrets
	}
	return func(line string) string { return mask(path, line) }
}

// Services lists the services that the given applied changes ask to reload.
func Services(changes []*Change) []Service {
	var out []Service
	for _, c := range changes {
		if !c.Applied || c.item == nil {
			continue
		}
		if c.item.file != nil {
			out = mergeServices(out, c.item.file.Reload)
		} else {
			out = mergeServices(out, c.item.action.Reload)
		}
	}
	return out
}

func mergeServices(a, b []Service) []Service {
	for _, s := range b {
		found := false
		for _, x := range a {
			found = found || x == s
		}
		if !found {
			a = append(a, s)
		}
	}
	sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
	return a
}

// Summary is the changes in one line each, for people.
func Summary(changes []*Change) string {
	var b strings.Builder
	for _, c := range changes {
		if c.Undone != "" {
			fmt.Fprintf(&b, "  %s (%s)\n", c, c.Undone)
			continue
		}
		fmt.Fprintf(&b, "  %s\n", c)
	}
	return b.String()
}
