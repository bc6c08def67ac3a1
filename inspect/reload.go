package inspect

import (
	"os"
	"os/exec"
	"strings"
)

// Reload reloads the services whose configuration a run changed:
// supervisor (its programs, ckan.ini or the uWSGI file changed) when
// supervisord runs, nginx when its site changed. Under a root other than
// "/" nothing is reloaded. It records what it did, or why not, in r.
func Reload(env *Env, r *Report) {
	var supervisor, nginx bool
	for _, c := range r.Changes {
		if c.Error != "" {
			continue
		}
		switch c.Check {
		case "nginx":
			nginx = true
		default:
			supervisor = true
		}
	}
	if !supervisor && !nginx {
		r.ReloadNote = "nothing was reloaded: no configuration changed"
		return
	}
	if !env.Host.Live() {
		r.ReloadNote = "nothing was reloaded: --root " + env.Host.Root + " is not the running system"
		return
	}
	var notes []string
	if supervisor {
		if out, err := exec.Command("supervisorctl", "pid").Output(); err != nil || strings.TrimSpace(string(out)) == "" || strings.Contains(string(out), "refused") {
			notes = append(notes, "supervisor was not reloaded: supervisord is not running")
		} else if out, err := exec.Command("supervisorctl", "reload").CombinedOutput(); err != nil {
			notes = append(notes, "supervisorctl reload failed: "+strings.TrimSpace(string(out)))
			r.ReloadFailed = true
		} else {
			r.Reloaded = append(r.Reloaded, "supervisor")
		}
	}
	if nginx {
		var cmd *exec.Cmd
		if _, err := os.Stat("/run/systemd/system"); err == nil {
			cmd = exec.Command("systemctl", "reload", "nginx")
		} else if _, err := os.Stat("/run/nginx.pid"); err == nil {
			cmd = exec.Command("nginx", "-s", "reload")
		}
		if cmd == nil {
			notes = append(notes, "nginx was not reloaded: it is not running")
		} else if out, err := cmd.CombinedOutput(); err != nil {
			notes = append(notes, "nginx reload failed: "+strings.TrimSpace(string(out)))
			r.ReloadFailed = true
		} else {
			r.Reloaded = append(r.Reloaded, "nginx")
		}
	}
	r.ReloadNote = strings.Join(notes, "; ")
}
