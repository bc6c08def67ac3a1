// Command dcor operates a DCOR host: it checks and fixes the host's
// configuration, backs the CKAN database up encrypted, hands out access
// tokens and more. Run `dcor help` for the commands.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
