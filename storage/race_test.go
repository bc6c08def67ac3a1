package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCleanRaceSymlinkSwap: a process that can write the resource tree
// (www-data) swaps a resource directory for a symbolic link to a victim
// directory, over and over, while Clean runs (renameat2
// RENAME_EXCHANGE). Clean works on directory handles opened without
// following links, so no file of the victim directory may go, removed
// or moved to the quarantine (every other run). Before the handles,
// Clean checked a path and then removed by path: 1 050 victim files
// went in 20 runs of this test on a loaded 2-core machine.
func TestCleanRaceSymlinkSwap(t *testing.T) {
	const (
		runs    = 20
		orphans = 2000
	)
	if testing.Short() {
		t.Skip("race test: -short")
	}
	// The victim directory lies outside the host's root; its files have
	// the names of the orphans.
	victimDir := filepath.Join(t.TempDir(), "victim")
	if err := os.Mkdir(victimDir, 0o755); err != nil {
		t.Fatal(err)
	}
	victims, removed, skipped := 0, 0, 0
	start := time.Now()
	for run := range runs {
		makeFiles(t, victimDir, orphans) // puts back what a run took
		quarantine := ""
		if run%2 == 1 {
			quarantine = filepath.Join(t.TempDir(), "quarantine")
		}
		r, s := raceOnce(t, run, orphans, victimDir, quarantine)
		left, err := os.ReadDir(victimDir)
		if err != nil {
			t.Fatal(err)
		}
		victims += orphans - len(left)
		removed += r
		skipped += s
	}
	t.Logf("%d runs of %d orphans in %s: %d removed, %d left alone, %d victim files removed",
		runs, orphans, time.Since(start).Round(time.Millisecond), removed, skipped, victims)
	if victims != 0 {
		t.Fatalf("Clean removed %d files of the victim directory outside the trees (%d runs)", victims, runs)
	}
	if removed == 0 {
		t.Fatal("Clean removed nothing in any run: the test does not exercise removal")
	}
}

// makeFiles creates the empty files 0…n-1 named as orphans in local
// directory dir (those that exist are kept), one mknodat each.
func makeFiles(t *testing.T, dir string, n int) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for i := range n {
		err := unix.Mknodat(fd, fmt.Sprintf("d3d-0000-4000-8000-%012d", i), unix.S_IFREG|0o644, 0)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			t.Fatal(err)
		}
	}
}

// raceOnce builds a tree whose n orphans are all in one directory and
// runs Clean (to quarantine, when not "") while a racer exchanges that
// directory with a link to victimDir. It returns how many orphans were
// removed and left alone.
func raceOnce(t *testing.T, run, n int, victimDir, quarantine string) (removed, skipped int) {
	tr := newTree(t)
	dir := resourcesDir + "/0a1/b2c"
	tr.mkdir(dir)
	t0 := time.Now()
	makeFiles(t, tr.host.Join(dir), n) // written before the scan: old enough to go
	t1 := time.Now()
	res := tr.scan()
	if len(res.Remove) != n {
		t.Fatalf("run %d: scan found %d orphans, want %d", run, len(res.Remove), n)
	}
	real := tr.host.Join(dir)
	swap := tr.host.Join(resourcesDir + "/0a1/swp")
	if err := os.Symlink(victimDir, swap); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var swaps atomic.Int64
	var wg sync.WaitGroup
	ready := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		close(ready)
		for !stop.Load() {
			err := unix.Renameat2(unix.AT_FDCWD, real, unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE)
			if errors.Is(err, unix.ENOENT) {
				return // Clean removed the emptied directory
			}
			if err != nil {
				t.Errorf("renameat2: %v", err)
				return
			}
			swaps.Add(1)
		}
	}()
	<-ready
	t2 := time.Now()
	out, err := res.Clean(tr.layout(), quarantine)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if run == 0 {
		t.Logf("run 0: build %s, scan %s, clean %s with %d exchanges", t1.Sub(t0).Round(time.Millisecond),
			t2.Sub(t1).Round(time.Millisecond), time.Since(t2).Round(time.Millisecond), swaps.Load())
	}
	// Leave less for t.TempDir's clean-up.
	os.RemoveAll(tr.host.Root)
	if quarantine != "" {
		os.RemoveAll(quarantine)
	}
	return len(out.Removed), len(out.Skipped) + len(out.Errors)
}
