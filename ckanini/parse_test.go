package ckanini

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func mustParse(t testing.TB, s string) *File {
	t.Helper()
	f, err := Parse("/etc/ckan/default/ckan.ini", []byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name, ini, section, key, want string
		ok                            bool
	}{
		{"equals", "[s]\nk = v\n", "s", "k", "v", true},
		{"colon", "[s]\nk: v\n", "s", "k", "v", true},
		{"first delimiter wins", "[s]\nk:=1\n", "s", "k", "=1", true},
		{"no spaces", "[s]\nk=v\n", "s", "k", "v", true},
		{"value whitespace stripped", "[s]\nk =   v w \t\n", "s", "k", "v w", true},
		{"empty value", "[s]\nk =\n", "s", "k", "", true},
		{"inline comment kept", "[s]\nk = v # c ; d\n", "s", "k", "v # c ; d", true},
		{"hash comment", "[s]\n#k = v\n", "s", "k", "", false},
		{"semicolon comment", "[s]\n;k = v\n", "s", "k", "", false},
		{"indented comment", "[s]\n  # k = v\n", "s", "k", "", false},
		{"case-insensitive", "[s]\nSECRET_KEY = x\n", "s", "secret_key", "x", true},
		{"case-insensitive 2", "[s]\nsecret_key = x\n", "s", "SECRET_KEY", "x", true},
		{"key with spaces", "[s]\na b = c\n", "s", "a b", "c", true},
		{"continuation", "[s]\nk = a\n  b\n\tc\n", "s", "k", "a\nb\nc", true},
		{"continuation after empty value", "[s]\nk =\n  a\n", "s", "k", "\na", true},
		{"blank line inside continuation", "[s]\nk = a\n\n  b\n", "s", "k", "a\n\nb", true},
		{"comment inside continuation", "[s]\nk = a\n# c\n  b\n", "s", "k", "a\nb", true},
		{"trailing blank lines dropped", "[s]\nk = a\n\n\n", "s", "k", "a", true},
		{"indented header is continuation", "[s]\nk = a\n  [t]\nx = 1\n", "s", "k", "a\n[t]", true},
		{"indented header is continuation 2", "[s]\nk = a\n  [t]\nx = 1\n", "s", "x", "1", true},
		{"indented option after header", "[s]\n  k = a\n", "s", "k", "a", true},
		{"continuation relative to indent", "  [s]\n   k = 1\n    c\n", "s", "k", "1\nc", true},
		{"header trailing text", "[s] ; the s section\nk = 1\n", "s", "k", "1", true},
		{"header with bracket", "[a]]\nk = 1\n", "a]", "k", "1", true},
		{"header not stripped", "[ s ]\nk = 1\n", " s ", "k", "1", true},
		{"last duplicate wins", "[s]\nk = 1\nK = 2\n", "s", "k", "2", true},
		{"duplicate sections merge", "[s]\nk = 1\n[t]\n[s]\nj = 2\n", "s", "k", "1", true},
		{"default fallback", "[DEFAULT]\nk = d\n[s]\n", "s", "k", "d", true},
		{"section wins over default", "[DEFAULT]\nk = d\n[s]\nk = s\n", "s", "k", "s", true},
		{"default itself", "[DEFAULT]\nk = d\n", "DEFAULT", "k", "d", true},
		{"unknown section", "[DEFAULT]\nk = d\n", "s", "k", "", false},
		{"crlf", "[s]\r\nk = v\r\n  w\r\n", "s", "k", "v\nw", true},
		{"lone cr", "[s]\rk = v\r  w\r", "s", "k", "v\nw", true},
		{"bom", "\ufeff[s]\nk = v\n", "s", "k", "v", true},
		{"python whitespace", "[s]\nk = \x1cv\x1f\u00a0\n", "s", "k", "v", true},
		{"no final newline", "[s]\nk = v", "s", "k", "v", true},
		{"percent raw", "[s]\nk = %(x)s\n", "s", "k", "%(x)s", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.ini)
			got, ok := f.GetRaw(tt.section, tt.key)
			if got != tt.want || ok != tt.ok {
				t.Errorf("GetRaw(%q, %q) = %q, %v; want %q, %v", tt.section, tt.key, got, ok, tt.want, tt.ok)
			}
			if string(f.Bytes()) != tt.ini {
				t.Errorf("Bytes() = %q, want the input", f.Bytes())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, ini string
		line      int
		msg       string
	}{
		{"option before section", "# c\n\nk = v\n[s]\n", 3, "before the first section header"},
		{"continuation before section", "  k = v\n", 1, "before the first section header"},
		{"no delimiter", "[s]\nk = v\njust words\n", 3, "neither"},
		{"valueless key", "[s]\nk\n", 2, "neither"},
		{"empty key", "[s]\n= v\n", 2, "without a name"},
		{"empty key colon", "[s]\n : v\n", 2, "without a name"},
		{"empty header", "[s]\n[]\n", 2, "neither"},
		{"empty header first", "[]\n", 1, "before the first section header"},
		{"bad indentation", "[s]\n  k = 1\n  c\n", 3, "neither"},
		{"invalid utf-8", "[s]\nk = \xff\n", 2, "invalid UTF-8"},
		{"crlf line numbers", "[s]\r\nk = 1\r\nbad\r\n", 3, "neither"},
		{"bom is not a line", "\ufeffk = 1\n", 1, "before the first section header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x/ckan.ini", []byte(tt.ini))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error = %v, want a *ParseError", err)
			}
			if pe.Path != "x/ckan.ini" || pe.Line != tt.line || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("got %+v, want line %d with %q", pe, tt.line, tt.msg)
			}
			if !strings.HasPrefix(pe.Error(), "x/ckan.ini:"+strconv.Itoa(tt.line)+": ") {
				t.Errorf("Error() = %q", pe.Error())
			}
		})
	}
}

func TestParseTolerates(t *testing.T) {
	f := mustParse(t, "[DEFAULT]\nk = 1\n[loggers]\nkeys = root\n")
	if f.HasSection("app:main") {
		t.Error("HasSection(app:main) = true")
	}
	if !f.HasSection("loggers") || !f.HasSection("DEFAULT") {
		t.Error("HasSection misses a section")
	}
	if f.HasSection("Loggers") {
		t.Error("section names must be case-sensitive")
	}
	if got, ok := f.Get("k"); !ok || got != "1" {
		t.Errorf("Get(k) = %q, %v", got, ok)
	}
	if f.Path() != "/etc/ckan/default/ckan.ini" {
		t.Errorf("Path() = %q", f.Path())
	}
	for _, s := range []string{"", "\n", "\r\n\r\n", "# only a comment", "\ufeff"} {
		g := mustParse(t, s)
		if string(g.Bytes()) != s {
			t.Errorf("Bytes() = %q, want %q", g.Bytes(), s)
		}
	}
}

func TestDuplicates(t *testing.T) {
	f := mustParse(t, "[DEFAULT]\nd = 1\n[app:main]\nk = 1\nK = 2\nj = 1\n[other]\nk = 1\n[app:main]\nk = 3\n[DEFAULT]\n")
	want := []Duplicate{
		{Section: "app:main", Key: "", Lines: []int{3, 9}},
		{Section: "app:main", Key: "k", Lines: []int{4, 5, 10}},
	}
	if got := f.Duplicates(); !reflect.DeepEqual(got, want) {
		t.Errorf("Duplicates() = %+v, want %+v", got, want)
	}
	if got, _ := f.Get("k"); got != "3" {
		t.Errorf("Get(k) = %q, want the last value", got)
	}
	f.Duplicates()[0].Lines[0] = 99
	if f.Duplicates()[0].Lines[0] != 3 {
		t.Error("Duplicates returns shared slices")
	}
	if d := mustParse(t, "[s]\nk = 1\n").Duplicates(); len(d) != 0 {
		t.Errorf("Duplicates() = %v", d)
	}
}
