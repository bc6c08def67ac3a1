package testtool

import (
	"os/exec"
	"testing"
	"time"
)

func TestPeakRSS(t *testing.T) {
	cmd := exec.Command(Need(t, "sleep"), "0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := PeakRSS(cmd.Process.Pid, 5*time.Millisecond)
	cmd.Wait()
	if peak := stop(); peak <= 0 || peak > 1<<30 {
		t.Errorf("peak RSS of sleep: %d bytes", peak)
	}
}
