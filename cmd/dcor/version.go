package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// versionOptions are the flags of `dcor version` (it has none).
type versionOptions struct{}

func (a *app) versionCommand() *cobra.Command {
	var o versionOptions
	return &cobra.Command{
		Use:   "version",
		Short: "Print dcor's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runVersion(cmd.Context(), o)
		},
	}
}

// runVersion is `dcor version`.
func (a *app) runVersion(ctx context.Context, o versionOptions) error {
	if a.json {
		return a.emit(map[string]string{"version": dcorVersion(), "go": runtime.Version()})
	}
	fmt.Fprintf(a.stdout, "dcor %s (%s)\n", dcorVersion(), runtime.Version())
	return nil
}
