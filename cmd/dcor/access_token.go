package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/accesstoken"
	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/host"
	"github.com/spf13/cobra"
)

// accessTokenOptions are the flags of `dcor access-token` (it has none:
// its subcommands do the work).
type accessTokenOptions struct{}

func (a *app) accessTokenCommand() *cobra.Command {
	var o accessTokenOptions
	cmd := &cobra.Command{
		Use:   "access-token",
		Short: "Show or revoke encrypted access tokens (.dcor-access files)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runAccessToken(cmd.Context(), o)
		},
	}
	cmd.AddCommand(a.accessTokenShowCommand(), a.accessTokenRevokeCommand())
	return cmd
}

// runAccessToken is `dcor access-token` without a subcommand: a usage
// error.
func (a *app) runAccessToken(ctx context.Context, o accessTokenOptions) error {
	return usageErrorf("access-token needs a subcommand: show or revoke")
}

// tokenStatus is what the CKAN database says about a token.
type tokenStatus struct {
	Checked    bool      `json:"checked"`
	Error      string    `json:"error,omitempty"`
	Exists     bool      `json:"exists"`
	User       string    `json:"user,omitempty"`
	UserState  string    `json:"user_state,omitempty"`
	Name       string    `json:"name,omitempty"`
	LastAccess time.Time `json:"last_access,omitzero"`
	// Signature is "valid", "invalid: …" or "not checked: …" against the
	// secret of this host's ckan.ini.
	Signature string `json:"signature,omitempty"`
}

// showJSON is the document `access-token show --json` prints.
type showJSON struct {
	File        string      `json:"file"`
	Host        string      `json:"host"`
	NotBefore   time.Time   `json:"certificate_not_before"`
	NotAfter    time.Time   `json:"certificate_not_after"`
	SANs        []string    `json:"certificate_sans"`
	ChainLength int         `json:"certificate_chain_length"`
	Warnings    []string    `json:"warnings"`
	TokenID     string      `json:"token_id,omitempty"`
	IssuedAt    time.Time   `json:"issued_at,omitzero"`
	Algorithm   string      `json:"algorithm,omitempty"`
	TokenNote   string      `json:"token_note,omitempty"`
	Database    tokenStatus `json:"database"`
}

// accessTokenShowOptions are the argument and flags of `dcor
// access-token show`.
type accessTokenShowOptions struct {
	file, passwordFile, venv string
}

func (a *app) accessTokenShowCommand() *cobra.Command {
	var o accessTokenShowOptions
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Decrypt a .dcor-access file and show its host, certificate and token",
		Long: `show decrypts a .dcor-access file (the password comes from --password-file, else
it is asked for; without a terminal it is read from the first line of standard
input) and prints the host name (the certificate's CN), the certificate's
validity and subjectAltNames, the token's id (jti) and issue time, and, when
the CKAN database of this host is reachable, whose token it is and whether it
still exists. The token itself and the password are never printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			return a.runAccessTokenShow(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.passwordFile, "password-file", "", "read the password from the first line of `FILE`")
	cmd.Flags().StringVar(&o.venv, "venv", host.DefaultVenv, "CKAN virtualenv `PATH` (for its version)")
	return cmd
}

// runAccessTokenShow is `dcor access-token show`.
func (a *app) runAccessTokenShow(ctx context.Context, o accessTokenShowOptions) error {
	c, err := a.openAccessFile(o.file, o.passwordFile)
	if err != nil {
		return err
	}
	doc := showJSON{File: o.file, Host: c.Certificate.Host(), NotBefore: c.Certificate.Leaf.NotBefore.UTC(),
		NotAfter: c.Certificate.Leaf.NotAfter.UTC(), SANs: c.Certificate.SANs(), ChainLength: 1 + len(c.Certificate.Chain),
		TokenID: c.Claims.ID, Algorithm: c.Claims.Algorithm}
	if doc.SANs == nil {
		doc.SANs = []string{}
	}
	if !c.Claims.IssuedAt.IsZero() {
		doc.IssuedAt = c.Claims.IssuedAt
	}
	if c.ClaimsErr != nil {
		doc.TokenNote = c.ClaimsErr.Error()
	}
	doc.Warnings, err = c.Certificate.Check(time.Now())
	if err != nil {
		doc.Warnings = append(doc.Warnings, err.Error())
	}
	if doc.Warnings == nil {
		doc.Warnings = []string{}
	}
	doc.Database = a.tokenStatus(ctx, c, o.venv)
	if a.json {
		return a.emit(doc)
	}
	a.printShow(doc)
	return nil
}

func (a *app) printShow(d showJSON) {
	w := a.stdout
	days := int(time.Until(d.NotAfter).Hours() / 24)
	fmt.Fprintf(w, "host:         %s\n", d.Host)
	fmt.Fprintf(w, "certificate:  valid %s to %s (%d days left)\n", d.NotBefore.Format(time.DateOnly), d.NotAfter.Format(time.DateOnly), days)
	sans := strings.Join(d.SANs, ", ")
	if sans == "" {
		sans = "none"
	}
	fmt.Fprintf(w, "SANs:         %s\n", sans)
	if d.ChainLength > 1 {
		fmt.Fprintf(w, "chain:        %d certificates\n", d.ChainLength)
	}
	if d.TokenID != "" {
		fmt.Fprintf(w, "token id:     %s\n", d.TokenID)
		if !d.IssuedAt.IsZero() {
			fmt.Fprintf(w, "issued at:    %s\n", d.IssuedAt.Format(time.RFC3339))
		}
	} else {
		fmt.Fprintf(w, "token:        %s\n", d.TokenNote)
	}
	db := d.Database
	switch {
	case !db.Checked:
		fmt.Fprintf(w, "database:     not checked (%s)\n", db.Error)
	case db.Exists:
		state := ""
		if db.UserState != ckandb.UserActive {
			state = a.paint("31", " ("+db.UserState+": the token does not work)")
		}
		fmt.Fprintf(w, "user:         %s%s\n", db.User, state)
		used := "never"
		if !db.LastAccess.IsZero() {
			used = db.LastAccess.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "token:        exists (name %s, last used %s)\n", db.Name, used)
	default:
		fmt.Fprintf(w, "token:        %s\n", a.paint("31", "not in this host's database (revoked, or from another host)"))
	}
	if db.Signature != "" {
		fmt.Fprintf(w, "signature:    %s\n", db.Signature)
	}
	for _, warn := range d.Warnings {
		fmt.Fprintf(a.stderr, "%s %s\n", a.paint("33", "warning:"), warn)
	}
}

// tokenStatus looks the token up in this host's CKAN database; any
// failure is reported in the status, not as an error.
func (a *app) tokenStatus(ctx context.Context, c accesstoken.Contents, venv string) tokenStatus {
	var st tokenStatus
	if c.Claims.ID == "" {
		st.Error = "the token has no id"
		return st
	}
	site, err := a.accessTokenSite(a.host(), venv)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	if err := accesstoken.VerifyToken(c.Token, site.Config); err != nil {
		st.Signature = "not valid here: " + err.Error()
		if strings.HasPrefix(err.Error(), "cannot verify") || strings.Contains(err.Error(), "ckan.ini") {
			st.Signature = "not checked: " + err.Error()
		}
	} else {
		st.Signature = "valid for this host's ckan.ini"
	}
	db, err := a.openCKANDB(ctx, site)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	defer db.Close(context.WithoutCancel(ctx))
	st.Checked = true
	tok, err := db.APIToken(ctx, c.Claims.ID)
	if errors.Is(err, ckandb.ErrNoToken) {
		return st
	}
	if err != nil {
		st.Checked, st.Error = false, err.Error()
		return st
	}
	st.Exists, st.User, st.Name, st.LastAccess = true, tok.UserName, tok.Name, tok.LastAccess
	if u, err := db.User(ctx, tok.UserName); err == nil {
		st.UserState = u.State
	}
	return st
}

func (a *app) openCKANDB(ctx context.Context, site accesstoken.Site) (*ckandb.DB, error) {
	url, err := ckandb.IniURL(site.Config.Lookup, a.ckanIniPath())
	if err != nil {
		return nil, err
	}
	return ckandb.Open(ctx, url)
}

// openAccessFile reads and decrypts an access file, with the password
// from passwordFile or asked for.
func (a *app) openAccessFile(path, passwordFile string) (accesstoken.Contents, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return accesstoken.Contents{}, fmt.Errorf("read the access file: %w", err)
	}
	var password string
	if passwordFile != "" {
		if password, err = accesstoken.ReadPasswordFile(passwordFile); err != nil {
			return accesstoken.Contents{}, err
		}
	} else if password, err = a.askSecret("Password of " + path + ": "); err != nil || password == "" {
		return accesstoken.Contents{}, fmt.Errorf("no password for %s: type it, or pass --password-file FILE", path)
	}
	c, err := accesstoken.Unpack(data, password)
	if errors.Is(err, accesstoken.ErrWrongPassword) {
		// One message whichever check caught it: the password check byte,
		// or (1 in 256 wrong passwords pass that) the garbled content.
		a.logf("decrypting %s: %v", path, err)
		return c, fmt.Errorf("cannot decrypt %s: %w (or not an intact DCOR access file)", path, accesstoken.ErrWrongPassword)
	}
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// tokenIDPattern matches a token id (token_urlsafe: base64url).
var tokenIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,}$`)

// accessTokenRevokeOptions are the argument and flags of `dcor
// access-token revoke`.
type accessTokenRevokeOptions struct {
	// target is an access file or a token id.
	target, passwordFile, venv string
}

func (a *app) accessTokenRevokeCommand() *cobra.Command {
	var o accessTokenRevokeOptions
	cmd := &cobra.Command{
		Use:   "revoke FILE|TOKEN-ID",
		Short: "Delete the API token of a .dcor-access file (or with that id) from the CKAN database",
		Long: `revoke deletes an API token from the CKAN database, as
` + "`ckan user token revoke`" + ` does: given a .dcor-access file it decrypts it (asking
for the password, or --password-file) and deletes the token inside; given a
token id (the jti that make-access-token and show print) it deletes that.
The access file stops working at once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.target = args[0]
			return a.runAccessTokenRevoke(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.passwordFile, "password-file", "", "read the password of the access file from the first line of `FILE`")
	cmd.Flags().StringVar(&o.venv, "venv", host.DefaultVenv, "CKAN virtualenv `PATH`")
	return cmd
}

// runAccessTokenRevoke is `dcor access-token revoke`.
func (a *app) runAccessTokenRevoke(ctx context.Context, o accessTokenRevokeOptions) error {
	jti := o.target
	if st, err := os.Stat(jti); err == nil && !st.IsDir() {
		c, err := a.openAccessFile(jti, o.passwordFile)
		if err != nil {
			return err
		}
		if c.Claims.ID == "" {
			return fmt.Errorf("the token in %s has no id (%v): revoke it in CKAN's web interface", jti, c.ClaimsErr)
		}
		jti = c.Claims.ID
	} else if !tokenIDPattern.MatchString(jti) {
		return usageErrorf("%s is neither a file nor a token id", jti)
	}
	site, err := a.accessTokenSite(a.host(), o.venv)
	if err != nil {
		return err
	}
	db, err := a.openCKANDB(ctx, site)
	if err != nil {
		return err
	}
	defer db.Close(context.WithoutCancel(ctx))
	tok, err := db.APIToken(ctx, jti)
	if errors.Is(err, ckandb.ErrNoToken) {
		return fmt.Errorf("no API token with id %s in the CKAN database: it is revoked already or belongs to another host", jti)
	}
	if err != nil {
		return err
	}
	if err := db.DeleteAPIToken(ctx, jti); err != nil {
		return err
	}
	if a.json {
		return a.emit(map[string]string{"revoked": jti, "user": tok.UserName, "name": tok.Name})
	}
	fmt.Fprintf(a.stdout, "revoked API token %s (%s) of %s\n", jti, tok.Name, tok.UserName)
	return nil
}
