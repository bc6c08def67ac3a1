package reset

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/internal/runner"
)

// coreTables are tables that `ckan db init` creates on every CKAN 2.9+.
var coreTables = []string{"alembic_version", "group", "member", "package", "resource", "user"}

// initCommand is the ckan db subcommand that creates the tables: init on
// 2.9 and 2.10, upgrade on 2.11+ (which also runs the plugins'
// migrations; its init is an alias).
func initCommand(version string) string {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) >= 2 {
		major, err1 := strconv.Atoi(parts[0])
		minor, err2 := strconv.Atoi(parts[1])
		if err1 == nil && err2 == nil && (major > 2 || major == 2 && minor >= 11) {
			return "upgrade"
		}
	}
	return "init"
}

// runCKAN runs the virtualenv's ckan with ckan.ini and returns its
// output (standard output and error).
func runCKAN(ctx context.Context, env Env, args ...string) (string, error) {
	if st, err := os.Stat(env.CKAN); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("the ckan command %s is missing or not executable (is the CKAN virtualenv installed? --venv)", env.CKAN)
	}
	out, err := runner.Run(ctx, runner.Cmd{Path: env.CKAN, Args: append([]string{"-c", env.CKANIni}, args...),
		ExtraEnv: []string{"CKAN_INI=" + env.CKANIni}})
	return string(out), err
}

// resetDatabase runs `ckan db clean --yes`, then `ckan db init` (or
// upgrade). Both exit 0 when they fail (CKAN prints the error and
// returns), so each is checked in the database itself: no table left
// after the clean; CKAN's core tables and a migration revision after
// the init. It returns that revision.
func resetDatabase(ctx context.Context, env Env) (string, error) {
	out, err := runCKAN(ctx, env, "db", "clean", "--yes")
	if err != nil {
		return "", err
	}
	tables, err := tablesOf(ctx, env)
	if err != nil {
		return "", err
	}
	if len(tables) > 0 {
		return "", fmt.Errorf("`ckan db clean --yes` exited 0 but %d tables are left (%s): the database was not reset%s",
			len(tables), abbreviate(tables), ckanSaid(out))
	}
	sub := initCommand(env.CKANVersion)
	out, err = runCKAN(ctx, env, "db", sub)
	if err != nil {
		return "", fmt.Errorf("%w; the database is empty now: run `ckan db %s` again, or restore the backup", err, sub)
	}
	if tables, err = tablesOf(ctx, env); err != nil {
		return "", err
	}
	have := map[string]bool{}
	for _, t := range tables {
		have[t] = true
	}
	var missing []string
	for _, t := range coreTables {
		if !have[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("`ckan db %s` exited 0 but CKAN's tables %s are missing: the database is empty now; fix the cause, then run `ckan -c %s db %s` (or restore the backup)%s",
			sub, strings.Join(missing, ", "), env.CKANIni, sub, ckanSaid(out))
	}
	db, err := ckandb.Open(ctx, env.DatabaseURL)
	if err != nil {
		return "", err
	}
	defer db.Close(context.Background())
	rev, err := db.AlembicRevision(ctx)
	if err != nil {
		return "", err
	}
	if rev == "" {
		return "", fmt.Errorf("`ckan db %s` exited 0 but alembic_version holds no revision: the migrations did not run; run `ckan -c %s db upgrade`%s",
			sub, env.CKANIni, ckanSaid(out))
	}
	return rev, nil
}

func tablesOf(ctx context.Context, env Env) ([]string, error) {
	db, err := ckandb.Open(ctx, env.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close(context.Background())
	return db.Tables(ctx)
}

func abbreviate(names []string) string {
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + ", …"
	}
	return strings.Join(names, ", ")
}

// ckanSaid is the tail of ckan's output, for a message.
func ckanSaid(out string) string {
	out = strings.TrimSpace(runner.Tail(out))
	if out == "" {
		return ""
	}
	return "; ckan said: " + strings.Join(strings.Fields(out), " ")
}
