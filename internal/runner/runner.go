// Package runner starts the external programs dcor uses (ckan, nginx,
// supervisorctl, systemctl, pg_dump, pg_restore, gpg, later pip and git),
// always the same way:
//
//   - an argument list, never a shell string;
//   - bound to a context: when it is cancelled the program gets SIGTERM,
//     then SIGKILL after a grace period;
//   - a parent-death signal (SIGKILL), so that a program never outlives a
//     dcor that was killed;
//   - secrets passed by environment or standard input, never in argv; the
//     values listed in Secrets are masked in every message;
//   - a failure names the command (masked) and shows the tail of its output.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cmd is one program to run.
type Cmd struct {
	// Path is the program: a path, or a name looked up in PATH.
	Path string
	// Args are its arguments (without the program name).
	Args []string
	// Env, when not nil, is the whole environment; nil means dcor's own.
	Env []string
	// ExtraEnv is added to the environment ("KEY=VALUE"): the place for
	// passwords (PGPASSWORD=…) and other secrets.
	ExtraEnv []string
	// Dir is the working directory ("" for dcor's).
	Dir string
	// Stdin, Stdout and Stderr connect the program's streams; a nil
	// Stdout or Stderr is captured for the result and for error messages.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Secrets are strings masked as "****" in messages and captured output.
	Secrets []string
	// Credential runs the program as another user (nil: dcor's user).
	Credential *syscall.Credential
	// Grace is how long a cancelled program has between SIGTERM and
	// SIGKILL (default 10 s).
	Grace time.Duration
	// NoTerminal starts the program in a session of its own, without a
	// controlling terminal (setsid instead of a new process group): a
	// program that would prompt on /dev/tty for a password (Python's
	// getpass) then reads it from Stdin.
	NoTerminal bool
}

// Error is a program that could not start or did not succeed.
type Error struct {
	// Command is the command line for people, secrets masked.
	Command string
	// Status says how it ended: "exit status 1", "killed by signal 9 (killed)",
	// "not found", "interrupted".
	Status string
	// ExitCode is the program's exit code (-1 when it did not exit).
	ExitCode int
	// Tail is the end of its output, secrets masked.
	Tail string
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s failed (%s)", e.Command, e.Status)
	if e.Tail != "" {
		s += ": " + e.Tail
	}
	return s
}

// Unwrap returns the underlying error (context.Canceled when interrupted).
func (e *Error) Unwrap() error { return e.Err }

// tailBytes is how much of a failed program's output an Error shows.
const tailBytes = 2048

// Run runs c to its end and returns what it wrote to the captured
// streams (stdout, then stderr, when they were not redirected).
func Run(ctx context.Context, c Cmd) ([]byte, error) {
	p, err := Start(ctx, c)
	if err != nil {
		return nil, err
	}
	return p.Wait()
}

// Output runs the program name with args and returns its standard output;
// a failure is an *Error with the tail of its standard error.
func Output(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stdout bytes.Buffer
	_, err := Run(ctx, Cmd{Path: name, Args: args, Stdout: &stdout})
	return stdout.Bytes(), err
}

// Combined runs the program name with args and returns its standard
// output and error together.
func Combined(ctx context.Context, name string, args ...string) ([]byte, error) {
	return Run(ctx, Cmd{Path: name, Args: args})
}

// Process is a started program.
type Process struct {
	c        Cmd
	cmd      *exec.Cmd
	ctx      context.Context
	captured *capture
	stop     func()
}

// Start starts c; the caller must call Wait.
func Start(ctx context.Context, c Cmd) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Command: Describe(c), Status: "interrupted", ExitCode: -1, Err: err}
	}
	path := c.Path
	if lp, err := exec.LookPath(path); err == nil {
		path = lp
	} else if !strings.Contains(path, "/") {
		return nil, &Error{Command: Describe(c), Status: "not found", ExitCode: -1,
			Err: fmt.Errorf("%s is not installed or not in PATH: %w", c.Path, err)}
	}
	cmd := exec.Command(path, c.Args...)
	grace := c.Grace
	if grace == 0 {
		grace = 10 * time.Second
	}
	cmd.Dir = c.Dir
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	if len(c.ExtraEnv) > 0 {
		env = append(append([]string{}, env...), c.ExtraEnv...)
	}
	cmd.Env = env
	cmd.Stdin = c.Stdin
	cap := &capture{max: 1 << 20}
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = cap
	}
	if cmd.Stderr == nil {
		cmd.Stderr = cap
	}
	// Its own process group: Ctrl-C on the terminal reaches dcor only,
	// which stops the program (and what it started) itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: c.Credential, Setpgid: true}
	if c.NoTerminal {
		// A new session is a new process group too (its id is the pid).
		cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Setsid = false, true
	}
	// Output still held open by a grandchild does not keep Wait forever.
	cmd.WaitDelay = grace + time.Second
	if err := cmd.Start(); err != nil {
		return nil, &Error{Command: Describe(c), Status: "could not start", ExitCode: -1, Err: err, Tail: err.Error()}
	}
	p := &Process{c: c, cmd: cmd, ctx: ctx, captured: cap}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			pgid := cmd.Process.Pid
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-time.After(grace):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			case <-done:
			}
		case <-done:
		}
	}()
	p.stop = func() { close(done) }
	return p, nil
}

// Wait waits for the program to end and returns the captured output; a
// failure (or a cancelled context) is an *Error.
func (p *Process) Wait() ([]byte, error) {
	err := p.cmd.Wait()
	p.stop()
	out := p.captured.bytes()
	if err == nil && p.ctx.Err() == nil {
		return out, nil
	}
	e := &Error{Command: Describe(p.c), ExitCode: p.cmd.ProcessState.ExitCode(), Err: err,
		Tail: p.mask(Tail(string(out)))}
	switch {
	case p.ctx.Err() != nil:
		e.Status, e.Err = "interrupted", context.Cause(p.ctx)
		if e.Err == nil {
			e.Err = p.ctx.Err()
		}
	default:
		e.Status = ExitText(err)
	}
	return out, e
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the program.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

func (p *Process) mask(s string) string { return Mask(s, p.c.Secrets) }

// Mask replaces every secret in s with "****".
func Mask(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "****")
		}
	}
	return s
}

// Describe is the command line of c for people, secrets masked: the
// program and its arguments, those with spaces quoted.
func Describe(c Cmd) string {
	parts := []string{c.Path}
	for _, a := range c.Args {
		a = Mask(a, c.Secrets)
		if a == "" || strings.ContainsAny(a, " \t\n'\"") {
			a = fmt.Sprintf("%q", a)
		}
		parts = append(parts, a)
	}
	return "`" + strings.Join(parts, " ") + "`"
}

// ExitText says how a program ended: "exit status 1", "killed by signal
// 9 (killed)".
func ExitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// Tail is the last lines of s that fit in the 2 KiB an Error shows,
// trimmed, marked with "…" when cut.
func Tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= tailBytes {
		return s
	}
	s = s[len(s)-tailBytes:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…" + s
}

// capture keeps the last max bytes written to it.
type capture struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	if len(c.buf) > c.max {
		c.buf = append(c.buf[:0], c.buf[len(c.buf)-c.max:]...)
	}
	return len(p), nil
}

func (c *capture) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf...)
}
