package ckandb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNoToken is returned (wrapped) for an API token id that the CKAN
// database does not hold.
var ErrNoToken = errors.New("no such CKAN API token")

// Token is a row of CKAN's api_token table (CKAN 2.9+).
type Token struct {
	// ID is the token's id, the "jti" claim of its JWT.
	ID string
	// Name is the name given at creation.
	Name string
	// UserID is the id of the owning user.
	UserID string
	// UserName is the owner's name; APIToken fills it, InsertAPIToken
	// ignores it.
	UserName string
	// CreatedAt is the creation time in UTC (stored without time zone,
	// as CKAN does).
	CreatedAt time.Time
	// LastAccess is the time of last use, zero when never used.
	LastAccess time.Time
}

// InsertAPIToken stores t as CKAN's api_token_create does: id, name,
// user_id and created_at (as naive UTC), never accessed.
func (db *DB) InsertAPIToken(ctx context.Context, t Token) error {
	if t.ID == "" || t.UserID == "" || t.CreatedAt.IsZero() {
		return errors.New("insert API token: id, user id and creation time must be set")
	}
	_, err := db.conn.Exec(ctx, `
		INSERT INTO api_token (id, name, user_id, created_at, last_access)
		VALUES ($1, $2, $3, $4, NULL)`,
		t.ID, t.Name, t.UserID, t.CreatedAt.UTC())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return fmt.Errorf("insert API token into %s: the database has no api_token table; API tokens need CKAN 2.9 or newer (after an upgrade run `ckan db upgrade`)", db.masked)
	}
	if err != nil {
		return fmt.Errorf("insert API token %q for user id %s into %s: %w", t.Name, t.UserID, db.masked, err)
	}
	return nil
}

// APIToken returns the token whose id is jti, with its owner's name. An
// unknown id gives an error wrapping ErrNoToken.
func (db *DB) APIToken(ctx context.Context, jti string) (Token, error) {
	var (
		t                 Token
		name, userName    *string
		userID            *string
		created, accessed *time.Time
	)
	err := db.conn.QueryRow(ctx, `
		SELECT t.id, t.name, t.user_id, u.name, t.created_at, t.last_access
		FROM api_token t LEFT JOIN "user" u ON u.id = t.user_id
		WHERE t.id = $1`, jti).
		Scan(&t.ID, &name, &userID, &userName, &created, &accessed)
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, fmt.Errorf("%w with id %s in %s", ErrNoToken, jti, db.masked)
	}
	if err != nil {
		return Token{}, fmt.Errorf("look up API token %s in %s: %w", jti, db.masked, err)
	}
	t.Name = deref(name)
	t.UserID = deref(userID)
	t.UserName = deref(userName)
	if created != nil {
		t.CreatedAt = *created
	}
	if accessed != nil {
		t.LastAccess = *accessed
	}
	return t, nil
}

// DeleteAPIToken deletes the token whose id is jti, as
// `ckan user token revoke` does. An unknown id gives an error wrapping
// ErrNoToken.
func (db *DB) DeleteAPIToken(ctx context.Context, jti string) error {
	tag, err := db.conn.Exec(ctx, `DELETE FROM api_token WHERE id = $1`, jti)
	if err != nil {
		return fmt.Errorf("delete API token %s from %s: %w", jti, db.masked, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w with id %s in %s", ErrNoToken, jti, db.masked)
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
