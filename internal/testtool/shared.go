package testtool

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedTestdata returns the path of file name in the shared test data
// that lives beside the repository (../shared/testdata, read there and
// never copied into the project), or in $DCOR_SHARED_TESTDATA when set.
// When it is missing the test is skipped, or failed under CI=true.
func SharedTestdata(t testing.TB, name string) string {
	t.Helper()
	p := SharedTestdataPath(name)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "shared test data missing: "+p+" (check the repository out beside ../shared, or set DCOR_SHARED_TESTDATA)")
	}
	return p
}

// SharedTestdataPath is where SharedTestdata looks for name.
func SharedTestdataPath(name string) string {
	if dir := os.Getenv("DCOR_SHARED_TESTDATA"); dir != "" {
		return filepath.Join(dir, name)
	}
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "testdata", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join("..", "shared", "testdata", name)
		}
		dir = parent
	}
}
