package inspect

import (
	"context"
	"fmt"
	"os"
	"path"

	"github.com/DCOR-dev/dcor/internal/runner"
	"github.com/DCOR-dev/dcor/templates"
)

// themeStep is one of the DCOR theme's branding steps (facts §2): when
// the option does not have its value yet, the ckan command runs, then
// the option is set.
type themeStep struct{ key, value, command string }

// themeSteps are the branding steps for the installed CKAN version:
// CKAN 2.10 and newer ignore ckan.main_css and take the theme's webassets
// bundle from ckan.theme (as dcor_control 1.x sets it).
func themeSteps(ckanVersion string) []themeStep {
	css := themeStep{"ckan.main_css", "/base/css/dcor_main.css", "dcor-theme-main-css-branding"}
	if templates.CKANAtLeast(ckanVersion, 2, 10) {
		css = themeStep{"ckan.theme", "dcor_theme_main/dcor_theme_main", "dcor-theme-main-css-branding"}
	}
	return []themeStep{{"ckan.locale_default", "en_US", "dcor-theme-i18n-branding"}, css}
}

// checkTheme runs the DCOR theme's branding commands through the CKAN
// virtualenv's ckan where their option is not set yet.
func checkTheme(env *Env) []*Finding {
	f, err := env.ckanIni()
	if err != nil || !f.HasSection(mainSection) {
		return nil // the ckan-ini check reports it
	}
	ckan := path.Join(env.Venv, "bin", "ckan")
	var out []*Finding
	for _, s := range themeSteps(env.params().CKANVersion) {
		s := s
		cur, _ := f.Get(s.key)
		if cur == s.value {
			continue
		}
		fnd := &Finding{Path: env.CKANIni, Key: s.key, Current: cur, Expected: s.value, Severity: Drift, Fixable: true,
			Message: fmt.Sprintf("%s = %q, expected %s after `ckan %s`", s.key, cur, s.value, s.command)}
		if _, err := os.Stat(env.Host.Path(ckan)); err != nil {
			fnd.Fixable = false
			fnd.Message += fmt.Sprintf("; cannot run it: %s not found (is the CKAN virtualenv at %s?)", ckan, env.Venv)
			out = append(out, fnd)
			continue
		}
		fnd.fix = func(tx *Tx) error {
			tx.Do("run `ckan "+s.command+"`", func(ctx context.Context) error { return runCKAN(ctx, env, ckan, s.command) })
			return setOption(env, tx, "theme", s.key, s.value)
		}
		out = append(out, fnd)
	}
	return out
}

// runCKAN runs `ckan -c INI COMMAND` with CKAN_INI set and the
// virtualenv's bin directory first in PATH, as in an activated venv: the
// theme's commands run the venv's programs by name (`pybabel compile`).
func runCKAN(ctx context.Context, env *Env, ckan, command string) error {
	ini := env.Host.Path(env.CKANIni)
	env.logf("running %s -c %s %s", ckan, env.CKANIni, command)
	pathEnv := "PATH=" + env.Host.Path(path.Dir(ckan))
	if p := os.Getenv("PATH"); p != "" {
		pathEnv += string(os.PathListSeparator) + p
	}
	_, err := runner.Run(ctx, runner.Cmd{Path: env.Host.Path(ckan), Args: []string{"-c", ini, command},
		ExtraEnv: []string{"CKAN_INI=" + ini, pathEnv}})
	return err
}
