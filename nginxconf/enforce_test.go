package nginxconf

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const (
	mainServer     = "server[listen 443 ssl http2; listen [::]:443 ssl http2; server_name dcor.example.org]"
	redirectServer = "server[listen 80; listen [::]:80; server_name dcor.example.org]"
)

// replace replaces old, which must occur exactly once, by new.
func replace(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%q occurs %d times", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// enforce runs Enforce and checks that it is idempotent.
func enforce(t *testing.T, current, template string) (string, []Difference) {
	t.Helper()
	out, diffs, err := Enforce([]byte(current), []byte(template))
	if err != nil {
		t.Fatalf("Enforce: %v", err)
	}
	again, diffs2, err := Enforce(out, []byte(template))
	if err != nil {
		t.Fatalf("Enforce on its result: %v", err)
	}
	if string(again) != string(out) || len(diffs2) != 0 {
		t.Fatalf("not idempotent: second pass found %v\nfirst result:\n%s\nsecond result:\n%s", diffs2, out, again)
	}
	return string(out), diffs
}

func TestEnforceTemplateOnItself(t *testing.T) {
	site := string(readSite(t))
	out, diffs := enforce(t, site, site)
	if out != site || len(diffs) != 0 {
		t.Fatalf("Enforce(site, site) changed it: %v\n%s", diffs, out)
	}
}

// TestEnforceLayoutOnly: comments, whitespace and quoting differ, the
// statements are the same: nothing to do.
func TestEnforceLayoutOnly(t *testing.T) {
	site := string(readSite(t))
	var b strings.Builder
	for _, line := range strings.Split(site, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if strings.HasPrefix(trimmed, "#") {
			continue // comments removed
		}
		depth := (len(line) - len(trimmed)) / 4
		b.WriteString(strings.Repeat("\t", depth) + trimmed + "  \r\n")
	}
	cur := b.String()
	cur = replace(t, cur, `ssl_certificate "/etc/ssl/certs/dcor.example.org.cert";`,
		"ssl_certificate\n\t\t/etc/ssl/certs/dcor.example.org.cert  # the chain\n\t\t;")
	cur = replace(t, cur, "location = / {", "location =/ {")
	cur = replace(t, cur, "listen 80;", "listen '80' ;")
	cur = replace(t, cur, "listen      [::]:443 ssl http2;", "listen [::]:443 http2 ssl; # order of options does not matter")
	cur = "# managed by hand\n" + cur
	out, diffs := enforce(t, cur, site)
	if out != cur || len(diffs) != 0 {
		t.Fatalf("Enforce changed a site that differs only in layout: %+v\n%s", diffs, out)
	}
}

// TestEnforceAdminEditsKept: additions only in the current site stay and
// are no differences.
func TestEnforceAdminEditsKept(t *testing.T) {
	site := string(readSite(t))
	cur := replace(t, site, "    # client_body_temp_path /data/tmp/nginx/client_body 1 2;\n",
		"    client_body_temp_path /data/tmp/nginx 1 2;\n")
	cur = replace(t, cur, "    #location = /robots.txt { return 200 \"User-agent: *\\nDisallow: /\\n\"; }\n",
		"    location = /robots.txt { return 200 \"User-agent: *\\nDisallow: /\\n\"; }\n")
	cur = replace(t, cur, "# ckan root\n", "# CKAN's front page (cached)\n")
	cur = replace(t, cur, "        gzip off;\n", "        gzip off;\n        add_header X-Robots-Tag none;\n")
	cur = replace(t, cur, "    location / {\n", "    location /status {\n        stub_status;\n    }\n\n    location / {\n")
	cur += "\nserver {\n    listen 8080;\n    server_name internal;\n    return 403;\n}\n"
	out, diffs := enforce(t, cur, site)
	if out != cur || len(diffs) != 0 {
		t.Fatalf("Enforce changed the admin's additions: %+v\n%s", diffs, out)
	}
}

// TestEnforceRestoresDeleted: a statement deleted with its comments comes
// back exactly as in the template.
func TestEnforceRestoresDeleted(t *testing.T) {
	site := string(readSite(t))
	for _, tc := range []struct {
		name, deleted string
		diff          Difference
		want          func(string) string // the result, from the template
	}{
		{"proxy_force_ranges", "\n    # Enables byte-range support for both cached and uncached responses\n" +
			"    # from the proxied server regardless of the \"Accept-Ranges\" field\n" +
			"    # in these responses. This is important for resuming downloads.\n" +
			"    proxy_force_ranges on;\n",
			Difference{Block: mainServer, Directive: "proxy_force_ranges", Expected: "on"}, nil},
		{"location = /", "\n    # ckan root\n    location = / {\n" +
			"        proxy_pass http://127.0.0.1:8080/;\n        proxy_set_header Host $host;\n" +
			"        proxy_cache cache;\n        proxy_cache_bypass $cookie_auth_tkt;\n" +
			"        proxy_no_cache $cookie_auth_tkt;\n        proxy_cache_valid 30m;\n" +
			"        proxy_cache_key $host$scheme$proxy_host$request_uri;\n    }\n",
			Difference{Block: mainServer, Directive: "location = /"}, nil},
		{"redirect server", "\n# Redirect all traffic to SSL\nserver {\n    listen 80;\n    listen [::]:80;\n" +
			"    server_name dcor.example.org;\n    return 301 https://$host$request_uri;\n}\n",
			Difference{Directive: redirectServer}, nil},
		{"proxy_cache_path", "proxy_cache_path /tmp/nginx_cache levels=1:2 keys_zone=cache:30m max_size=250m;\n",
			Difference{Directive: "proxy_cache_path", Expected: "/tmp/nginx_cache levels=1:2 keys_zone=cache:30m max_size=250m"},
			// The comments left behind are not repeated; the statement goes
			// where the next one was (after the empty line).
			func(s string) string {
				s = replace(t, s, "cache_methods\nproxy_cache_path", "cache_methods\n\nproxy_cache_path")
				return replace(t, s, "max_size=250m;\n\nserver", "max_size=250m;\nserver")
			}},
		{"proxy_store", "        proxy_store off;\n",
			Difference{Block: mainServer + ` > location ~ \.(rtdc)$`, Directive: "proxy_store", Expected: "off"}, nil},
		{"listen [::]:80 default_server", "    listen [::]:80 default_server;\n",
			Difference{Block: "server[listen 80 default_server; listen [::]:80 default_server; server_name _]",
				Directive: "listen", Expected: "[::]:80 default_server"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := replace(t, site, tc.deleted, "")
			out, diffs := enforce(t, cur, site)
			want := site
			if tc.want != nil {
				want = tc.want(site)
			}
			if out != want {
				t.Errorf("result differs from the template:\n%s", out)
			}
			if want := []Difference{tc.diff}; !reflect.DeepEqual(diffs, want) {
				t.Errorf("diffs = %+v, want %+v", diffs, want)
			}
		})
	}
}

// TestEnforceDrift: drift is fixed, the admin's additions stay.
func TestEnforceDrift(t *testing.T) {
	site := string(readSite(t))
	admin := func(s string) string {
		s = replace(t, s, "    # client_body_temp_path /data/tmp/nginx/client_body 1 2;\n",
			"    client_body_temp_path /data/tmp/nginx 1 2;\n")
		s = replace(t, s, "    #location = /robots.txt { return 200 \"User-agent: *\\nDisallow: /\\n\"; }\n",
			"    location = /robots.txt { return 200 \"User-agent: *\\nDisallow: /\\n\"; }\n")
		return replace(t, s, "# ckan root\n", "# front page\n")
	}
	rtdc := mainServer + ` > location ~ \.(rtdc)$`
	for _, tc := range []struct {
		name     string
		mutate   func(string) string
		want     []Difference
		contains []string // in the result
	}{
		{
			name:   "client_max_body_size",
			mutate: func(s string) string { return replace(t, s, "client_max_body_size 100G;", "client_max_body_size 1M;") },
			want:   []Difference{{Block: mainServer, Directive: "client_max_body_size", Current: "1M", Expected: "100G"}},
		},
		{
			name: "cert path",
			mutate: func(s string) string {
				return replace(t, s, `ssl_certificate "/etc/ssl/certs/dcor.example.org.cert";`, `ssl_certificate /etc/ssl/certs/old.pem; # renewed`)
			},
			want: []Difference{{Block: mainServer, Directive: "ssl_certificate",
				Current: "/etc/ssl/certs/old.pem", Expected: `"/etc/ssl/certs/dcor.example.org.cert"`}},
			contains: []string{`    ssl_certificate "/etc/ssl/certs/dcor.example.org.cert"; # renewed` + "\n"},
		},
		{
			name: "proxy_force_ranges and proxy_cache",
			mutate: func(s string) string {
				s = replace(t, s, "    proxy_force_ranges on;\n", "")
				return replace(t, s, "        proxy_cache off;\n", "        proxy_cache cache;\n")
			},
			want: []Difference{
				{Block: mainServer, Directive: "proxy_force_ranges", Expected: "on"},
				{Block: rtdc, Directive: "proxy_cache", Current: "cache", Expected: "off"},
			},
		},
		{
			name: "http2 dropped from listen",
			mutate: func(s string) string {
				s = replace(t, s, "    listen      443 ssl http2;\n", "    listen 443 ssl;\n")
				return replace(t, s, "    listen      [::]:443 ssl http2;\n", "")
			},
			want: []Difference{
				{Block: mainServer, Directive: "listen", Current: "443 ssl", Expected: "443 ssl http2"},
				{Block: mainServer, Directive: "listen", Expected: "[::]:443 ssl http2"},
			},
			contains: []string{"    listen      443 ssl http2;\n    listen      [::]:443 ssl http2;\n    server_name dcor.example.org;"},
		},
		{
			name: "extra listen and missing location",
			mutate: func(s string) string {
				s = replace(t, s, "    listen      [::]:443 ssl http2;\n", "    listen      [::]:443 ssl http2;\n    listen 8443 ssl;\n")
				return replace(t, s, "    location / {\n        return 404;\n    }\n", "")
			},
			want:     []Difference{{Block: mainServer, Directive: "location /"}},
			contains: []string{"    listen 8443 ssl;\n", "load off of the uWSGI workers.\n    location / {\n        return 404;\n    }\n}\n"},
		},
		{
			name: "cache path moved",
			mutate: func(s string) string {
				return replace(t, s, "proxy_cache_path /tmp/nginx_cache ", "proxy_cache_path /var/cache/nginx ")
			},
			want: []Difference{{Directive: "proxy_cache_path",
				Current:  "/var/cache/nginx levels=1:2 keys_zone=cache:30m max_size=250m",
				Expected: "/tmp/nginx_cache levels=1:2 keys_zone=cache:30m max_size=250m"}},
		},
		{
			name: "all servers but the main one missing",
			mutate: func(s string) string {
				i := strings.Index(s, "\n# Redirect all traffic to SSL")
				return s[:i]
			},
			want: []Difference{
				{Directive: redirectServer},
				{Directive: "server[listen 80 default_server; listen [::]:80 default_server; server_name _]"},
				{Directive: "server[listen 443 default_server; listen [::]:443 default_server; server_name _]"},
			},
		},
		{
			name: "proxy_set_header changed, rtdc location missing",
			mutate: func(s string) string {
				s = replace(t, s, "        proxy_pass http://127.0.0.1:8080/;\n        proxy_set_header Host $host;\n",
					"        proxy_pass http://127.0.0.1:8080/;\n        proxy_set_header Host example.org;\n        proxy_set_header X-Real-IP $remote_addr;\n")
				i := strings.Index(s, "    # Do not cache downloads of .rtdc data")
				j := strings.Index(s, "    # allow-list")
				return s[:i] + s[j:]
			},
			want: []Difference{
				{Block: mainServer, Directive: `location ~ \.(rtdc)$`},
				{Block: mainServer + " > location = /", Directive: "proxy_set_header", Current: "Host example.org", Expected: "Host $host"},
			},
			contains: []string{"proxy_set_header Host $host;\n        proxy_set_header X-Real-IP $remote_addr;\n"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := admin(tc.mutate(site))
			out, diffs := enforce(t, cur, site)
			if !reflect.DeepEqual(diffs, tc.want) {
				t.Errorf("diffs:\n%+v\nwant\n%+v", diffs, tc.want)
			}
			// The admin's edits stay.
			for _, s := range []string{"    client_body_temp_path /data/tmp/nginx 1 2;\n",
				"    location = /robots.txt { return 200 \"User-agent: *\\nDisallow: /\\n\"; }\n", "# front page\n"} {
				if !strings.Contains(out, s) {
					t.Errorf("admin edit %q lost:\n%s", s, out)
				}
			}
			for _, s := range tc.contains {
				if !strings.Contains(out, s) {
					t.Errorf("result lacks %q:\n%s", s, out)
				}
			}
			// Apart from the admin's edits, the result is the template.
			if want := admin(site); want != out && tc.contains == nil {
				t.Errorf("result is not the template with the admin's edits:\n%s", lineDiff(want, out))
			}
		})
	}
}

func TestEnforceIndentation(t *testing.T) {
	for _, tc := range []struct{ name, cur, tpl, want string }{
		{
			name: "tabs",
			cur:  "server {\n\tlisten 80;\n}\n",
			tpl:  "server {\n    listen 80;\n    location / {\n        return 404;\n    }\n}\n",
			want: "server {\n\tlisten 80;\n\tlocation / {\n\t\treturn 404;\n\t}\n}\n",
		},
		{
			name: "empty block",
			cur:  "events {}\nhttp {\n}\n",
			tpl:  "http {\n  gzip on;\n}\n",
			want: "events {}\nhttp {\n  gzip on;\n}\n",
		},
		{
			name: "one line block",
			cur:  "server {\n    location / { return 404; }\n}\n",
			tpl:  "server {\n    location / {\n        return 404;\n        add_header X y;\n    }\n}\n",
			want: "server {\n    location / { return 404;\n        add_header X y;\n    }\n}\n",
		},
		{
			name: "trailing comment and no final newline",
			cur:  "a 1; # one\nb 2; # two",
			tpl:  "a 1;\nc 3;\nb 2;\nd 4;\n",
			want: "a 1; # one\nc 3;\nb 2; # two\nd 4;\n",
		},
		{
			name: "statements on one line",
			cur:  "a 1; b 2;",
			tpl:  "a 1;\nc 3;\nb 2;\n",
			want: "a 1;\nc 3;\nb 2;",
		},
		{
			name: "first in block",
			cur:  "http {\n    b 2;\n}\n",
			tpl:  "http {\n    a 1;\n    b 2;\n}\n",
			want: "http {\n    a 1;\n    b 2;\n}\n",
		},
		{
			name: "empty current",
			cur:  "",
			tpl:  "# c\nx 1;\n",
			want: "# c\nx 1;\n",
		},
		{
			name: "multi-line quoted string kept",
			cur:  "s {\n}\n",
			tpl:  "s {\n  return 200 \"a\n  b\";\n}\n",
			want: "s {\n  return 200 \"a\n  b\";\n}\n",
		},
		{
			name: "repeated key keeps its order",
			cur:  "b;\na 3;\n",
			tpl:  "a 1;\nb;\na 2;\n",
			want: "b;\na 1;\na 2;\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := enforce(t, tc.cur, tc.tpl)
			if out != tc.want {
				t.Errorf("got\n%q\nwant\n%q", out, tc.want)
			}
		})
	}
}

func TestEnforceErrors(t *testing.T) {
	site := readSite(t)
	bad := []byte(strings.Replace(string(site), "return 404;", "return 404", 1))
	_, _, err := Enforce(bad, site)
	if err == nil || !strings.Contains(err.Error(), `current file: line 73: unexpected "}": directive "return" (line 72)`) {
		t.Errorf("Enforce(bad current) = %v, want an error naming line 73", err)
	}
	_, _, err = Enforce(site, []byte("server {"))
	if err == nil || !strings.HasPrefix(err.Error(), "template: line 1:") {
		t.Errorf("Enforce(bad template) = %v", err)
	}
	if errors.Is(err, errInternal) {
		t.Error("a parse error is no internal error")
	}
}

// lineDiff shows the first line where got differs from want.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		if i >= len(w) || i >= len(g) || w[i] != g[i] {
			lo := max(0, i-3)
			return fmt.Sprintf("line %d:\nwant: %q\ngot:  %q", i+1, w[lo:min(len(w), i+4)], g[lo:min(len(g), i+4)])
		}
	}
	return "(same)"
}

func TestEnforceEmpty(t *testing.T) {
	site := string(readSite(t))
	if out, diffs := enforce(t, "", ""); out != "" || len(diffs) != 0 {
		t.Errorf("Enforce(empty, empty) = %q, %v", out, diffs)
	}
	if out, diffs := enforce(t, site, ""); out != site || len(diffs) != 0 {
		t.Errorf("Enforce(site, empty) changed the site: %v", diffs)
	}
	if out, diffs := enforce(t, "", site); out != site || len(diffs) != 5 {
		t.Errorf("Enforce(empty, site) = %d diffs:\n%s", len(diffs), lineDiff(site, out))
	}
}
