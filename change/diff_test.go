package change

import (
	"strings"
	"testing"
)

func TestMaskLineHidesSecretsOnly(t *testing.T) {
	cases := map[string]string{
		"sqlalchemy.url = postgresql://u:hunter2@db/ckan": "sqlalchemy.url = postgresql://u:****@db/ckan",
		"beaker.session.secret = abc123":                  "beaker.session.secret = ****",
		"#smtp.password = your_password":                  "#smtp.password = ****",
		"ckan.site_title = DCOR":                          "ckan.site_title = DCOR",
	}
	for in, want := range cases {
		if got := MaskSecrets("/etc/ckan/default/ckan.ini", in); got != want {
			t.Errorf("MaskSecrets(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDiffShowsPasswordChangeMasked(t *testing.T) {
	old := []byte("[app:main]\nsqlalchemy.url = postgresql://u:old@db/ckan\n")
	new := []byte("[app:main]\nsqlalchemy.url = postgresql://u:new@db/ckan\n")
	d := UnifiedDiff("/etc/ckan/default/ckan.ini", old, new, func(l string) string { return MaskSecrets("", l) })
	if !strings.Contains(d, "-sqlalchemy.url = postgresql://u:****@db/ckan") || !strings.Contains(d, "+sqlalchemy.url = postgresql://u:****@db/ckan") {
		t.Errorf("diff does not show the masked change:\n%s", d)
	}
	if strings.Contains(d, "old") || strings.Contains(d, "new@") {
		t.Errorf("diff leaks a password:\n%s", d)
	}
}
