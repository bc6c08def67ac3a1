package change

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// StopOnError stops at the first step that fails (a destructive
	// sequence: no reset after a failed backup); otherwise independent
	// steps go on (inspect: one file nginx rejects does not keep ckan.ini
	// from being fixed).
	StopOnError bool
	// Diffs computes the masked unified diff of each file change.
	Diffs bool
	// OnStep, when set, is called before each step (progress).
	OnStep func(c *Change)
}

// Result is what Apply did.
type Result struct {
	// Changes are the steps, each Applied or with an Error.
	Changes []*Change `json:"changes"`
	// Interrupted is true when the context was cancelled before every
	// step was carried out.
	Interrupted bool `json:"interrupted,omitempty"`
	// UndoFailed is true when a deferred undo or a rollback failed.
	UndoFailed bool `json:"undo_failed,omitempty"`
}

// Applied lists the steps that were carried out.
func (r *Result) Applied() []*Change {
	var out []*Change
	for _, c := range r.Changes {
		if c.Applied {
			out = append(out, c)
		}
	}
	return out
}

// Failed reports whether a step failed (an interrupted run counts).
func (r *Result) Failed() bool {
	for _, c := range r.Changes {
		if c.Error != "" {
			return true
		}
	}
	return r.Interrupted || r.UndoFailed
}

// ErrNotRun marks the steps left out after an interruption or an earlier failure.
var ErrNotRun = errors.New("not done")

// Apply carries the plan out in order: each file after a dated copy of
// its old version, written atomically; each action by its function. When
// ctx is cancelled it stops before the next step (a running program is
// stopped by the runner) and marks the rest not done.
func (p *Plan) Apply(ctx context.Context, opts ApplyOptions) *Result {
	res := &Result{Changes: p.Changes(opts.Diffs)}
	copied := map[string]bool{}
	stop := ""
	for _, c := range res.Changes {
		if stop != "" {
			c.Error = stop
			continue
		}
		if ctx.Err() != nil {
			res.Interrupted = true
			stop = "not done: interrupted"
			c.Error = stop
			continue
		}
		if opts.OnStep != nil {
			opts.OnStep(c)
		}
		var err error
		if c.item.action != nil {
			err = c.item.action.Run(ctx)
		} else {
			c.Backup, err = p.writeFile(ctx, c.item.file, !copied[c.Path])
			copied[c.Path] = true
		}
		if err != nil {
			c.Error = err.Error()
			if ctx.Err() != nil {
				res.Interrupted = true
				stop = "not done: interrupted"
			} else if opts.StopOnError {
				stop = fmt.Sprintf("not done: %q failed before it", c.String())
			}
			continue
		}
		c.Applied = true
	}
	p.undo(ctx, res)
	return res
}

// UndoTimeout bounds each deferred undo and rollback.
var UndoTimeout = 10 * time.Minute

// undo runs, in reverse order, the rollbacks of the applied actions when
// the run failed, and the undos of the applied actions always. They run
// after an interruption too: their context is not cancelled with ctx.
func (p *Plan) undo(ctx context.Context, res *Result) {
	failed := res.Failed()
	for i := len(res.Changes) - 1; i >= 0; i-- {
		c := res.Changes[i]
		a := c.item.action
		if !c.Applied || a == nil || (a.Undo == nil && (a.Rollback == nil || !failed)) {
			continue
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), UndoTimeout)
		var msgs []string
		if a.Rollback != nil && failed {
			if err := a.Rollback(uctx); err != nil {
				msgs = append(msgs, "rollback failed: "+err.Error())
				res.UndoFailed = true
			} else {
				msgs = append(msgs, "rolled back")
			}
		}
		if a.Undo != nil {
			if err := a.Undo(uctx); err != nil {
				msgs = append(msgs, "undo failed: "+err.Error())
				res.UndoFailed = true
			} else {
				msgs = append(msgs, "undone")
			}
		}
		cancel()
		c.Undone = strings.Join(msgs, "; ")
	}
}

// writeFile writes one planned file. It returns the host path of the
// dated copy of the old version (when makeCopy and the file existed).
func (p *Plan) writeFile(ctx context.Context, f *File, makeCopy bool) (string, error) {
	// Every link on the way, the last one included, resolved inside the
	// root (on "/" too): a site that is a link into sites-available is
	// written at its target and stays a link.
	local, err := p.Host.Resolve(f.Path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.Path, err)
	}
	if f.Validate != nil {
		if err := f.Validate(ctx, local, f.New); err != nil {
			return "", err
		}
	}
	removeStaleTemps(local)
	info, err := os.Lstat(local)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if f.Old != nil {
			return "", fmt.Errorf("%s was removed while dcor was working on it; run dcor again", f.Path)
		}
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			return "", err
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		return "", p.Host.WriteFileAtomic(local, f.New, mode)
	case err != nil:
		return "", err
	case info.IsDir():
		return "", fmt.Errorf("%s is a directory, expected a file", f.Path)
	case !info.Mode().IsRegular():
		return "", fmt.Errorf("%s is not a regular file (%s): dcor does not replace it", f.Path, info.Mode().Type())
	}
	if f.Old == nil {
		return "", fmt.Errorf("%s appeared while dcor was working on it; run dcor again", f.Path)
	}
	if same, err := sameContent(local, f.Old); err != nil {
		return "", err
	} else if !same {
		return "", fmt.Errorf("%s changed while dcor was working on it; run dcor again", f.Path)
	}
	copyPath := ""
	if makeCopy {
		if copyPath, err = DatedCopy(p.Host, p.Host.HostPath(local), p.Now); err != nil {
			return "", err
		}
	}
	if err := p.Host.WriteFileAtomic(local, f.New, info.Mode().Perm()); err != nil {
		return copyPath, err
	}
	chownLike(local, info)
	return copyPath, nil
}

// sameContent reports whether the file at local holds exactly want,
// reading it in pieces (ckan.ini may be large).
func sameContent(local string, want []byte) (bool, error) {
	f, err := os.Open(local)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	buf := make([]byte, 1<<16)
	for {
		n, err := io.ReadFull(r, buf)
		if n > len(want) || !bytes.Equal(buf[:n], want[:n]) {
			return false, nil
		}
		want = want[n:]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return len(want) == 0, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// removeStaleTemps removes the temporary files that an earlier, killed
// write of the file at local left beside it (host.WriteFileAtomic names
// them .NAME.dcor-tmp-*). dcor holds no other write to that file now.
func removeStaleTemps(local string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(local), "."+escapeGlob(filepath.Base(local))+".dcor-tmp-*"))
	for _, m := range matches {
		if info, err := os.Lstat(m); err == nil && info.Mode().IsRegular() {
			os.Remove(m)
		}
	}
}

func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// chownLike gives path the owner and group of the file info describes
// (best effort: only root may, and a container may refuse).
func chownLike(path string, info fs.FileInfo) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		_ = os.Lchown(path, int(st.Uid), int(st.Gid))
	}
}
