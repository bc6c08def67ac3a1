// Package ckandb reads and writes the CKAN database of a DCOR host
// (facts §4): users and API tokens, through PostgreSQL with pgx.
//
// It opens the database named by ckan.ini's sqlalchemy.url. Errors never
// show the database password.
package ckandb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConnectTimeout bounds how long Open waits for PostgreSQL to answer.
const ConnectTimeout = 5 * time.Second

// DB is an open connection to the CKAN database. It is not safe for
// concurrent use.
type DB struct {
	conn   *pgx.Conn
	masked string
}

// Open connects to the CKAN database named by sqlalchemyURL, the value of
// sqlalchemy.url in ckan.ini: postgresql://, postgres:// or
// postgresql+DRIVER:// (e.g. postgresql+psycopg2://), with
// percent-encoded user and password and optional query parameters that
// PostgreSQL understands (host=/run/postgresql, sslmode=...).
func Open(ctx context.Context, sqlalchemyURL string) (*DB, error) {
	connURL, masked, err := pgURL(sqlalchemyURL)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(connURL)
	if err != nil {
		return nil, fmt.Errorf("CKAN database URL %s: %s; check sqlalchemy.url in ckan.ini",
			masked, redact(err.Error(), sqlalchemyURL))
	}
	cfg.ConnectTimeout = ConnectTimeout
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the CKAN database %s: %s (is PostgreSQL running? is sqlalchemy.url in ckan.ini right?)",
			masked, oneLine(redact(err.Error(), sqlalchemyURL)))
	}
	return &DB{conn: conn, masked: masked}, nil
}

// Close closes the connection.
func (db *DB) Close(ctx context.Context) error {
	return db.conn.Close(ctx)
}

// String is the database URL with the password masked.
func (db *DB) String() string { return db.masked }

// MaskURL returns the SQLAlchemy database URL u with its password
// replaced by "****", for messages and logs. A value that is not a URL
// is returned as "****" entirely, since it may hold a secret.
func MaskURL(u string) string {
	_, masked, _ := pgURL(u)
	if masked == "" {
		return "****"
	}
	return masked
}

// sqlalchemyPattern is SQLAlchemy's own pattern for database URLs: the
// password runs up to the first "@" and may hold "/", ":" or "#"
// unescaped ("@" itself must be written %40).
var sqlalchemyPattern = regexp.MustCompile(`(?s)^([\w+]+)://` +
	`(?:([^:/]*)(?::([^@]*))?@)?` +
	`(?:(?:\[([^/?]+)\]|([^/:?]+))?(?::([^/?]*))?)?` +
	`(?:/([^?]*))?` +
	`(?:\?(.*))?$`)

// pgURL turns a SQLAlchemy URL into a URL pgx parses, and returns it with
// its masked form.
func pgURL(sqlalchemyURL string) (connURL, masked string, err error) {
	s := strings.TrimSpace(sqlalchemyURL)
	if s == "" {
		return "", "", errors.New("sqlalchemy.url is empty: set it in ckan.ini to postgresql://USER:PASSWORD@HOST/DB")
	}
	idx := sqlalchemyPattern.FindStringSubmatchIndex(s)
	if idx == nil {
		return "", "****", errors.New("sqlalchemy.url is not a database URL: set it in ckan.ini to postgresql://USER:PASSWORD@HOST/DB")
	}
	group := func(i int) string {
		if idx[2*i] < 0 {
			return ""
		}
		return s[idx[2*i]:idx[2*i+1]]
	}
	scheme, user, password, ipv6, host, port, db, query := group(1), group(2), group(3), group(4), group(5), group(6), group(7), group(8)
	hasPassword := idx[6] >= 0
	// SQLAlchemy percent-decodes user and password.
	if u, err := url.PathUnescape(user); err == nil {
		user = u
	}
	if p, err := url.PathUnescape(password); err == nil {
		password = p
	}
	if ipv6 != "" {
		host = "[" + ipv6 + "]"
	}
	if port != "" {
		host += ":" + port
	}
	pg := url.URL{Scheme: "postgresql", Host: host, Path: "/" + db, RawQuery: query}
	maskedURL := pg
	maskedURL.Scheme = scheme
	switch {
	case hasPassword:
		pg.User = url.UserPassword(user, password)
		maskedURL.User = url.UserPassword(user, "****")
	case user != "":
		pg.User = url.User(user)
		maskedURL.User = url.User(user)
	}
	masked = strings.Replace(maskedURL.String(), ":%2A%2A%2A%2A@", ":****@", 1)
	dialect, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	if dialect != "postgresql" && dialect != "postgres" {
		return "", masked, fmt.Errorf("sqlalchemy.url %s is not a PostgreSQL URL: CKAN needs postgresql://USER:PASSWORD@HOST/DB", masked)
	}
	return pg.String(), masked, nil
}

// redact removes the password of dbURL (raw and percent-encoded) from msg.
func redact(msg, dbURL string) string {
	m := sqlalchemyPattern.FindStringSubmatch(strings.TrimSpace(dbURL))
	if m == nil || len(m[3]) < 3 {
		return msg
	}
	pw := m[3]
	plain, err := url.PathUnescape(pw)
	if err != nil {
		plain = pw
	}
	for _, s := range []string{pw, plain, url.QueryEscape(plain), url.PathEscape(plain)} {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "****")
		}
	}
	return msg
}

// oneLine joins the lines of a pgx error (one per connection attempt,
// often repeated) into one line without repeats.
func oneLine(msg string) string {
	var parts []string
	seen := map[string]bool{}
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !seen[l] {
			seen[l] = true
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}
