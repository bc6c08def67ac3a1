// Package testtool finds the real programs that integration tests run
// (PostgreSQL, gpg, nginx, supervisord, python3). A missing program skips
// the test on a developer's machine and fails it under CI=true, so that
// CI always runs everything.
package testtool

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Need returns the path of the program name, looked up in PATH and in
// the extra directories given. When it is missing, the test is skipped,
// or failed when the environment variable CI is "true".
func Need(t testing.TB, name string, extraDirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range extraDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, name+" is not installed (make test installs it)")
	return ""
}

// Missing skips the test with reason, or fails it under CI=true.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s", reason)
	}
	t.Skip(reason)
}

// Python returns Debian's python3 (/usr/bin/python3), whose packages
// (python3-jwt) the tests rely on, or any python3 in PATH.
func Python(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return Need(t, "python3")
}
