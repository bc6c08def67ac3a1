package backup

import (
	"strings"
	"testing"
)

func TestParseDatabaseURL(t *testing.T) {
	cases := []struct {
		in, masked, uri, local, password string
	}{
		{"postgresql://ckan_default:pass@localhost/ckan_default",
			"postgresql://ckan_default:****@localhost/ckan_default",
			"postgresql://ckan_default@localhost/ckan_default", "postgresql:///ckan_default", "pass"},
		{"postgresql+psycopg2://u:p%40ss%2Fw%3Ard@db.example.org:5433/ckan?sslmode=require",
			"postgresql+psycopg2://u:****@db.example.org:5433/ckan?sslmode=require",
			"postgresql://u@db.example.org:5433/ckan?sslmode=require", "postgresql:///ckan?port=5433", "p@ss/w:rd"},
		// SQLAlchemy takes the password up to the "@", unescaped.
		{"postgres://u:p:ss/w#rd@127.0.0.1/ckan",
			"postgres://u:****@127.0.0.1/ckan", "postgresql://u@127.0.0.1/ckan", "postgresql:///ckan", "p:ss/w#rd"},
		{"postgresql://ckan@/ckan_default?host=/var/run/postgresql",
			"postgresql://ckan@/ckan_default?host=/var/run/postgresql",
			"postgresql://ckan@/ckan_default?host=/var/run/postgresql",
			"postgresql:///ckan_default?host=%2Fvar%2Frun%2Fpostgresql", ""},
		{"postgresql://u@[::1]:5432/ckan?password=secret",
			"postgresql://u:****@[::1]:5432/ckan", "postgresql://u@[::1]:5432/ckan", "postgresql:///ckan?port=5432", "secret"},
	}
	for _, tc := range cases {
		db, err := parseDatabaseURL(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if db.Masked() != tc.masked || db.uri(db.Name) != tc.uri || db.localURI(db.Name) != tc.local || db.Password != tc.password {
			t.Errorf("%s:\n masked %s\n uri    %s\n local  %s\n pass   %q", tc.in, db.Masked(), db.uri(db.Name), db.localURI(db.Name), db.Password)
		}
		t.Setenv("PGPASSWORD", "old-password-from-the-environment")
		c := db.pgCommand("pg_dump", nil)
		env := strings.Join(append(c.Env, c.ExtraEnv...), " ")
		if strings.Contains(env, "old-password-from-the-environment") || (tc.password != "" && !strings.Contains(env, "PGPASSWORD="+tc.password)) {
			t.Errorf("%s: env %s", tc.in, env)
		}
	}
	for _, bad := range []string{"", "not a url", "mysql://u:secretpw@h/db", "postgresql://u:secretpw@h"} {
		_, err := parseDatabaseURL(bad)
		if err == nil || strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	db, _ := parseDatabaseURL("postgresql://u:se%2Fcret@h/db")
	if got := db.redact("auth failed for se/cret and se%2Fcret"); strings.Contains(got, "cret") {
		t.Errorf("redact: %s", got)
	}
}
