package pymeta

import (
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVersions reads wheels' METADATA, eggs' PKG-INFO and a develop
// install's .egg-link, matching names as pip does; packages that are
// not installed and similar names are left out.
func TestVersions(t *testing.T) {
	venv := t.TempDir()
	sp := filepath.Join(venv, "lib", "python3.10", "site-packages")
	write(t, filepath.Join(sp, "ckan-2.11.5.dist-info", "METADATA"), "Metadata-Version: 2.1\nName: ckan\nVersion: 2.11.5\n\nVersion: 9\n")
	write(t, filepath.Join(sp, "ckanext_dcor_depot-0.18.2.dist-info", "METADATA"), "Name: ckanext-dcor_depot\nVersion: 0.18.2\n")
	write(t, filepath.Join(sp, "dcor_shared-0.9.0-py3.10.egg-info", "PKG-INFO"), "Name: dcor_shared\nVersion: 0.9.0\n")
	write(t, filepath.Join(sp, "ckanext-dc-view.egg-link"), filepath.Join(venv, "src", "dcview")+"\n.\n")
	write(t, filepath.Join(venv, "src", "dcview", "ckanext_dc_view.egg-info", "PKG-INFO"), "Name: ckanext-dc_view\nVersion: 0.7.1.dev3\n")
	write(t, filepath.Join(sp, "ckanext_dc_serve-1.0.dist-info", "METADATA"), "Name: x\n\nVersion: 1.0\n") // no header: not read
	got := Versions(venv, []string{"CKAN", "ckanext-dcor_depot", "dcor_shared", "ckanext.dc_view", "ckanext-dc_serve", "ckanext-dcor_theme"})
	want := map[string]string{"ckan": "2.11.5", "ckanext-dcor-depot": "0.18.2", "dcor-shared": "0.9.0", "ckanext-dc-view": "0.7.1.dev3"}
	if len(got) != len(want) {
		t.Errorf("Versions = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if v := Version(venv, "ckan"); v != "2.11.5" {
		t.Errorf("Version(ckan) = %q", v)
	}
	if v := Version(t.TempDir(), "ckan"); v != "" {
		t.Errorf("Version in an empty venv = %q", v)
	}
}
