package ckandb

import "testing"

func TestIniURL(t *testing.T) {
	ini := map[string]string{"sqlalchemy.url": "postgresql://u:p@h/db", "empty.url": ""}
	get := func(k string) (string, bool) { v, ok := ini[k]; return v, ok }
	if u, err := IniURL(get, "/etc/ckan/default/ckan.ini"); err != nil || u != ini["sqlalchemy.url"] {
		t.Fatalf("IniURL = %q, %v", u, err)
	}
	delete(ini, "sqlalchemy.url")
	_, err := IniURL(get, "/etc/ckan/default/ckan.ini")
	if err == nil || err.Error() != "/etc/ckan/default/ckan.ini sets no sqlalchemy.url: it names the CKAN database" {
		t.Fatalf("missing key: %v", err)
	}
}
