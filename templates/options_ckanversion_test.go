package templates

import (
	"slices"
	"strings"
	"testing"
)

// ckan211Plugins are the plugins of CKAN 2.11.5 and of the DCOR 1.x
// extensions (the ckan.plugins entry points of the stack's venv, CKAN's
// example_* plugins left out). recline_view left CKAN in 2.10.
var ckan211Plugins = []string{"activity", "audio_view", "chained_functions", "datapusher",
	"datastore", "datatables_view", "dc_log_view", "dc_serve", "dc_view", "dcor_depot",
	"dcor_schemas", "dcor_theme", "expire_api_token", "image_view", "multilingual_dataset",
	"multilingual_group", "multilingual_resource", "multilingual_tag", "resource_proxy",
	"stats", "tabledesigner", "text_view", "tracking", "video_view", "webpage_view"}

// TestOptionsCKANVersion checks that a host with CKAN 2.10 or newer gets
// only plugins and views that exist there (CKAN refuses to start on an
// unknown plugin: PluginNotFoundException), with the activity plugin that
// carries activity streams since 2.10, and that older or unknown versions
// keep DCOR's 2021 options.
func TestOptionsCKANVersion(t *testing.T) {
	for _, v := range []string{"2.10.4", "2.11.5", "2.11.6b0"} {
		p := siteParams
		p.Kind = "production"
		p.CKANVersion = v
		opts, err := Options(p)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		got := optionMap(opts)
		plugins := strings.Fields(got["ckan.plugins"].Value)
		for _, name := range plugins {
			if !slices.Contains(ckan211Plugins, name) {
				t.Errorf("CKAN %s: ckan.plugins names %q, which CKAN 2.10+ does not have", v, name)
			}
		}
		// email_to is set by every kind: without this CKAN 2.11.5 stops at
		// start-up (found on the stack).
		if got["ckan.csrf_protection.ignore_extensions"].Value != "false" {
			t.Errorf("CKAN %s: ckan.csrf_protection.ignore_extensions = %q, want false", v, got["ckan.csrf_protection.ignore_extensions"].Value)
		}
		if !slices.Contains(plugins, "activity") {
			t.Errorf("CKAN %s: ckan.plugins = %q lacks activity", v, got["ckan.plugins"].Value)
		}
		// activity's /dataset/<id>/… routes before dc_serve's would let
		// CKAN's resource download take dc_serve's S3 redirect (stack).
		if i, j := slices.Index(plugins, "dc_serve"), slices.Index(plugins, "activity"); i < 0 || j < i {
			t.Errorf("CKAN %s: activity must come after dc_serve: %v", v, plugins)
		}
		if i, j := slices.Index(plugins, "dcor_depot"), slices.Index(plugins, "dcor_schemas"); i < 0 || j < i {
			t.Errorf("CKAN %s: dcor_depot must come before dcor_schemas: %v", v, plugins)
		}
		for _, view := range strings.Fields(got["ckan.views.default_views"].Value) {
			if !slices.Contains(ckan211Plugins, view) {
				t.Errorf("CKAN %s: ckan.views.default_views names %q", v, view)
			}
		}
	}
	for _, v := range []string{"", "2.9.11"} {
		p := siteParams
		p.Kind = "production"
		p.CKANVersion = v
		opts, err := Options(p)
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		got := optionMap(opts)
		if got["ckan.plugins"].Value != baseOptions["ckan.plugins"] {
			t.Errorf("CKAN %q: ckan.plugins = %q, want %q", v, got["ckan.plugins"].Value, baseOptions["ckan.plugins"])
		}
	}
}
