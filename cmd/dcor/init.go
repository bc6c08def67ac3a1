package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/site"
	"github.com/spf13/cobra"
)

// initOptions are the flags of `dcor init`.
type initOptions struct {
	site           site.Site
	dbPasswordFile string
	check, diff    bool
	// set reports whether a flag was given.
	set func(name string) bool
}

// initJSON is the document `dcor init --json` prints.
type initJSON struct {
	SiteFile string `json:"site_file"`
	Kind     string `json:"kind"`
	FQDN     string `json:"fqdn"`
	planReport
}

func (a *app) initCommand() *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write the site file (/etc/dcor/dcor.yaml) that describes this DCOR site",
		Long: `init writes the site file (mode 0600): the site kind (production, development,
medical, testing), host name, FQDN, admin email and TLS certificate paths.
Re-running it updates the file and keeps the keys it was not given, its
comments and their order; the old version is kept in /var/backups/dcor. On a
terminal it asks for what is missing. --check says whether the file would
change (exit 1) and changes nothing; --diff shows how.`,
		Example: `  dcor init --kind medical --fqdn dcor.clinic.example --email admin@clinic.example \
    --cert /etc/ssl/certs/dcor.clinic.example.cert --key /etc/ssl/private/dcor.clinic.example.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.set = cmd.Flags().Changed
			return a.runInit(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	s := &o.site
	f.StringVar(&s.Kind, "kind", "", "site kind: "+strings.Join(site.Kinds, ", "))
	f.StringVar(&s.Hostname, "hostname", "", "short host name (default: the machine's)")
	f.StringVar(&s.FQDN, "fqdn", "", "fully qualified domain name")
	f.StringVar(&s.IP, "ip", "", "IP address (testing sites)")
	f.StringVar(&s.Email, "email", "", "admin email address")
	f.StringVar(&s.TLS.Cert, "cert", "", "TLS certificate `PATH` (PEM, leaf first)")
	f.StringVar(&s.TLS.Key, "key", "", "TLS key `PATH`")
	f.StringVar(&s.SMTP.Server, "smtp-server", "", "SMTP server host:port")
	f.StringVar(&o.dbPasswordFile, "db-password-file", "", "read the PostgreSQL password of sqlalchemy.url from `FILE`")
	f.BoolVar(&o.check, "check", false, "change nothing; exit 1 when the site file would change")
	f.BoolVar(&o.diff, "diff", false, "show the diff of the site file (secrets masked)")
	return cmd
}

// runInit is `dcor init`.
func (a *app) runInit(ctx context.Context, o initOptions) error {
	h := a.host()
	path := h.Path(a.config)
	cur, err := site.Load(path)
	if err != nil && !errors.Is(err, site.ErrNoSiteFile) {
		return &exitError{code: 1, msg: err.Error()}
	}
	if cur == nil {
		cur = &site.Site{}
	}
	set := func(name string, dst *string, v string) {
		if o.set(name) {
			*dst = v
		}
	}
	s := o.site
	set("kind", &cur.Kind, s.Kind)
	set("hostname", &cur.Hostname, s.Hostname)
	set("fqdn", &cur.FQDN, s.FQDN)
	set("ip", &cur.IP, s.IP)
	set("email", &cur.Email, s.Email)
	set("cert", &cur.TLS.Cert, s.TLS.Cert)
	set("key", &cur.TLS.Key, s.TLS.Key)
	set("smtp-server", &cur.SMTP.Server, s.SMTP.Server)
	if o.dbPasswordFile != "" {
		pw, err := readSecretFile(o.dbPasswordFile)
		if err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
		cur.Database.Password = pw
	}
	if a.interactive() && !o.check && !a.json {
		ask := func(prompt string, dst *string) error {
			if *dst != "" {
				return nil
			}
			fmt.Fprintf(a.stderr, "%s: ", prompt)
			v, err := a.readAnswer(ctx)
			*dst = strings.TrimSpace(v)
			return err
		}
		for _, q := range []struct {
			prompt string
			dst    *string
		}{{"site kind (" + strings.Join(site.Kinds, ", ") + ")", &cur.Kind}, {"fully qualified domain name", &cur.FQDN},
			{"admin email", &cur.Email}} {
			if err := ask(q.prompt, q.dst); err != nil {
				if ctx.Err() != nil {
					return a.stopped(nil)
				}
				return &exitError{code: 1, msg: err.Error()}
			}
		}
	}
	if err := cur.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return &exitError{code: 1, msg: fmt.Sprintf("read %s: %v", a.config, err)}
	}
	data, err := site.Encode(old, cur)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("%s: %v", a.config, err)}
	}
	plan := change.New(h, time.Now())
	plan.Write("init", change.File{Path: a.config, Old: old, New: data, Mode: 0o600})
	rep, err := a.carryOut(ctx, plan, planOptions{check: o.check, diff: o.diff})
	if a.json {
		if jerr := a.emit(initJSON{SiteFile: a.config, Kind: cur.Kind, FQDN: cur.FQDNOrDefault(), planReport: *rep}); jerr != nil {
			return jerr
		}
		return err
	}
	if err != nil || o.check {
		return err
	}
	if len(rep.Changes) == 0 {
		fmt.Fprintf(a.stdout, "%s is up to date (%s site %s)\n", a.config, cur.Kind, cur.FQDNOrDefault())
	} else {
		fmt.Fprintf(a.stdout, "wrote %s (%s site %s)\n", a.config, cur.Kind, cur.FQDNOrDefault())
	}
	return nil
}
