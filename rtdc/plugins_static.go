//go:build dcorstatic

package rtdc

// #cgo linux,amd64 CFLAGS: -I/usr/lib/x86_64-linux-gnu/hdf5/serial/include
// #cgo linux,arm64 CFLAGS: -I/usr/lib/aarch64-linux-gnu/hdf5/serial/include
// #include <hdf5.h>
import "C"

// In the static release build (-tags dcorstatic, scripts/release.sh) HDF5
// must never load a filter plugin: dlopen from a static binary needs the
// shared C library of the very glibc it was linked with, which the server
// does not have. Plugin loading is turned off before any file is opened;
// a dataset compressed with a plugin filter then fails to read (the
// metadata and event count, which dcor reads, are attributes and need no
// filter), while the built-in filters (deflate, szip, shuffle,
// fletcher32) keep working.
func init() {
	C.H5PLset_loading_state(0)
}
