package testtool

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PeakRSS samples the peak resident set size (VmHWM in /proc) of the
// running process pid every interval. stop ends the sampling and returns
// the peak in bytes. Benchmarks use it instead of wait4's maxrss, which
// counts the memory of the test process that forked the child.
func PeakRSS(pid int, every time.Duration) (stop func() int64) {
	var hwm int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		status := fmt.Sprintf("/proc/%d/status", pid)
		for {
			if v := vmHWM(status); v > hwm {
				hwm = v
			}
			select {
			case <-done:
				return
			case <-time.After(every):
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return hwm
	}
}

// vmHWM reads VmHWM from a /proc/PID/status file, in bytes (0 when gone).
func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
