package change

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/runner"
)

// Reloads is what Reload did.
type Reloads struct {
	// Reloaded lists the services reloaded.
	Reloaded []Service `json:"reloaded"`
	// Notes say why a service was not reloaded.
	Notes []string `json:"notes,omitempty"`
	// Failed is true when a reload was tried and failed.
	Failed bool `json:"failed,omitempty"`
}

// Note is the notes in one line.
func (r *Reloads) Note() string { return strings.Join(r.Notes, "; ") }

// Reload reloads each service once: supervisor when supervisord runs,
// nginx when it runs (through systemd when systemd is the init system).
// Under a root other than "/" nothing is reloaded.
func Reload(ctx context.Context, h host.Host, services []Service) *Reloads {
	r := &Reloads{Reloaded: []Service{}}
	if len(services) == 0 {
		return r
	}
	if !h.Live() {
		r.Notes = append(r.Notes, "nothing was reloaded: --root "+h.Root+" is not the running system")
		return r
	}
	for _, s := range services {
		if ctx.Err() != nil {
			r.Notes = append(r.Notes, string(s)+" was not reloaded: interrupted")
			continue
		}
		var err error
		switch s {
		case Supervisor:
			if !supervisordRuns(ctx) {
				r.Notes = append(r.Notes, "supervisor was not reloaded: supervisord is not running")
				continue
			}
			_, err = runner.Combined(ctx, "supervisorctl", "reload")
		case Nginx:
			if _, statErr := os.Stat("/run/systemd/system"); statErr == nil {
				_, err = runner.Combined(ctx, "systemctl", "reload", "nginx")
			} else if _, statErr := os.Stat("/run/nginx.pid"); statErr == nil {
				_, err = runner.Combined(ctx, "nginx", "-s", "reload")
			} else {
				r.Notes = append(r.Notes, "nginx was not reloaded: it is not running")
				continue
			}
		default:
			r.Notes = append(r.Notes, "no way to reload "+string(s))
			continue
		}
		if err != nil {
			r.Notes = append(r.Notes, string(s)+" reload failed: "+err.Error())
			r.Failed = true
			continue
		}
		r.Reloaded = append(r.Reloaded, s)
	}
	return r
}

// supervisordRuns asks supervisorctl for supervisord's pid: a number when
// it runs ("unix:///var/run/supervisor.sock refused connection" otherwise).
func supervisordRuns(ctx context.Context) bool {
	out, err := runner.Output(ctx, "supervisorctl", "pid")
	if err != nil {
		return false
	}
	_, convErr := strconv.Atoi(strings.TrimSpace(string(out)))
	return convErr == nil
}
