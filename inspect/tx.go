package inspect

import (
	"context"
	"os"

	"github.com/DCOR-dev/dcor/change"
)

// Tx is what a finding's fix plans its changes on: a view of the run's
// change.Plan that remembers which finding planned what, so that the
// finding can be marked fixed (or not) after the plan was applied. A fix
// never writes or runs anything itself.
type Tx struct {
	plan *change.Plan
	env  *Env
	// finding is the finding whose fix is planning.
	finding *Finding
}

// Stage plans new content for the file at host path p. old is the content
// the check read (nil for a file that does not exist); perm is used for
// new files. validate, when not nil, runs on the final content before it
// replaces the file: a validation error keeps the old file.
func (tx *Tx) Stage(check, p string, old, content []byte, perm os.FileMode, validate func(path string, data []byte) error) {
	if p == tx.env.CKANIni {
		tx.stageIni(check)
		return
	}
	f := change.File{Path: p, Old: old, New: content, Mode: perm, Reload: reloadOf(check)}
	if validate != nil {
		f.Validate = func(ctx context.Context, local string, data []byte) error { return validate(local, data) }
	}
	tx.plan.Write(check, f)
	tx.record(p)
}

// stageIni plans the edits made on the shared ckanini.File of ckan.ini.
// They are planned as one write before the next action and at the end:
// one copy of a large file, not one per option.
func (tx *Tx) stageIni(check string) {
	if !tx.env.iniDirty {
		tx.env.iniCheck = check
	}
	tx.env.iniDirty = true
	tx.record(tx.env.CKANIni)
}

// StageFile plans a file write as it is.
func (tx *Tx) StageFile(check string, f change.File) {
	if f.Reload == nil {
		f.Reload = reloadOf(check)
	}
	tx.plan.Write(check, f)
	tx.record(f.Path)
}

// Staged returns the content planned for host path p, if any.
func (tx *Tx) Staged(p string) ([]byte, bool) {
	if p == tx.env.CKANIni && tx.env.iniDirty {
		tx.env.flushIni(tx.plan)
	}
	return tx.plan.Staged(p)
}

// Current is the content planned for host path p, or old when nothing is
// planned for it yet.
func (tx *Tx) Current(p string, old []byte) []byte {
	if b, ok := tx.Staged(p); ok {
		return b
	}
	return old
}

// Do plans an action; run gets the run's context. reload names the
// services to reload after it (default: those of the finding's check).
func (tx *Tx) Do(description string, run func(ctx context.Context) error, reload ...change.Service) {
	tx.env.flushIni(tx.plan)
	f := tx.finding
	if len(reload) == 0 {
		reload = reloadOf(f.Check)
	}
	tx.plan.Do(f.Check, change.Action{Description: description, Reload: reload,
		Run: func(ctx context.Context) error {
			err := run(ctx)
			if f != nil {
				if err != nil {
					f.applyErr = err
				} else {
					f.ran++
				}
			}
			return err
		}})
	if f != nil {
		f.actions++
	}
}

// Act plans an action described by the finding's message.
func (tx *Tx) Act(fn func() error) error {
	desc := ""
	if tx.finding != nil {
		desc = "fix: " + tx.finding.String()
	}
	tx.Do(desc, func(context.Context) error { return fn() })
	return nil
}

func (tx *Tx) record(p string) {
	if tx.finding == nil {
		return
	}
	for _, x := range tx.finding.paths {
		if x == p {
			return
		}
	}
	tx.finding.paths = append(tx.finding.paths, p)
}

// reloadOf names the services that read what a check changes.
func reloadOf(check string) []change.Service {
	switch check {
	case "nginx":
		return []change.Service{change.Nginx}
	case "ckan-ini", "uwsgi", "supervisor", "theme":
		return []change.Service{change.Supervisor}
	}
	return nil
}

// flushIni plans ckan.ini's pending edits as one write.
func (e *Env) flushIni(p *change.Plan) {
	if !e.iniDirty || e.ini == nil {
		return
	}
	e.iniDirty = false
	p.Write(e.iniCheck, change.File{Path: e.CKANIni, Old: e.iniOriginal(), New: e.ini.Bytes(), Mode: 0o640,
		Reload: []change.Service{change.Supervisor}})
}
