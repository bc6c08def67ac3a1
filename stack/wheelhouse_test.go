package stack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/testtool"
)

// fakePython writes a python for stack/wheelhouse.sh (DCOR_WHEELHOUSE_PYTHON)
// that runs the script's own Python with python3 but whose `-m venv` makes a
// virtualenv with a fake pip: `pip download` (the sdists) fails as a network
// error would when failDownload, everything else succeeds without a wheel.
func fakePython(t *testing.T, dir string, failDownload bool) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		testtool.Missing(t, "python3 is not installed")
	}
	download := "exit 0"
	if failDownload {
		download = `echo "ERROR: Could not find a version that satisfies the requirement $*" >&2; exit 1`
	}
	pip := "#!/bin/sh\ncase $1 in download) " + download + ";; esac\nexit 0\n"
	fake := filepath.Join(dir, "python")
	script := `#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin" && cat >"$3/bin/pip" <<'PIP' && chmod +x "$3/bin/pip"
` + pip + `PIP
  exit
fi
exec ` + py + ` "$@"
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return fake
}

func runWheelhouse(t *testing.T, cache, python string) (string, error) {
	t.Helper()
	testtool.Need(t, "flock")
	testtool.Need(t, "sha256sum")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(wd, "wheelhouse.sh"))
	cmd.Dir = filepath.Dir(cache)
	cmd.Env = append(os.Environ(), "DCOR_STACK_CACHE="+cache, "DCOR_WHEELHOUSE_PYTHON="+python)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestWheelhouseFailedStepFails: a pip step that fails in the middle of the
// build (an sdist that does not download) fails the script, and no
// wheelhouse is marked complete: the build is not cached half done.
func TestWheelhouseFailedStepFails(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	out, err := runWheelhouse(t, cache, fakePython(t, dir, true))
	if err == nil {
		t.Errorf("wheelhouse.sh succeeded although pip download failed:\n%s", out)
	}
	if ok, _ := filepath.Glob(filepath.Join(cache, "wheelhouse-*", ".ok")); len(ok) != 0 {
		t.Errorf("a wheelhouse is marked complete although pip download failed: %v\n%s", ok, out)
	}
}

// TestWheelhouseCacheWithSpaces: in a cache directory whose path has a
// space, the script keeps the two newest wheelhouses, removes the older
// ones, and touches nothing outside the cache.
func TestWheelhouseCacheWithSpaces(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "my cache")
	sentinel := filepath.Join(dir, "my")
	for _, d := range []string{sentinel, filepath.Join(cache, "wheelhouse-old1"), filepath.Join(cache, "wheelhouse-old2")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(cache, "wheelhouse-old1"), old, old)
	os.Chtimes(filepath.Join(cache, "wheelhouse-old2"), old.Add(time.Hour), old.Add(time.Hour))
	out, err := runWheelhouse(t, cache, fakePython(t, dir, false))
	if err != nil {
		t.Fatalf("wheelhouse.sh: %v\n%s", err, out)
	}
	built := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if _, err := os.Stat(filepath.Join(built, ".ok")); err != nil {
		t.Errorf("the wheelhouse %q is not complete: %v\n%s", built, err, out)
	}
	if _, err := os.Stat(sentinel); err != nil {
		t.Errorf("the cleanup removed %s, outside the cache:\n%s", sentinel, out)
	}
	if _, err := os.Stat(filepath.Join(cache, "wheelhouse-old1")); err == nil {
		t.Errorf("the oldest wheelhouse is still there:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(cache, "wheelhouse-old2")); err != nil {
		t.Errorf("the second newest wheelhouse was removed:\n%s", out)
	}
}
