package ckandb

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// URL is ckan.ini's sqlalchemy.url split as SQLAlchemy splits it. It is
// the one parser of that value in dcor: the database connection here and
// pg_dump/pg_restore in package backup both use it.
type URL struct {
	// Scheme is the URL's scheme as written (postgresql+psycopg2, …).
	Scheme string
	// User and Password are percent-decoded.
	User, Password string
	// HasPassword tells an empty password from none.
	HasPassword bool
	// Host is the host name or "[IPv6]"; "" means the default socket.
	Host string
	// Port is the port as written, "" for the default.
	Port string
	// Name is the database name.
	Name string
	// Query holds libpq parameters (host=/run/postgresql, sslmode=…),
	// never a password.
	Query string

	rawPassword string // as written in the URL, for redaction
}

// sqlalchemyPattern is SQLAlchemy's own pattern for database URLs: the
// password runs up to the first "@" and may hold "/", ":" or "#"
// unescaped ("@" itself must be written %40).
var sqlalchemyPattern = regexp.MustCompile(`(?s)^([\w+]+)://` +
	`(?:([^:/]*)(?::([^@]*))?@)?` +
	`(?:(?:\[([^/?]+)\]|([^/:?]+))?(?::([^/?]*))?)?` +
	`(?:/([^?]*))?` +
	`(?:\?(.*))?$`)

// ParseURL parses sqlalchemy.url: postgresql://, postgres:// or
// postgresql+DRIVER://, percent-encoded user and password, a password
// given as the query parameter password=. It must name a PostgreSQL
// database. Errors never contain the password.
func ParseURL(s string) (*URL, error) {
	u, err := splitURL(s)
	if err != nil {
		return nil, err
	}
	dialect, _, _ := strings.Cut(strings.ToLower(u.Scheme), "+")
	if dialect != "postgresql" && dialect != "postgres" {
		return nil, fmt.Errorf("the database URL %s (sqlalchemy.url in ckan.ini) is not a PostgreSQL URL: CKAN needs postgresql://USER:PASSWORD@HOST/DB", u.Masked())
	}
	if u.Name == "" {
		return nil, fmt.Errorf("the database URL %s names no database: set sqlalchemy.url in ckan.ini to postgresql://USER:PASSWORD@HOST/DB", u.Masked())
	}
	return u, nil
}

// splitURL splits s into its parts without judging them.
func splitURL(s string) (*URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("the database URL (sqlalchemy.url in ckan.ini) is empty: set it to postgresql://USER:PASSWORD@HOST/DB")
	}
	m := sqlalchemyPattern.FindStringSubmatchIndex(s)
	if m == nil {
		return nil, errors.New("the database URL (sqlalchemy.url in ckan.ini) is not a URL: set it to postgresql://USER:PASSWORD@HOST/DB")
	}
	group := func(i int) string {
		if m[2*i] < 0 {
			return ""
		}
		return s[m[2*i]:m[2*i+1]]
	}
	u := &URL{Scheme: group(1), User: unescape(group(2)), rawPassword: group(3), HasPassword: m[6] >= 0,
		Host: group(5), Port: group(6), Name: unescape(group(7)), Query: group(8)}
	u.Password = unescape(u.rawPassword)
	if v6 := group(4); v6 != "" {
		u.Host = "[" + v6 + "]"
	}
	// A password given as a query parameter is a password too.
	if q, err := url.ParseQuery(u.Query); err == nil && q.Has("password") {
		if !u.HasPassword {
			u.Password, u.HasPassword = q.Get("password"), true
			u.rawPassword = u.Password
		}
		q.Del("password")
		u.Query = q.Encode()
	}
	return u, nil
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// HostPort is host:port, or the host alone for the default port.
func (u *URL) HostPort() string {
	if u.Port != "" {
		return u.Host + ":" + u.Port
	}
	return u.Host
}

// Masked is the URL with its password replaced by "****".
func (u *URL) Masked() string {
	m := url.URL{Scheme: u.Scheme, Host: u.HostPort(), Path: "/" + u.Name, RawQuery: u.Query}
	switch {
	case u.HasPassword:
		m.User = url.UserPassword(u.User, "****")
	case u.User != "":
		m.User = url.User(u.User)
	}
	return strings.Replace(m.String(), ":%2A%2A%2A%2A@", ":****@", 1)
}

// ConnString is the libpq connection URI of database name on the same
// server as the same user, with the password only when withPassword
// (programs that run with argument lists get it through PGPASSWORD).
func (u *URL) ConnString(name string, withPassword bool) string {
	c := url.URL{Scheme: "postgresql", Host: u.HostPort(), Path: "/" + name, RawQuery: u.Query}
	switch {
	case withPassword && u.HasPassword:
		c.User = url.UserPassword(u.User, u.Password)
	case u.User != "":
		c.User = url.User(u.User)
	}
	return c.String()
}

// Redact replaces the password, as written and percent-encoded, by
// "****" in msg (an error message of pgx, pg_dump or pg_restore).
func (u *URL) Redact(msg string) string {
	if u == nil {
		return msg
	}
	for _, s := range []string{u.rawPassword, u.Password, url.QueryEscape(u.Password), url.PathEscape(u.Password)} {
		if len(s) >= 2 {
			msg = strings.ReplaceAll(msg, s, "****")
		}
	}
	return msg
}

// IniURL is the database URL that ckan.ini's sqlalchemy.url holds; get
// looks a key up in ckan.ini, and iniPath names the file in the error
// for a missing or empty value.
func IniURL(get func(key string) (string, bool), iniPath string) (string, error) {
	u, ok := get("sqlalchemy.url")
	if !ok || u == "" {
		return "", fmt.Errorf("%s sets no sqlalchemy.url: it names the CKAN database", iniPath)
	}
	return u, nil
}
