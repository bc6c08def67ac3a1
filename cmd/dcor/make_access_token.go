package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/accesstoken"
	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/host"
	"github.com/spf13/cobra"
)

// makeAccessTokenOptions are the argument (req.User) and flags of `dcor
// make-access-token`.
type makeAccessTokenOptions struct {
	req                accesstoken.Request
	passwordFile, venv string
	showPassword       bool
	// set reports whether a flag was given (nil: none was).
	set func(name string) bool
}

func (a *app) makeAccessTokenCommand() *cobra.Command {
	var o makeAccessTokenOptions
	cmd := &cobra.Command{
		Use:   "make-access-token USER",
		Short: "Create an API token for a user and write it, with the server certificate, into an encrypted .dcor-access file",
		Long: `make-access-token hands a user access to this DCOR instance without web
sign-up (medical sites): it creates a CKAN API token for USER and writes it,
with the server's certificate, into USER.dcor-access, a password-encrypted ZIP
file that DCOR-Aid opens.

The user must exist and be active in the CKAN database (sqlalchemy.url in
ckan.ini); --create-user --email E creates a missing user with
` + "`ckan user add`" + `: a token user needs no web password, so it gets a random
one nobody learns, given on ckan's standard input (never in its arguments).

The token is made as CKAN makes it: an api_token row and a JWT signed with the
secret of ckan.ini (api_token.jwt.encode.secret, else the fallbacks of CKAN
2.9/2.10/2.11). For an algorithm other than HS256, ` + "`ckan user token add`" + `
makes it.

The certificate is the site file's tls.cert (default
/etc/ssl/certs/FQDN.cert), or --cert: PEM, the server's certificate first,
never a private key. Its subject CN is the host name the client connects to.
A certificate whose CN and subjectAltNames name neither the site's FQDN (site
file) nor ckan.site_url's host is refused, unless --force.

Unless --password-file is given, a random password (148 bits, groups of
letters and digits without look-alikes) is printed once: send it through
another channel than the file (phone, SMS, letter).

The file is written with mode 0600, atomically, and never over an existing
file without --force. Nothing is written and the database is unchanged when
any check fails.`,
		Example: `  dcor make-access-token alice
  dcor make-access-token bob --create-user --email bob@clinic.example --fullname "Bob B"
  dcor make-access-token alice --out /tmp/alice.dcor-access --password-file pw.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.req.User, o.set = args[0], cmd.Flags().Changed
			return a.runMakeAccessToken(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.req.CertFile, "cert", "", "server certificate `PATH` (PEM, leaf first; default: the site file's tls.cert)")
	f.StringVar(&o.req.Out, "out", "", "write the access file to `PATH` (default USER.dcor-access in the current directory)")
	f.StringVar(&o.req.TokenName, "token-name", "", "API token `NAME` (default dcor-access-YYYY-MM-DD)")
	f.StringVar(&o.passwordFile, "password-file", "", "encrypt with the password in the first line of `FILE` instead of a new random one")
	f.BoolVar(&o.req.CreateUser, "create-user", false, "create the user with `ckan user add` when it does not exist")
	f.StringVar(&o.req.Email, "email", "", "email `ADDRESS` of a user created with --create-user")
	f.StringVar(&o.req.Fullname, "fullname", "", "full `NAME` of a user created with --create-user")
	f.BoolVar(&o.req.Force, "force", false, "replace an existing access file; accept a certificate that does not name this site")
	f.BoolVar(&o.showPassword, "show-password", false, "include the password in --json output")
	f.StringVar(&o.venv, "venv", host.DefaultVenv, "CKAN virtualenv `PATH` (its bin/ckan creates users)")
	return cmd
}

// runMakeAccessToken is `dcor make-access-token`.
func (a *app) runMakeAccessToken(ctx context.Context, o makeAccessTokenOptions) error {
	changed := func(name string) bool { return o.set != nil && o.set(name) }
	if !o.req.CreateUser && (changed("email") || changed("fullname")) {
		return usageErrorf("--email and --fullname go with --create-user")
	}
	if o.req.CreateUser && strings.TrimSpace(o.req.Email) == "" {
		return usageErrorf("--create-user needs --email: CKAN requires an email address for every user")
	}
	if o.passwordFile != "" {
		pw, err := accesstoken.ReadPasswordFile(o.passwordFile)
		if err != nil {
			return err
		}
		o.req.Password = pw
	} else if a.json && !o.showPassword {
		return usageErrorf("with --json, pass --password-file or --show-password: the generated password must go somewhere")
	}
	h := a.host()
	s, err := a.siteFile()
	if err != nil && !isNoSite(err) {
		return err
	}
	if o.req.CertFile == "" {
		o.req.CertFile = h.Path(s.CertPath())
	}
	o.req.SiteFQDN, o.req.OtherHost = s.FQDN, o.req.Force
	site, err := a.accessTokenSite(h, o.venv)
	if err != nil {
		return err
	}
	a.logf("ckan.ini: %s; certificate: %s; ckan: %s", site.CKANIni, o.req.CertFile, site.CKAN)

	start := time.Now()
	res, err := accesstoken.Make(ctx, site, o.req)
	if err != nil {
		return err
	}
	a.logf("made in %v", time.Since(start).Round(time.Millisecond))
	return a.printMadeToken(res, o.showPassword)
}

// accessTokenSite loads ckan.ini for minting and checking tokens. An
// invalid ckan.ini is refused: CKAN could not start with it either, and
// a secret that does not interpolate must not be replaced by a fallback.
func (a *app) accessTokenSite(h host.Host, venv string) (accesstoken.Site, error) {
	iniPath := h.Path(a.ckanIniPath())
	ini, err := ckanini.Load(iniPath)
	if err != nil {
		return accesstoken.Site{}, fmt.Errorf("read ckan.ini: %w (set --ckan-ini or CKAN_INI)", err)
	}
	if err := ini.Validate(); err != nil {
		return accesstoken.Site{}, fmt.Errorf("ckan.ini is not valid, CKAN cannot start with it either; fix it first (dcor inspect):\n%w", err)
	}
	return accesstoken.Site{
		Config: accesstoken.Config{
			Lookup:      ini.Get,
			ReadFile:    func(p string) ([]byte, error) { return os.ReadFile(underRoot(h, p)) },
			CKANVersion: ckanVersion(h.Path(venv)),
		},
		CKANIni: iniPath,
		CKAN:    h.Path(filepath.Join(venv, "bin", "ckan")),
	}, nil
}

// underRoot maps a host path from ckan.ini to the local file system. A
// path that already lies under the root (from %(here)s) stays as it is.
func underRoot(h host.Host, p string) string {
	if h.Live() || strings.HasPrefix(p, h.Root+string(filepath.Separator)) {
		return p
	}
	return h.Path(p)
}

// madeTokenJSON is the document `make-access-token --json` prints; the
// password only with --show-password.
type madeTokenJSON struct {
	*accesstoken.Result
	Password string `json:"password,omitempty"`
}

func (a *app) printMadeToken(res *accesstoken.Result, showPassword bool) error {
	if a.json {
		doc := madeTokenJSON{Result: res}
		if showPassword {
			doc.Password = res.Password
		}
		if doc.Warnings == nil {
			doc.Warnings = []string{}
		}
		return a.emit(doc)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stderr, "%s %s\n", a.paint("33", "warning:"), w)
	}
	w := a.stdout
	created := ""
	if res.UserCreated {
		created = " (user created)"
	}
	fmt.Fprintf(w, "wrote %s for %s%s\n", res.Path, res.User, created)
	fmt.Fprintf(w, "  host:        %s (certificate valid until %s)\n", res.Host, res.CertExpires.UTC().Format(time.DateOnly))
	fmt.Fprintf(w, "  token:       %s, id %s, issued %s\n", res.TokenName, res.TokenID, res.IssuedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  revoke with: dcor access-token revoke %s\n", res.TokenID)
	if res.PasswordGenerated || showPassword {
		fmt.Fprintf(w, "\nPassword of the access file (shown only now; send it through another channel\nthan the file itself, e.g. by phone or SMS):\n\n    %s\n", a.paint("1", res.Password))
	}
	return nil
}
