package nginxconf

import (
	"bytes"
	"errors"
	"math/rand"
	"strings"
	"testing"
)

func seeds(t testing.TB) []string {
	site := string(readSite(t))
	return []string{
		site,
		"",
		"a;",
		"server { listen 80; server_name x; }",
		"server {\n\tlisten 80 default_server;\n\tlocation =/ { return 200 \"ok\\n\"; }\n}\n",
		"http { map $a $b { default 0; ~x 1; } if ($a = \"x\") { set $c ${d}e; } }",
		"a 'x\\'y' \"z\\\"w\";  # c\nb\\ c;",
		"s {\n  return 200 \"a\n# b\n  c\";\n}\n",
		strings.Replace(site, "client_max_body_size 100G;", "client_max_body_size 1M;", 1),
		strings.Replace(site, "    proxy_force_ranges on;\n", "", 1),
		strings.Replace(site, "listen      443 ssl http2;", "listen 443 ssl;", 1),
		site[:strings.Index(site, "# Redirect all traffic")],
	}
}

// checkTree checks the offsets of a parsed tree.
func checkTree(t *testing.T, c *Config) {
	var walk func(n *node, lo, hi int)
	walk = func(n *node, lo, hi int) {
		prev := lo
		for _, ch := range n.children {
			if ch.start < prev || ch.end > hi || ch.start >= ch.end {
				t.Fatalf("statement %q at [%d,%d) outside [%d,%d)", ch.name, ch.start, ch.end, prev, hi)
			}
			if ch.block {
				if ch.open <= ch.start || ch.close != ch.end-1 || c.data[ch.open] != '{' || c.data[ch.close] != '}' {
					t.Fatalf("block %q: bad braces", ch.name)
				}
				walk(ch, ch.open+1, ch.close)
			} else if c.data[ch.end-1] != ';' {
				t.Fatalf("directive %q does not end with ;", ch.name)
			}
			prev = ch.end
		}
	}
	walk(c.root, 0, len(c.data))
}

func FuzzParse(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		checkTree(t, c)
	})
}

func FuzzEnforce(f *testing.F) {
	ss := seeds(f)
	site := ss[0]
	for _, s := range ss {
		f.Add([]byte(s), []byte(site))
		f.Add([]byte(site), []byte(s))
	}
	f.Add([]byte("b;\na 3;\n"), []byte("a 1;\nb;\na 2;\n"))
	f.Add([]byte("server { listen 1; listen 2; server_name a; }"),
		[]byte("server { listen 1; server_name a; } server { listen 2; server_name a; }"))
	r := rand.New(rand.NewSource(1))
	for range 8 {
		var c, t strings.Builder
		randomConf(r, 3, "", &c)
		randomConf(r, 3, "", &t)
		f.Add([]byte(c.String()), []byte(t.String()))
		f.Add(mutateStatements(r, []byte(t.String())), []byte(t.String()))
	}
	f.Fuzz(func(t *testing.T, current, template []byte) {
		out, diffs, err := Enforce(current, template)
		_, errC := Parse(current)
		_, errT := Parse(template)
		if err != nil {
			if errors.Is(err, errInternal) || errC == nil && errT == nil {
				t.Fatalf("Enforce: %v", err)
			}
			return
		}
		if errC != nil || errT != nil {
			t.Fatalf("Enforce accepted input that does not parse: %v / %v", errC, errT)
		}
		c, err := Parse(out)
		if err != nil {
			t.Fatalf("result does not parse: %v\n%q", err, out)
		}
		checkTree(t, c)
		if len(diffs) == 0 && !bytes.Equal(out, current) {
			t.Fatalf("no differences, but the file changed:\n%q\n%q", current, out)
		}
		again, diffs2, err := Enforce(out, template)
		if err != nil {
			t.Fatalf("Enforce on its result: %v", err)
		}
		if !bytes.Equal(again, out) || len(diffs2) != 0 {
			t.Fatalf("not idempotent: %+v\ncurrent:  %q\ntemplate: %q\nfirst:    %q\nsecond:   %q",
				diffs2, current, template, out, again)
		}
		self, diffs3, err := Enforce(template, template)
		if err != nil || !bytes.Equal(self, template) || len(diffs3) != 0 {
			t.Fatalf("Enforce(template, template) = %q, %+v, %v", self, diffs3, err)
		}
	})
}
