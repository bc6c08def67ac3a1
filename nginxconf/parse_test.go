package nginxconf

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func readSite(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/dcor-site.conf")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// flat lists the statements of a tree as "name args" paths.
func flat(n *node, prefix string, out *[]string) {
	for _, c := range n.children {
		s := prefix + strings.TrimSpace(c.name+" "+strings.Join(c.args, " "))
		*out = append(*out, s)
		if c.block {
			flat(c, s+" > ", out)
		}
	}
}

func TestParseSite(t *testing.T) {
	data := readSite(t)
	c, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var top []string
	for _, n := range c.root.children {
		top = append(top, n.name)
	}
	if want := []string{"proxy_cache_path", "server", "server", "server", "server"}; !slices.Equal(top, want) {
		t.Fatalf("main context = %q, want %q", top, want)
	}
	var all []string
	flat(c.root, "", &all)
	for _, want := range []string{
		"server > ssl_certificate /etc/ssl/certs/dcor.example.org.cert",
		`server > location ~ \.(rtdc)$ > proxy_pass http://127.0.0.1:8080$request_uri`,
		"server > location ~ /(api|ckan-admin|dashboard|dataset|favicon.ico|fonts|group|images|login_generic|organization|revision|user|webassets) > proxy_cache_key $host$scheme$proxy_host$request_uri",
		"server > location = / > proxy_pass http://127.0.0.1:8080/",
		"server > location / > return 404",
		"server > return 301 https://$host$request_uri",
	} {
		if !slices.Contains(all, want) {
			t.Errorf("missing %q in\n%s", want, strings.Join(all, "\n"))
		}
	}
	for _, s := range all {
		if strings.Contains(s, "robots") || strings.Contains(s, "client_body_temp_path") {
			t.Errorf("a comment was parsed as a statement: %q", s)
		}
	}
	// Offsets: every statement's bytes start with its name and end with
	// ";" or "}".
	var check func(n *node)
	check = func(n *node) {
		for _, ch := range n.children {
			text := string(data[ch.start:ch.end])
			if !strings.HasPrefix(text, ch.name) {
				t.Errorf("statement %q does not start with its name", text)
			}
			if ch.block && (!strings.HasSuffix(text, "}") || data[ch.open] != '{' || data[ch.close] != '}') {
				t.Errorf("block %q: bad offsets", text)
			}
			if !ch.block && !strings.HasSuffix(text, ";") {
				t.Errorf("directive %q does not end with ;", text)
			}
			check(ch)
		}
	}
	check(c.root)
}

func TestTokenValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // the words of the only statement
	}{
		{`return 200 "User-agent: *\nDisallow: /\n";`, []string{"return", "200", "User-agent: *\nDisallow: /\n"}},
		{`a "x\"y" 'p q' 'it\'s';`, []string{"a", `x"y`, "p q", "it's"}},
		{`location ~ \.(rtdc)$ { }`, []string{"location", "~", `\.(rtdc)$`}},
		{`set $a ${b}c;`, []string{"set", "$a", "${b}c"}},
		{`add_header X a#b;`, []string{"add_header", "X", "a#b"}},
		{"a # comment ; { }\n  b;", []string{"a", "b"}},
		{`a "x # not a comment";`, []string{"a", "x # not a comment"}},
		{`a\ b c\\;`, []string{`a\ b`, `c\`}},
		{`if ($a = "x") { }`, []string{"if", "($a", "=", "x", ")"}},
		{"a\tb\r\nc;", []string{"a", "b", "c"}},
	} {
		c, err := Parse([]byte(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if len(c.root.children) != 1 {
			t.Errorf("%q: %d statements", tc.in, len(c.root.children))
			continue
		}
		n := c.root.children[0]
		if got := append([]string{n.name}, n.args...); !slices.Equal(got, tc.want) {
			t.Errorf("%q: words %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a;\n}\n", `line 2: unexpected "}"`},
		{"server {\n  listen 80;\n", `line 1: block "server" is not closed`},
		{"a;\nb \"abc;\n\n", "line 2: unterminated quoted string"},
		{"a;\nb 'abc;\n", "line 2: unterminated quoted string"},
		{"a;\nreturn 404", `line 2: unexpected end of file: directive "return" is missing its ";"`},
		{"a;\nreturn 404 ", `line 2: unexpected end of file: directive "return" is missing its ";"`},
		{"a;\nreturn", `line 2: unexpected end of file: directive "return" is missing its ";"`},
		{"location / {\n  return 404\n}\n", `line 3: unexpected "}": directive "return" (line 2) is missing its ";"`},
		{"a;;", `line 1: unexpected ';'`},
		{"{ a; }", `line 1: unexpected '{'`},
		{"a\n\"b\"c;", `line 2: unexpected 'c' after a quoted string`},
		{"s {\n  l {\n    x;\n  }\n", `line 1: block "s" is not closed`},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
	for _, ok := range []string{"", "\n", "# only a comment", "a; # trailing", "a \"b\";", `a "b"{}`, "a {}"} {
		if _, err := Parse([]byte(ok)); err != nil {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
}

func TestStatementsGiveValuesAndSpans(t *testing.T) {
	data := []byte("include /etc/nginx/a.conf;\nserver { ssl_certificate \"/x y/c.pem\"; location / { return 404; } }\n")
	c, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	st := c.Statements()
	if len(st) != 2 || st[0].Name != "include" || st[0].Args[0] != "/etc/nginx/a.conf" || st[1].Line != 2 {
		t.Fatalf("statements: %+v", st)
	}
	sp := st[0].ArgSpans[0]
	if string(data[sp[0]:sp[1]]) != "/etc/nginx/a.conf" {
		t.Errorf("include span is %q", data[sp[0]:sp[1]])
	}
	srv := st[1]
	if !srv.Block || len(srv.Children) != 2 || srv.Children[0].Args[0] != "/x y/c.pem" {
		t.Fatalf("server: %+v", srv)
	}
	sp = srv.Children[0].ArgSpans[0]
	if string(data[sp[0]:sp[1]]) != `"/x y/c.pem"` {
		t.Errorf("quoted span is %q", data[sp[0]:sp[1]])
	}
	if loc := srv.Children[1]; !loc.Block || loc.Children[0].Name != "return" {
		t.Errorf("location: %+v", loc)
	}
}
