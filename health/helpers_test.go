package health

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/site"
)

// testHost is a host tree for one probe: ckan.ini with the given keys.
type testHost struct {
	t    *testing.T
	root string
	site *site.Site
	ini  map[string]string
}

func newHost(t *testing.T, ini map[string]string) *testHost {
	t.Helper()
	return &testHost{t: t, root: t.TempDir(), site: &site.Site{Kind: "development", FQDN: "localhost"}, ini: ini}
}

// write writes content at host path p under the root.
func (h *testHost) write(p, content string) string {
	h.t.Helper()
	local := filepath.Join(h.root, p)
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return local
}

// config writes ckan.ini and returns the probes' shared configuration.
func (h *testHost) config() *config {
	h.t.Helper()
	var b strings.Builder
	b.WriteString("[app:main]\n")
	for k, v := range h.ini {
		b.WriteString(k + " = " + strings.ReplaceAll(v, "%", "%%") + "\n") // ConfigParser interpolates %
	}
	h.write(host.DefaultCKANIni, b.String())
	env := &Env{Host: host.New(h.root), Site: h.site, SitePath: host.DefaultSiteFile, CKANIni: host.DefaultCKANIni,
		Venv: host.DefaultVenv, Network: true, Timeout: 5 * time.Second, Now: time.Now()}
	c := &config{Env: env, site: h.site}
	c.loadIni()
	if c.iniErr != nil {
		h.t.Fatal(c.iniErr)
	}
	c.versions = map[string]string{}
	return c
}

// check runs one probe function and wants one result (the first) of
// state want whose reason contains every part.
func check(t *testing.T, what string, c *config, run func(context.Context, *config) []Result, want State, parts ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs := run(ctx, c)
	if len(rs) == 0 {
		t.Fatalf("%s: no result", what)
	}
	r := rs[0]
	if want != "" && r.State != want {
		t.Errorf("%s: %s %q, want %s", what, r.State, r.Reason, want)
	}
	for _, p := range parts {
		if !strings.Contains(r.Reason, p) {
			t.Errorf("%s: reason %q lacks %q", what, r.Reason, p)
		}
	}
	return r
}
