package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/templates"
	"github.com/spf13/cobra"
)

func (a *app) templatesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "templates",
		Short: "List, show or render DCOR's embedded config templates for this site",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the templates and where they go on the host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			for _, t := range templates.List() {
				p := t.Path
				if p == "" {
					p = "(merged into ckan.ini)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, p, t.Description)
			}
			return tw.Flush()
		},
	})
	var showSecrets bool
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Print one template rendered for this site (secrets masked unless --show-secrets)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.templateParams()
			if err != nil {
				return err
			}
			render := templates.Masked
			if showSecrets {
				render = templates.Render
			}
			out, err := render(args[0], p)
			if err != nil {
				return usageErrorf("%v", err)
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	show.Flags().BoolVar(&showSecrets, "show-secrets", false, "print passwords and keys as they are instead of ****")
	cmd.AddCommand(show)
	var outDir string
	render := &cobra.Command{
		Use:   "render --out DIR",
		Short: "Write every template, rendered for this site, under DIR at its host path (files with secrets 0600)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if outDir == "" {
				return usageErrorf("render needs --out DIR")
			}
			p, err := a.templateParams()
			if err != nil {
				return err
			}
			for _, t := range templates.List() {
				out, err := templates.Render(t.Name, p)
				if err != nil {
					return &exitError{code: 1, msg: err.Error()}
				}
				rel := t.Path
				if rel == "" {
					rel = t.Name + ".ini"
				}
				dst := filepath.Join(outDir, filepath.Clean("/"+rel))
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return &exitError{code: 1, msg: err.Error()}
				}
				// A file that holds secrets is for root's eyes only.
				mode := os.FileMode(0o644)
				if t.Secret || !bytes.Equal(templates.MaskSecrets(out), out) {
					mode = 0o600
				}
				if err := host.WriteFileAtomic(dst, out, mode); err != nil {
					return &exitError{code: 1, msg: err.Error()}
				}
				if !a.json {
					fmt.Fprintf(a.stdout, "wrote %s\n", dst)
				}
			}
			return nil
		},
	}
	render.Flags().StringVar(&outDir, "out", "", "output `DIR`")
	cmd.AddCommand(render)
	return cmd
}

// templateParams are the template parameters from the site file (the
// kind defaults to production when there is no site file, with a note).
func (a *app) templateParams() (templates.Params, error) {
	s, err := a.siteFile()
	if err != nil && s.Kind == "" {
		if !isNoSite(err) {
			return templates.Params{}, &exitError{code: 1, msg: err.Error()}
		}
		fmt.Fprintf(a.stderr, "dcor: %v; rendering for a production site\n", err)
		s.Kind = "production"
	}
	return templates.Params{Kind: s.Kind, Hostname: s.HostnameOrDefault(), FQDN: s.FQDN, IP: s.IP, Email: s.Email,
		CertPath: s.CertPath(), KeyPath: s.KeyPath(), CKANIni: a.ckanIniPath(), DBPassword: s.Database.Password,
		DBUser: s.Database.User, DBHost: s.Database.Host, DBPort: s.Database.Port, DBName: s.Database.Name,
		SMTPServer: s.SMTP.Server, SMTPUser: s.SMTP.User, SMTPPassword: s.SMTP.Password, MailDomain: s.SMTP.Domain,
		DefaultServers: s.DefaultServers}, nil
}
