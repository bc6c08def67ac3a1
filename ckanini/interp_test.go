package ckanini

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGetInterpolation(t *testing.T) {
	const ini = `[DEFAULT]
cache_dir = %(here)s/data
d_ref = %(site)s
shadowed = default

[app:main]
use = egg:ckan
site = main
shadowed = main
who.log_file = %(cache_dir)s/who_log.ini
SECRET_KEY = s3cret
beaker.session.secret = %(secret_key)s
api_token.jwt.encode.secret = string:%(SECRET_KEY)s
percent = 50%%
escaped_ref = %%(site)s
nested = %(percent_ref)s!
percent_ref = %(percent)s
file = %(__file__)s
multi = a
  %(site)s
`
	f := mustParse(t, ini)
	tests := []struct{ key, want string }{
		{"cache_dir", "/etc/ckan/default/data"},
		{"here", "/etc/ckan/default"},
		{"__file__", "/etc/ckan/default/ckan.ini"},
		{"file", "/etc/ckan/default/ckan.ini"},
		{"who.log_file", "/etc/ckan/default/data/who_log.ini"},
		{"d_ref", "main"},        // a [DEFAULT] value sees [app:main] options
		{"shadowed", "main"},     // [app:main] wins over [DEFAULT]
		{"SECRET_KEY", "s3cret"}, // lookups are case-insensitive
		{"secret_key", "s3cret"},
		{"beaker.session.secret", "s3cret"},
		{"api_token.jwt.encode.secret", "string:s3cret"},
		{"percent", "50%"},
		{"escaped_ref", "%(site)s"},
		{"nested", "50%!"},
		{"multi", "a\nmain"},
		{"use", "egg:ckan"},
	}
	for _, tt := range tests {
		if got, ok := f.Get(tt.key); !ok || got != tt.want {
			t.Errorf("Get(%q) = %q, %v; want %q", tt.key, got, ok, tt.want)
		}
	}
	if _, ok := f.Get("absent"); ok {
		t.Error("Get(absent) reported true")
	}
	if got, _ := f.GetRaw("app:main", "beaker.session.secret"); got != "%(secret_key)s" {
		t.Errorf("GetRaw = %q", got)
	}
	if got, ok := f.GetRaw("app:main", "here"); ok {
		t.Errorf("GetRaw(here) = %q, want nothing", got)
	}
	for s, want := range map[string]string{
		"string:%(SECRET_KEY)s":  "string:s3cret",
		"%(here)s/who.ini":       "/etc/ckan/default/who.ini",
		"plain":                  "plain",
		"100%% %(shadowed)s":     "100% main",
		"%(cache_dir)s/%(site)s": "/etc/ckan/default/data/main",
	} {
		if got, err := f.Interpolate(s); err != nil || got != want {
			t.Errorf("Interpolate(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	if err := f.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestInterpolationErrors(t *testing.T) {
	tests := []struct{ name, value, msg string }{
		{"missing", "%(nope)s", `no option "nope"`},
		{"stray percent", "50%", "must be followed by"},
		{"bad reference", "%(x)d", "bad reference"},
		{"empty reference", "%()s", "bad reference"},
		{"unterminated", "%(x", "bad reference"},
		{"self loop", "%(k)s", "reference loop: k -> k"},
		{"loop", "%(a)s", "reference loop: k -> a -> b -> a"},
		{"error in referenced value", "%(bad)s", "must be followed by"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, "[app:main]\nuse = egg:ckan\na = %(b)s\nb = %(a)s\nbad = 5%\nk = "+tt.value+"\n")
			if v, ok := f.Get("k"); ok {
				t.Errorf("Get(k) = %q, true; want false", v)
			}
			if _, err := f.Interpolate(tt.value); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tt.msg, "reference loop: k -> ")) {
				t.Errorf("Interpolate(%q) error = %v, want %q", tt.value, err, tt.msg)
			}
			err := f.Validate()
			if err == nil || !strings.Contains(err.Error(), "[app:main] k: ") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Validate() = %v, want an error about k with %q", err, tt.msg)
			}
		})
	}
}

// ConfigParser allows 10 nested references (MAX_INTERPOLATION_DEPTH).
func TestInterpolationDepth(t *testing.T) {
	var b strings.Builder
	b.WriteString("[app:main]\n")
	for i := 1; i <= 11; i++ {
		b.WriteString("a" + itoa(i) + " = %(a" + itoa(i+1) + ")s\n")
	}
	b.WriteString("a12 = x\n")
	f := mustParse(t, b.String())
	if v, ok := f.Get("a2"); !ok || v != "x" {
		t.Errorf("Get(a2) = %q, %v; want x (10 levels)", v, ok)
	}
	if v, ok := f.Get("a1"); ok {
		t.Errorf("Get(a1) = %q; want false (11 levels)", v)
	}
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "more than 10 nested") {
		t.Errorf("Validate() = %v", err)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestValidate(t *testing.T) {
	if err := mustParse(t, "[DEFAULT]\nx = 1\n").Validate(); err == nil || !strings.Contains(err.Error(), "no [app:main]") {
		t.Errorf("missing [app:main]: %v", err)
	}
	if err := mustParse(t, "[app:main]\nx = 1\n").Validate(); err == nil || !strings.Contains(err.Error(), "no `use`") {
		t.Errorf("missing use: %v", err)
	}
	// The logging sections are not interpolated by CKAN.
	if err := mustParse(t, "[app:main]\nuse = egg:ckan\n[formatter_generic]\nformat = %(levelname)-5.5s\n").Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// A bad [DEFAULT] value breaks CKAN too.
	if err := mustParse(t, "[DEFAULT]\nd = 5%\n[app:main]\nuse = egg:ckan\n").Validate(); err == nil || !strings.Contains(err.Error(), "] d: ") {
		t.Errorf("bad default: %v", err)
	}
	data, err := os.ReadFile("testdata/ckan29.ini")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("testdata/ckan29.ini", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Errorf("ckan29.ini: %v", err)
	}
}

func TestLoadChain(t *testing.T) {
	dir, err := filepath.Abs("testdata/chain")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(filepath.Join(dir, "main.ini"))
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base")
	// What CKANConfigLoader makes of main.ini (checked with CKAN's loader).
	want := map[string]string{
		"__file__":          filepath.Join(dir, "main.ini"),
		"ckan.site_id":      "base",
		"ckan.site_url":     "http://main.example.org", // the file itself wins
		"ckan.storage_path": base + "/storage",         // %(here)s of base.ini
		"data":              base + "/data",
		"debug":             "false", // [DEFAULT] of the used file wins (CKAN quirk)
		"here":              base,
		"site_and_main":     "http://base.example.org", // interpolated while reading base.ini
		"solr_host":         "127.0.0.1",
		"solr_url":          "http://127.0.0.1:8983/solr",
		"storage":           dir + "/main-storage",
		"use":               "config:base/base.ini",
	}
	for k, w := range want {
		if got, ok := f.Get(k); !ok || got != w {
			t.Errorf("Get(%q) = %q, %v; want %q", k, got, ok, w)
		}
	}
	if err := f.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// GetRaw and HasSection see only the file itself.
	if _, ok := f.GetRaw("app:main", "solr_url"); ok {
		t.Error("GetRaw sees the used file")
	}
	// Set edits only main.ini.
	orig, _ := os.ReadFile(filepath.Join(dir, "main.ini"))
	if !f.Set("", "solr_url", "http://solr:8983/solr") {
		t.Fatal("Set reported no change")
	}
	if got, _ := f.Get("solr_url"); got != "http://solr:8983/solr" {
		t.Errorf("after Set, Get(solr_url) = %q", got)
	}
	if got, _ := f.Get("ckan.storage_path"); got != base+"/storage" {
		t.Errorf("after Set, the chain is lost: %q", got)
	}
	wantBytes := strings.Replace(string(orig), "[app:main]\n", "[app:main]\nsolr_url = http://solr:8983/solr\n", 1)
	if string(f.Bytes()) != wantBytes {
		t.Errorf("Bytes() = %q, want %q", f.Bytes(), wantBytes)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.ini", "[app:main]\nuse = config:b.ini\n")
	write("b.ini", "[app:main]\nuse = config:%(here)s/a.ini\n")
	if _, err := Load(a); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("loop: %v", err)
	}
	m := write("m.ini", "[app:main]\n\nuse = config:missing.ini\n")
	var pe *ParseError
	if _, err := Load(m); !errors.As(err, &pe) || pe.Line != 3 || pe.Path != m {
		t.Errorf("missing file: %v", err)
	}
	s := write("s.ini", "[app:main]\nuse = config:syntax.ini\n")
	write("syntax.ini", "[app:main]\nbroken\n")
	if _, err := Load(s); !errors.As(err, &pe) || pe.Line != 2 || !strings.HasSuffix(pe.Path, "syntax.ini") {
		t.Errorf("syntax error in used file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "none.ini")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(none) = %v", err)
	}
	e := write("e.ini", "[app:main]\nuse = egg:ckan\nx = 1\n")
	if f, err := Load(e); err != nil || f.used != nil {
		t.Errorf("Load(e) = %v, %v", f, err)
	}
}

// Ten levels of 20 references each would expand to 20^10 references; CKAN
// would hang, ckanini reports an error.
func TestInterpolationBlowup(t *testing.T) {
	var b strings.Builder
	b.WriteString("[app:main]\nuse = egg:ckan\n")
	names := "abcdefghijk"
	for i := 0; i < 10; i++ {
		b.WriteString(names[i:i+1] + " = " + strings.Repeat("%("+names[i+1:i+2]+")s", 20) + "\n")
	}
	b.WriteString("k =\n")
	f := mustParse(t, b.String())
	if _, ok := f.Get("b"); ok {
		t.Error("Get(b) succeeded")
	}
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Validate() = %v", err)
	}
	if v, ok := f.Get("j"); !ok || v != "" {
		t.Errorf("Get(j) = %q, %v", v, ok)
	}
}
