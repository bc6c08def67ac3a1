package inspect

import (
	"context"
	"fmt"
	"os"
	"path"
	"sort"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
)

// loadedDirs are directories whose every file (or every *.conf) a service
// loads: a dated copy left there by an older dcor is loaded too (nginx
// then has the site twice and refuses to start).
var loadedDirs = []struct {
	dir     string
	service change.Service
}{
	{"/etc/nginx/sites-enabled", change.Nginx},
	{"/etc/nginx/conf.d", change.Nginx},
	{path.Dir(host.NginxSite), change.Nginx},
	{host.SupervisorDir, change.Supervisor},
}

// checkCopies reports dated copies (NAME.dcor-YYYYmmdd-HHMMSS) in the
// directories services load, and moves them to /var/backups/dcor.
func checkCopies(env *Env) []*Finding {
	seen := map[string]bool{}
	var out []*Finding
	for _, d := range loadedDirs {
		if seen[d.dir] {
			continue
		}
		seen[d.dir] = true
		entries, err := os.ReadDir(env.Host.Path(d.dir))
		if err != nil {
			continue
		}
		var stray []string
		for _, e := range entries {
			if e.Type().IsRegular() && change.IsDatedCopy(e.Name()) {
				stray = append(stray, path.Join(d.dir, e.Name()))
			}
		}
		if len(stray) == 0 {
			continue
		}
		sort.Strings(stray)
		out = append(out, &Finding{Path: d.dir, Severity: Drift, Fixable: true, Details: stray,
			Message: fmt.Sprintf("%d dated %s left in %s by an older dcor: %s loads them too; they will be moved to %s%s",
				len(stray), plural(len(stray), "copy", "copies"), d.dir, d.service, change.BackupDir, d.dir),
			fix: func(tx *Tx) error {
				d := d
				for _, p := range stray {
					p := p
					tx.Do("move "+p+" to "+change.BackupDir+p, func(ctx context.Context) error {
						_, err := change.MoveCopy(env.Host, p)
						return err
					}, d.service)
				}
				return nil
			}})
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
