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
	"sync"
	"syscall"
	"time"
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
	attr *syscall.SysProcAttr // nil when dcor already runs as postgres
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
		attr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}},
		home: u.HomeDir,
	}, nil
}

// apply makes cmd run as postgres, in "/" (root's working directory may
// be closed to postgres) with postgres's HOME.
func (p *asPostgres) apply(cmd *exec.Cmd) {
	if p == nil {
		return
	}
	if p.attr != nil {
		cmd.SysProcAttr = p.attr
	}
	cmd.Dir = "/"
	env := cmd.Env[:0:0]
	for _, kv := range cmd.Env {
		if !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HOME="+p.home)
}

// tailBuffer keeps the last max bytes written to it: the end of a
// program's stderr, which holds its error message.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
	cut bool
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

// String is the kept text, trimmed, marked when its start was cut.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if t.cut {
		s = "…" + s
	}
	return s
}

// exitText describes how a finished program ended: "exit status 1",
// "killed by signal 9 (killed)".
func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	return err.Error()
}

// stopGracefully makes exec.CommandContext end a program with SIGTERM
// (pg_dump and pg_restore then close their connection cleanly), and with
// SIGKILL when it is still running after a while.
func stopGracefully(cmd *exec.Cmd) {
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
}
