package testtool

import (
	"fmt"
	"os"
	"strings"
)

// LoadAvg is the machine's load average over 1, 5 and 15 minutes, for
// benchmark reports ("unknown" without /proc).
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// MiB writes a byte count in MiB with one decimal, as benchmark reports
// show memory.
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
