package inspect

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/ckanini"
)

// setIniURL replaces sqlalchemy.url in the sample host's ckan.ini.
func setIniURL(t *testing.T, dir, raw string) string {
	t.Helper()
	p := filepath.Join(dir, "etc/ckan/default/ckan.ini")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^sqlalchemy\.url = .*$`)
	if !re.Match(data) {
		t.Fatal("the sample ckan.ini has no sqlalchemy.url line")
	}
	data = re.ReplaceAll(data, []byte("sqlalchemy.url = "+strings.ReplaceAll(raw, "$", "$$")))
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// iniURL is the raw sqlalchemy.url of the ckan.ini at p.
func iniURL(t *testing.T, p string) string {
	t.Helper()
	f, err := ckanini.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := f.GetRaw("app:main", "sqlalchemy.url")
	return v
}

func urlFindings(rep *Report) []*Finding {
	var out []*Finding
	for _, f := range rep.Findings {
		if f.Key == "sqlalchemy.url" {
			out = append(out, f)
		}
	}
	return out
}

// The database may be elsewhere than localhost: dcor manages the password
// of sqlalchemy.url only, unless the site file names user, host, port or
// database.
func TestDatabaseURLKeepsWhereTheDatabaseIs(t *testing.T) {
	cases := []struct {
		name, site, url, want string
	}{
		{"elsewhere, right password", "", "postgresql://ckan_default:demo-db-pass@127.0.0.1:55444/ckan_default",
			"postgresql://ckan_default:demo-db-pass@127.0.0.1:55444/ckan_default"},
		{"elsewhere, wrong password", "", "postgresql://ckan_default:old@127.0.0.1:55444/ckan_default",
			"postgresql://ckan_default:demo-db-pass@127.0.0.1:55444/ckan_default"},
		{"other user and name kept", "", "postgresql://ckan:old@db.example/ckan_prod",
			"postgresql://ckan:demo-db-pass@db.example/ckan_prod"},
		{"driver and query kept", "", "postgresql+psycopg2://ckan_default:old@/ckan_default?host=/run/postgresql",
			"postgresql+psycopg2://ckan_default:demo-db-pass@/ckan_default?host=/run/postgresql"},
		{"percent-encoded password equal", "  password: 'p@ss%w/rd'\n",
			"postgresql://ckan_default:p%%40ss%%25w%%2Frd@127.0.0.1:55444/ckan_default",
			"postgresql://ckan_default:p%%40ss%%25w%%2Frd@127.0.0.1:55444/ckan_default"},
		{"percent-encoded password set", "  password: 'p@ss%w/rd'\n",
			"postgresql://ckan_default:x@127.0.0.1:55444/ckan_default",
			"postgresql://ckan_default:p%%40ss%%25w%%2Frd@127.0.0.1:55444/ckan_default"},
		{"site sets all", "  user: u1\n  host: db.example\n  port: 5433\n  name: n1\n",
			"postgresql://ckan_default:demo-db-pass@127.0.0.1:55444/ckan_default",
			"postgresql://u1:demo-db-pass@db.example:5433/n1"},
		{"site sets the host only", "  host: db.example\n",
			"postgresql://ckan_default:demo-db-pass@127.0.0.1:55444/ckan_default",
			"postgresql://ckan_default:demo-db-pass@db.example:55444/ckan_default"},
		{"no url yet", "", "",
			"postgresql://ckan_default:demo-db-pass@localhost/ckan_default"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, dir := sampleEnv(t)
			if c.site != "" {
				sp := filepath.Join(dir, "etc/dcor/dcor.yaml")
				data, _ := os.ReadFile(sp)
				data = []byte(strings.Replace(string(data), "  password: demo-db-pass\n", "  password: demo-db-pass\n"+c.site, 1))
				if strings.Contains(c.site, "password:") {
					data = []byte(strings.Replace(string(data), "  password: demo-db-pass\n", "", 1))
				}
				if err := os.WriteFile(sp, data, 0o600); err != nil {
					t.Fatal(err)
				}
				env, _ = sampleEnvAt(t, dir)
			}
			p := setIniURL(t, dir, c.url)
			rep, err := Run(context.Background(), env, Options{Mode: FixAll, Only: []string{"ckan-ini"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := iniURL(t, p); got != c.want {
				t.Errorf("sqlalchemy.url = %s, want %s", got, c.want)
			}
			for _, f := range urlFindings(rep) {
				if strings.Contains(f.Message+f.Current+f.Expected, "demo-db-pass") || strings.Contains(f.Message, "p@ss") {
					t.Errorf("finding shows the password: %s", f)
				}
			}
			if c.url == c.want && len(urlFindings(rep)) > 0 {
				t.Errorf("a right URL was reported: %s", urlFindings(rep)[0])
			}
			env, _ = sampleEnvAt(t, dir)
			rep, err = Run(context.Background(), env, Options{Mode: CheckOnly, Only: []string{"ckan-ini"}})
			if err != nil {
				t.Fatal(err)
			}
			if fs := urlFindings(rep); len(fs) > 0 {
				t.Errorf("after the fix, check reports %s", fs[0])
			}
		})
	}
}

// Without a password in the site file, sqlalchemy.url is left alone.
func TestDatabaseURLWithoutSitePasswordIsLeftAlone(t *testing.T) {
	env, dir := sampleEnv(t)
	env.Site.Database.Password = ""
	const u = "postgresql://ckan_default:whatever@127.0.0.1:55444/ckan_default"
	p := setIniURL(t, dir, u)
	rep, err := Run(context.Background(), env, Options{Mode: FixAll, Only: []string{"ckan-ini"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := iniURL(t, p); got != u {
		t.Errorf("sqlalchemy.url = %s, want it unchanged", got)
	}
	for _, f := range urlFindings(rep) {
		if f.Severity != Unmanaged {
			t.Errorf("finding %s (%s), want it not managed", f, f.Severity)
		}
	}
}

// A repeated section header is a failure naming the section and its
// lines, not a fixable finding with an empty key.
func TestDuplicateSectionIsAClearFailure(t *testing.T) {
	for _, mode := range []Mode{CheckOnly, FixAll} {
		env, dir := sampleEnv(t)
		p := filepath.Join(dir, "etc/ckan/default/ckan.ini")
		data, _ := os.ReadFile(p)
		n := strings.Count(string(data), "\n")
		data = append(data, "\n[app:main]\nckan.site_title = again\n"...)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		first := 0
		for i, l := range strings.Split(string(data), "\n") {
			if l == "[app:main]" {
				first = i + 1
				break
			}
		}
		rep, err := Run(context.Background(), env, Options{Mode: mode, Only: []string{"ckan-ini"}})
		if err != nil {
			t.Fatal(err)
		}
		var dup *Finding
		for _, f := range rep.Findings {
			if f.Error != "" {
				t.Errorf("finding %q: error %s", f, f.Error)
			}
			if f.Key == "" && strings.Contains(f.Message, "[app:main]") {
				dup = f
			}
			if strings.HasPrefix(f.Message, " ") || strings.Contains(f.Message, "  is set") {
				t.Errorf("finding without a name: %q", f)
			}
		}
		if dup == nil {
			t.Fatalf("no finding names the repeated [app:main]: %v", rep.Findings)
		}
		lines := []string{itoa(first), itoa(n + 2)}
		for _, l := range lines {
			if !strings.Contains(dup.Message, l) {
				t.Errorf("%q does not name line %s", dup.Message, l)
			}
		}
		if dup.Severity != Failure || dup.Fixable || dup.Fixed {
			t.Errorf("%q: severity %s, fixable %v, fixed %v; want a failure that is not fixable", dup, dup.Severity, dup.Fixable, dup.Fixed)
		}
		if !rep.Failed() {
			t.Error("a ckan.ini that CKAN refuses passed")
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// A database host or port that would break the URL is a failure naming
// the site file, and ckan.ini is left alone.
func TestDatabaseURLBadSiteValues(t *testing.T) {
	for _, d := range []struct{ host, port string }{{"db/x", ""}, {"a@b", ""}, {"", "54x"}, {"", "70000"}} {
		env, dir := sampleEnv(t)
		env.Site.Database.Host, env.Site.Database.Port = d.host, d.port
		const u = "postgresql://ckan_default:old@127.0.0.1:55444/ckan_default"
		p := setIniURL(t, dir, u)
		rep, err := Run(context.Background(), env, Options{Mode: FixAll, Only: []string{"ckan-ini"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := iniURL(t, p); got != u {
			t.Errorf("%v: sqlalchemy.url = %s, want it unchanged", d, got)
		}
		fs := urlFindings(rep)
		if len(fs) != 1 || fs[0].Severity != Failure || !strings.Contains(fs[0].Message, "dcor.yaml") {
			t.Errorf("%v: findings %v, want one failure naming the site file", d, fs)
		}
	}
	env, dir := sampleEnv(t)
	env.Site.Database.Host = "::1"
	p := setIniURL(t, dir, "postgresql://ckan_default:old@127.0.0.1:55444/ckan_default")
	if _, err := Run(context.Background(), env, Options{Mode: FixAll, Only: []string{"ckan-ini"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := iniURL(t, p), "postgresql://ckan_default:demo-db-pass@[::1]:55444/ckan_default"; got != want {
		t.Errorf("IPv6 host: sqlalchemy.url = %s, want %s", got, want)
	}
}
