package runner

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunOutput(t *testing.T) {
	out, err := Output(context.Background(), "sh", "-c", "echo out; echo err >&2")
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "out\n" {
		t.Fatalf("stdout = %q", out)
	}
}

func TestFailureShowsCommandAndTailMasked(t *testing.T) {
	_, err := Run(context.Background(), Cmd{Path: "sh", Args: []string{"-c", "echo the password is hunter2 >&2; exit 3", "hunter2"},
		Secrets: []string{"hunter2"}})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if e.ExitCode != 3 || e.Status != "exit status 3" {
		t.Fatalf("exit = %d %q", e.ExitCode, e.Status)
	}
	msg := err.Error()
	if strings.Contains(msg, "hunter2") {
		t.Fatalf("secret in message: %s", msg)
	}
	if !strings.Contains(msg, "`sh -c") || !strings.Contains(msg, "the password is ****") {
		t.Fatalf("message lacks command or output: %s", msg)
	}
}

func TestNotFound(t *testing.T) {
	_, err := Run(context.Background(), Cmd{Path: "dcor-no-such-program"})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err = %v", err)
	}
}

func TestCancelStopsProgram(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	_, err := Run(ctx, Cmd{Path: "sleep", Args: []string{"30"}, Grace: time.Second})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

func TestCancelKillsAfterGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := Run(ctx, Cmd{Path: "sh", Args: []string{"-c", "trap '' TERM; sleep 30 & wait; sleep 30"}, Grace: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("kill took %v", d)
	}
}

func TestSecretsByEnvironment(t *testing.T) {
	out, err := Output(context.Background(), "sh", "-c", "printf %s \"$PGPASSWORD\"")
	if err != nil || string(out) != "" {
		t.Fatalf("%q %v", out, err)
	}
	var b strings.Builder
	_, err = Run(context.Background(), Cmd{Path: "sh", Args: []string{"-c", "printf %s \"$PGPASSWORD\""},
		ExtraEnv: []string{"PGPASSWORD=s3cret"}, Stdout: &b})
	if err != nil || b.String() != "s3cret" {
		t.Fatalf("%q %v", b.String(), err)
	}
}

// TestChildDiesWithParent: a program started through the runner by a
// process that is then killed with SIGKILL dies too (parent-death signal).
func TestChildDiesWithParent(t *testing.T) {
	if os.Getenv("RUNNER_TEST_PARENT") == "1" {
		p, err := Start(context.Background(), Cmd{Path: "sleep", Args: []string{"60"}})
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(strconv.Itoa(p.Pid()) + "\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	parent := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithParent$")
	parent.Env = append(os.Environ(), "RUNNER_TEST_PARENT=1")
	stdout, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, _ := stdout.Read(buf)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		parent.Process.Kill()
		t.Fatalf("child pid: %q", buf[:n])
	}
	parent.Process.Kill()
	parent.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); err != nil {
			return // gone
		}
		// A zombie reparented to init counts as gone once reaped; check its state.
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("child %d outlived its killed parent", pid)
}

// A program that asks for a password on /dev/tty (Python's getpass, as
// `ckan user add` does) must read it from stdin under NoTerminal: it
// has no controlling terminal, so /dev/tty cannot be opened.
func TestNoTerminal(t *testing.T) {
	var stdout strings.Builder
	_, err := Run(context.Background(), Cmd{Path: "sh", Args: []string{"-c", `
if (exec 3</dev/tty) 2>/dev/null; then echo "has a terminal"; exit 3; fi
read -r a; echo "read $a"; ps -o sid= -p $$ | tr -d ' '; echo $$`},
		Stdin: strings.NewReader("line\n"), Stdout: &stdout, NoTerminal: true})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(stdout.String())
	if len(lines) != 4 || lines[1] != "line" || lines[2] != lines[3] {
		t.Fatalf("want the stdin line and a session of its own, got %q", stdout.String())
	}
}
