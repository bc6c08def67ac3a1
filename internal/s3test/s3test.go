// Package s3test runs a real S3 server for tests: Versity Gateway
// (github.com/versity/versitygw, Apache-2.0) over a temporary directory
// on loopback, with its own credentials and real SigV4.
//
// The server is built once from the module proxy into
// /var/cache/dcor-test/bin (outside the repository; DCOR_TEST_BIN moves
// it). When it cannot be built the test is skipped, or failed under
// CI=true (testtool.Missing).
package s3test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/DCOR-dev/dcor/internal/testtool"
)

// Version is the Versity Gateway release the tests run.
const Version = "v1.8.0"

// Server is a running Versity Gateway.
type Server struct {
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are its root credentials.
	AccessKey, SecretKey string
	// Dir is the directory it serves: one subdirectory per bucket.
	Dir string

	addr string
	bin  string
	cmd  *exec.Cmd
	t    testing.TB
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// binDir is where the server binary is cached.
func binDir() string {
	if d := os.Getenv("DCOR_TEST_BIN"); d != "" {
		return d
	}
	return "/var/cache/dcor-test/bin"
}

// Binary returns the versitygw binary, building it once (go install
// github.com/versity/versitygw/cmd/versitygw@Version with GOBIN in the
// cache directory). A failure skips t, or fails it under CI=true.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir := binDir()
		bin := filepath.Join(dir, "versitygw")
		stamp := bin + ".version"
		if b, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(b)) == Version {
			if _, err := os.Stat(bin); err == nil {
				buildPath = bin
				return
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("no go program to build versitygw: %v", err)
			return
		}
		cmd := exec.Command(goBin, "install", "github.com/versity/versitygw/cmd/versitygw@"+Version)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false")
		cmd.Dir = os.TempDir() // outside the module: no go.mod change
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go install versitygw@%s: %v\n%s", Version, err, out)
			return
		}
		os.WriteFile(stamp, []byte(Version+"\n"), 0o644)
		buildPath = bin
	})
	if buildErr != nil {
		testtool.Missing(t, "the S3 test server cannot be built: "+buildErr.Error())
	}
	return buildPath
}

// Start starts a server over a new temporary directory; it is killed at
// the end of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{AccessKey: "dcortestaccess", SecretKey: "dcor-test-secret-" + fmt.Sprint(os.Getpid()),
		Dir: t.TempDir(), bin: Binary(t), t: t}
	s.addr = freeAddr(t)
	s.Endpoint = "http://" + s.addr
	s.start()
	t.Cleanup(s.Kill)
	return s
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *Server) start() {
	t := s.t
	t.Helper()
	cmd := exec.Command(s.bin, "--port", s.addr, "posix", s.Dir)
	// The credentials by environment, never argv.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	log, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.Kill()
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("versitygw did not listen on %s: %s", s.addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill kills the server (SIGKILL), as a crash would.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the killed server again on the same port and directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// Client is a minio-go client of the server.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.addr, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// MakeBucket creates bucket.
func (s *Server) MakeBucket(t testing.TB, bucket string) {
	t.Helper()
	if err := s.Client(t).MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", bucket, err)
	}
}

// Keys lists the keys in bucket, sorted.
func (s *Server) Keys(t testing.TB, bucket string) []string {
	t.Helper()
	var keys []string
	for o := range s.Client(t).ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", bucket, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// Uploads lists the unfinished multipart uploads in bucket.
func (s *Server) Uploads(t testing.TB, bucket string) []string {
	t.Helper()
	var keys []string
	for u := range s.Client(t).ListIncompleteUploads(context.Background(), bucket, "", true) {
		if u.Err != nil {
			t.Fatalf("list uploads %s: %v", bucket, u.Err)
		}
		keys = append(keys, u.Key)
	}
	return keys
}
