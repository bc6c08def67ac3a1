package nginxconf

import (
	"fmt"
	"strings"
	"testing"
)

func TestZZShow(t *testing.T) {
	site := string(readSite(t))
	cur := replace(t, site, "client_max_body_size 100G;", "client_max_body_size 1M;")
	cur = replace(t, cur, "    proxy_force_ranges on;\n", "")
	cur = replace(t, cur, "    # ckan root\n    location = / {", "    location = /dummy {")
	cur = replace(t, cur, "    listen 80;\n    listen [::]:80;\n", "    listen 80;\n")
	cur = replace(t, cur, "    #location = /robots.txt { return 200 \"User-agent: *\\nDisallow: /\\n\"; }\n",
		"    location = /robots.txt { return 200 \"User-agent: *\\nDisallow: /\\n\"; }\n")
	cur = strings.ReplaceAll(cur, "    ", "\t")
	cur = cur[:strings.Index(cur, "\n# Redirect")] + "\n"
	out, diffs := enforce(t, cur, site)
	fmt.Println(out)
	for _, d := range diffs {
		fmt.Printf("%+v\n", d)
	}
}
