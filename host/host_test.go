package host

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPathUnderRoot(t *testing.T) {
	h := New("/srv/img")
	if got := h.Path("/etc/ckan/default/ckan.ini"); got != "/srv/img/etc/ckan/default/ckan.ini" {
		t.Errorf("Path = %s", got)
	}
	// ".." cannot climb out of the root
	if got := h.Path("/data/../../etc/passwd"); got != "/srv/img/etc/passwd" {
		t.Errorf("Path = %s", got)
	}
	if got := h.HostPath("/srv/img/etc/x"); got != "/etc/x" {
		t.Errorf("HostPath = %s", got)
	}
	if New("/").Path("/etc/x") != "/etc/x" || !New("").Live() || h.Live() {
		t.Error("live host paths")
	}
}

func TestReplaceFileKeepsDatedCopyAndMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ckan.ini")
	os.WriteFile(p, []byte("old\n"), 0o640)
	now := time.Date(2026, 11, 22, 19, 30, 5, 0, time.UTC)
	backup, err := ReplaceFile(p, []byte("new\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(backup) != "ckan.ini.dcor-20261122-193005" {
		t.Errorf("backup = %s", backup)
	}
	if b, _ := os.ReadFile(backup); string(b) != "old\n" {
		t.Errorf("backup holds %q", b)
	}
	if b, _ := os.ReadFile(p); string(b) != "new\n" {
		t.Errorf("file holds %q", b)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode())
	}
	// a second change in the same second does not overwrite the first copy
	backup2, err := ReplaceFile(p, []byte("newer\n"), now)
	if err != nil || backup2 == backup {
		t.Fatalf("second backup %s, %v", backup2, err)
	}
	if b, _ := os.ReadFile(backup); string(b) != "old\n" {
		t.Errorf("first copy overwritten: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "dcor-tmp") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

func TestReplaceFileThroughSymlinkAndDirectory(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.conf")
	os.WriteFile(target, []byte("a\n"), 0o644)
	link := filepath.Join(dir, "link.conf")
	os.Symlink(target, link)
	if _, err := ReplaceFile(link, []byte("b\n"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("symlink replaced by a file")
	}
	if b, _ := os.ReadFile(target); string(b) != "b\n" {
		t.Errorf("target holds %q", b)
	}
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	if _, err := ReplaceFile(filepath.Join(dir, "d"), []byte("x"), time.Now()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("err = %v", err)
	}
}

func TestWriteFileAtomicFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "missing-dir", "f")
	if err := WriteFileAtomic(p, []byte("x"), 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	if err := WriteFileAtomic(filepath.Join(dir, "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "f")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
}

// modeProbe is a reader that records the modes of the temporary files in
// dir while the content is being written.
type modeProbe struct {
	dir   string
	data  []byte
	modes []os.FileMode
}

func (m *modeProbe) Read(p []byte) (int, error) {
	tmps, _ := filepath.Glob(filepath.Join(m.dir, ".*.dcor-tmp-*"))
	for _, t := range tmps {
		if info, err := os.Stat(t); err == nil {
			m.modes = append(m.modes, info.Mode().Perm())
		}
	}
	if len(m.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, m.data[:1])
	m.data = m.data[n:]
	return n, nil
}

// A file that will be 0644 is 0600 while it is incomplete (issue 9, B.8:
// temp files holding the database password were world-readable).
func TestWriteStreamAtomicTempIs0600(t *testing.T) {
	dir := t.TempDir()
	probe := &modeProbe{dir: dir, data: []byte("sqlalchemy.url = postgresql://u:secret@db/ckan\n")}
	if err := WriteStreamAtomic(filepath.Join(dir, "ckan.ini"), probe, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(probe.modes) == 0 {
		t.Fatal("no temporary file seen while writing")
	}
	for _, m := range probe.modes {
		if m != 0o600 {
			t.Fatalf("temporary file was %04o while incomplete", m)
		}
	}
	info, _ := os.Stat(filepath.Join(dir, "ckan.ini"))
	if info.Mode().Perm() != 0o644 {
		t.Fatalf("final mode %04o", info.Mode().Perm())
	}
}
