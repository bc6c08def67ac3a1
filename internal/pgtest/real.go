package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/runner"
	"github.com/DCOR-dev/dcor/internal/stackenv"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// realSchema is the dump of the stack's CKAN database, made once per test
// process.
var realSchema struct {
	once   sync.Once
	sql    string // "" when there is no stack
	source string // what sql is, or why there is none
	err    error
}

// RealCKANSchema returns the schema that `ckan db init` made in the
// running DCOR test stack (make stack; .stack/env of the module, or
// $DCOR_STACK_ENV): `pg_dump --schema-only --no-owner --no-privileges` of
// DCOR_STACK_PG, run inside the stack's namespace, made loadable by a plain
// connection (psql's \restrict lines and the empty search_path dropped).
// It is dumped once per test process. source says what the schema is, or
// why there is none: sql is "" (and err nil) when no stack is up; err is a
// stack that is up but could not be dumped.
func RealCKANSchema() (sql, source string, err error) {
	r := &realSchema
	r.once.Do(func() { r.sql, r.source, r.err = dumpStackSchema() })
	return r.sql, r.source, r.err
}

// CKANSchemaFor returns the CKAN schema a database test should create:
// the real one of the running stack (RealCKANSchema) when the stack is up,
// the hand-written CKANSchema otherwise. It logs which one, and fails the
// test when the stack is up but its schema cannot be dumped.
func CKANSchemaFor(t testing.TB) string {
	t.Helper()
	sql, source, err := RealCKANSchema()
	if err != nil {
		t.Fatalf("CKAN schema of the DCOR stack: %v", err)
	}
	if sql == "" {
		t.Logf("CKAN schema: the hand-written pgtest.CKANSchema (%s)", source)
		return CKANSchema
	}
	t.Logf("CKAN schema: the real one, %s", source)
	return sql
}

// CKANSchemaOrFallback is CKANSchemaFor for code without a testing.TB
// (testscript commands): the schema, and the line that says which it is.
func CKANSchemaOrFallback() (sql, source string, err error) {
	sql, source, err = RealCKANSchema()
	if err != nil {
		return "", "", fmt.Errorf("CKAN schema of the DCOR stack: %w", err)
	}
	if sql == "" {
		return CKANSchema, "the hand-written pgtest.CKANSchema (" + source + ")", nil
	}
	return sql, "the real one, " + source, nil
}

// dumpStackSchema dumps the schema of the stack's CKAN database.
func dumpStackSchema() (sql, source string, err error) {
	path := stackenv.File()
	if path == "" {
		return "", "no go.mod above the test's directory, so no .stack/env", nil
	}
	if _, err := os.Stat(path); err != nil {
		return "", "no DCOR stack: " + path + " does not exist (make stack)", nil
	}
	e, err := stackenv.Load(path)
	if err != nil {
		return "", "", err
	}
	if !e.Alive() {
		return "", "the DCOR stack of " + path + " is gone (its namespace no longer exists; make stack)", nil
	}
	if e.PG == "" {
		return "", "", fmt.Errorf("%s lacks DCOR_STACK_PG: run make stack again", path)
	}
	u, err := url.Parse(e.PG)
	if err != nil {
		return "", "", fmt.Errorf("%s: DCOR_STACK_PG is not a URL: %v", path, err)
	}
	// The password goes by environment, never in argv.
	var extraEnv, secrets []string
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			extraEnv = append(extraEnv, "PGPASSWORD="+pw)
			secrets = append(secrets, pw)
			u.User = url.User(u.User.Username())
		}
	}
	argv := e.Command("pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--dbname", u.String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	if _, err := runner.Run(ctx, runner.Cmd{Path: argv[0], Args: argv[1:], ExtraEnv: extraEnv,
		Secrets: secrets, Stdout: &out, Grace: 5 * time.Second}); err != nil {
		return "", "", fmt.Errorf("dump of the stack's CKAN database: %w", err)
	}
	sql = loadable(out.String())
	if !strings.Contains(sql, "CREATE TABLE public.package (") {
		return "", "", fmt.Errorf("the dump of the stack's CKAN database %s has no table package: was `ckan db init` run? (make stack)", runner.Mask(e.PG, secrets))
	}
	return sql, fmt.Sprintf("pg_dump --schema-only of the stack's CKAN %s database (ckan db init, %s)", e.CKANVersion, path), nil
}

// loadable makes pg_dump's plain SQL runnable by one Exec on a plain
// connection: psql's meta-commands (\restrict, \unrestrict of PostgreSQL
// 17.6/16.10/15.14 and later) are dropped, and so is the empty search_path,
// which would outlive the dump on the caller's connection (every name in
// the dump is schema-qualified).
func loadable(dump string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(dump, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, `\`) || l == "SELECT pg_catalog.set_config('search_path', '', false);" {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// NeedRealCKANSchema returns the real schema, and skips the test when no
// stack is up (fails it under CI=true, where the stack must be up).
func NeedRealCKANSchema(t testing.TB) string {
	t.Helper()
	sql, source, err := RealCKANSchema()
	if err != nil {
		t.Fatalf("CKAN schema of the DCOR stack: %v", err)
	}
	if sql == "" {
		testtool.Missing(t, source)
	}
	t.Logf("CKAN schema: the real one, %s", source)
	return sql
}
