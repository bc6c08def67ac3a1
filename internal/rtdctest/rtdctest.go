// Package rtdctest writes small RT-DC-like HDF5 files (.rtdc) for tests.
//
// The files have the layout of real RT-DC measurements: root attributes
// named "section:key", a group "events" with one dataset per feature and
// a group "logs". They are far smaller than real measurements and hold
// only a few features.
//
// String attributes are written as variable-length strings with the ASCII
// character set: gonum.org/v1/hdf5 cannot mark a type as UTF-8, whereas
// files written by dclab use UTF-8. Readers that only look at numbers do
// not see the difference.
//
// The functions serialize their own HDF5 calls but not those of other
// packages; call them from one goroutine before starting concurrent
// readers. With the thread-safe libhdf5 of Debian every single HDF5 call
// is serialized by the library anyway.
package rtdctest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"gonum.org/v1/hdf5"
)

// Date, Sample and FlowRate are the values of the root attributes
// "experiment:date", "experiment:sample" and "setup:flow rate" that
// Write and WriteWithoutEventCount store.
const (
	Date     = "2018-12-11"
	Sample   = "calibration beads (rtdctest)"
	FlowRate = 0.04
)

var mu sync.Mutex

// Write creates (or overwrites) path as a valid RT-DC file with events
// events: root attributes "experiment:event count" (int64 = events),
// "experiment:date", "experiment:sample" (strings) and "setup:flow rate"
// (float64), a group "events" with the float64 datasets "deform" and
// "area_um" of length events, and an empty group "logs". events may be 0.
func Write(path string, events int) error {
	return write(path, events, true)
}

// WriteWithoutEventCount is Write without the root attribute
// "experiment:event count".
func WriteWithoutEventCount(path string, events int) error {
	return write(path, events, false)
}

// Truncate cuts the file at path to half its size, in place, so that HDF5
// can still recognize its signature but can no longer open it, as happens
// with an interrupted upload. Write a file first, then truncate it.
func Truncate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() < 16 {
		return fmt.Errorf("rtdctest: %s is too small to truncate (%d bytes)", path, st.Size())
	}
	return os.Truncate(path, st.Size()/2)
}

func write(path string, events int, withCount bool) (err error) {
	if events < 0 {
		return fmt.Errorf("rtdctest: negative number of events %d", events)
	}
	mu.Lock()
	defer mu.Unlock()
	// libhdf5 keeps its automatic error printing per OS thread (in
	// thread-safe builds); silence it on the thread that makes the calls.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := hdf5.DisplayErrors(false); err != nil {
		return err
	}

	f, err := hdf5.CreateFile(path, hdf5.F_ACC_TRUNC)
	if err != nil {
		return fmt.Errorf("rtdctest: create %s: %w", path, err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()

	root, err := f.OpenGroup("/")
	if err != nil {
		return fmt.Errorf("rtdctest: open root group: %w", err)
	}
	defer func() { err = errors.Join(err, root.Close()) }()

	if withCount {
		if err := scalarAttr(root, "experiment:event count", hdf5.T_NATIVE_INT64, int64(events)); err != nil {
			return err
		}
	}
	if err := scalarAttr(root, "experiment:date", hdf5.T_GO_STRING, Date); err != nil {
		return err
	}
	if err := scalarAttr(root, "experiment:sample", hdf5.T_GO_STRING, Sample); err != nil {
		return err
	}
	if err := scalarAttr(root, "experiment:run index", hdf5.T_NATIVE_INT64, int64(1)); err != nil {
		return err
	}
	if err := scalarAttr(root, "setup:flow rate", hdf5.T_NATIVE_DOUBLE, FlowRate); err != nil {
		return err
	}

	ev, err := f.CreateGroup("events")
	if err != nil {
		return fmt.Errorf("rtdctest: create group events: %w", err)
	}
	defer func() { err = errors.Join(err, ev.Close()) }()
	deform := make([]float64, events)
	area := make([]float64, events)
	for i := range deform {
		deform[i] = 0.01 + 0.001*float64(i%50)
		area[i] = 30 + 0.5*float64(i%40)
	}
	if err := dataset(ev, "deform", deform); err != nil {
		return err
	}
	if err := dataset(ev, "area_um", area); err != nil {
		return err
	}

	logs, err := f.CreateGroup("logs")
	if err != nil {
		return fmt.Errorf("rtdctest: create group logs: %w", err)
	}
	return logs.Close()
}

// scalarAttr writes the scalar attribute name = v with the memory type dt
// (and the same file type).
func scalarAttr[T any](g *hdf5.Group, name string, dt *hdf5.Datatype, v T) (err error) {
	space, err := hdf5.CreateDataspace(hdf5.S_SCALAR)
	if err != nil {
		return fmt.Errorf("rtdctest: dataspace for %q: %w", name, err)
	}
	defer func() { err = errors.Join(err, space.Close()) }()
	a, err := g.CreateAttribute(name, dt, space)
	if err != nil {
		return fmt.Errorf("rtdctest: create attribute %q: %w", name, err)
	}
	defer func() { err = errors.Join(err, a.Close()) }()
	if err := a.Write(&v, dt); err != nil {
		return fmt.Errorf("rtdctest: write attribute %q: %w", name, err)
	}
	return nil
}

// dataset writes the one-dimensional float64 dataset name.
func dataset(g *hdf5.Group, name string, data []float64) (err error) {
	space, err := hdf5.CreateSimpleDataspace([]uint{uint(len(data))}, nil)
	if err != nil {
		return fmt.Errorf("rtdctest: dataspace for %q: %w", name, err)
	}
	defer func() { err = errors.Join(err, space.Close()) }()
	d, err := g.CreateDataset(name, hdf5.T_NATIVE_DOUBLE, space)
	if err != nil {
		return fmt.Errorf("rtdctest: create dataset %q: %w", name, err)
	}
	defer func() { err = errors.Join(err, d.Close()) }()
	if len(data) == 0 {
		return nil
	}
	if err := d.Write(&data); err != nil {
		return fmt.Errorf("rtdctest: write dataset %q: %w", name, err)
	}
	return nil
}
