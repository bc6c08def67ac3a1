package inspect

import (
	"context"
	"errors"
	"fmt"
	"github.com/DCOR-dev/dcor/change"
	"os"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/nginxconf"
	"github.com/DCOR-dev/dcor/templates"
)

// checkNginx makes sure the nginx site has every directive of DCOR's
// template (the admin's own additions stay), and validates the
// configuration nginx will load with the new text (`nginx -t`, see
// validateNginx) before it replaces the old file. It also checks the TLS
// certificates the site names (see certFindings).
func checkNginx(env *Env) []*Finding {
	p := host.NginxSite
	rendered, err := templates.Render("nginx-ckan", env.params())
	if err != nil {
		return []*Finding{{Path: p, Severity: Failure, Message: err.Error()}}
	}
	validate := func(ctx context.Context, _ string, data []byte) error { return validateNginx(ctx, env.Host, p, data) }
	local := env.Host.Path(p)
	data, err := os.ReadFile(local)
	if errors.Is(err, os.ErrNotExist) {
		return append([]*Finding{{Path: p, Severity: Drift, Fixable: true,
			Message: fmt.Sprintf("%s is missing; it will be created from the template", p),
			fix: func(tx *Tx) error {
				tx.StageFile("nginx", change.File{Path: p, New: rendered, Mode: 0o644, Validate: validate})
				return nil
			}}}, certFindings(env.Host, p, rendered, env.Now)...)
	}
	if err != nil {
		if info, statErr := os.Stat(local); statErr == nil && info.IsDir() {
			return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("%s is a directory, expected a file: move it away", p)}}
		}
		return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("cannot read %s: %v", p, err)}}
	}
	updated, diffs, err := nginxconf.Enforce(data, rendered)
	if err != nil {
		return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("%s: %v; nothing was changed", p, err)}}
	}
	// The certificates are those of the site nginx will serve after
	// the fix (the same as now when nothing differs).
	certs := certFindings(env.Host, p, updated, env.Now)
	if len(diffs) == 0 {
		return certs
	}
	// The differences are fixed together: nginx -t validates the
	// enforced site as a whole, so they are one finding, one question.
	fnd := &Finding{Path: p, Severity: Drift, Fixable: true,
		Message: fmt.Sprintf("%s differs from DCOR's template in %d places", p, len(diffs)),
		fix: func(tx *Tx) error {
			tx.StageFile("nginx", change.File{Path: p, Old: data, New: updated, Mode: 0o644, Validate: validate})
			return nil
		}}
	for _, d := range diffs {
		where := ""
		if d.Block != "" {
			where = " in " + d.Block
		}
		var line string
		switch {
		case d.Current == "" && d.Expected == "":
			line = fmt.Sprintf("%s is missing%s", d.Directive, where)
		case d.Current == "":
			line = fmt.Sprintf("%s %s is missing%s", d.Directive, d.Expected, where)
		default:
			line = fmt.Sprintf("%s is %s%s, expected %s", d.Directive, d.Current, where, d.Expected)
		}
		fnd.Details = append(fnd.Details, line)
	}
	return append([]*Finding{fnd}, certs...)
}
