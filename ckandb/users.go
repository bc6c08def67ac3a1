package ckandb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ErrNoUser is returned (wrapped) for a user name that the CKAN database
// does not know.
var ErrNoUser = errors.New("no such CKAN user")

// User states in CKAN's "user" table.
const (
	UserActive  = "active"
	UserPending = "pending"
	UserDeleted = "deleted"
)

// User is a row of CKAN's "user" table.
type User struct {
	// ID is the user's id (a UUID), referenced by api_token.user_id.
	ID string
	// Name is the unique user name.
	Name     string
	Email    string
	Fullname string
	// State is "active", "pending" or "deleted".
	State string
	// Sysadmin says whether the user administers the whole site.
	Sysadmin bool
}

// Active reports whether the user can sign in and use API tokens.
func (u User) Active() bool { return u.State == UserActive }

// User returns the user called name, whatever its state. An unknown name
// gives an error wrapping ErrNoUser.
func (db *DB) User(ctx context.Context, name string) (User, error) {
	var u User
	err := db.conn.QueryRow(ctx, `
		SELECT id, name, coalesce(email, ''), coalesce(fullname, ''), state, coalesce(sysadmin, false)
		FROM "user" WHERE name = $1`, name).
		Scan(&u.ID, &u.Name, &u.Email, &u.Fullname, &u.State, &u.Sysadmin)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("%w %q in %s", ErrNoUser, name, db.masked)
	}
	if err != nil {
		return User{}, fmt.Errorf("look up CKAN user %q in %s: %w", name, db.masked, err)
	}
	return u, nil
}
