// Package rtdc reads metadata from RT-DC files (.rtdc), the HDF5 files
// written by real-time deformability cytometry.
//
// An RT-DC file stores its metadata as attributes of the HDF5 root group,
// named "section:key" (for example "experiment:event count"), one dataset
// per feature in the group "events" and text logs in the group "logs".
//
// The package uses the HDF5 C library through gonum.org/v1/hdf5. All calls
// into the library are serialized by a package-level lock, so the
// functions may be called from many goroutines; they do not run in
// parallel. The library's automatic printing of error stacks to stderr is
// turned off on every OS thread the package uses.
//
// Errors never name the file, so that callers can add the path once, for
// example fmt.Errorf("%s: %w", path, err). Errors from the operating
// system (a missing file, no permission) wrap the underlying error, so
// errors.Is(err, fs.ErrNotExist) works.
package rtdc

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime"
	"sync"

	"gonum.org/v1/hdf5"
)

// EventCountAttr is the root attribute that holds the number of events.
const EventCountAttr = "experiment:event count"

var (
	// ErrNotHDF5 is returned for files without an HDF5 signature.
	ErrNotHDF5 = errors.New("not an HDF5 file")
	// ErrDamaged is returned for files with an HDF5 signature that HDF5
	// cannot open, such as truncated uploads.
	ErrDamaged = errors.New("cannot open as HDF5 (truncated or damaged)")
	// ErrNoEventCount is returned for HDF5 files whose root group has no
	// attribute "experiment:event count".
	ErrNoEventCount = errors.New(`no attribute "experiment:event count"`)
)

// mu serializes all calls into libhdf5, which has global state.
var mu sync.Mutex

// EventCount returns the number of events recorded in the RT-DC file at
// path, the root attribute "experiment:event count". The file is opened
// read-only and closed before EventCount returns.
//
// The attribute may be stored as any integer type, or as a floating-point
// number with an integral value; it must hold exactly one element and
// must not be negative. A count of 0 is returned with a nil error: whether
// an empty measurement is acceptable is for the caller to decide.
//
// The errors are ErrNotHDF5, ErrDamaged, ErrNoEventCount, an error from
// the operating system wrapping e.g. fs.ErrNotExist (without the path),
// or an error that describes a malformed attribute. None names path.
func EventCount(path string) (int64, error) {
	// Let the operating system report missing files and permission
	// problems; HDF5 would only say that it failed.
	fi, err := os.Stat(path)
	if err != nil {
		return 0, osError(err)
	}
	if fi.IsDir() {
		return 0, errors.New("is a directory")
	}
	fh, err := os.Open(path)
	if err != nil {
		return 0, osError(err)
	}
	fh.Close()

	mu.Lock()
	defer mu.Unlock()
	// libhdf5 built thread-safe (as on Debian) keeps the error stack, and
	// with it the switch for automatic printing, per OS thread. gonum's
	// init turns printing off only on the thread that ran init, so turn
	// it off on this thread, and stay on it while calling HDF5.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := hdf5.DisplayErrors(false); err != nil {
		return 0, err
	}
	n, err := eventCount(path)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// eventCount does the work of EventCount; mu must be held.
func eventCount(path string) (n int64, err error) {
	if !hdf5.IsHDF5(path) {
		return 0, ErrNotHDF5
	}
	f, err := hdf5.OpenFile(path, hdf5.F_ACC_RDONLY)
	if err != nil {
		return 0, ErrDamaged
	}
	defer closeInto(f, &err)
	root, err := f.OpenGroup("/")
	if err != nil {
		return 0, ErrDamaged
	}
	defer closeInto(root, &err)
	a, err := root.OpenAttribute(EventCountAttr)
	if err != nil {
		return 0, ErrNoEventCount
	}
	defer closeInto(a, &err)

	space := a.Space()
	if space == nil {
		return 0, fmt.Errorf("cannot read the dataspace of attribute %q", EventCountAttr)
	}
	points := space.SimpleExtentNPoints()
	if err := space.Close(); err != nil {
		return 0, fmt.Errorf("closing dataspace of attribute %q: %v", EventCountAttr, err)
	}
	if points != 1 {
		return 0, fmt.Errorf("attribute %q holds %d values, want 1", EventCountAttr, points)
	}

	// HDF5 converts any integer or floating-point type to the memory type.
	// Reading the value also as a float64 tells a stored 47.5 (converted
	// to 47) from a stored 47.
	if err := a.Read(&n, hdf5.T_NATIVE_INT64); err != nil {
		return 0, fmt.Errorf("attribute %q is not a number", EventCountAttr)
	}
	var x float64
	if err := a.Read(&x, hdf5.T_NATIVE_DOUBLE); err != nil {
		return 0, fmt.Errorf("attribute %q is not a number", EventCountAttr)
	}
	if math.IsNaN(x) || math.IsInf(x, 0) || x != float64(n) {
		return 0, fmt.Errorf("attribute %q is not an integer (%v)", EventCountAttr, x)
	}
	if n < 0 {
		return 0, fmt.Errorf("attribute %q is negative (%d)", EventCountAttr, n)
	}
	return n, nil
}

// closeInto closes c and, if *err is nil, stores the error of Close there.
func closeInto(c interface{ Close() error }, err *error) {
	if cerr := c.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("closing HDF5 object: %v", cerr)
	}
}

// osError drops the path from an *fs.PathError, keeping what it wraps.
func osError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
