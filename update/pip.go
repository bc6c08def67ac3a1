package update

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/DCOR-dev/dcor/internal/runner"
)

// Venv is the CKAN virtualenv; pip runs as its python's module, through
// the runner.
type Venv struct {
	// Dir is the virtualenv's directory on this machine.
	Dir string
}

// Python is the virtualenv's interpreter.
func (v Venv) Python() string { return filepath.Join(v.Dir, "bin", "python") }

// Check says whether Dir is a virtualenv with a python.
func (v Venv) Check() error {
	if _, err := os.Stat(v.Python()); err != nil {
		return fmt.Errorf("no virtualenv at %s (%s is missing): give the CKAN virtualenv with --venv", v.Dir, v.Python())
	}
	return nil
}

// pip runs `python -m pip ARGS` and returns its standard output.
func (v Venv) pip(ctx context.Context, args ...string) ([]byte, error) {
	var out bytes.Buffer
	_, err := runner.Run(ctx, runner.Cmd{Path: v.Python(), Args: append([]string{"-m", "pip"}, args...),
		Stdout: &out, ExtraEnv: []string{"PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1", "PIP_NO_COLOR=1"}})
	var re *runner.Error
	if errors.As(err, &re) && re.Tail != "" {
		return out.Bytes(), &pipError{run: re}
	}
	return out.Bytes(), err
}

// pipError is a pip that failed, told in one line: the command, how it
// ended and pip's reason (its last "ERROR:" line, else the last line of
// its output, usually the exception of a traceback).
type pipError struct{ run *runner.Error }

func (e *pipError) Error() string {
	return fmt.Sprintf("%s failed (%s): %s", e.run.Command, e.run.Status, pipReason(e.run.Tail))
}

func (e *pipError) Unwrap() error { return e.run }

// pipReason picks the line of pip's output that says why it failed.
func pipReason(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "ERROR:") {
			return l
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// Installed is one installed distribution as `pip list` sees it.
type Installed struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Editable is the project directory of an editable install.
	Editable string `json:"editable_project_location,omitempty"`
}

// List is `pip list --format=json`: every installed distribution, by
// canonical name (editable ones with their project directory).
func (v Venv) List(ctx context.Context) (map[string]Installed, error) {
	out, err := v.pip(ctx, "list", "--format=json")
	if err != nil {
		return nil, err
	}
	var list []Installed
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("pip list --format=json: %v", err)
	}
	m := make(map[string]Installed, len(list))
	for _, p := range list {
		m[Canonical(p.Name)] = p
	}
	return m, nil
}

// Freeze is `pip freeze --all`: every distribution (pip too) as a
// requirement line, the record that a rollback puts back.
func (v Venv) Freeze(ctx context.Context) ([]string, error) {
	out, err := v.pip(ctx, "freeze", "--all")
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines, nil
}

// Planned is one distribution that pip would install.
type Planned struct {
	Name    string
	Version string
	// Requested is true for a named requirement (false: a dependency).
	Requested bool
}

// pipReport is the part of `pip install --report` dcor reads.
type pipReport struct {
	Install []struct {
		Requested bool `json:"requested"`
		Metadata  struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"metadata"`
	} `json:"install"`
}

// ParseReport reads pip's installation report (JSON, `--report -`).
func ParseReport(data []byte) ([]Planned, error) {
	var r pipReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("pip's installation report: %v", err)
	}
	out := make([]Planned, 0, len(r.Install))
	for _, it := range r.Install {
		out = append(out, Planned{Name: it.Metadata.Name, Version: it.Metadata.Version, Requested: it.Requested})
	}
	return out, nil
}

// DryRun asks pip what `pip install --upgrade REQS` would install,
// installing nothing (`--dry-run --report -`).
func (v Venv) DryRun(ctx context.Context, reqs []string) ([]Planned, error) {
	args := append([]string{"install", "--dry-run", "--quiet", "--report", "-", "--upgrade"}, reqs...)
	out, err := v.pip(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("pip could not say what it would install: %w", err)
	}
	return ParseReport(out)
}

// Install runs `pip install ARGS`.
func (v Venv) Install(ctx context.Context, args ...string) error {
	_, err := v.pip(ctx, append([]string{"install", "--quiet"}, args...)...)
	return err
}

// Uninstall runs `pip uninstall -y NAMES`.
func (v Venv) Uninstall(ctx context.Context, names ...string) error {
	_, err := v.pip(ctx, append([]string{"uninstall", "--quiet", "-y"}, names...)...)
	return err
}

// freezeName is the distribution a `pip freeze` line installs ("" for a
// comment).
func freezeName(line string) string {
	line = strings.TrimSpace(line)
	switch {
	case line == "", strings.HasPrefix(line, "#"):
		return ""
	case strings.HasPrefix(line, "-e "):
		if i := strings.Index(line, "#egg="); i >= 0 {
			return Canonical(line[i+len("#egg="):])
		}
		return ""
	}
	for i, r := range line {
		if strings.ContainsRune("=<>!~ @;[", r) {
			return Canonical(line[:i])
		}
	}
	return Canonical(line)
}
