// Package ckandb reads and writes the CKAN database of a DCOR host
// (facts §4): users and API tokens, through PostgreSQL with pgx.
//
// It opens the database named by ckan.ini's sqlalchemy.url. Errors never
// show the database password.
package ckandb

import (
	"context"
	"fmt"
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
func MaskURL(s string) string {
	u, err := splitURL(s)
	if err != nil {
		return "****"
	}
	return u.Masked()
}

// pgURL turns a SQLAlchemy URL into a URL pgx parses, and returns it with
// its masked form.
func pgURL(sqlalchemyURL string) (connURL, masked string, err error) {
	u, err := ParseURL(sqlalchemyURL)
	if err != nil {
		return "", "", err
	}
	return u.ConnString(u.Name, true), u.Masked(), nil
}

// redact removes the password of dbURL (raw and percent-encoded) from msg.
func redact(msg, dbURL string) string {
	u, err := splitURL(dbURL)
	if err != nil {
		return msg
	}
	return u.Redact(msg)
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
