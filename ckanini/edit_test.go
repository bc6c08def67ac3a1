package ckanini

import (
	"strings"
	"testing"
)

func TestSet(t *testing.T) {
	tests := []struct {
		name            string
		in              string
		section, key, v string
		want            string
		changed         bool
	}{
		// active keys are replaced in place, keeping their style
		{"replace", "[app:main]\na = 1\nk = old\nb = 2\n", "", "k", "new",
			"[app:main]\na = 1\nk = new\nb = 2\n", true},
		{"replace no spaces", "[app:main]\nk=old\n", "", "k", "new", "[app:main]\nk=new\n", true},
		{"replace wide spaces", "[app:main]\nk   =\told\n", "", "k", "new", "[app:main]\nk   =\tnew\n", true},
		{"replace colon", "[app:main]\nk: old\n", "", "k", "new", "[app:main]\nk: new\n", true},
		{"replace empty value", "[app:main]\nk =\n", "", "k", "new", "[app:main]\nk = new\n", true},
		{"replace empty value no spaces", "[app:main]\nk=\n", "", "k", "new", "[app:main]\nk=new\n", true},
		{"replace with empty", "[app:main]\nk = old\n", "", "k", "", "[app:main]\nk =\n", true},
		{"replace keeps spelling", "[app:main]\nSECRET_KEY = a\n", "", "secret_key", "b",
			"[app:main]\nSECRET_KEY = b\n", true},
		{"replace indented", "[app:main]\n  k = old\n", "", "k", "new", "[app:main]\n  k = new\n", true},
		{"replace inline comment", "[app:main]\nk = old # note\n", "", "k", "new", "[app:main]\nk = new\n", true},
		{"replace continuation", "[app:main]\nk = a\n  b\n# keep\n\n  c\nx = 1\n", "", "k", "new",
			"[app:main]\nk = new\n# keep\n\nx = 1\n", true},
		{"replace in other section", "[app:main]\nlevel = 1\n[logger_ckan]\nlevel = INFO\n", "logger_ckan", "level", "DEBUG",
			"[app:main]\nlevel = 1\n[logger_ckan]\nlevel = DEBUG\n", true},
		{"replace in DEFAULT", "[DEFAULT]\ndebug = false\n[app:main]\n", "DEFAULT", "debug", "true",
			"[DEFAULT]\ndebug = true\n[app:main]\n", true},
		{"replace not the commented one", "[app:main]\n#k = c\nk = old\n", "", "k", "new",
			"[app:main]\n#k = c\nk = new\n", true},

		// no-ops
		{"same value", "[app:main]\nk = v\n", "", "k", "v", "[app:main]\nk = v\n", false},
		{"same value other spacing", "[app:main]\nk=v   \n", "", "k", " v ", "[app:main]\nk=v   \n", false},
		{"same value no final newline", "[app:main]\nk = v", "", "k", "v", "[app:main]\nk = v", false},
		{"same multi-line value", "[app:main]\nk = a\n  b\n", "", "k", "a\nb", "[app:main]\nk = a\n  b\n", false},
		{"same value crlf", "[app:main]\r\nk = v\r\n", "", "k", "v", "[app:main]\r\nk = v\r\n", false},

		// later active duplicates are commented out
		{"duplicates", "[app:main]\nk = 1\nx = 0\nK = 2\n  cont\n#k = 3\nk=4\n", "", "k", "new",
			"[app:main]\nk = new\nx = 0\n#K = 2\n#  cont\n#k = 3\n#k=4\n", true},
		{"duplicate with same value", "[app:main]\nk = v\nk = w\n", "", "k", "v",
			"[app:main]\nk = v\n#k = w\n", true},
		{"duplicates across repeated section", "[app:main]\nk = 1\n[x]\nk = 0\n[app:main]\nk = 2\n", "", "k", "1",
			"[app:main]\nk = 1\n[x]\nk = 0\n[app:main]\n#k = 2\n", true},

		// commented keys are uncommented in place
		{"uncomment hash", "[app:main]\na = 1\n#k = x\nb = 2\n", "", "k", "v",
			"[app:main]\na = 1\nk = v\nb = 2\n", true},
		{"uncomment hash space", "[app:main]\n# k = x\n", "", "k", "v", "[app:main]\nk = v\n", true},
		{"uncomment semicolon", "[app:main]\n;k = x\n", "", "k", "v", "[app:main]\nk = v\n", true},
		{"uncomment colon", "[app:main]\n# k: x\n", "", "k", "v", "[app:main]\nk: v\n", true},
		{"uncomment empty", "[app:main]\n#k =\n", "", "k", "v", "[app:main]\nk = v\n", true},
		{"uncomment case", "[app:main]\n#SECRET_KEY = x\n", "", "secret_key", "v", "[app:main]\nSECRET_KEY = v\n", true},
		{"uncomment first only", "[app:main]\n#k = 1\n#k = 2\n", "", "k", "v", "[app:main]\nk = v\n#k = 2\n", true},
		{"uncomment same value", "[app:main]\n#k = v\n", "", "k", "v", "[app:main]\nk = v\n", true},
		{"uncomment in its section only", "[other]\n#k = 1\n[app:main]\nx = 1\n#k = 2\n", "", "k", "v",
			"[other]\n#k = 1\n[app:main]\nx = 1\nk = v\n", true},
		{"note looks like an option", "[app:main]\n# Note: foo\n", "", "note", "bar", "[app:main]\nNote: bar\n", true},
		{"double hash is no option", "[app:main]\n##k = 1\n", "", "k", "v", "[app:main]\nk = v\n##k = 1\n", true},
		{"indented comment is no option", "[app:main]\n  #k = 1\n", "", "k", "v", "[app:main]\nk = v\n  #k = 1\n", true},
		{"other key is no match", "[app:main]\n#kk = 1\n#k.x = 1\n", "", "k", "v", "[app:main]\nk = v\n#kk = 1\n#k.x = 1\n", true},
		{"comment would swallow continuation", "[app:main]\na = 1\n#k = 1\n  more\n", "", "k", "v",
			"[app:main]\nk = v\na = 1\n#k = 1\n  more\n", true},

		// absent keys are inserted after the header
		{"insert", "# top\n[app:main]\n# first\nuse = egg:ckan\n[loggers]\n", "", "k", "v",
			"# top\n[app:main]\nk = v\n# first\nuse = egg:ckan\n[loggers]\n", true},
		{"insert empty", "[app:main]\n", "", "k", "", "[app:main]\nk =\n", true},
		{"insert despite default", "[DEFAULT]\nk = v\n[app:main]\n", "", "k", "v",
			"[DEFAULT]\nk = v\n[app:main]\nk = v\n", true},
		{"insert indented", "[app:main]\n# c\n   a = 1\n", "", "k", "v", "[app:main]\n   k = v\n# c\n   a = 1\n", true},
		{"insert first of repeated section", "[app:main]\na = 1\n[app:main]\nb = 2\n", "", "k", "v",
			"[app:main]\nk = v\na = 1\n[app:main]\nb = 2\n", true},
		{"insert last line", "[app:main]", "", "k", "v", "[app:main]\nk = v\n", true},
		{"insert crlf", "[app:main]\r\nuse = egg:ckan\r\n", "", "k", "v", "[app:main]\r\nk = v\r\nuse = egg:ckan\r\n", true},
		{"insert lone cr", "[app:main]\ruse = egg:ckan", "", "k", "v", "[app:main]\rk = v\ruse = egg:ckan\r", true},

		// missing sections
		{"new section", "[DEFAULT]\nd = 1\n\n[app:main]\nuse = egg:ckan\n", "server:main", "port", "5000",
			"[DEFAULT]\nd = 1\n\n[server:main]\nport = 5000\n\n[app:main]\nuse = egg:ckan\n", true},
		{"new section without app:main", "[loggers]\nkeys = root", "app:main", "k", "v",
			"[loggers]\nkeys = root\n\n[app:main]\nk = v\n", true},
		{"new section after blank", "[loggers]\n\n", "x", "k", "v", "[loggers]\n\n[x]\nk = v\n", true},
		{"new section empty file", "", "", "k", "v", "[app:main]\nk = v\n", true},
		{"new section comments only", "# c\n", "", "k", "v", "# c\n\n[app:main]\nk = v\n", true},
		{"new section indented app:main", "[s]\n  [app:main]\n  x = 1\n", "t", "k", "v",
			"[s]\n  [t]\n  k = v\n\n  [app:main]\n  x = 1\n", true},
		{"new section crlf", "[app:main]\r\n", "a", "k", "v", "[a]\r\nk = v\r\n\r\n[app:main]\r\n", true},

		// values
		{"value stripped", "[app:main]\n", "", "k", "  v  \n", "[app:main]\nk = v\n", true},
		{"multi-line value", "[app:main]\nx = 1\n", "", "k", "a\n b \n\nc\n", "[app:main]\nk = a\n    b\n\n    c\nx = 1\n", true},
		{"multi-line value crlf", "[app:main]\r\n", "", "k", "a\r\nb", "[app:main]\r\nk = a\r\n    b\r\n", true},
		{"multi-line value indented", "[app:main]\n  k = 1\n", "", "k", "a\nb", "[app:main]\n  k = a\n      b\n", true},
		{"multi-line to single", "[app:main]\nk = a\n  b\nx = 1\n", "", "k", "c", "[app:main]\nk = c\nx = 1\n", true},
		{"percent", "[app:main]\n", "", "k", "string:%(SECRET_KEY)s 100%%", "[app:main]\nk = string:%(SECRET_KEY)s 100%%\n", true},

		// the file keeps its BOM and ends with a line ending after a change
		{"bom", "\ufeff[app:main]\nk = 1", "", "k", "2", "\ufeff[app:main]\nk = 2\n", true},
		{"bom new section", "\ufeff[app:main]\n", "s", "k", "v", "\ufeff[s]\nk = v\n\n[app:main]\n", true},
		{"comment out last line", "[app:main]\nk = 1\nk = 2", "", "k", "3", "[app:main]\nk = 3\n#k = 2\n", true},
		{"drop last continuation", "[app:main]\nk = 1\n  2", "", "k", "3", "[app:main]\nk = 3\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.in)
			changed := f.Set(tt.section, tt.key, tt.v)
			if got := string(f.Bytes()); got != tt.want || changed != tt.changed {
				t.Errorf("Set(%q, %q, %q) = %v:\n%q\nwant %v:\n%q", tt.section, tt.key, tt.v, changed, got, tt.changed, tt.want)
			}
			// the result reads back, with the value
			g := mustParse(t, string(f.Bytes()))
			sec := tt.section
			if sec == "" {
				sec = "app:main"
			}
			want := strings.Join(valueLines(tt.v), "\n")
			if got, ok := g.GetRaw(sec, tt.key); !ok || got != want {
				t.Errorf("GetRaw(%q, %q) = %q, %v; want %q", sec, tt.key, got, ok, want)
			}
			// and setting it again is a no-op
			if f.Set(tt.section, tt.key, tt.v) || string(f.Bytes()) != tt.want {
				t.Errorf("second Set changed the file")
			}
		})
	}
}

func TestSetKeepsOtherValues(t *testing.T) {
	in := "[app:main]\nk = 1\nother = a\n#k = c\n\n  more\nlast = z\n"
	// "  more" continues "other" across the commented line; commenting
	// nothing in between must keep it there.
	f := mustParse(t, in)
	if got, _ := f.Get("other"); got != "a\n\nmore" {
		t.Fatalf("Get(other) = %q", got)
	}
	f.Set("", "k", "2")
	if got, _ := f.Get("other"); got != "a\n\nmore" {
		t.Errorf("after Set, Get(other) = %q", got)
	}
	if got := string(f.Bytes()); got != strings.Replace(in, "k = 1", "k = 2", 1) {
		t.Errorf("Bytes() = %q", got)
	}
}

func TestCheckOption(t *testing.T) {
	bad := []struct{ section, key, value string }{
		{"", "", "v"},
		{"", " k", "v"},
		{"", "k ", "v"},
		{"", "a=b", "v"},
		{"", "a:b", "v"},
		{"", "a\nb", "v"},
		{"", "#k", "v"},
		{"", ";k", "v"},
		{"", "[k]", "v"},
		{"a\nb", "k", "v"},
		{"", "k", "50%"},
		{"", "k", "%(x)d"},
		{"", "k", "a\n#b"},
		{"", "k", "a\n ;b"},
		{"", "k", "\xff"},
		{"", "\xff", "v"},
	}
	for _, b := range bad {
		if err := CheckOption(b.section, b.key, b.value); err == nil {
			t.Errorf("CheckOption(%q, %q, %q) = nil", b.section, b.key, b.value)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Set(%q, %q, %q) did not panic", b.section, b.key, b.value)
				}
			}()
			mustParse(t, "[app:main]\n").Set(b.section, b.key, b.value)
		}()
	}
	good := []struct{ section, key, value string }{
		{"", "k", "v"},
		{"app:main", "a b", "#v ;w"},
		{"DEFAULT", "SECRET_KEY", "string:%(x)s"},
		{" odd ]name[ ", "k", "100%%"},
		{"", "k", "a\n\nb\n"},
		{"", "k", "%%(x)d"},
	}
	for _, g := range good {
		if err := CheckOption(g.section, g.key, g.value); err != nil {
			t.Errorf("CheckOption(%q, %q, %q) = %v", g.section, g.key, g.value, err)
		}
	}
}

// TestSetMixedLineEndings: in a file that mixes "\r" and "\n" endings, a
// line ending "\r" followed by an empty line ending "\n" would read back
// as one line; Set never writes that pair.
func TestSetMixedLineEndings(t *testing.T) {
	for _, c := range []struct {
		data, section, key, value, want string
	}{
		// A new section appended after a last line ending "\r".
		{"[DEFAULT] ; c\n#secret_key = x\r", "a", "0", "0", "[DEFAULT] ; c\n#secret_key = x\r\r[a]\n0 = 0\n"},
		// The continuation lines of the option removed: its line, ending
		// "\r", comes before an empty line ending "\n".
		{"[s]\nk = a\r  b\n\n", "s", "k", "z", "[s]\nk = z\n\n"},
		// Two old lines brought together by the removal.
		{"[s]\nk = a\r  b\r\r  c\n\n", "s", "k", "z", "[s]\nk = z\r\r#\n\n"},
	} {
		g := mustParse(t, c.data)
		checkSet(t, g, []byte(c.data), c.section, c.key, c.value)
		if got := string(g.Bytes()); got != c.want {
			t.Errorf("Set(%q, %q, %q) on %q:\n got %q\nwant %q", c.section, c.key, c.value, c.data, got, c.want)
		}
	}
}
