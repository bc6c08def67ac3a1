// Command units writes the systemd service and timer of the nightly
// backup into a directory, for the .deb (scripts/release.sh): the text of
// backup.SystemdUnits, which "dcor schedule backup --systemd" writes too,
// for /usr/bin/dcor at 00:02. The packaged units are installed disabled;
// "dcor schedule backup --systemd --key-id ID" writes its own with the
// key into /etc/systemd/system, which take precedence, and enables them.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/DCOR-dev/dcor/backup"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: units DIR")
		os.Exit(2)
	}
	service, timer := backup.SystemdUnits("/usr/bin/dcor encrypted-database-backup --quiet", 0, 2)
	for name, text := range map[string][]byte{"dcor-backup.service": service, "dcor-backup.timer": timer} {
		if err := os.WriteFile(filepath.Join(os.Args[1], name), text, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "units:", err)
			os.Exit(1)
		}
	}
}
