package rtdctest_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/DCOR-dev/dcor/internal/rtdctest"
	"gonum.org/v1/hdf5"
)

// quiet keeps the test on its OS thread and turns HDF5's error printing
// off there (libhdf5 keeps that switch per thread).
func quiet(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	if err := hdf5.DisplayErrors(false); err != nil {
		t.Fatal(err)
	}
}

// open opens path read-only.
func open(t *testing.T, path string) *hdf5.File {
	t.Helper()
	quiet(t)
	f, err := hdf5.OpenFile(path, hdf5.F_ACC_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readAttr[T any](t *testing.T, g *hdf5.Group, name string, dt *hdf5.Datatype) T {
	t.Helper()
	a, err := g.OpenAttribute(name)
	if err != nil {
		t.Fatalf("attribute %q: %v", name, err)
	}
	defer a.Close()
	var v T
	if err := a.Read(&v, dt); err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	return v
}

func TestWrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.rtdc")
	if err := rtdctest.Write(p, 25); err != nil {
		t.Fatal(err)
	}
	f := open(t, p)
	root, err := f.OpenGroup("/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if got := readAttr[int64](t, root, "experiment:event count", hdf5.T_NATIVE_INT64); got != 25 {
		t.Errorf("event count %d, want 25", got)
	}
	if got := readAttr[string](t, root, "experiment:date", hdf5.T_GO_STRING); got != rtdctest.Date {
		t.Errorf("date %q", got)
	}
	if got := readAttr[string](t, root, "experiment:sample", hdf5.T_GO_STRING); got != rtdctest.Sample {
		t.Errorf("sample %q", got)
	}
	if got := readAttr[float64](t, root, "setup:flow rate", hdf5.T_NATIVE_DOUBLE); got != rtdctest.FlowRate {
		t.Errorf("flow rate %v", got)
	}
	for _, name := range []string{"events/deform", "events/area_um"} {
		d, err := f.OpenDataset(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		data := make([]float64, 25)
		if err := d.Read(&data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if data[24] == 0 {
			t.Errorf("%s: last value is 0", name)
		}
		space := d.Space()
		dims, _, err := space.SimpleExtentDims()
		if err != nil || len(dims) != 1 || dims[0] != 25 {
			t.Errorf("%s: dims %v, %v", name, dims, err)
		}
		space.Close()
		d.Close()
	}
	if !f.LinkExists("logs") {
		t.Error("no group logs")
	}
}

func TestWriteWithoutEventCount(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.rtdc")
	if err := rtdctest.WriteWithoutEventCount(p, 3); err != nil {
		t.Fatal(err)
	}
	f := open(t, p)
	root, err := f.OpenGroup("/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if a, err := root.OpenAttribute("experiment:event count"); err == nil {
		a.Close()
		t.Error("file has experiment:event count")
	}
	if got := readAttr[string](t, root, "experiment:date", hdf5.T_GO_STRING); got != rtdctest.Date {
		t.Errorf("date %q", got)
	}
}

func TestTruncate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.rtdc")
	if err := rtdctest.Write(p, 100); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := rtdctest.Truncate(p); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != before.Size()/2 {
		t.Errorf("size %d after truncating %d", after.Size(), before.Size())
	}
	quiet(t)
	if !hdf5.IsHDF5(p) {
		t.Error("truncated file lost its HDF5 signature")
	}
	if f, err := hdf5.OpenFile(p, hdf5.F_ACC_RDONLY); err == nil {
		f.Close()
		t.Error("HDF5 opened the truncated file")
	}
}

func TestWriteNegative(t *testing.T) {
	if err := rtdctest.Write(filepath.Join(t.TempDir(), "m.rtdc"), -1); err == nil {
		t.Error("no error for -1 events")
	}
}
