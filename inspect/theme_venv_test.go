package inspect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/ckanini"
)

// The DCOR theme's dcor-theme-i18n-branding runs `pybabel compile` by
// name (subprocess, shell), as it would in an activated virtualenv: on
// the real stack (stack/) it failed with exit status 127 because dcor ran
// the venv's ckan without the venv's bin directory in PATH. The fake ckan
// here calls pybabel by name, like the real command.
func TestThemeCommandsFindTheVenvsPrograms(t *testing.T) {
	env, dir := sampleEnv(t)
	bin := filepath.Join(dir, env.Venv, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "pybabel-ran")
	scripts := map[string]string{
		"ckan":    "#!/bin/sh\nexec pybabel compile \"$@\"\n",
		"pybabel": "#!/bin/sh\necho \"$@\" >> " + marker + "\n",
	}
	for name, text := range scripts {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", "/usr/bin:/bin")
	rep, err := Run(context.Background(), env, Options{Mode: FixAll, Only: []string{"theme"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		if !f.Fixed {
			t.Errorf("not fixed: %s", f.Message)
		}
	}
	data, _ := os.ReadFile(marker)
	if n := strings.Count(string(data), "\n"); n != 2 {
		t.Errorf("pybabel of the venv ran %d times, want 2 (once per branding command)", n)
	}
}

// CKAN 2.10 and newer ignore ckan.main_css: the theme is the webassets
// bundle named by ckan.theme, which for DCOR is dcor_theme_main/
// dcor_theme_main (as dcor_control sets it). On the real stack, CKAN 2.11
// served its own main.css after dcor had set ckan.main_css.
func TestThemeOptionFollowsTheInstalledCKAN(t *testing.T) {
	for _, c := range []struct{ version, key, value, absent string }{
		{"", "ckan.main_css", "/base/css/dcor_main.css", "ckan.theme"},
		{"2.11.5", "ckan.theme", "dcor_theme_main/dcor_theme_main", "ckan.main_css"},
	} {
		env, dir := sampleEnv(t)
		bin := filepath.Join(dir, env.Venv, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, "ckan"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if c.version != "" {
			meta := filepath.Join(dir, env.Venv, "lib/python3.11/site-packages/ckan-"+c.version+".dist-info/METADATA")
			os.MkdirAll(filepath.Dir(meta), 0o755)
			if err := os.WriteFile(meta, []byte("Name: ckan\nVersion: "+c.version+"\n\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Run(context.Background(), env, Options{Mode: FixAll, Only: []string{"theme"}}); err != nil {
			t.Fatal(err)
		}
		f, err := ckanini.Load(filepath.Join(dir, "etc/ckan/default/ckan.ini"))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := f.Get(c.key); got != c.value {
			t.Errorf("CKAN %q: %s = %q, want %q", c.version, c.key, got, c.value)
		}
		if got, ok := f.Get(c.absent); ok && got != "" {
			t.Errorf("CKAN %q: %s = %q was set", c.version, c.absent, got)
		}
		env, _ = sampleEnvAt(t, dir)
		rep, err := Run(context.Background(), env, Options{Mode: CheckOnly, Only: []string{"theme"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Findings) > 0 {
			t.Errorf("CKAN %q: after the fix: %s", c.version, rep.Findings[0].Message)
		}
	}
}
