package rtdc_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/DCOR-dev/dcor/internal/rtdctest"
	"github.com/DCOR-dev/dcor/internal/testtool"
	"github.com/DCOR-dev/dcor/rtdc"
	"gonum.org/v1/hdf5"
)

func writeFile(t *testing.T, events int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.rtdc")
	if err := rtdctest.Write(p, events); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEventCountGenerated(t *testing.T) {
	for _, events := range []int{0, 1, 1000} {
		p := writeFile(t, events)
		n, err := rtdc.EventCount(p)
		if err != nil {
			t.Fatalf("%d events: %v", events, err)
		}
		if n != int64(events) {
			t.Errorf("EventCount = %d, want %d", n, events)
		}
	}
}

func TestEventCountRealFile(t *testing.T) {
	realFile := testtool.SharedTestdata(t, "calibration_beads_47.rtdc")
	n, err := rtdc.EventCount(realFile)
	if err != nil {
		t.Fatal(err)
	}
	if n != 47 {
		t.Errorf("EventCount = %d, want 47", n)
	}
}

func TestEventCountErrors(t *testing.T) {
	dir := t.TempDir()

	noCount := filepath.Join(dir, "nocount.rtdc")
	if err := rtdctest.WriteWithoutEventCount(noCount, 10); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.rtdc")
	if err := rtdctest.Write(truncated, 1000); err != nil {
		t.Fatal(err)
	}
	if err := rtdctest.Truncate(truncated); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "text.rtdc")
	if err := os.WriteFile(text, []byte("this is not an HDF5 file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.rtdc")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path string
		want       error
		msg        string
	}{
		{"missing attribute", noCount, rtdc.ErrNoEventCount, `no attribute "experiment:event count"`},
		{"truncated", truncated, rtdc.ErrDamaged, "cannot open as HDF5 (truncated or damaged)"},
		{"text", text, rtdc.ErrNotHDF5, "not an HDF5 file"},
		{"empty", empty, rtdc.ErrNotHDF5, "not an HDF5 file"},
		{"missing file", filepath.Join(dir, "nope.rtdc"), fs.ErrNotExist, "stat: no such file or directory"},
		{"directory", dir, nil, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := rtdc.EventCount(tc.path)
			if err == nil {
				t.Fatalf("EventCount = %d, nil; want error", n)
			}
			if n != 0 {
				t.Errorf("EventCount returned %d with an error", n)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %q", err, tc.want)
			}
			if err.Error() != tc.msg {
				t.Errorf("error %q, want %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), dir) {
				t.Errorf("error %q names the path", err)
			}
		})
	}
}

// writeCountAttr writes a file whose root attribute "experiment:event
// count" has the file type dt, the dimensions dims (nil for a scalar) and
// the value at data (a pointer, as gonum's Attribute.Write expects).
func writeCountAttr(t *testing.T, dt *hdf5.Datatype, dims []uint, data any) string {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := filepath.Join(t.TempDir(), "odd.rtdc")
	f, err := hdf5.CreateFile(p, hdf5.F_ACC_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root, err := f.OpenGroup("/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var space *hdf5.Dataspace
	if dims == nil {
		space, err = hdf5.CreateDataspace(hdf5.S_SCALAR)
	} else {
		space, err = hdf5.CreateSimpleDataspace(dims, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer space.Close()
	a, err := root.CreateAttribute(rtdc.EventCountAttr, dt, space)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Write(data, dt); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEventCountAttributeTypes(t *testing.T) {
	u8, i32, f64, neg := uint8(200), int32(47), 47.0, int64(-3)
	half, nan := 47.5, math.NaN()
	pair := [2]int64{1, 2}
	str := "47"
	for _, tc := range []struct {
		name string
		path string
		want int64
		msg  string
	}{
		{"uint8", writeCountAttr(t, hdf5.T_NATIVE_UINT8, nil, &u8), 200, ""},
		{"int32 in array of 1", writeCountAttr(t, hdf5.T_NATIVE_INT32, []uint{1}, &i32), 47, ""},
		{"float64", writeCountAttr(t, hdf5.T_NATIVE_DOUBLE, nil, &f64), 47, ""},
		{"fraction", writeCountAttr(t, hdf5.T_NATIVE_DOUBLE, nil, &half), 0,
			`attribute "experiment:event count" is not an integer (47.5)`},
		{"NaN", writeCountAttr(t, hdf5.T_NATIVE_DOUBLE, nil, &nan), 0,
			`attribute "experiment:event count" is not an integer (NaN)`},
		{"negative", writeCountAttr(t, hdf5.T_NATIVE_INT64, nil, &neg), 0,
			`attribute "experiment:event count" is negative (-3)`},
		{"two values", writeCountAttr(t, hdf5.T_NATIVE_INT64, []uint{2}, &pair), 0,
			`attribute "experiment:event count" holds 2 values, want 1`},
		{"string", writeCountAttr(t, hdf5.T_GO_STRING, nil, &str), 0,
			`attribute "experiment:event count" is not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := rtdc.EventCount(tc.path)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if n != tc.want || msg != tc.msg {
				t.Errorf("EventCount = %d, %q; want %d, %q", n, msg, tc.want, tc.msg)
			}
		})
	}
}

func TestEventCountConcurrent(t *testing.T) {
	p := writeFile(t, 123)
	var wg sync.WaitGroup
	errs := make(chan error, 16*20)
	for range 16 {
		wg.Go(func() {
			for range 20 {
				n, err := rtdc.EventCount(p)
				if err == nil && n != 123 {
					err = errors.New("wrong count")
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestNoStderr runs failing calls from many OS threads in a child process
// and checks that libhdf5 printed nothing to stderr. A thread-safe libhdf5
// keeps the printing switch per thread, so silencing it once in an init
// function is not enough.
func TestNoStderr(t *testing.T) {
	if os.Getenv("RTDC_TEST_CHILD") == "1" {
		childCalls()
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(exe, "-test.run=^TestNoStderr$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RTDC_TEST_CHILD=1", "RTDC_TEST_DIR="+dir)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "child done") {
		t.Fatalf("child did not run:\n%s", stdout.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("HDF5 wrote to stderr:\n%s", stderr.String())
	}
}

func childCalls() {
	dir := os.Getenv("RTDC_TEST_DIR")
	truncated := filepath.Join(dir, "truncated.rtdc")
	noCount := filepath.Join(dir, "nocount.rtdc")
	if err := rtdctest.Write(truncated, 100); err != nil {
		panic(err)
	}
	if err := rtdctest.Truncate(truncated); err != nil {
		panic(err)
	}
	if err := rtdctest.WriteWithoutEventCount(noCount, 10); err != nil {
		panic(err)
	}
	// Goroutines locked to their threads force calls from new threads.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			runtime.LockOSThread()
			for _, p := range []string{truncated, noCount} {
				if _, err := rtdc.EventCount(p); err == nil {
					panic("no error for " + p)
				}
			}
		})
	}
	wg.Wait()
	os.Stdout.WriteString("child done\n")
}
