package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/testtool"
)

// The in-tree PEP 517 backend of the generated projects: builds wheels
// and PEP 660 editable wheels with the standard library only (no
// setuptools, no network), and fails to build when a FAIL file exists.
const testBackend = `import base64, hashlib, os, zipfile
HERE = os.path.dirname(os.path.abspath(__file__))
def _meta():
    r = lambda f: open(os.path.join(HERE, f)).read().strip()
    return r("NAME"), r("VERSION")
def _dist(n): return n.replace("-", "_")
def _metadata(n, v): return "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (n, v)
def get_requires_for_build_wheel(config_settings=None): return []
get_requires_for_build_editable = get_requires_for_build_wheel
def prepare_metadata_for_build_wheel(md, config_settings=None):
    n, v = _meta(); di = "%s-%s.dist-info" % (_dist(n), v)
    os.makedirs(os.path.join(md, di))
    open(os.path.join(md, di, "METADATA"), "w").write(_metadata(n, v))
    return di
prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
def _wheel(wd, files):
    if os.path.exists(os.path.join(HERE, "FAIL")):
        raise SystemExit("this version does not build (test failure injection)")
    n, v = _meta(); d = _dist(n)
    fn = "%s-%s-py3-none-any.whl" % (d, v); di = "%s-%s.dist-info" % (d, v)
    files = dict(files)
    files[di + "/METADATA"] = _metadata(n, v)
    files[di + "/WHEEL"] = "Wheel-Version: 1.0\nGenerator: dcor-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    rec = []
    with zipfile.ZipFile(os.path.join(wd, fn), "w") as z:
        for p, s in files.items():
            b = s.encode(); z.writestr(p, b)
            rec.append("%s,sha256=%s,%d" % (p, base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode(), len(b)))
        rec.append(di + "/RECORD,,")
        z.writestr(di + "/RECORD", "\n".join(rec) + "\n")
    return fn
def build_wheel(wd, config_settings=None, metadata_directory=None):
    n, v = _meta()
    return _wheel(wd, {_dist(n) + "_mod.py": "VERSION = %r\n" % v})
def build_editable(wd, config_settings=None, metadata_directory=None):
    n, v = _meta()
    return _wheel(wd, {"__editable__.%s.pth" % _dist(n): HERE + "\n"})
`

const testPyproject = "[build-system]\nrequires = []\nbuild-backend = \"_backend\"\nbackend-path = [\".\"]\n"

// writeWheel writes a tiny pure-Python wheel of name==version into dir.
func writeWheel(t *testing.T, dir, name, version string, requires ...string) {
	t.Helper()
	d := strings.ReplaceAll(name, "-", "_")
	di := fmt.Sprintf("%s-%s.dist-info", d, version)
	meta := fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)
	for _, r := range requires {
		meta += "Requires-Dist: " + r + "\n"
	}
	files := [][2]string{
		{d + "_mod.py", fmt.Sprintf("VERSION = %q\n", version)},
		{di + "/METADATA", meta},
		{di + "/WHEEL", "Wheel-Version: 1.0\nGenerator: dcor-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range files {
		w, err := z.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1]))
		sum := sha256.Sum256([]byte(f[1]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f[0], base64.RawURLEncoding.EncodeToString(sum[:]), len(f[1]))
	}
	record.WriteString(di + "/RECORD,,\n")
	w, _ := z.Create(di + "/RECORD")
	w.Write([]byte(record.String()))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, fmt.Sprintf("%s-%s-py3-none-any.whl", d, version)), buf.String())
}

// writeProject writes a project built by the in-tree backend.
func writeProject(t *testing.T, dir, name, version string, fail bool) {
	t.Helper()
	mustWrite(t, filepath.Join(dir, "pyproject.toml"), testPyproject)
	mustWrite(t, filepath.Join(dir, "_backend.py"), testBackend)
	mustWrite(t, filepath.Join(dir, "NAME"), name+"\n")
	mustWrite(t, filepath.Join(dir, "VERSION"), version+"\n")
	if fail {
		mustWrite(t, filepath.Join(dir, "FAIL"), "")
	}
}

// writeSdist writes an sdist of a project of the in-tree backend.
func writeSdist(t *testing.T, dir, name, version string, fail bool) {
	t.Helper()
	src := t.TempDir()
	writeProject(t, src, name, version, fail)
	mustWrite(t, filepath.Join(src, "PKG-INFO"), fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version))
	base := fmt.Sprintf("%s-%s", strings.ReplaceAll(name, "-", "_"), version)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		tw.WriteHeader(&tar.Header{Name: base + "/" + e.Name(), Mode: 0o644, Size: int64(len(b)), ModTime: time.Now()})
		tw.Write(b)
	}
	tw.Close()
	gz.Close()
	mustWrite(t, filepath.Join(dir, base+".tar.gz"), buf.String())
}

func mustWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sh(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	c := exec.Command(name, args...)
	c.Dir = dir
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestUpdateVenv runs `dcor update` against a real virtualenv and real pip
// with a local package index (no network): the table row for the fake
// CKAN, --check (text, JSON), an update whose fourth package does not
// build (pip freeze and the checkout's commit afterwards exactly as
// before), the update that succeeds, and --check on the up-to-date venv.
func TestUpdateVenv(t *testing.T) {
	testtool.Need(t, "git")
	python := testtool.Need(t, "python3")
	if out, err := exec.Command(python, "-c", "import venv, ensurepip").CombinedOutput(); err != nil {
		testtool.Missing(t, "python3 has no venv/ensurepip (apt-get install python3-venv): "+string(out))
	}
	tmp := t.TempDir()
	base, okDepot, badDepot := filepath.Join(tmp, "base"), filepath.Join(tmp, "ok"), filepath.Join(tmp, "bad")
	writeWheel(t, base, "ckan", "2.10.3")
	writeWheel(t, base, "fakedep", "1.0")
	writeWheel(t, base, "fakedep", "2.0")
	writeWheel(t, base, "dcor_shared", "0.5.5")
	writeWheel(t, base, "dcor_shared", "0.5.6", "fakedep>=2") // the 2.10.3 row's version
	writeWheel(t, base, "dcor_shared", "0.6.0")               // newer than the row: never installed
	writeWheel(t, base, "ckanext-dc_log_view", "0.3.3")       // the row's version
	writeWheel(t, base, "ckanext-dc_log_view", "0.3.4")       // installed: newer, kept
	writeWheel(t, base, "ckanext-dc_serve", "0.14.0")
	writeWheel(t, base, "ckanext-dc_serve", "0.14.1")
	writeWheel(t, base, "ckanext-dcor_depot", "0.13.7")
	writeWheel(t, okDepot, "ckanext-dcor_depot", "0.13.8")
	writeSdist(t, badDepot, "ckanext-dcor_depot", "0.13.8", true)

	// ckanext-dc_view: an editable install from a clone whose origin has
	// one new commit.
	gitEnv := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null"}
	for _, e := range gitEnv {
		kv := strings.SplitN(e, "=", 2)
		t.Setenv(kv[0], kv[1])
	}
	origin, checkout := filepath.Join(tmp, "origin"), filepath.Join(tmp, "ckanext-dc_view")
	writeProject(t, origin, "ckanext-dc_view", "0.8.1", false)
	sh(t, origin, "git", "init", "-q", "-b", "main")
	sh(t, origin, "git", "add", ".")
	sh(t, origin, "git", "commit", "-qm", "0.8.1")
	sh(t, tmp, "git", "clone", "-q", origin, checkout)
	mustWrite(t, filepath.Join(origin, "VERSION"), "0.8.2\n")
	sh(t, origin, "git", "commit", "-qam", "0.8.2")
	newHead := sh(t, origin, "git", "rev-parse", "HEAD")
	oldHead := sh(t, checkout, "git", "rev-parse", "HEAD")

	venv := filepath.Join(tmp, "venv")
	start := time.Now()
	sh(t, tmp, python, "-m", "venv", venv)
	t.Setenv("PIP_NO_INDEX", "1")
	t.Setenv("PIP_NO_CACHE_DIR", "1")
	t.Setenv("PIP_CONFIG_FILE", "/dev/null")
	t.Setenv("PIP_FIND_LINKS", base)
	py := filepath.Join(venv, "bin", "python")
	sh(t, tmp, py, "-m", "pip", "install", "-q", "ckan==2.10.3", "fakedep==1.0", "dcor_shared==0.5.5",
		"ckanext-dc_log_view==0.3.4", "ckanext-dc_serve==0.14.0", "ckanext-dcor_depot==0.13.7")
	sh(t, tmp, py, "-m", "pip", "install", "-q", "-e", checkout)
	t.Logf("virtualenv and packages set up in %v", time.Since(start).Round(time.Millisecond))
	freeze := func() string { return sh(t, tmp, py, "-m", "pip", "freeze", "--all") }
	root := t.TempDir()
	dcor := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"--root", root, "update", "--venv", venv}, args...), strings.NewReader(""), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	before := freeze()

	t.Run("check", func(t *testing.T) {
		t.Setenv("PIP_FIND_LINKS", base+" "+okDepot)
		code, out, errOut := dcor("--check")
		if code != 1 {
			t.Fatalf("exit %d, want 1 (updates pending)\n%s%s", code, out, errOut)
		}
		for _, want := range []string{
			"compatible versions: the newest row for CKAN 2.10 (line 14, CKAN 2.10.3)",
			"dcor_shared            0.5.5 → 0.5.6",
			"ckanext-dc_log_view    0.3.4: kept: 0.3.4 is newer than the table's 0.3.3",
			"ckanext-dc_serve       0.14.0 → 0.14.1",
			"ckanext-dcor_depot     0.13.7 → 0.13.8",
			"ckanext-dc_view        0.8.1 (" + oldHead[:12] + ") → " + newHead[:12],
			"ckanext-dcor_schemas   not installed: skipped",
			"fakedep                1.0 → 2.0 (dependency)",
			"would update dcor_shared 0.5.5 → 0.5.6 (pip install --upgrade dcor_shared==0.5.6)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("--check does not say %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "\n  dcor_control ") {
			t.Errorf("dcor_control is not installed and must not be listed:\n%s", out)
		}
		if got := freeze(); got != before {
			t.Errorf("--check changed the virtualenv:\n%s\nwas\n%s", got, before)
		}
		code, out, _ = dcor("--check", "--json")
		var doc struct {
			Pending bool `json:"pending"`
			Table   struct {
				Row struct{ Line int } `json:"row"`
			} `json:"table"`
			Packages []struct{ Name, Kind, Installed, Target string } `json:"packages"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 || !doc.Pending || doc.Table.Row.Line != 14 {
			t.Fatalf("--check --json: exit %d, %v, %+v\n%s", code, err, doc, out)
		}
	})

	t.Run("failure puts everything back", func(t *testing.T) {
		t.Setenv("PIP_FIND_LINKS", base+" "+badDepot)
		code, out, errOut := dcor()
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
		}
		if !strings.Contains(out, "put back as it was") || !strings.Contains(out, "ERROR: Could not build wheels for ckanext-dcor_depot") {
			t.Errorf("the output does not say that the update failed and was put back:\n%s", out)
		}
		if got := freeze(); got != before {
			t.Errorf("pip freeze after the failed update:\n%s\nwant, as before:\n%s", got, before)
		}
		if h := sh(t, checkout, "git", "rev-parse", "HEAD"); h != oldHead {
			t.Errorf("the checkout is at %s, want %s as before", h, oldHead)
		}
	})

	t.Run("update", func(t *testing.T) {
		t.Setenv("PIP_FIND_LINKS", base+" "+okDepot)
		code, out, errOut := dcor()
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{"updated dcor_shared from 0.5.5 to 0.5.6", "updated ckanext-dc_serve from 0.14.0 to 0.14.1",
			"updated ckanext-dcor_depot from 0.13.7 to 0.13.8", "updated ckanext-dc_view from 0.8.1 to 0.8.2"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		got := freeze()
		for _, want := range []string{"dcor_shared==0.5.6", "fakedep==2.0", "ckanext-dc_log_view==0.3.4", "ckanext-dcor_depot==0.13.8"} {
			if !strings.Contains(got, want) {
				t.Errorf("pip freeze lacks %s:\n%s", want, got)
			}
		}
		if h := sh(t, checkout, "git", "rev-parse", "HEAD"); h != newHead {
			t.Errorf("the checkout is at %s, want origin's %s", h, newHead)
		}
	})

	t.Run("check when up to date", func(t *testing.T) {
		t.Setenv("PIP_FIND_LINKS", base+" "+okDepot)
		start := time.Now()
		code, out, errOut := dcor("--check")
		took := time.Since(start)
		if code != 0 || !strings.Contains(out, "up to date: nothing to update") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		// The goal is under 3 s on a quiet machine (README); CI shares its
		// two cores with -race builds of every package, so only a run an
		// order of magnitude off fails here.
		t.Logf("dcor update --check on an up-to-date virtualenv: %v (goal < 3 s)", took.Round(time.Millisecond))
		if took > 15*time.Second {
			t.Errorf("dcor update --check took %v, goal < 3 s", took)
		}
	})
}
