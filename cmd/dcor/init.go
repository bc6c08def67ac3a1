package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/DCOR-dev/dcor/site"
	"github.com/spf13/cobra"
)

func (a *app) initCommand() *cobra.Command {
	var s site.Site
	var dbPasswordFile string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write the site file (/etc/dcor/dcor.yaml) that describes this DCOR site",
		Long: `init writes the site file (mode 0600): the site kind (production, development,
medical, testing), host name, FQDN, admin email and TLS certificate paths.
Re-running it updates the file and keeps the keys it was not given. On a
terminal it asks for what is missing.`,
		Example: `  dcor init --kind medical --fqdn dcor.clinic.example --email admin@clinic.example \
    --cert /etc/ssl/certs/dcor.clinic.example.cert --key /etc/ssl/private/dcor.clinic.example.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := a.host().Path(a.config)
			cur, err := site.Load(path)
			if err != nil && !errors.Is(err, site.ErrNoSiteFile) {
				return &exitError{code: 1, msg: err.Error()}
			}
			if cur == nil {
				cur = &site.Site{}
			}
			fl := cmd.Flags()
			set := func(name string, dst *string, v string) {
				if fl.Changed(name) {
					*dst = v
				}
			}
			set("kind", &cur.Kind, s.Kind)
			set("hostname", &cur.Hostname, s.Hostname)
			set("fqdn", &cur.FQDN, s.FQDN)
			set("ip", &cur.IP, s.IP)
			set("email", &cur.Email, s.Email)
			set("cert", &cur.TLS.Cert, s.TLS.Cert)
			set("key", &cur.TLS.Key, s.TLS.Key)
			set("smtp-server", &cur.SMTP.Server, s.SMTP.Server)
			if dbPasswordFile != "" {
				pw, err := readSecretFile(dbPasswordFile)
				if err != nil {
					return &exitError{code: 1, msg: err.Error()}
				}
				cur.Database.Password = pw
			}
			if a.interactive() {
				ask := func(prompt string, dst *string) error {
					if *dst != "" {
						return nil
					}
					fmt.Fprintf(a.stderr, "%s: ", prompt)
					v, err := a.readLine()
					*dst = strings.TrimSpace(v)
					return err
				}
				if err := ask("site kind ("+strings.Join(site.Kinds, ", ")+")", &cur.Kind); err != nil {
					return err
				}
				if err := ask("fully qualified domain name", &cur.FQDN); err != nil {
					return err
				}
				if err := ask("admin email", &cur.Email); err != nil {
					return err
				}
			}
			if err := cur.Validate(); err != nil {
				return usageErrorf("%v", err)
			}
			if err := cur.Save(path); err != nil {
				return &exitError{code: 1, msg: fmt.Sprintf("write %s: %v", a.config, err)}
			}
			if !a.json {
				fmt.Fprintf(a.stdout, "wrote %s (%s site %s)\n", a.config, cur.Kind, cur.FQDNOrDefault())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Kind, "kind", "", "site kind: "+strings.Join(site.Kinds, ", "))
	f.StringVar(&s.Hostname, "hostname", "", "short host name (default: the machine's)")
	f.StringVar(&s.FQDN, "fqdn", "", "fully qualified domain name")
	f.StringVar(&s.IP, "ip", "", "IP address (testing sites)")
	f.StringVar(&s.Email, "email", "", "admin email address")
	f.StringVar(&s.TLS.Cert, "cert", "", "TLS certificate `PATH` (PEM, leaf first)")
	f.StringVar(&s.TLS.Key, "key", "", "TLS key `PATH`")
	f.StringVar(&s.SMTP.Server, "smtp-server", "", "SMTP server host:port")
	f.StringVar(&dbPasswordFile, "db-password-file", "", "read the PostgreSQL password of sqlalchemy.url from `FILE`")
	return cmd
}
