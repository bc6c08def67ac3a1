package backup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/DCOR-dev/dcor/internal/runner"
)

// findPgProgram returns the path of the PostgreSQL client program name
// (pg_dump, pg_restore, createdb, dropdb): override when set, else the
// one in PATH, else the newest /usr/lib/postgresql/N/bin/name (Debian
// keeps them out of PATH without postgresql-client-common).
func findPgProgram(name, override string) (string, error) {
	if override != "" {
		return override, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (looked in PATH and /usr/lib/postgresql/*/bin): install the PostgreSQL client (apt install postgresql-client)", name)
}

func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// siblingProgram returns name from the directory of prog when it is
// there (pg_restore beside an injected pg_dump), else findPgProgram.
func siblingProgram(prog, name string) (string, error) {
	if prog != "" {
		p := filepath.Join(filepath.Dir(prog), name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return findPgProgram(name, "")
}

// asPostgres is how a PostgreSQL client program runs as the system user
// postgres, for peer authentication over the local socket (the 2021
// tool's "sudo -u postgres").
type asPostgres struct {
	cred *syscall.Credential // nil when dcor already runs as postgres
	home string
}

func postgresUser() (*asPostgres, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("--as-postgres: there is no system user postgres on this host: drop --as-postgres to connect with the password of sqlalchemy.url")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if os.Geteuid() == uid {
		return &asPostgres{home: u.HomeDir}, nil
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("--as-postgres needs root (to run pg_dump as the system user postgres): run dcor as root, or drop --as-postgres")
	}
	return &asPostgres{
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}},
		home: u.HomeDir,
	}, nil
}

// pgCommand is a PostgreSQL client program connecting to db, run by the
// runner: with PGPASSWORD from the URL (never in argv), or, with pgUser,
// as the system user postgres (no password, in "/", since root's working
// directory may be closed to postgres, with postgres's HOME).
func (db *database) pgCommand(prog string, pgUser *asPostgres, args ...string) runner.Cmd {
	c := runner.Cmd{Path: prog, Args: args, Env: withoutPassword(os.Environ()), Secrets: db.secrets()}
	if pgUser == nil {
		if db.HasPassword {
			c.ExtraEnv = []string{"PGPASSWORD=" + db.Password}
		}
		return c
	}
	c.Credential, c.Dir = pgUser.cred, "/"
	env := c.Env[:0]
	for _, kv := range c.Env {
		if !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	c.Env = append(env, "HOME="+pgUser.home)
	return c
}
