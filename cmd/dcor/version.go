package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print dcor's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.json {
				return json.NewEncoder(a.stdout).Encode(map[string]string{"version": dcorVersion(), "go": runtime.Version()})
			}
			fmt.Fprintf(a.stdout, "dcor %s (%s)\n", dcorVersion(), runtime.Version())
			return nil
		},
	}
}
