package inspect

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
)

// themeSteps are the DCOR theme's branding steps (facts §2): when the
// option does not have its value yet, the ckan command runs, then the
// option is set.
var themeSteps = []struct{ key, value, command string }{
	{"ckan.locale_default", "en_US", "dcor-theme-i18n-branding"},
	{"ckan.main_css", "/base/css/dcor_main.css", "dcor-theme-main-css-branding"},
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
	for _, s := range themeSteps {
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
			if err := tx.Act(func() error { return runCKAN(env, ckan, s.command) }); err != nil {
				return err
			}
			setOption(env, tx, "theme", s.key, s.value)
			return nil
		}
		out = append(out, fnd)
	}
	return out
}

// runCKAN runs `ckan -c INI COMMAND` with an argument list and CKAN_INI set.
func runCKAN(env *Env, ckan, command string) error {
	ini := env.Host.Path(env.CKANIni)
	cmd := exec.Command(env.Host.Path(ckan), "-c", ini, command)
	cmd.Env = append(os.Environ(), "CKAN_INI="+ini)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	env.logf("running %s -c %s %s", ckan, env.CKANIni, command)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ckan %s failed (%v): %s", command, err, lastLines(out.String(), 5))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
