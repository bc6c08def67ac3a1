package site

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSaveLoadRoundTripAndEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "etc", "dcor", "dcor.yaml")
	s := &Site{Kind: "medical", Hostname: "clinic1", FQDN: "clinic1.example.org", Email: "a@b.c",
		Database: Database{Password: "s3cret"},
		CKAN:     map[string]string{"ckan.site_title": "DCOR-med Clinic 1", "ckanext.dcor_schemas.json_resource_schema_dir": "/etc/dcor/schema"}}
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v; want 0600", st.Mode(), err)
	}
	t.Setenv("DCOR_FQDN", "other.example.org")
	t.Setenv("DCOR_TLS_CERT", "/etc/ssl/certs/x.pem")
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != "medical" || got.Hostname != "clinic1" || got.Database.Password != "s3cret" {
		t.Errorf("loaded %+v", got)
	}
	if got.FQDN != "other.example.org" || got.TLS.Cert != "/etc/ssl/certs/x.pem" {
		t.Errorf("env did not override: %+v", got)
	}
	if got.CKAN["ckanext.dcor_schemas.json_resource_schema_dir"] != "/etc/dcor/schema" {
		t.Errorf("dotted ckan keys lost: %v", got.CKAN)
	}
}

func TestLoadMissingAndBad(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "nope.yaml"))
	if !errors.Is(err, ErrNoSiteFile) {
		t.Fatalf("err = %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("kind: [\n"), 0o600)
	if _, err := Load(bad); err == nil {
		t.Fatal("bad YAML accepted")
	}
	os.WriteFile(bad, []byte("kind: castle\n"), 0o600)
	if _, err := Load(bad); err == nil {
		t.Fatal("bad kind accepted")
	}
}

func TestDefaults(t *testing.T) {
	s := &Site{Kind: "production", Hostname: "dcor", FQDN: "dcor.example.org"}
	if s.CertPath() != "/etc/ssl/certs/dcor.example.org.cert" || s.KeyPath() != "/etc/ssl/private/dcor.example.org.key" {
		t.Errorf("cert %s key %s", s.CertPath(), s.KeyPath())
	}
}
