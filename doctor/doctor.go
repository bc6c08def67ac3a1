// Package doctor recognises the known problems of a DCOR host that the
// DCOR documentation's troubleshooting section lists: each problem is a
// detector over the tail of the host's logs (/var/log/ckan/*.log, nginx's
// error log, the journal) and its configuration. A Finding carries the
// evidence (file and line), the explanation and the fix; a fix that is a
// configuration change is planned on a change.Plan (nothing is written
// here), the rest are explained.
package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
)

// DefaultLines is how many lines at the end of each log doctor reads.
const DefaultLines = 5000

// DefaultJournalWarn is the size of the systemd journal (without
// SystemMaxUse) from which doctor reports it as filling the root partition.
const DefaultJournalWarn = 1 << 30

// Host paths doctor reads besides host's well-known ones.
const (
	NginxErrorLog = "/var/log/nginx/error.log"
	JournaldConf  = "/etc/systemd/journald.conf"
	JournalDir    = "/var/log/journal"
	// DataTmp is where the fixes put temporary files: the block storage.
	DataTmp = "/data/tmp"
)

// Env is what doctor looks at.
type Env struct {
	// Host is the host under --root.
	Host host.Host
	// CKANIni is ckan.ini's host path.
	CKANIni string
	// Venv is the CKAN virtualenv's host path.
	Venv string
	// Lines is the number of lines read at the end of each log (0:
	// DefaultLines).
	Lines int
	// Journal, when set, returns the last lines of the systemd journal
	// (journalctl, run through internal/runner by the caller).
	Journal func(ctx context.Context, lines int) ([]string, error)
	// JournalWarn is the journal size from which it is a problem (0:
	// DefaultJournalWarn).
	JournalWarn int64
	// RestartJournald, when set, is planned after the journald.conf edit
	// (live hosts with systemd only).
	RestartJournald func(ctx context.Context) error
}

// Evidence is one line of a log or configuration file that shows a problem.
type Evidence struct {
	// Path is the file's host path ("journal" for the systemd journal).
	Path string `json:"path"`
	// Line is the 1-based line number (0: the file as a whole).
	Line int `json:"line,omitempty"`
	// Text is the line (shortened).
	Text string `json:"text"`
}

// String is "path:line: text".
func (e Evidence) String() string {
	if e.Line == 0 {
		return e.Path + ": " + e.Text
	}
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Text)
}

// Finding is one known problem found on the host.
type Finding struct {
	// Problem is the problem's name (see Problems).
	Problem string `json:"problem"`
	// Title says what is wrong, in one line.
	Title string `json:"title"`
	// Evidence lists the lines that show it (at most a few).
	Evidence []Evidence `json:"evidence"`
	// Explanation says why it happens.
	Explanation string `json:"explanation"`
	// Fix says what fixes it; for a fixable finding, what the planned
	// change does.
	Fix string `json:"fix"`
	// Fixable is true when doctor can plan the fix.
	Fixable bool `json:"fixable"`
	// Fixed is true once the planned fix was applied.
	Fixed bool `json:"fixed"`
	// Error says why the fix failed.
	Error string `json:"error,omitempty"`

	plan func(p *change.Plan) error
}

// Plan plans the finding's fix on p (nothing is written).
func (f *Finding) Plan(p *change.Plan) error {
	if f.plan == nil {
		return fmt.Errorf("%s: no fix to plan", f.Problem)
	}
	return f.plan(p)
}

// Problem is one known problem: its name, title and detector.
type Problem struct {
	Name   string
	Title  string
	detect func(ctx context.Context, d *diag) (*Finding, error)
}

// Problems lists the known problems, in the documentation's order.
func Problems() []Problem { return problems }

// diag is one run: the environment and the logs read once.
type diag struct {
	env  *Env
	logs []*logTail
	now  time.Time
}

// Diagnose runs every detector and returns the findings, in the order of
// Problems. Logs that do not exist are skipped; a log that cannot be read
// is an error.
func Diagnose(ctx context.Context, env *Env) ([]*Finding, error) {
	if env.Lines <= 0 {
		env.Lines = DefaultLines
	}
	if env.JournalWarn <= 0 {
		env.JournalWarn = DefaultJournalWarn
	}
	if env.Venv == "" {
		env.Venv = host.DefaultVenv
	}
	if env.CKANIni == "" {
		env.CKANIni = host.DefaultCKANIni
	}
	d := &diag{env: env, now: time.Now()}
	logs, err := d.readLogs(ctx)
	if err != nil {
		return nil, err
	}
	d.logs = logs
	var out []*Finding
	for _, p := range problems {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		f, err := p.detect(ctx, d)
		if err != nil {
			return out, fmt.Errorf("%s: %w", p.Name, err)
		}
		if f != nil {
			f.Problem, f.Title = p.Name, p.Title
			out = append(out, f)
		}
	}
	return out, nil
}

// Logs lists the host paths of the logs doctor reads on env's host.
func Logs(env *Env) []string {
	h := env.Host
	var out []string
	names, _ := filepath.Glob(filepath.Join(h.Path(host.CKANLogDir), "*.log"))
	sort.Strings(names)
	for _, n := range names {
		out = append(out, filepath.Join(host.CKANLogDir, filepath.Base(n)))
	}
	if _, err := os.Stat(h.Path(NginxErrorLog)); err == nil {
		out = append(out, NginxErrorLog)
	}
	return out
}

// short cuts a line for evidence.
func short(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if len(s) > 240 {
		return s[:240] + "…"
	}
	return s
}
