package templates

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// baseOptions are DCOR's expected options before site-specific
// overrides, from facts §2, for siteParams.
var baseOptions = map[string]string{
	"ckan.activity_list_limit":                          "31",
	"ckan.activity_streams_email_notifications":         "true",
	"ckan.activity_streams_enabled":                     "true",
	"ckan.email_notifications_since":                    "2 days",
	"ckan.auth.anon_create_dataset":                     "false",
	"ckan.auth.create_unowned_dataset":                  "false",
	"ckan.auth.create_dataset_if_not_in_organization":   "false",
	"ckan.auth.allow_collaborators_to_change_owner_org": "false",
	"ckan.auth.user_create_groups":                      "true",
	"ckan.auth.user_create_organizations":               "true",
	"ckan.auth.user_delete_groups":                      "false",
	"ckan.auth.user_delete_organizations":               "false",
	"ckan.auth.roles_that_cascade_to_sub_groups":        "admin",
	"ckan.auth.public_user_details":                     "false",
	"ckan.auth.public_activity_stream_detail":           "true",
	"ckan.auth.allow_dataset_collaborators":             "true",
	"ckan.auth.create_default_api_keys":                 "false",
	"ckan.auth.create_user_via_api":                     "false",
	"ckan.auth.create_user_via_web":                     "true",
	"ckan.search.default_include_private":               "true",
	"ckan.favicon":                                      "/favicon.ico",
	"ckan.gravatar_default":                             "disabled",
	"ckan.max_resource_size":                            "100000",
	"ckan.plugins":                                      "stats text_view image_view recline_view dcor_depot dcor_schemas dc_serve dc_view dc_log_view dcor_theme",
	"ckan.views.default_views":                          "image_view text_view recline_view dc_view dc_log_view",
	"ckan.webassets.path":                               "/var/lib/ckan/webassets",
	"solr_url":                                          "http://127.0.0.1:8983/solr",
	"ckanext.dcor_depot.depots_path":                    "/data/depots",
	"ckan.extra_resource_fields":                        "sha256",
	"ckanext.dcor_schemas.allow_public_datasets":        "true",
	"ckanext.dcor_schemas.json_resource_schema_dir":     "package",
	"sqlalchemy.url":                                    "postgresql://ckan_default:s3cr%%40t%%3A%%25%%28here%%29s%%2Fpw@localhost/ckan_default",
	"ckanext.dcor_depot.users_depot_name":               "users-dcor-mpl",
	"ckan.storage_path":                                 "/data/ckan-dcor-mpl",
}

// kindOptions are the changes of each kind, for siteParams.
var kindOptions = map[string]map[string]string{
	"production": {
		"ckan.site_title":  "DCOR",
		"ckan.site_url":    "https://dcor.mpl.mpg.de",
		"smtp.server":      "post.example.org",
		"smtp.user":        "dcor",
		"smtp.password":    "smtp-pw",
		"smtp.mail_from":   "noreply-dcor-mpl@mpl.mpg.de",
		"email_to":         "dcor-admin@example.org",
		"error_email_from": "error-dcor-mpl@mpl.mpg.de",
	},
	"development": {
		"ckan.auth.create_default_api_keys": "true",
		"ckan.auth.create_user_via_api":     "true",
		"ckan.site_title":                   "DCOR-dev",
		"ckan.site_url":                     "https://dcor.mpl.mpg.de",
		"smtp.server":                       "post.example.org",
		"smtp.user":                         "dcor",
		"smtp.password":                     "smtp-pw",
		"smtp.mail_from":                    "noreply-dcor-mpl@mpl.mpg.de",
		"email_to":                          "dcor-admin@example.org",
		"error_email_from":                  "error-dcor-mpl@mpl.mpg.de",
	},
	"medical": {
		"ckan.auth.create_user_via_web":              "false",
		"ckan.site_title":                            "DCOR-med",
		"ckan.site_url":                              "https://dcor.mpl.mpg.de",
		"ckanext.dcor_schemas.allow_public_datasets": "false",
	},
	"testing": {
		"ckan.auth.create_default_api_keys": "true",
		"ckan.auth.create_user_via_api":     "true",
		"ckan.site_title":                   "DCOR-test",
		"ckan.site_url":                     "http://130.183.206.45",
	},
}

func optionMap(opts []Option) map[string]Option {
	m := map[string]Option{}
	for _, o := range opts {
		m[o.Key] = o
	}
	return m
}

func TestOptionsEveryKind(t *testing.T) {
	if got := Kinds(); !slices.Equal(got, []string{"production", "development", "medical", "testing"}) {
		t.Fatalf("Kinds() = %v", got)
	}
	for _, k := range Kinds() {
		p := siteParams
		p.Kind = k
		opts, err := Options(p)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		want := map[string]string{}
		for key, v := range baseOptions {
			want[key] = v
		}
		for key, v := range kindOptions[k] {
			want[key] = v
		}
		got := optionMap(opts)
		if len(got) != len(opts) {
			t.Errorf("%s: duplicate keys", k)
		}
		for key, v := range want {
			o, ok := got[key]
			switch {
			case !ok:
				t.Errorf("%s: %s is missing", k, key)
			case len(o.Missing) > 0:
				t.Errorf("%s: %s needs %v", k, key, o.Missing)
			case o.Value != v:
				t.Errorf("%s: %s = %q, want %q", k, key, o.Value, v)
			}
		}
		for key := range got {
			if _, ok := want[key]; !ok {
				t.Errorf("%s: unexpected option %s", k, key)
			}
		}
		for _, o := range opts {
			if strings.Contains(o.Value, "<no value>") || strings.Contains(o.Value, "{{") {
				t.Errorf("%s: %s = %q", k, o.Key, o.Value)
			}
		}
	}
}

// TestOptionsOrder checks that overrides replace base options in place
// and that new options come after the base options.
func TestOptionsOrder(t *testing.T) {
	base, err := readOptions("base.ini")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds() {
		p := siteParams
		p.Kind = k
		opts, err := Options(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range base {
			if opts[i].Key != b.key {
				t.Errorf("%s: option %d is %s, want %s", k, i, opts[i].Key, b.key)
			}
		}
		over, err := readOptions(k + ".ini")
		if err != nil {
			t.Fatal(err)
		}
		var added []string
		for _, o := range over {
			if !slices.ContainsFunc(base, func(b rawOption) bool { return b.key == o.key }) {
				added = append(added, o.key)
			}
		}
		var tail []string
		for _, o := range opts[len(base):] {
			tail = append(tail, o.Key)
		}
		if !slices.Equal(tail, added) {
			t.Errorf("%s: appended %v, want %v", k, tail, added)
		}
	}
	// Development is production with its own title and two auth options.
	prod, _ := readOptions("production.ini")
	dev, _ := readOptions("development.ini")
	for _, o := range prod {
		i := slices.IndexFunc(dev, func(d rawOption) bool { return d.key == o.key })
		if i < 0 {
			t.Errorf("development.ini lacks %s", o.key)
		} else if dev[i].value != o.value && o.key != "ckan.site_title" {
			t.Errorf("development.ini: %s = %q, production.ini %q", o.key, dev[i].value, o.value)
		}
	}
}

func TestOptionsUnknownKind(t *testing.T) {
	for _, k := range []string{"", "Production", "vagrant"} {
		_, err := Options(Params{Kind: k})
		if err == nil {
			t.Fatalf("kind %q: no error", k)
		}
		for _, valid := range Kinds() {
			if !strings.Contains(err.Error(), valid) {
				t.Errorf("error %q does not name %s", err, valid)
			}
		}
		if _, err := Render("ckan-options", Params{Kind: k}); err == nil {
			t.Errorf("Render ckan-options of kind %q works", k)
		}
	}
}

func TestOptionsMissing(t *testing.T) {
	want := map[string]map[string][]string{
		"production": {
			"sqlalchemy.url": {"database.password"}, "ckanext.dcor_depot.users_depot_name": {"hostname"},
			"ckan.storage_path": {"hostname"}, "ckan.site_url": {"fqdn"}, "smtp.server": {"smtp.server"},
			"smtp.mail_from": {"hostname", "smtp.mail_domain"}, "email_to": {"email"},
			"error_email_from": {"hostname", "smtp.mail_domain"},
		},
		"medical": {
			"sqlalchemy.url": {"database.password"}, "ckanext.dcor_depot.users_depot_name": {"hostname"},
			"ckan.storage_path": {"hostname"}, "ckan.site_url": {"fqdn"},
		},
		"testing": {
			"sqlalchemy.url": {"database.password"}, "ckanext.dcor_depot.users_depot_name": {"hostname"},
			"ckan.storage_path": {"hostname"}, "ckan.site_url": {"ip"},
		},
	}
	want["development"] = want["production"]
	for k, w := range want {
		opts, err := Options(Params{Kind: k})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range opts {
			if !slices.Equal(o.Missing, w[o.Key]) {
				t.Errorf("%s: %s needs %v, want %v", k, o.Key, o.Missing, w[o.Key])
			}
			if len(o.Missing) > 0 && o.Value != "" {
				t.Errorf("%s: %s = %q though not managed", k, o.Key, o.Value)
			}
		}
		// smtp.user and smtp.password may be empty.
		if k == "production" {
			m := optionMap(opts)
			if o := m["smtp.user"]; o.Value != "" || o.Missing != nil {
				t.Errorf("smtp.user = %+v", o)
			}
		}
	}
}

func TestOptionsSiteValues(t *testing.T) {
	get := func(p Params, key string) Option {
		t.Helper()
		opts, err := Options(p)
		if err != nil {
			t.Fatal(err)
		}
		return optionMap(opts)[key]
	}
	// medical: the host name when there is no FQDN.
	if o := get(Params{Kind: "medical", Hostname: "dcor-med"}, "ckan.site_url"); o.Value != "https://dcor-med" {
		t.Errorf("medical site_url = %+v", o)
	}
	if o := get(Params{Kind: "medical", Hostname: "dcor-med", FQDN: "dcor-med.clinic.example"}, "ckan.site_url"); o.Value != "https://dcor-med.clinic.example" {
		t.Errorf("medical site_url = %+v", o)
	}
	if o := get(Params{Kind: "testing", IP: "fd00::1"}, "ckan.site_url"); o.Value != "http://[fd00::1]" {
		t.Errorf("testing site_url with IPv6 = %+v", o)
	}
	// The mail domain: given, or the FQDN without its first label.
	p := Params{Kind: "production", Hostname: "h", FQDN: "dcor.example.org"}
	if o := get(p, "smtp.mail_from"); o.Value != "noreply-h@example.org" {
		t.Errorf("mail_from = %+v", o)
	}
	p.MailDomain = "mail.example.com"
	if o := get(p, "error_email_from"); o.Value != "error-h@mail.example.com" {
		t.Errorf("error_email_from = %+v", o)
	}
	p.SMTPPassword = "50%off"
	if o := get(p, "smtp.password"); o.Value != "50%%off" {
		t.Errorf("smtp.password = %+v", o)
	}
}

// TestOptionsDBPassword reads sqlalchemy.url back the way CKAN does:
// ConfigParser turns "%%" into "%", SQLAlchemy URL-unescapes the password.
func TestOptionsDBPassword(t *testing.T) {
	for _, pw := range []string{"plain", "p@ss:w/rd", "%(here)s", "100% sure?#&=+ äö", `a\b"c'd`} {
		opts, err := Options(Params{Kind: "testing", DBPassword: pw})
		if err != nil {
			t.Fatal(err)
		}
		v := optionMap(opts)["sqlalchemy.url"].Value
		if strings.Contains(strings.ReplaceAll(v, "%%", ""), "%") {
			t.Errorf("%q: lone %% in %s", pw, v)
		}
		u, err := url.Parse(strings.ReplaceAll(v, "%%", "%"))
		if err != nil {
			t.Fatalf("%q: %v", pw, err)
		}
		got, _ := u.User.Password()
		if got != pw || u.User.Username() != "ckan_default" || u.Host != "localhost" || u.Path != "/ckan_default" {
			t.Errorf("%q: %s reads back as %q", pw, v, got)
		}
	}
}

func TestRenderOptions(t *testing.T) {
	out, err := Render("ckan-options", Params{Kind: "testing", Hostname: "dcor-test", IP: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		"[app:main]\n",
		"ckan.storage_path = /data/ckan-dcor-test\n",
		"ckan.site_url = http://10.0.0.1\n",
		"# sqlalchemy.url is not managed, it needs database.password\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("lacks %q:\n%s", want, s)
		}
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "#") && strings.ContainsAny(l, ":=") {
			t.Errorf("comment %q looks like a commented option to ckan config-tool", l)
		}
	}
}

// TestOptionTemplateRules checks that option values reject anything but
// plain fields, and unknown fields.
func TestOptionTemplateRules(t *testing.T) {
	data := optionData(siteParams)
	for _, v := range []string{"{{.Nope}}", "{{if .FQDN}}x{{end}}", "{{.FQDN | printf \"%s\"}}", "{{$x := 1}}", "{{.FQDN"} {
		if _, err := (rawOption{"t.ini", 1, "k", v}).render(data); err == nil {
			t.Errorf("%q renders", v)
		}
	}
	o, err := rawOption{"t.ini", 1, "k", "a-{{.Hostname}}-{{.FQDN}}"}.render(data)
	if err != nil || o.Value != "a-dcor-mpl-dcor.mpl.mpg.de" {
		t.Errorf("render = %+v, %v", o, err)
	}
	o, err = rawOption{"t.ini", 1, "k", ""}.render(data)
	if err != nil || o.Value != "" {
		t.Errorf("empty value = %+v, %v", o, err)
	}
}
