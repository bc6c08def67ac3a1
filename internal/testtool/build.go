package testtool

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildDcor builds the real dcor binary of this module into dir and
// returns its path (benchmarks time the binary, not the test process).
func BuildDcor(t testing.TB, dir string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "dcor")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/dcor")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/dcor: %v\n%s", err, out)
	}
	return bin
}
