package progress

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestEveryStopsBeforeReturning(t *testing.T) {
	var calls atomic.Int32
	stop := Every(time.Millisecond, func() { calls.Add(1); time.Sleep(2 * time.Millisecond) })
	time.Sleep(20 * time.Millisecond)
	stop()
	n := calls.Load()
	if n == 0 {
		t.Fatal("report never called")
	}
	time.Sleep(10 * time.Millisecond)
	if calls.Load() != n {
		t.Fatal("report called after stop returned")
	}
	stop() // a second stop is harmless
}
