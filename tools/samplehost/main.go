// Command samplehost writes a drifted sample DCOR host into a directory
// (for `make demo`): samplehost DIR.
package main

import (
	"fmt"
	"os"

	"github.com/DCOR-dev/dcor/internal/samplehost"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: samplehost DIR")
		os.Exit(2)
	}
	if err := samplehost.Build(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "samplehost:", err)
		os.Exit(1)
	}
}
