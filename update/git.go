package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/DCOR-dev/dcor/internal/runner"
)

// Checkout is a git work tree an editable package is installed from.
type Checkout struct {
	// Dir is the work tree's top directory.
	Dir string
}

func (c Checkout) git(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	_, err := runner.Run(ctx, runner.Cmd{Path: "git", Args: append([]string{"-C", c.Dir}, args...), Stdout: &out,
		ExtraEnv: []string{"GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}})
	return strings.TrimSpace(out.String()), err
}

// FindCheckout returns the git work tree that holds dir, or false.
func FindCheckout(ctx context.Context, dir string) (Checkout, bool) {
	top, err := Checkout{Dir: dir}.git(ctx, "rev-parse", "--show-toplevel")
	if err != nil || top == "" {
		return Checkout{}, false
	}
	return Checkout{Dir: top}, true
}

// Head is the commit checked out.
func (c Checkout) Head(ctx context.Context) (string, error) {
	return c.git(ctx, "rev-parse", "HEAD")
}

// Remote is where `git pull` of the current branch fetches from.
type Remote struct {
	// Branch is the local branch; Remote and Ref the upstream.
	Branch, Remote, Ref string
	// Commit is the upstream's newest commit (ls-remote), "" when unknown.
	Commit string
}

// Upstream finds the current branch's upstream and asks the remote for its
// newest commit (`git ls-remote`: nothing in the checkout changes).
func (c Checkout) Upstream(ctx context.Context) (Remote, error) {
	var r Remote
	b, err := c.git(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil || b == "" {
		return r, errors.New("no branch checked out (detached HEAD): git pull cannot update it")
	}
	r.Branch = b
	r.Remote, _ = c.git(ctx, "config", "--get", "branch."+b+".remote")
	r.Ref, _ = c.git(ctx, "config", "--get", "branch."+b+".merge")
	if r.Remote == "" || r.Ref == "" {
		return r, fmt.Errorf("branch %s has no upstream: git pull cannot update it", b)
	}
	out, err := c.git(ctx, "ls-remote", "--", r.Remote, r.Ref)
	if err != nil {
		return r, fmt.Errorf("asking %s for %s: %w", r.Remote, r.Ref, err)
	}
	if f := strings.Fields(out); len(f) > 0 {
		r.Commit = f[0]
	}
	return r, nil
}

// Contains reports whether commit is known locally and an ancestor of HEAD.
func (c Checkout) Contains(ctx context.Context, commit string) bool {
	_, err := c.git(ctx, "merge-base", "--is-ancestor", commit, "HEAD")
	return err == nil
}

// Dirty lists the tracked files with local changes (git pull and a
// rollback's reset would touch them).
func (c Checkout) Dirty(ctx context.Context) (string, error) {
	return c.git(ctx, "status", "--porcelain", "--untracked-files=no")
}

// Pull is `git pull --ff-only`.
func (c Checkout) Pull(ctx context.Context) error {
	_, err := c.git(ctx, "pull", "--ff-only", "--quiet")
	return err
}

// ResetTo puts HEAD and the work tree back at commit.
func (c Checkout) ResetTo(ctx context.Context, commit string) error {
	_, err := c.git(ctx, "reset", "--hard", "--quiet", commit)
	return err
}
