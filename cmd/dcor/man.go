package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func (a *app) manCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "man --dir DIR",
		Short: "Write man pages for dcor and its commands into DIR",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usageErrorf("man needs --dir DIR")
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			hdr := &doc.GenManHeader{Title: "DCOR", Section: "8", Source: "dcor " + dcorVersion()}
			if err := doc.GenManTree(cmd.Root(), hdr, dir); err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			fmt.Fprintf(a.stdout, "wrote man pages to %s\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "output `DIR`")
	return cmd
}
