package host

import (
	"io"
	"os"
	"path/filepath"
	"testing"
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
