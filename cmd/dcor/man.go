package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manOptions are the flags of `dcor man`.
type manOptions struct {
	dir string
	// tree is the command tree to document (dcor's root command; nil:
	// a fresh one).
	tree *cobra.Command
}

func (a *app) manCommand() *cobra.Command {
	var o manOptions
	cmd := &cobra.Command{
		Use:   "man --dir DIR",
		Short: "Write man pages for dcor and its commands into DIR",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.tree = cmd.Root()
			return a.runMan(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "output `DIR`")
	return cmd
}

// runMan is `dcor man` (no --json: the root command refuses it).
func (a *app) runMan(ctx context.Context, o manOptions) error {
	if o.dir == "" {
		return usageErrorf("man needs --dir DIR")
	}
	if o.tree == nil {
		o.tree = (&app{}).rootCommand()
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	hdr := &doc.GenManHeader{Title: "DCOR", Section: "8", Source: "dcor " + dcorVersion()}
	if err := doc.GenManTree(o.tree, hdr, o.dir); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	fmt.Fprintf(a.stdout, "wrote man pages to %s\n", o.dir)
	return nil
}
