package accesstoken

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/runner"
)

// Site is the DCOR host that access tokens are made on.
type Site struct {
	// Config is the host's ckan.ini.
	Config Config
	// CKANIni is the path of ckan.ini as the ckan command gets it.
	CKANIni string
	// CKAN is the path of the ckan command (<venv>/bin/ckan), run to
	// create users and, when api_token.jwt.algorithm is not HS256, tokens.
	CKAN string
}

// Request says what access token to make.
type Request struct {
	// User is the CKAN user name the token is for.
	User string
	// CertFile is the path of the server certificate (PEM).
	CertFile string
	// Out is the path of the access file; "" means USER.dcor-access in
	// the current directory.
	Out string
	// TokenName names the API token; "" means dcor-access-YYYY-MM-DD.
	TokenName string
	// Password encrypts the access file; "" means a new random one
	// (NewPassword).
	Password string
	// CreateUser creates a missing user through `ckan user add`, with a
	// random web password nobody knows (given on ckan's standard input,
	// never in its argument list).
	CreateUser bool
	// Email is the new user's email address (required by CKAN).
	Email string
	// Fullname is the new user's full name (optional).
	Fullname string
	// Force replaces an existing access file.
	Force bool
	// SiteFQDN is the site's FQDN (the site file's fqdn), "" when unknown.
	// The certificate must name it or ckan.site_url's host in its CN or a
	// subjectAltName.
	SiteFQDN string
	// OtherHost accepts a certificate that names neither the site's FQDN
	// nor ckan.site_url's host (a warning instead of a refusal).
	OtherHost bool
}

// Result describes an access file that Make wrote.
type Result struct {
	// Path is the access file written.
	Path string `json:"path"`
	// User is the user name; UserCreated says whether Make created it.
	User        string `json:"user"`
	UserCreated bool   `json:"user_created"`
	// Host is the server host name (certificate CN) the client will use.
	Host string `json:"host"`
	// CertExpires is the end of the certificate's validity.
	CertExpires time.Time `json:"certificate_expires"`
	// TokenID is the token's jti, the id of its api_token row.
	TokenID   string    `json:"token_id"`
	TokenName string    `json:"token_name"`
	IssuedAt  time.Time `json:"issued_at"`
	// MintedBy is "dcor" (signed natively) or "ckan" (ckan user token add).
	MintedBy string `json:"minted_by"`
	// Password is the password of the access file. It is never
	// marshalled: printing it is a deliberate act of the caller.
	Password string `json:"-"`
	// PasswordGenerated says whether Make drew the password.
	PasswordGenerated bool `json:"password_generated"`
	// Warnings are problems that did not stop Make (certificate checks).
	Warnings []string `json:"warnings"`
}

// Make creates an API token for req.User and writes it with the server
// certificate into an encrypted access file. Every input is checked
// before the database changes; when writing the file fails, the new
// token is deleted again. Nothing is written on error.
func Make(ctx context.Context, site Site, req Request) (*Result, error) {
	now := time.Now()
	if req.User == "" {
		return nil, errors.New("no user name given")
	}
	res := &Result{User: req.User, Path: req.Out, TokenName: req.TokenName, Password: req.Password}
	if res.Path == "" {
		res.Path = req.User + Extension
	}
	if res.TokenName == "" {
		res.TokenName = "dcor-access-" + now.Format(time.DateOnly)
	}
	if err := checkOutput(res.Path, req.Force); err != nil {
		return nil, err
	}
	if req.CreateUser && strings.TrimSpace(req.Email) == "" {
		return nil, errors.New("--create-user needs --email: CKAN requires an email address for every user")
	}
	cert, err := loadCertificate(req.CertFile)
	if err != nil {
		return nil, err
	}
	if res.Warnings, err = cert.Check(now); err != nil {
		return nil, err
	}
	res.Host, res.CertExpires = cert.Host(), cert.Leaf.NotAfter
	if err := checkCertNames(cert, req, site.Config, res); err != nil {
		return nil, err
	}
	if res.Password == "" {
		if res.Password, err = NewPassword(); err != nil {
			return nil, err
		}
		res.PasswordGenerated = true
	}

	// Resolve what signing needs before touching the database.
	var m minter
	if m.native = site.Config.Algorithm() == "HS256"; m.native {
		if m.secret, err = site.Config.EncodeSecret(); err != nil {
			return nil, err
		}
		if m.nbytes, err = site.Config.nbytes(); err != nil {
			return nil, err
		}
	} else if err := site.checkCKAN(); err != nil {
		return nil, fmt.Errorf("api_token.jwt.algorithm is %s, which dcor does not sign itself: %w", site.Config.Algorithm(), err)
	}

	dbURL := site.Config.get(keyDatabase)
	if dbURL == "" {
		return nil, errors.New("sqlalchemy.url is not set in ckan.ini: dcor needs it to find the CKAN database")
	}
	db, err := ckandb.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close(context.WithoutCancel(ctx))

	user, err := site.activeUser(ctx, db, req, res)
	if err != nil {
		return nil, err
	}
	token, err := m.mint(ctx, site, db, user, res)
	if err != nil {
		return nil, err
	}
	data, err := Pack(token, cert, res.Password)
	if err == nil {
		err = writeAccess(res.Path, data, req.Force)
	}
	if err != nil {
		if res.TokenID == "" {
			return nil, fmt.Errorf("%w; the API token `ckan user token add` made could not be identified: list it with `ckan user token list %s` and revoke it", err, req.User)
		}
		if derr := db.DeleteAPIToken(context.WithoutCancel(ctx), res.TokenID); derr != nil {
			return nil, fmt.Errorf("%w; the new API token %s could not be deleted again (%v): revoke it with `dcor access-token revoke %s`", err, res.TokenID, derr, res.TokenID)
		}
		return nil, err
	}
	return res, nil
}

// checkCertNames refuses a certificate that names neither the site's
// FQDN nor ckan.site_url's host (in its CN or a subjectAltName): the
// access file would send DCOR-Aid to another server, or fail there.
func checkCertNames(cert Certificate, req Request, cfg Config, res *Result) error {
	var names, where []string
	add := func(name, from string) {
		name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
		if name == "" {
			return
		}
		for _, n := range names {
			if n == name {
				return
			}
		}
		names = append(names, name)
		where = append(where, name+" ("+from+")")
	}
	add(req.SiteFQDN, "the site file's fqdn")
	if u := cfg.get("ckan.site_url"); u != "" {
		if pu, err := url.Parse(u); err == nil {
			add(pu.Hostname(), "ckan.site_url")
		}
	}
	if len(names) == 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("cannot check that the certificate (CN %s) is this site's: neither the site file's fqdn nor ckan.site_url is set", cert.Host()))
		return nil
	}
	for _, n := range names {
		if strings.EqualFold(cert.Host(), n) || cert.Leaf.VerifyHostname(n) == nil {
			return nil
		}
	}
	msg := fmt.Sprintf("the certificate %s is for CN %s (subjectAltNames: %s), but this site is %s", req.CertFile, cert.Host(), orNone(cert.SANs()), strings.Join(where, " and "))
	if req.OtherHost {
		res.Warnings = append(res.Warnings, msg+"; used anyway (--force)")
		return nil
	}
	return errors.New(msg + ": DCOR-Aid would connect to " + cert.Host() + "; pass this site's certificate with --cert, or --force to use this one anyway")
}

// checkOutput refuses an output path that exists (unless force) or is a
// directory, or whose directory is missing.
func checkOutput(path string, force bool) error {
	if st, err := os.Lstat(path); err == nil {
		if !force {
			return fmt.Errorf("%s exists: pass --force to replace it or --out to write elsewhere", path)
		}
		if st.IsDir() {
			return fmt.Errorf("%s is a directory: pass the path of the access file to write", path)
		}
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return fmt.Errorf("cannot write %s: its directory %s does not exist", path, filepath.Dir(path))
	}
	return nil
}

func loadCertificate(path string) (Certificate, error) {
	if path == "" {
		return Certificate{}, errors.New("no server certificate given: pass --cert PATH (a PEM file, the certificate nginx serves)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Certificate{}, fmt.Errorf("read the server certificate: %w (pass --cert PATH)", err)
	}
	return ParseCertificate(path, data)
}

// activeUser returns the active user req.User, creating it when asked.
func (s Site) activeUser(ctx context.Context, db *ckandb.DB, req Request, res *Result) (ckandb.User, error) {
	user, err := db.User(ctx, req.User)
	switch {
	case errors.Is(err, ckandb.ErrNoUser) && req.CreateUser:
		if err := s.createUser(ctx, req); err != nil {
			return ckandb.User{}, err
		}
		res.UserCreated = true
		if user, err = db.User(ctx, req.User); err != nil {
			return ckandb.User{}, fmt.Errorf("`ckan user add %s` succeeded but the user is not in the database: %w", req.User, err)
		}
	case errors.Is(err, ckandb.ErrNoUser):
		return ckandb.User{}, fmt.Errorf("CKAN user %q does not exist: check the name (`ckan user list`) or pass --create-user --email ADDRESS to create it", req.User)
	case err != nil:
		return ckandb.User{}, err
	case req.CreateUser:
		res.Warnings = append(res.Warnings, fmt.Sprintf("CKAN user %s exists already: not created", req.User))
	}
	switch {
	case user.State == ckandb.UserDeleted:
		return ckandb.User{}, fmt.Errorf("CKAN user %q is deleted: its API tokens would not work; reactivate the user (as sysadmin in the web interface) or choose another name", req.User)
	case !user.Active():
		return ckandb.User{}, fmt.Errorf("CKAN user %q is %s, not active: activate the user first", req.User, user.State)
	case user.Sysadmin:
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s is a CKAN sysadmin: the access file gives full control of the site", req.User))
	}
	return user, nil
}

// minter makes API tokens: natively (HS256) or with the ckan command.
type minter struct {
	native bool
	secret []byte
	nbytes int
}

// mint creates the token for user and records its id, time and maker in
// res.
func (m minter) mint(ctx context.Context, site Site, db *ckandb.DB, user ckandb.User, res *Result) (string, error) {
	if !m.native {
		token, err := site.ckanToken(ctx, user.Name, res.TokenName)
		if err != nil {
			return "", err
		}
		res.MintedBy = "ckan"
		tc, err := ParseToken(token)
		if err != nil {
			res.Warnings = append(res.Warnings, "cannot read the token `ckan user token add` printed: "+err.Error())
			return token, nil
		}
		res.TokenID, res.IssuedAt = tc.ID, tc.IssuedAt
		if row, err := db.APIToken(ctx, tc.ID); err != nil || row.UserID != user.ID {
			res.Warnings = append(res.Warnings, fmt.Sprintf("the token from `ckan user token add` (id %s) is not a token of %s in the database", tc.ID, user.Name))
		}
		return token, nil
	}
	// CKAN stores created_at as naive UTC (microseconds) and signs
	// iat = its whole seconds: never ahead of the clock.
	created := time.Now().UTC().Truncate(time.Microsecond)
	id, err := newTokenID(m.nbytes)
	if err != nil {
		return "", err
	}
	iat := time.Unix(created.Unix(), 0).UTC()
	token, err := signHS256(id, iat.Unix(), m.secret)
	if err != nil {
		return "", err
	}
	err = db.InsertAPIToken(ctx, ckandb.Token{ID: id, Name: res.TokenName, UserID: user.ID, CreatedAt: created})
	if err != nil {
		return "", err
	}
	res.TokenID, res.IssuedAt, res.MintedBy = id, iat, "dcor"
	return token, nil
}

// writeAccess is writeAccessFile; tests replace it to fail.
var writeAccess = writeAccessFile

// writeAccessFile writes data to path with mode 0600, atomically. Unless
// force is set it never replaces an existing file, even one created
// while the token was being made.
func writeAccessFile(path string, data []byte, force bool) error {
	if force {
		if err := host.WriteFileAtomic(path, data, 0o600); err != nil {
			return fmt.Errorf("write the access file %s: %w", path, err)
		}
		return nil
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".dcor-tmp-*")
	if err != nil {
		return fmt.Errorf("write the access file %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the access file %s: %w", path, err)
	}
	// A hard link appears whole and fails if path exists.
	err = os.Link(name, path)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: pass --force to replace it or --out to write elsewhere", path)
	}
	if err != nil {
		// File systems without hard links: exclusive create.
		f, oerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(oerr, fs.ErrExist) {
			return fmt.Errorf("%s exists: pass --force to replace it or --out to write elsewhere", path)
		}
		if oerr != nil {
			return fmt.Errorf("write the access file %s: %w", path, oerr)
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return fmt.Errorf("write the access file %s: %w", path, err)
		}
	}
	return host.SyncDir(dir)
}

func (s Site) checkCKAN() error {
	if s.CKAN == "" {
		return errors.New("the ckan command of the CKAN virtualenv is not known")
	}
	st, err := os.Stat(s.CKAN)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("the ckan command %s is missing or not executable (is the CKAN virtualenv installed?)", s.CKAN)
	}
	return nil
}

// runCKAN runs the ckan command with ckan.ini and returns its standard
// output; stdin, when not "", is its standard input, and it then runs
// without a controlling terminal, so that a prompt (getpass) reads it.
// Messages never show the strings in secrets.
func (s Site) runCKAN(ctx context.Context, stdin string, secrets []string, args ...string) (string, error) {
	if err := s.checkCKAN(); err != nil {
		return "", err
	}
	var stdout strings.Builder
	c := runner.Cmd{Path: s.CKAN, Args: append([]string{"-c", s.CKANIni}, args...),
		ExtraEnv: []string{"CKAN_INI=" + s.CKANIni}, Stdout: &stdout, Secrets: secrets}
	if stdin != "" {
		c.Stdin, c.NoTerminal = strings.NewReader(stdin), true
	}
	if _, err := runner.Run(ctx, c); err != nil {
		return "", err
	}
	return stdout.String(), nil
}

// createUser runs `ckan user add NAME email=E [fullname=N]`. A token user
// needs no web password, but `ckan user add` asks for one (twice, with
// getpass): it gets a random one that nobody learns on its standard
// input, without a terminal, never in its argument list.
func (s Site) createUser(ctx context.Context, req Request) error {
	pw := make([]byte, 24)
	if _, err := rand.Read(pw); err != nil {
		return fmt.Errorf("random user password: %w", err)
	}
	password := base64.RawURLEncoding.EncodeToString(pw)
	args := []string{"user", "add", req.User, "email=" + req.Email}
	if req.Fullname != "" {
		args = append(args, "fullname="+req.Fullname)
	}
	if _, err := s.runCKAN(ctx, password+"\n"+password+"\n", []string{password}, args...); err != nil {
		return fmt.Errorf("create CKAN user %q: %w", req.User, err)
	}
	return nil
}

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// ckanToken runs `ckan user token add USER NAME` and returns the token
// it prints: the last non-empty line of its output (CKAN prints
// "API Token created:" and then the token on a line of its own).
func (s Site) ckanToken(ctx context.Context, user, name string) (string, error) {
	out, err := s.runCKAN(ctx, "", nil, "user", "token", "add", user, name)
	if err != nil {
		return "", fmt.Errorf("create an API token with the ckan command: %w", err)
	}
	lines := strings.Split(ansiEscape.ReplaceAllString(out, ""), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if t := strings.TrimSpace(lines[i]); t != "" && !strings.ContainsAny(t, " :") {
			return t, nil
		}
	}
	return "", fmt.Errorf("`ckan user token add %s %s` printed no token", user, name)
}
