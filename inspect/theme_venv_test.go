package inspect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
