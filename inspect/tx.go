package inspect

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/DCOR-dev/dcor/host"
)

// Tx collects the changes that fixes make: file contents are staged and
// written together at Commit, each config file after a dated copy of its
// old version; actions (mkdir, chown, running a command) run at once
// unless the Tx is a dry run. A dry run stages the same contents, so the
// diffs of `--check --diff` are exactly those that `-y` applies.
type Tx struct {
	// DryRun stages file changes but writes nothing and runs no action.
	DryRun bool
	// Now dates the copies of replaced files.
	Now time.Time
	// Host maps host paths to paths on this machine.
	Host  host.Host
	files map[string]*stagedFile
}

type stagedFile struct {
	hostPath string
	old      []byte
	new      []byte
	existed  bool
	perm     os.FileMode
	validate func(path string, data []byte) error
	check    string
}

// Change is a file that a Tx wrote (or, in a dry run, would write).
type Change struct {
	// Path is the host path of the file.
	Path string `json:"path"`
	// Check is the check that changed it.
	Check string `json:"check"`
	// Created is true for a file that did not exist.
	Created bool `json:"created"`
	// Backup is the host path of the dated copy of the old file.
	Backup string `json:"backup,omitempty"`
	// Diff is the unified diff, secrets masked.
	Diff string `json:"diff,omitempty"`
	// Error says why the file was not written.
	Error    string `json:"error,omitempty"`
	old, new []byte
}

func newTx(h host.Host, dry bool, now time.Time) *Tx {
	return &Tx{Host: h, DryRun: dry, Now: now, files: map[string]*stagedFile{}}
}

// Stage records new content for the file at host path p. old is the
// content the check read (nil for a file that does not exist); perm is
// used for new files. validate, when not nil, runs on the final content
// before it replaces the file: a validation error keeps the old file.
func (tx *Tx) Stage(check, p string, old, content []byte, perm os.FileMode, validate func(path string, data []byte) error) {
	if sf, ok := tx.files[p]; ok {
		sf.new = content
		if validate != nil {
			sf.validate = validate
		}
		return
	}
	tx.files[p] = &stagedFile{hostPath: p, old: old, new: content, existed: old != nil,
		perm: perm, validate: validate, check: check}
}

// Staged returns the content staged for host path p, if any.
func (tx *Tx) Staged(p string) ([]byte, bool) {
	if sf, ok := tx.files[p]; ok {
		return sf.new, true
	}
	return nil, false
}

// Act runs an action that changes the host, unless this is a dry run.
func (tx *Tx) Act(fn func() error) error {
	if tx.DryRun {
		return nil
	}
	return fn()
}

// Commit writes the staged files (in a dry run: computes their diffs
// only) and returns the changes, sorted by path.
func (tx *Tx) Commit(mask func(path string, line string) string) []*Change {
	paths := make([]string, 0, len(tx.files))
	for p := range tx.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []*Change
	for _, p := range paths {
		sf := tx.files[p]
		if sf.existed && bytes.Equal(sf.old, sf.new) {
			continue
		}
		c := &Change{Path: p, Check: sf.check, Created: !sf.existed, old: sf.old, new: sf.new}
		c.Diff = unifiedDiff(p, sf.old, sf.new, func(line string) string { return mask(p, line) })
		out = append(out, c)
		if tx.DryRun {
			continue
		}
		local := tx.Host.Path(p)
		if sf.validate != nil {
			if err := sf.validate(local, sf.new); err != nil {
				c.Error = err.Error()
				continue
			}
		}
		if !sf.existed {
			if err := os.MkdirAll(dirOf(local), 0o755); err != nil {
				c.Error = err.Error()
				continue
			}
			if err := host.WriteFileAtomic(local, sf.new, sf.perm); err != nil {
				c.Error = err.Error()
			}
			continue
		}
		// Re-read: refuse to overwrite a file that changed since the check read it.
		now, err := os.ReadFile(local)
		if err != nil || !bytes.Equal(now, sf.old) {
			c.Error = fmt.Sprintf("%s changed while dcor was inspecting it; run inspect again", p)
			continue
		}
		backup, err := host.ReplaceFile(local, sf.new, tx.Now)
		if backup != "" {
			c.Backup = tx.Host.HostPath(backup)
		}
		if err != nil {
			c.Error = err.Error()
		}
	}
	return out
}

func dirOf(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}
