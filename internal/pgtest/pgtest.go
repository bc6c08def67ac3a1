// Package pgtest starts a private PostgreSQL cluster for integration
// tests: initdb and pg_ctl in a temporary directory, on a free loopback
// port, run as the system user postgres when the tests run as root.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/testtool"
	"github.com/jackc/pgx/v5"
)

// Cluster is a running private PostgreSQL cluster.
type Cluster struct {
	// Dir holds the data directory, the socket and the log.
	Dir string
	// SocketDir is the directory of the Unix socket (PGHOST for peer logins).
	SocketDir string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// BinDir is the directory of initdb, pg_ctl, pg_dump and pg_restore.
	BinDir string
	// SuperPassword is the password of the superuser "postgres" over TCP.
	SuperPassword string
	cred          *syscall.Credential
}

// BinDir finds the directory of the PostgreSQL server programs, or "".
func BinDir() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real)
		}
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises and starts a cluster that is stopped and removed when
// the test ends. Under CI=true a missing PostgreSQL fails the test.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := BinDir()
	if bin == "" {
		testtool.Missing(t, "PostgreSQL server (initdb, pg_ctl) is not installed (make test installs it)")
	}
	dir, err := os.MkdirTemp("", "dcor-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: dir, SocketDir: filepath.Join(dir, "sock"), BinDir: bin}
	if err := os.Mkdir(c.SocketDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testtool.Missing(t, "running as root but there is no system user postgres to run the cluster as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, p := range []string{dir, c.SocketDir} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() { c.stop(t) })

	c.SuperPassword = randomHex(12)
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.SuperPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.cred != nil {
		os.Chown(pwfile, int(c.cred.Uid), int(c.cred.Gid))
	}
	c.run(t, filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--pwfile", pwfile, "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	os.Remove(pwfile)

	for attempt := 0; ; attempt++ {
		c.Port = freePort(t)
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off", c.Port, c.SocketDir)
		cmd := c.command(filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o", opts, "start")
		out, err := cmd.CombinedOutput()
		if err == nil {
			break
		}
		if attempt >= 3 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
		}
	}
	return c
}

func (c *Cluster) stop(t testing.TB) {
	if _, err := os.Stat(filepath.Join(c.Dir, "data", "postmaster.pid")); err == nil {
		cmd := c.command(filepath.Join(c.BinDir, "pg_ctl"), "-D", filepath.Join(c.Dir, "data"), "-m", "immediate", "-w", "stop")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("pg_ctl stop: %v\n%s", err, out)
		}
	}
	os.RemoveAll(c.Dir)
}

// Command returns a command that runs as the cluster's owner (the system
// user postgres when the tests run as root), with PGHOST and PGPORT set
// for peer logins over the cluster's socket.
func (c *Cluster) Command(name string, args ...string) *exec.Cmd {
	cmd := c.command(name, args...)
	cmd.Env = append(os.Environ(), "PGHOST="+c.SocketDir, "PGPORT="+strconv.Itoa(c.Port), "PGUSER=postgres")
	return cmd
}

// Credential is the identity the cluster runs as (nil: the test's own).
func (c *Cluster) Credential() *syscall.Credential { return c.cred }

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.Dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := c.command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

// URL is the postgresql:// URL of database db for user and password over
// TCP on 127.0.0.1, in the form ckan.ini's sqlalchemy.url uses.
func (c *Cluster) URL(user, password, db string) string {
	u := url.URL{Scheme: "postgresql", User: url.UserPassword(user, password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), Path: "/" + db}
	return u.String()
}

// SuperURL is the superuser's URL of database db.
func (c *Cluster) SuperURL(db string) string { return c.URL("postgres", c.SuperPassword, db) }

// CreateDatabase creates the login role owner (with password, when it does
// not exist yet) and the database name owned by it, and returns the URL
// that ckan.ini would hold for it.
func (c *Cluster) CreateDatabase(t testing.TB, name, owner, password string) string {
	t.Helper()
	ctx := context.Background()
	conn := c.Connect(t, c.SuperURL("postgres"))
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", owner).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		mustExec(t, conn, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD %s",
			pgx.Identifier{owner}.Sanitize(), quoteLiteral(password)))
	}
	mustExec(t, conn, fmt.Sprintf("CREATE DATABASE %s OWNER %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{owner}.Sanitize()))
	return c.URL(owner, password, name)
}

// Connect opens a connection that is closed when the test ends.
func (c *Cluster) Connect(t testing.TB, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to test database: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Exec runs SQL statements in database dbURL.
func (c *Cluster) Exec(t testing.TB, dbURL, sql string, args ...any) {
	t.Helper()
	conn := c.Connect(t, dbURL)
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec: %v\n%s", err, sql)
	}
	conn.Close(context.Background())
}

func mustExec(t testing.TB, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Connect2 opens a connection and returns the error instead of failing
// the test (for tests that expect a refusal).
func (c *Cluster) Connect2(dbURL string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return pgx.Connect(ctx, dbURL)
}
