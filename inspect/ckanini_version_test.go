package inspect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/ckanini"
)

// On a host whose virtualenv holds CKAN 2.11, the ckan-ini check expects
// the plugins that exist there: DCOR's 2021 list (recline_view) stops
// CKAN 2.11 at start-up with PluginNotFoundException (seen on the real
// stack, stack/). The sample host (no CKAN metadata) keeps the 2021 list.
func TestCKANIniPluginsFollowTheInstalledCKAN(t *testing.T) {
	for _, c := range []struct{ version, want string }{
		{"", "stats text_view image_view recline_view dcor_depot dcor_schemas dc_serve dc_view dc_log_view dcor_theme"},
		{"2.11.5", "stats text_view image_view dcor_depot dcor_schemas dc_serve dc_view dc_log_view dcor_theme activity"},
	} {
		env, dir := sampleEnv(t)
		if c.version != "" {
			meta := filepath.Join(dir, env.Venv, "lib/python3.11/site-packages/ckan-"+c.version+".dist-info/METADATA")
			if err := os.MkdirAll(filepath.Dir(meta), 0o755); err != nil {
				t.Fatal(err)
			}
			data := "Metadata-Version: 2.1\nName: ckan\nVersion: " + c.version + "\n\nCKAN\n"
			if err := os.WriteFile(meta, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Run(context.Background(), env, Options{Mode: FixAll, Only: []string{"ckan-ini"}}); err != nil {
			t.Fatal(err)
		}
		f, err := ckanini.Load(filepath.Join(dir, "etc/ckan/default/ckan.ini"))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := f.Get("ckan.plugins"); strings.Join(strings.Fields(got), " ") != c.want {
			t.Errorf("CKAN %q: ckan.plugins = %q, want %q", c.version, got, c.want)
		}
	}
}
