// Package progress calls a reporting function at a steady pace while long
// work runs, for the one progress line dcor shows on a terminal.
package progress

import (
	"sync"
	"time"
)

// Every calls report every d until stop is called; stop returns only
// after the last call has finished, so that the caller can then clear
// the line without racing a late report.
func Every(d time.Duration, report func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				report()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}
