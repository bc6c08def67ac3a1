package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/templates"
	"github.com/spf13/cobra"
)

func (a *app) templatesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "templates",
		Short: "List, show or render DCOR's embedded config templates for this site",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("templates needs a subcommand: templates list, templates show NAME or templates render --out DIR")
		},
	}
	cmd.AddCommand(a.templatesListCommand(), a.templatesShowCommand(), a.templatesRenderCommand())
	return cmd
}

// templatesListOptions are the flags of `dcor templates list` (it has
// none).
type templatesListOptions struct{}

func (a *app) templatesListCommand() *cobra.Command {
	var o templatesListOptions
	return &cobra.Command{
		Use:   "list",
		Short: "List the templates and where they go on the host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runTemplatesList(cmd.Context(), o)
		},
	}
}

// runTemplatesList is `dcor templates list`.
func (a *app) runTemplatesList(ctx context.Context, o templatesListOptions) error {
	if a.json {
		type entry struct {
			Name        string `json:"name"`
			Path        string `json:"path"`
			Description string `json:"description"`
		}
		list := []entry{}
		for _, t := range templates.List() {
			list = append(list, entry{t.Name, t.Path, t.Description})
		}
		return a.emit(list)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, t := range templates.List() {
		p := t.Path
		if p == "" {
			p = "(merged into ckan.ini)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, p, t.Description)
	}
	return tw.Flush()
}

// templatesShowOptions are the argument and flags of `dcor templates
// show`.
type templatesShowOptions struct {
	name        string
	showSecrets bool
}

func (a *app) templatesShowCommand() *cobra.Command {
	var o templatesShowOptions
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Print one template rendered for this site (secrets masked unless --show-secrets)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			return a.runTemplatesShow(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.showSecrets, "show-secrets", false, "print passwords and keys as they are instead of ****")
	return cmd
}

// runTemplatesShow is `dcor templates show`.
func (a *app) runTemplatesShow(ctx context.Context, o templatesShowOptions) error {
	p, err := a.templateParams()
	if err != nil {
		return err
	}
	render := templates.Masked
	if o.showSecrets {
		render = templates.Render
	}
	out, err := render(o.name, p)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if a.json {
		return a.emit(map[string]string{"name": o.name, "content": string(out)})
	}
	_, err = a.stdout.Write(out)
	return err
}

// templatesRenderOptions are the flags of `dcor templates render`.
type templatesRenderOptions struct {
	outDir      string
	check, diff bool
}

func (a *app) templatesRenderCommand() *cobra.Command {
	var o templatesRenderOptions
	cmd := &cobra.Command{
		Use:   "render --out DIR",
		Short: "Write every template, rendered for this site, under DIR at its host path (files with secrets 0600)",
		Long: `render writes every template, rendered for this site, under DIR at its host
path, through the change engine: a file that changes is kept in
DIR/var/backups/dcor, files that hold secrets are 0600, --check says whether
anything would change (exit 1) and --diff shows how (secrets masked).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runTemplatesRender(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.check, "check", false, "change nothing; exit 1 when a file would change")
	f.BoolVar(&o.diff, "diff", false, "show the diffs (secrets masked)")
	f.StringVar(&o.outDir, "out", "", "output `DIR`")
	return cmd
}

// runTemplatesRender is `dcor templates render`.
func (a *app) runTemplatesRender(ctx context.Context, o templatesRenderOptions) error {
	if o.outDir == "" {
		return usageErrorf("render needs --out DIR")
	}
	p, err := a.templateParams()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	// DIR is a host of its own: the engine writes under it.
	plan := change.New(host.New(o.outDir), time.Now())
	for _, t := range templates.List() {
		out, err := templates.Render(t.Name, p)
		if err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
		rel := t.Path
		if rel == "" {
			rel = t.Name + ".ini"
		}
		rel = filepath.Clean("/" + rel)
		// A file that holds secrets is for root's eyes only.
		mode := os.FileMode(0o644)
		if t.Secret || !bytes.Equal(templates.MaskSecrets(out), out) {
			mode = 0o600
		}
		old, err := os.ReadFile(plan.Host.Path(rel))
		if err != nil {
			old = nil
		}
		plan.Write("render", change.File{Path: rel, Old: old, New: out, Mode: mode})
		local := plan.Host.Path(rel)
		if info, err := os.Stat(local); err == nil && mode == 0o600 && info.Mode().Perm() != mode {
			plan.Do("render", change.Action{Description: fmt.Sprintf("chmod 0600 %s (it holds secrets)", rel),
				Run: func(context.Context) error { return os.Chmod(local, mode) }})
		}
	}
	rep, err := a.carryOut(ctx, plan, planOptions{check: o.check, diff: o.diff})
	if a.json {
		if jerr := a.emit(rep); jerr != nil {
			return jerr
		}
	} else if len(rep.Changes) == 0 {
		fmt.Fprintf(a.stdout, "the templates under %s are up to date\n", o.outDir)
	}
	return err
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
