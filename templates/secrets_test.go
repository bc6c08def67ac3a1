package templates

import (
	"net/url"
	"strings"
	"testing"
)

// TestMaskedHidesSecrets: the database and SMTP passwords never show in
// Masked, everything else does.
func TestMaskedHidesSecrets(t *testing.T) {
	p := siteParams
	p.DBPassword = "db-pw-1234"
	p.SMTPPassword = "smtp-pw-5678"
	for _, tpl := range List() {
		out, err := Masked(tpl.Name, p)
		if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		if strings.Contains(s, "db-pw-1234") || strings.Contains(s, "smtp-pw-5678") {
			t.Errorf("%s shows a password:\n%s", tpl.Name, s)
		}
		full, _ := Render(tpl.Name, p)
		if len(strings.Split(s, "\n")) != len(strings.Split(string(full), "\n")) {
			t.Errorf("%s: masking changed the number of lines", tpl.Name)
		}
		if (string(full) != s) != tpl.Secret {
			t.Errorf("%s: Secret = %v, but masking changes it: %v", tpl.Name, tpl.Secret, string(full) != s)
		}
	}
	out, _ := Masked("ckan-options", p)
	for _, want := range []string{
		"sqlalchemy.url = postgresql://ckan_default:****@localhost/ckan_default\n",
		"smtp.password = ****\n",
		"ckan.site_url = https://dcor.mpl.mpg.de\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("masked ckan-options lacks %q", want)
		}
	}
}

// TestOptionsDatabaseParts: user, host, port and name go into
// sqlalchemy.url escaped, with DCOR's defaults when empty.
func TestOptionsDatabaseParts(t *testing.T) {
	opts, err := Options(Params{Kind: "testing", DBPassword: "pw", DBUser: "u%1", DBHost: "::1", DBPort: "5433", DBName: "d/b"})
	if err != nil {
		t.Fatal(err)
	}
	v := optionMap(opts)["sqlalchemy.url"].Value
	u, err := url.Parse(strings.ReplaceAll(v, "%%", "%"))
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	if u.User.Username() != "u%1" || pw != "pw" || u.Host != "[::1]:5433" || u.Path != "/d/b" {
		t.Errorf("sqlalchemy.url = %s", v)
	}
	for _, p := range []Params{{DBHost: "a/b"}, {DBHost: "a@b"}, {DBPort: "x"}, {DBPort: "0"}, {DBUser: "a\nb"}} {
		p.Kind = "testing"
		if _, err := Options(p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}
