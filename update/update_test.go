package update

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/runner"
)

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"2.10.3", "2.10.3", 0}, {"2.10", "2.10.0", 0}, {"2.9.4", "2.10.1", -1}, {"0.13.10", "0.13.9", 1},
		{"1.0.0rc1", "1.0.0", -1}, {"1.0.0.post1", "1.0.0", 1}, {"1.0.0.dev1", "1.0.0a1", -1}, {"1.17.3+local", "1.17.3", 0},
	} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestSelect: the newest row of the installed CKAN's major.minor that is
// not newer than it; an unknown patch is not an error; 2.9 gets its
// newest row (dcor_control took the oldest); a CKAN newer than the table
// is unpinned; one below every row of its series is an error.
func TestSelect(t *testing.T) {
	tab, err := EmbeddedTable()
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 37 {
		t.Fatalf("%d rows, want dcor_control 1.17.3's 37", len(tab.Rows))
	}
	for _, c := range []struct {
		ckan, pkg, want string
		line            int
	}{
		{"2.11.3", "ckanext-dcor_schemas", "1.1.0", 2},
		{"2.11.4", "dcor_control", "1.17.3", 2},
		{"2.10.4", "ckanext-dc_serve", "0.16.2", 11},
		{"2.10.3", "dcor_shared", "0.5.6", 14},
		{"2.10.2", "ckanext-dcor_schemas", "0.18.9", 16}, // unknown patch: the 2.10.1 row below it
		{"2.10.5", "ckanext-dcor_schemas", "0.20.2", 11},
		{"2.9.5", "ckanext-dc_log_view", "0.2.9", 38}, // the newest 2.9 row, the file's last
		{"2.9.0", "ckanext-dcor_schemas", "0.12.0", 30},
	} {
		ch, err := tab.Select(c.ckan)
		if err != nil {
			t.Errorf("CKAN %s: %v", c.ckan, err)
			continue
		}
		if got := ch.Pin(c.pkg); got != c.want || ch.Row.Line != c.line {
			t.Errorf("CKAN %s: %s pinned to %s (line %d), want %s (line %d)", c.ckan, c.pkg, got, ch.Row.Line, c.want, c.line)
		}
	}
	if ch, err := tab.Select("2.12.0"); err != nil || !ch.Latest || ch.Pin("dcor_shared") != "" {
		t.Errorf("CKAN 2.12.0: %+v, %v; want the newest releases", ch, err)
	}
	for _, v := range []string{"2.10.0", "2.8.1", ""} {
		if _, err := tab.Select(v); err == nil {
			t.Errorf("CKAN %q: no error", v)
		}
	}
}

func TestParseReportAndFreezeNames(t *testing.T) {
	got, err := ParseReport([]byte(`{"version":"1","install":[{"requested":true,"metadata":{"name":"dcor_shared","version":"0.5.6"}},{"requested":false,"metadata":{"name":"fakedep","version":"2.0"}}]}`))
	if err != nil || len(got) != 2 || got[0].Version != "0.5.6" || got[1].Requested {
		t.Fatalf("%+v %v", got, err)
	}
	for line, want := range map[string]string{
		"ckanext-dcor_schemas==0.18.11":            "ckanext-dcor-schemas",
		"-e git+file:///x@abc#egg=ckanext_dc_view": "ckanext-dc-view",
		"pkg @ file:///tmp/pkg.whl":                "pkg",
		"# Editable Git install":                   "",
	} {
		if got := freezeName(line); got != want {
			t.Errorf("freezeName(%q) = %q, want %q", line, got, want)
		}
	}
}

const dcorSite = `server {
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name dcor.example.org;
    ssl_certificate /etc/ssl/certs/dcor.pem;
    ssl_certificate_key /etc/ssl/private/dcor.key;
    location / { proxy_pass http://127.0.0.1:8080; }
}
server {
    listen 80;
    server_name dcor.example.org;
    return 301 https://$host$request_uri;
}
`

// TestMaintenanceAroundFailedStep: the maintenance page is on while the
// plan runs and gone afterwards although a step failed; DCOR's site (a
// link into sites-available) is back as it was.
func TestMaintenanceAroundFailedStep(t *testing.T) {
	root := t.TempDir()
	h := host.New(root)
	avail := filepath.Join(root, "etc/nginx/sites-available/ckan")
	if err := os.MkdirAll(filepath.Dir(avail), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(avail, []byte(dcorSite), 0o644)
	os.MkdirAll(filepath.Join(root, "etc/nginx/sites-enabled"), 0o755)
	if err := os.Symlink("/etc/nginx/sites-available/ckan", filepath.Join(root, "etc/nginx/sites-enabled/ckan")); err != nil {
		t.Fatal(err)
	}
	m := &Maintenance{Host: h, Site: host.NginxSite, Title: "dcor.example.org"}
	p := change.New(h, time.Now())
	p.Do("update", m.Action())
	var during string
	p.Do("update", change.Action{Description: "a failing step", Run: func(context.Context) error {
		b, err := os.ReadFile(h.Path(MaintenanceSite))
		during = string(b)
		if _, err := os.Lstat(h.PathNoFollow(host.NginxSite)); err == nil {
			t.Error("DCOR's site is still enabled during maintenance")
		}
		if err != nil {
			return err
		}
		return errors.New("pip failed")
	}})
	res := p.Apply(context.Background(), change.ApplyOptions{StopOnError: true})
	if !res.Failed() || res.Changes[0].Undone != "undone" {
		t.Fatalf("failed=%v undone=%q", res.Failed(), res.Changes[0].Undone)
	}
	for _, want := range []string{"listen 443 ssl;", "server_name dcor.example.org;", "ssl_certificate_key /etc/ssl/private/dcor.key;", "return 503;"} {
		if !strings.Contains(during, want) {
			t.Errorf("maintenance site lacks %q:\n%s", want, during)
		}
	}
	if strings.Contains(during, "proxy_pass") {
		t.Errorf("maintenance site passes requests to CKAN:\n%s", during)
	}
	if target, err := os.Readlink(filepath.Join(root, "etc/nginx/sites-enabled/ckan")); err != nil || target != "/etc/nginx/sites-available/ckan" {
		t.Errorf("DCOR's site after the update: %q, %v; want the link back", target, err)
	}
	if _, err := os.Lstat(h.PathNoFollow(MaintenanceSite)); err == nil {
		t.Error("the maintenance site is still enabled")
	}
}

func TestPipReason(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"Collecting x\nERROR: Could not find a version that satisfies the requirement x==9\nERROR: No matching distribution found for x==9\n",
			"ERROR: No matching distribution found for x==9"},
		{"Traceback (most recent call last):\n  File \"a.py\", line 1\nzlib.error: Error -3 while decompressing data: invalid distance too far back\n",
			"zlib.error: Error -3 while decompressing data: invalid distance too far back"},
	} {
		if got := pipReason(c.out); got != c.want {
			t.Errorf("pipReason(%q) = %q, want %q", c.out, got, c.want)
		}
	}
	err := &pipError{run: &runner.Error{Command: "python -m pip install x==9", Status: "exit status 1", Tail: "a\nERROR: nope\nb"}}
	if got := err.Error(); strings.Contains(got, "\n") || got != "python -m pip install x==9 failed (exit status 1): ERROR: nope" {
		t.Errorf("pipError = %q", got)
	}
}
