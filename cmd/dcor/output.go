package main

// The output layer: every command prints through these, so that text,
// JSON and progress follow the same rules everywhere.
//
//   - Results for people go to stdout; questions, progress and messages
//     about the run to stderr.
//   - Colour only when stdout is a terminal, NO_COLOR is unset, --no-color
//     is not given and --json is not given.
//   - --json: exactly one JSON document on stdout, the command's result
//     (its shape is documented in the README), or on failure
//     {"error": {"message": …, "exit_code": N}}; nothing else on stdout,
//     and no progress line.
//   - Progress: one line on stderr, rewritten in place, only when stderr is
//     a terminal and --json is not given; cleared when the work ends.
//   - Exit codes: 0 fine, 1 failure or drift, 2 usage, 130 interrupted by
//     SIGINT (Ctrl-C), 143 by SIGTERM.
//   - Never wait for input without a terminal on stdin and stdout.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/DCOR-dev/dcor/change"
)

// errorJSON is the document --json prints for a failed command.
type errorJSON struct {
	Error struct {
		Message  string `json:"message"`
		ExitCode int    `json:"exit_code"`
	} `json:"error"`
}

// emit prints doc as the command's one JSON document.
func (a *app) emit(doc any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	a.emitted = true
	return enc.Encode(doc)
}

// printError prints a failed command's message as the rules say: one
// line on stderr, or (with --json, when no document was printed yet) the
// JSON error document on stdout.
func printError(a *app, msg string, code int) {
	if a.json && !a.emitted {
		var doc errorJSON
		doc.Error.Message = msg
		doc.Error.ExitCode = code
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(doc)
		return
	}
	if msg == "" {
		return
	}
	fmt.Fprintf(a.stderr, "dcor: %s\n", msg)
	if code == 2 {
		fmt.Fprintln(a.stderr, "Run 'dcor help' for usage.")
	}
}

// progress returns the function that shows msg on the progress line
// ("" clears it), or nil when there is no terminal to show it on.
func (a *app) progress() func(msg string) {
	if a.json || !isTerminal(a.stderr) {
		return nil
	}
	shown := false
	return func(msg string) {
		if msg != "" || shown {
			fmt.Fprint(a.stderr, "\r\x1b[K"+msg)
		}
		shown = msg != ""
	}
}

// interrupted is the cause of the context's cancellation when a signal
// arrived.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted by " + signalName(i.sig) }

func signalName(sig os.Signal) string {
	if sig == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT (Ctrl-C)"
}

// exitCode is 130 for SIGINT and 143 for SIGTERM.
func (i interrupted) exitCode() int {
	if s, ok := i.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// interruptedBy returns the signal's exit code when ctx was cancelled by
// one, else 0.
func interruptedBy(ctx context.Context) (int, string) {
	var i interrupted
	if errors.As(context.Cause(ctx), &i) {
		return i.exitCode(), i.Error()
	}
	return 0, ""
}

// stopped ends a command that a signal interrupted: it lists what was
// already applied (nothing more is written) and exits 130 or 143.
func (a *app) stopped(applied []*change.Change) error {
	code, why := interruptedBy(a.ctx)
	if code == 0 {
		code, why = 130, "interrupted"
	}
	if !a.json {
		if len(applied) == 0 {
			fmt.Fprintf(a.stderr, "dcor: %s: nothing was changed\n", why)
		} else {
			fmt.Fprintf(a.stderr, "dcor: %s: stopped; already applied, nothing after it:\n%s", why, change.Summary(applied))
		}
	}
	return &exitError{code: code}
}

// readAnswer reads one line from stdin, or returns ctx's error as soon
// as ctx is cancelled (Ctrl-C at a prompt).
func (a *app) readAnswer(ctx context.Context) (string, error) {
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		s, err := a.readLine()
		ch <- line{s, err}
	}()
	select {
	case l := <-ch:
		return l.s, l.err
	case <-ctx.Done():
		fmt.Fprintln(a.stderr)
		return "", ctx.Err()
	}
}

// prompt is the change engine's question on the terminal: y fix, n skip,
// a this and all the rest, q stop, d show the change and ask again.
func (a *app) prompt(w io.Writer) change.Prompt {
	return func(ctx context.Context, question string, preview func() string) (change.Answer, error) {
		for {
			fmt.Fprintf(w, "    %s [y,n,a,q,d,?] ", question)
			ans, err := a.readAnswer(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return change.No, ctx.Err()
				}
				fmt.Fprintln(w)
				return change.Quit, nil // end of input: ask no more
			}
			switch strings.ToLower(strings.TrimSpace(ans)) {
			case "y", "yes":
				return change.Yes, nil
			case "n", "no", "":
				return change.No, nil
			case "a", "all":
				return change.All, nil
			case "q", "quit":
				return change.Quit, nil
			case "d", "diff":
				fmt.Fprint(w, a.colorDiff(preview()))
			default:
				fmt.Fprintln(w, "    y - fix this\n    n - do not fix this\n    a - fix this and all the rest\n    q - fix nothing more\n    d - show the change")
			}
		}
	}
}
