package ckandb

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/pgtest"
)

// ckanDB starts a private cluster with CKAN's schema and returns the
// cluster and the sqlalchemy.url of the database.
func ckanDB(t *testing.T) (*pgtest.Cluster, string) {
	t.Helper()
	c := pgtest.Start(t)
	url := c.CreateDatabase(t, "ckan_default", "ckan_default", "s3cr/et:pa@ss#word")
	c.Exec(t, url, pgtest.CKANSchemaFor(t))
	c.Exec(t, url, `INSERT INTO "user" (id, name, email, state, sysadmin) VALUES
		('u-alice', 'alice', 'alice@example.org', 'active', false),
		('u-bob', 'bob', NULL, 'deleted', false),
		('u-root', 'admin', 'root@example.org', 'active', true)`)
	return c, url
}

func open(t *testing.T, url string) *DB {
	t.Helper()
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

func TestUsersAndTokens(t *testing.T) {
	_, url := ckanDB(t)
	ctx := context.Background()
	db := open(t, url)

	u, err := db.User(ctx, "alice")
	if err != nil || u.ID != "u-alice" || !u.Active() || u.Email != "alice@example.org" || u.Sysadmin {
		t.Fatalf("alice = %+v, %v", u, err)
	}
	u, err = db.User(ctx, "bob")
	if err != nil || u.State != UserDeleted || u.Active() {
		t.Fatalf("bob = %+v, %v", u, err)
	}
	if u, _ := db.User(ctx, "admin"); !u.Sysadmin {
		t.Fatalf("admin not sysadmin: %+v", u)
	}
	_, err = db.User(ctx, "carol")
	if !errors.Is(err, ErrNoUser) || !strings.Contains(err.Error(), `"carol"`) {
		t.Fatalf("unknown user: %v", err)
	}

	created := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("CEST", 2*3600))
	tok := Token{ID: "jti-1", Name: "dcor-access-2024-05-06", UserID: "u-alice", CreatedAt: created}
	if err := db.InsertAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := db.APIToken(ctx, "jti-1")
	if err != nil {
		t.Fatal(err)
	}
	// stored as naive UTC with microseconds, as CKAN's utcnow() would be
	if !got.CreatedAt.Equal(created) || got.CreatedAt.Location() != time.UTC || got.CreatedAt.Hour() != 5 {
		t.Fatalf("created_at = %v, want %v in UTC", got.CreatedAt, created)
	}
	if got.UserName != "alice" || got.UserID != "u-alice" || got.Name != tok.Name || !got.LastAccess.IsZero() {
		t.Fatalf("token = %+v", got)
	}
	if err := db.InsertAPIToken(ctx, Token{ID: "jti-2", UserID: "u-nobody", CreatedAt: created}); err == nil {
		t.Fatal("token for unknown user id inserted (foreign key)")
	}
	if err := db.DeleteAPIToken(ctx, "jti-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.APIToken(ctx, "jti-1"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("deleted token: %v", err)
	}
	if err := db.DeleteAPIToken(ctx, "jti-1"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestOpenSchemes(t *testing.T) {
	c, url := ckanDB(t)
	ctx := context.Background()
	rest := strings.TrimPrefix(url, "postgresql://")
	port := strconv.Itoa(c.Port)
	for _, u := range []string{
		url,
		"postgres://" + rest,
		"postgresql+psycopg2://" + rest,
		"postgresql://" + rest + "?sslmode=disable",
		// the password as SQLAlchemy also accepts it: "/", ":", "#" unescaped
		"postgresql://ckan_default:s3cr/et:pa%40ss#word@127.0.0.1:" + port + "/ckan_default",
	} {
		db, err := Open(ctx, u)
		if err != nil {
			t.Fatalf("%s: %v", MaskURL(u), err)
		}
		if strings.Contains(db.String(), "s3cr") {
			t.Fatalf("String() shows the password: %s", db)
		}
		db.Close(ctx)
	}
}

func TestOpenErrorsMaskPassword(t *testing.T) {
	ctx := context.Background()
	// a port nobody listens on
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	for _, u := range []string{
		"postgresql://ckan_default:Sup3rSecret@127.0.0.1:" + strconv.Itoa(port) + "/ckan_default",
		"mysql://ckan_default:Sup3rSecret@localhost/ckan",
		"Sup3rSecret",
		"",
	} {
		start := time.Now()
		_, err := Open(ctx, u)
		if err == nil {
			t.Fatalf("%q opened", u)
		}
		if strings.Contains(err.Error(), "Sup3rSecret") {
			t.Fatalf("password in error: %v", err)
		}
		if !strings.Contains(err.Error(), "sqlalchemy.url") {
			t.Errorf("error does not name sqlalchemy.url: %v", err)
		}
		if time.Since(start) > ConnectTimeout+time.Second {
			t.Errorf("took %v", time.Since(start))
		}
		t.Log(err)
	}
	_, err = Open(ctx, "postgresql://ckan_default:Sup3rSecret@127.0.0.1:"+strconv.Itoa(port)+"/ckan_default")
	if !strings.Contains(err.Error(), "postgresql://ckan_default:****@127.0.0.1:") || !strings.Contains(err.Error(), "is PostgreSQL running?") {
		t.Fatalf("unreachable database: %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	c, _ := ckanDB(t)
	_, err := Open(context.Background(), c.URL("ckan_default", "WrongPassw0rd", "ckan_default"))
	if err == nil || strings.Contains(err.Error(), "WrongPassw0rd") {
		t.Fatalf("wrong password: %v", err)
	}
	t.Log(err)
}

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgresql://ckan_default:pass@localhost/ckan_default":        "postgresql://ckan_default:****@localhost/ckan_default",
		"postgresql+psycopg2://u:p%40ss/word@db.example.org:5433/ckan": "postgresql+psycopg2://u:****@db.example.org:5433/ckan",
		"postgres://u@localhost/ckan":                                  "postgres://u@localhost/ckan",
		"postgresql:///ckan_default?host=/run/postgresql":              "postgresql:///ckan_default?host=/run/postgresql",
		"postgresql://u:p@[::1]:5432/ckan":                             "postgresql://u:****@[::1]:5432/ckan",
		"not a url with secret":                                        "****",
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSQLAlchemyPasswords(t *testing.T) {
	// SQLAlchemy takes the password up to the first "@" and percent-decodes it.
	for in, want := range map[string]string{
		"postgresql://u:pa/ss:w#rd@h:5432/db": "postgresql://u:pa%2Fss%3Aw%23rd@h:5432/db",
		"postgresql://u:p%40ss@h/db":          "postgresql://u:p%40ss@h/db",
		"postgresql://u:@h/db":                "postgresql://u:@h/db",
		"postgresql://h/db":                   "postgresql://h/db",
	} {
		got, _, err := pgURL(in)
		if err != nil || got != want {
			t.Errorf("pgURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestNoAPITokenTable(t *testing.T) {
	c := pgtest.Start(t)
	url := c.CreateDatabase(t, "ckan28", "ckan28", "pw")
	c.Exec(t, url, `CREATE TABLE "user" (id text PRIMARY KEY, name text, state text)`)
	db := open(t, url)
	err := db.InsertAPIToken(context.Background(), Token{ID: "x", UserID: "u", CreatedAt: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "CKAN 2.9 or newer") {
		t.Fatalf("insert without api_token table: %v", err)
	}
}
