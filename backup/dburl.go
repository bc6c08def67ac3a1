package backup

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// database is the CKAN database named by ckan.ini's sqlalchemy.url,
// split into the parts pg_dump, pg_restore and createdb need. The
// password never goes into an argument list: it travels in PGPASSWORD.
type database struct {
	user     string
	password string
	hasPass  bool
	host     string // host[:port] as in the URL, "" for the default socket
	port     string
	name     string
	query    string // libpq query parameters (host=/run/postgresql, sslmode=...)
	masked   string // the URL with the password replaced by ****
}

// sqlalchemyURL is SQLAlchemy's own pattern for database URLs: the
// password runs up to the first "@" and may hold "/", ":" or "#"
// unescaped; "@" must be written %40.
var sqlalchemyURL = regexp.MustCompile(`(?s)^([\w+]+)://` +
	`(?:([^:/]*)(?::([^@]*))?@)?` +
	`(?:(?:\[([^/?]+)\]|([^/:?]+))?(?::([^/?]*))?)?` +
	`(?:/([^?]*))?` +
	`(?:\?(.*))?$`)

// parseDatabaseURL parses a SQLAlchemy URL (postgresql://, postgres://,
// postgresql+psycopg2://). Errors never contain the password.
func parseDatabaseURL(s string) (*database, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("the database URL (sqlalchemy.url in ckan.ini) is empty: set it to postgresql://USER:PASSWORD@HOST/DB")
	}
	m := sqlalchemyURL.FindStringSubmatchIndex(s)
	if m == nil {
		return nil, errors.New("the database URL (sqlalchemy.url in ckan.ini) is not a URL: set it to postgresql://USER:PASSWORD@HOST/DB")
	}
	group := func(i int) string {
		if m[2*i] < 0 {
			return ""
		}
		return s[m[2*i]:m[2*i+1]]
	}
	db := &database{hasPass: m[6] >= 0, port: group(6), query: group(8)}
	scheme := group(1)
	db.user = unescape(group(2))
	db.password = unescape(group(3))
	db.host = group(5)
	if v6 := group(4); v6 != "" {
		db.host = "[" + v6 + "]"
	}
	db.name = unescape(group(7))
	// A password given as a query parameter is a password too.
	if q, err := url.ParseQuery(db.query); err == nil && q.Has("password") {
		if !db.hasPass {
			db.password, db.hasPass = q.Get("password"), true
		}
		q.Del("password")
		db.query = q.Encode()
	}
	masked := url.URL{Scheme: scheme, Host: db.hostPort(), Path: "/" + db.name, RawQuery: db.query}
	switch {
	case db.hasPass:
		masked.User = url.UserPassword(db.user, "****")
	case db.user != "":
		masked.User = url.User(db.user)
	}
	db.masked = strings.Replace(masked.String(), ":%2A%2A%2A%2A@", ":****@", 1)
	dialect, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	if dialect != "postgresql" && dialect != "postgres" {
		return nil, fmt.Errorf("the database URL %s is not a PostgreSQL URL: CKAN needs postgresql://USER:PASSWORD@HOST/DB", db.masked)
	}
	if db.name == "" {
		return nil, fmt.Errorf("the database URL %s names no database: set sqlalchemy.url in ckan.ini to postgresql://USER:PASSWORD@HOST/DB", db.masked)
	}
	return db, nil
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

func (db *database) hostPort() string {
	if db.port != "" {
		return db.host + ":" + db.port
	}
	return db.host
}

// uri is the libpq connection URI of database name on the same server,
// as the URL's user, without the password.
func (db *database) uri(name string) string {
	u := url.URL{Scheme: "postgresql", Host: db.hostPort(), Path: "/" + name, RawQuery: db.query}
	if db.user != "" {
		u.User = url.User(db.user)
	}
	return u.String()
}

// localURI is the libpq URI of database name over the default Unix
// socket (peer authentication as the postgres system user): the URL's
// port and socket directory are kept, its host, user and password are not.
func (db *database) localURI(name string) string {
	q, _ := url.ParseQuery(db.query)
	keep := url.Values{}
	if h := q.Get("host"); strings.HasPrefix(h, "/") {
		keep.Set("host", h)
	}
	if db.port != "" {
		keep.Set("port", db.port)
	}
	u := url.URL{Scheme: "postgresql", Path: "/" + name, RawQuery: keep.Encode()}
	return u.String()
}

// env is the environment of a PostgreSQL client program connecting to
// the database: the caller's, without any PGPASSWORD or PGPASSFILE it
// holds, plus PGPASSWORD when the URL has a password.
func (db *database) env(base []string) []string {
	env := withoutPassword(base)
	if db.hasPass {
		env = append(env, "PGPASSWORD="+db.password)
	}
	return env
}

// redact replaces the password in msg by ****.
func (db *database) redact(msg string) string {
	if db == nil || len(db.password) < 2 {
		return msg
	}
	for _, s := range []string{db.password, url.QueryEscape(db.password), url.PathEscape(db.password)} {
		msg = strings.ReplaceAll(msg, s, "****")
	}
	return msg
}

// withoutPassword is the environment base without PGPASSWORD.
func withoutPassword(base []string) []string {
	env := make([]string, 0, len(base)+1)
	for _, kv := range base {
		if !strings.HasPrefix(kv, "PGPASSWORD=") {
			env = append(env, kv)
		}
	}
	return env
}
