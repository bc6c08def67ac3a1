package backup

import (
	"net/url"
	"strings"

	"github.com/DCOR-dev/dcor/ckandb"
)

// database is the CKAN database named by ckan.ini's sqlalchemy.url, with
// what pg_dump, pg_restore and createdb need on top of ckandb's parser.
// The password never goes into an argument list: it travels in PGPASSWORD.
type database struct {
	*ckandb.URL
}

// parseDatabaseURL parses a SQLAlchemy URL (postgresql://, postgres://,
// postgresql+psycopg2://). Errors never contain the password.
func parseDatabaseURL(s string) (*database, error) {
	u, err := ckandb.ParseURL(s)
	if err != nil {
		return nil, err
	}
	return &database{u}, nil
}

// uri is the libpq connection URI of database name on the same server,
// as the URL's user, without the password.
func (db *database) uri(name string) string { return db.ConnString(name, false) }

// localURI is the libpq URI of database name over the default Unix
// socket (peer authentication as the postgres system user): the URL's
// port and socket directory are kept, its host, user and password are not.
func (db *database) localURI(name string) string {
	q, _ := url.ParseQuery(db.Query)
	keep := url.Values{}
	if h := q.Get("host"); strings.HasPrefix(h, "/") {
		keep.Set("host", h)
	}
	if db.Port != "" {
		keep.Set("port", db.Port)
	}
	u := url.URL{Scheme: "postgresql", Path: "/" + name, RawQuery: keep.Encode()}
	return u.String()
}

// secrets are the forms of the password that messages must not show.
func (db *database) secrets() []string {
	if db == nil || db.Password == "" {
		return nil
	}
	return []string{db.Password, url.QueryEscape(db.Password), url.PathEscape(db.Password)}
}

// redact replaces the password in msg by ****.
func (db *database) redact(msg string) string {
	if db == nil {
		return msg
	}
	return db.Redact(msg)
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
