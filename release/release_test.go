// Package release tests what `make release` builds (scripts/release.sh):
// the static binary starts with no shared library at all, reads the real
// .rtdc measurement file with its static HDF5, and the .deb installs with
// dpkg -i into a minimal Debian chroot, where dcor runs.
package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/resourcetest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// built is the release that scripts/release.sh built once for all tests.
var built struct {
	once          sync.Once
	dir           string
	bin, deb      string
	output        string
	err           error
	missingReason string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// release runs scripts/release.sh (the flags of make release) into a
// temporary directory once, and returns the static binary and the .deb.
func release(t *testing.T) (bin, deb string) {
	t.Helper()
	built.once.Do(func() {
		for _, p := range []string{"go", "gcc", "dpkg-deb", "readelf", "git"} {
			if _, err := exec.LookPath(p); err != nil {
				built.missingReason = p + " is not installed (scripts/deps.sh release installs it)"
				return
			}
		}
		for _, lib := range []string{"libhdf5.a", "libaec.a", "libsz.a", "libz.a"} {
			if m, _ := filepath.Glob("/usr/lib/*/" + lib); len(m) == 0 {
				if m, _ := filepath.Glob("/usr/lib/*/hdf5/serial/" + lib); len(m) == 0 {
					built.missingReason = lib + " is not installed (scripts/deps.sh release installs libhdf5-dev, libaec-dev, zlib1g-dev)"
					return
				}
			}
		}
		built.dir, built.err = os.MkdirTemp("", "dcor-release-")
		if built.err != nil {
			return
		}
		cmd := exec.Command("../scripts/release.sh", built.dir)
		out, err := cmd.CombinedOutput()
		built.output = string(out)
		if err != nil {
			built.err = err
			return
		}
		bins, _ := filepath.Glob(filepath.Join(built.dir, "dcor-linux-*"))
		debs, _ := filepath.Glob(filepath.Join(built.dir, "dcor_*.deb"))
		if len(bins) != 1 || len(debs) != 1 {
			built.err = errors.New("release.sh did not write one binary and one .deb")
			return
		}
		built.bin, built.deb = bins[0], debs[0]
	})
	if built.missingReason != "" {
		testtool.Missing(t, built.missingReason)
	}
	if built.err != nil {
		t.Fatalf("scripts/release.sh: %v\n%s", built.err, built.output)
	}
	return built.bin, built.deb
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testtool.Missing(t, "chroot needs root (the tests run as root)")
	}
}

// gitVersion is what make release names the version.
func gitVersion(t *testing.T) string {
	out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		t.Fatalf("git describe: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// chrootEnv is the environment of programs run in a chroot.
var chrootEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "HOME=/root"}

func runChroot(dir string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(chrootPath(), append([]string{dir}, args...)...)
	cmd.Env = chrootEnv
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func chrootPath() string {
	if p, err := exec.LookPath("chroot"); err == nil {
		return p
	}
	return "/usr/sbin/chroot"
}

// TestStaticBinaryInEmptyChroot: the binary starts in a root directory
// that holds nothing but itself (no libc, no loader, no /etc, no /proc).
func TestStaticBinaryInEmptyChroot(t *testing.T) {
	needRoot(t)
	bin, _ := release(t)
	root := t.TempDir()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dcor"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runChroot(root, "/dcor", "version")
	if err != nil {
		t.Fatalf("chroot %s /dcor version: %v\nstdout: %s\nstderr: %s", root, err, out, errOut)
	}
	want := "dcor " + gitVersion(t) + " ("
	if !strings.HasPrefix(out, want) {
		t.Errorf("dcor version in the empty chroot: %q, want it to start with %q", out, want)
	}
	// Reading an .rtdc file initialises HDF5; with no file at all the
	// check must still answer in one line, not crash on a missing library.
	out, errOut, err = runChroot(root, "/dcor", "--root", "/", "inspect", "--check")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(errOut, "this host is not configured") {
		t.Errorf("dcor inspect --check in the empty chroot: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
}

// TestStaticBinaryReadsRealRTDC: the resources check of the static binary
// reads the real calibration_beads_47.rtdc (static HDF5, no plugins) and
// still tells truncated files and files without an event count apart.
func TestStaticBinaryReadsRealRTDC(t *testing.T) {
	bin, _ := release(t)
	beads := testtool.SharedTestdata(t, "calibration_beads_47.rtdc")
	cluster := pgtest.Start(t)
	url := cluster.CreateDatabase(t, "ckan_release", "ckan_release", "release-pw")
	cluster.Exec(t, url, pgtest.CKANSchemaFor(t))
	root := t.TempDir()
	if err := resourcetest.Build(root, url, beads); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--root", root, "inspect", "--only", "resources", "--check")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("dcor inspect --only resources --check: %v (want exit 1: the tree has damaged files)\nstdout: %s\nstderr: %s", err, o.String(), e.String())
	}
	out := o.String()
	for _, want := range []string{
		".rtdc files that do not open with HDF5 or hold no events: 2",
		resourcetest.Truncated + ": ",
		"cannot open as HDF5 (truncated or damaged)",
		resourcetest.NoEventCount + ": ",
		`no attribute "experiment:event count"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The real measurement and the good files pass: HDF5 read their event counts.
	for _, id := range []string{resourcetest.Beads, resourcetest.Live, resourcetest.LiveLinked} {
		if strings.Contains(out, id+":") {
			t.Errorf("%s is reported, but its .rtdc file is good:\n%s", id, out)
		}
	}
	if e.Len() != 0 {
		t.Errorf("stderr: %s", e.String())
	}
}

// debianMirror is the first Debian mirror of apt's sources (deb822
// "URIs:" or one-line "deb URL SUITE" form), not the security archive.
func debianMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append([]string{"/etc/apt/sources.list"}, files...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			var uri string
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:":
				uri = fields[1]
			case len(fields) >= 3 && fields[0] == "deb":
				uri = fields[1]
				if strings.HasPrefix(uri, "[") { // deb [options] URL
					for i, f := range fields {
						if strings.HasSuffix(f, "]") && i+1 < len(fields) {
							uri = fields[i+1]
							break
						}
					}
				}
			}
			if strings.HasPrefix(uri, "http") && strings.Contains(uri, "/debian") && !strings.Contains(uri, "security") {
				return strings.TrimSuffix(uri, "/")
			}
		}
	}
	return "http://deb.debian.org/debian"
}

// bookwormChroot returns a minimal Debian bookworm made by debootstrap,
// cached in /var/cache/dcor-test/chroot-bookworm-HASH (HASH of the mirror
// and the options): built under a temporary name, marked complete, then
// renamed, so that an interrupted run never leaves a half chroot in use.
func bookwormChroot(t *testing.T) string {
	t.Helper()
	debootstrap := testtool.Need(t, "debootstrap", "/usr/sbin", "/sbin")
	mirror := debianMirror()
	args := []string{"--variant=minbase", "bookworm"}
	sum := sha256.Sum256([]byte(strings.Join(append(args, mirror, "v1"), "\n")))
	cache := "/var/cache/dcor-test"
	dir := filepath.Join(cache, "chroot-bookworm-"+hex.EncodeToString(sum[:])[:12])
	const marker = ".dcor-test-complete"
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
		return dir
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	start := time.Now()
	cmd := exec.Command(debootstrap, append(args, tmp, mirror)...)
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("debootstrap %s %s: %v\n%s", strings.Join(args, " "), mirror, err, tail(out, 3000))
	}
	t.Logf("cold debootstrap --variant=minbase bookworm from %s: %s (load %s)", mirror, time.Since(start).Round(time.Second), testtool.LoadAvg())
	if err := os.WriteFile(filepath.Join(tmp, marker), []byte(mirror+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// TestDebInstallsInDebianChroot: dpkg -i of the .deb into a copy of a
// minimal bookworm, then dcor version and dcor --root / inspect --check
// there (an unconfigured host: exit 1 and the advice to run dcor init).
func TestDebInstallsInDebianChroot(t *testing.T) {
	needRoot(t)
	_, deb := release(t)
	cached := bookwormChroot(t)
	root := filepath.Join(t.TempDir(), "bookworm")
	if out, err := exec.Command("cp", "-a", cached, root).CombinedOutput(); err != nil {
		t.Fatalf("copy the chroot: %v\n%s", err, out)
	}
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp", filepath.Base(deb)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := runChroot(root, "dpkg", "-i", "/tmp/"+filepath.Base(deb)); err != nil {
		t.Fatalf("dpkg -i in the chroot: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	for _, f := range []string{"/usr/bin/dcor", "/etc/dcor", "/usr/share/man/man8/dcor.8.gz", "/usr/share/man/man8/dcor-inspect.8.gz",
		"/usr/share/bash-completion/completions/dcor", "/usr/share/zsh/vendor-completions/_dcor", "/usr/share/fish/vendor_completions.d/dcor.fish",
		"/lib/systemd/system/dcor-backup.service", "/lib/systemd/system/dcor-backup.timer"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("the .deb did not install %s: %v", f, err)
		}
	}
	// Installed disabled: nothing wants the timer.
	if m, _ := filepath.Glob(filepath.Join(root, "etc/systemd/system/*/dcor-backup.timer")); len(m) > 0 {
		t.Errorf("the backup timer is enabled after dpkg -i: %v", m)
	}
	// The text dcor schedule backup --systemd writes, for /usr/bin/dcor.
	service, _ := os.ReadFile(filepath.Join(root, "lib/systemd/system/dcor-backup.service"))
	timer, _ := os.ReadFile(filepath.Join(root, "lib/systemd/system/dcor-backup.timer"))
	wantService, wantTimer := backup.SystemdUnits("/usr/bin/dcor encrypted-database-backup --quiet", 0, 2)
	if !bytes.Equal(service, wantService) || !bytes.Equal(timer, wantTimer) {
		t.Errorf("packaged units differ from backup.SystemdUnits:\n%s\n%s", service, timer)
	}
	if !regexp.MustCompile(`(?m)^ExecStart=/usr/bin/dcor encrypted-database-backup --quiet$`).Match(service) {
		t.Errorf("packaged dcor-backup.service:\n%s", service)
	}

	out, errOut, err := runChroot(root, "dcor", "version")
	if err != nil || !strings.HasPrefix(out, "dcor "+gitVersion(t)+" (") {
		t.Errorf("chroot dcor version: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	out, errOut, err = runChroot(root, "dcor", "--root", "/", "inspect", "--check")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("chroot dcor --root / inspect --check: %v, want exit 1\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	for _, want := range []string{
		"this host is not configured: no site file and no ckan.ini (looked for /etc/dcor/dcor.yaml and /etc/ckan/default/ckan.ini)",
		"Run `dcor init --kind KIND --fqdn FQDN --email EMAIL` first",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("chroot dcor --root / inspect --check: stderr lacks %q:\n%s", want, errOut)
		}
	}
}
