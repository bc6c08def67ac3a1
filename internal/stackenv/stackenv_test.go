package stackenv

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env")
	os.WriteFile(p, []byte(`# comment
DCOR_STACK_ROOT=/
DCOR_STACK_CKAN_INI=/s/ckan.ini
DCOR_STACK_VENV=/usr/lib/ckan/default
DCOR_STACK_URL=https://dcor.test
DCOR_STACK_HOST=dcor.test
DCOR_STACK_CERT=/s/cert
DCOR_STACK_PG=postgresql://postgres:pw@127.0.0.1:5432/ckan_default
DCOR_STACK_RUN="nsenter --target `+strconv.Itoa(os.Getpid())+` --mount --net --"
DCOR_STACK_STATE=/s
`), 0o600)
	e, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if e.PG != "postgresql://postgres:pw@127.0.0.1:5432/ckan_default" || e.Lane != "2.11" || e.CKANVersion != "2.11.5" {
		t.Errorf("loaded %+v", e)
	}
	want := []string{"nsenter", "--target", strconv.Itoa(os.Getpid()), "--mount", "--net", "--", "pg_dump", "-V"}
	if got := e.Command("pg_dump", "-V"); !reflect.DeepEqual(got, want) {
		t.Errorf("Command = %q, want %q", got, want)
	}
	if !e.Alive() {
		t.Error("Alive = false for this process's namespace")
	}
	e.Run[2] = "999999999"
	if e.Alive() {
		t.Error("Alive = true for a pid that does not exist")
	}
}

func TestLoadRefusesIncompleteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env")
	os.WriteFile(p, []byte("DCOR_STACK_ROOT=/\n"), 0o600)
	if _, err := Load(p); err == nil {
		t.Fatal("an env file without DCOR_STACK_CKAN_INI loaded")
	}
	os.WriteFile(p, []byte("garbage\n"), 0o600)
	if _, err := Load(p); err == nil {
		t.Fatal("a line without = loaded")
	}
}
