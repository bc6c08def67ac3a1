package inspect

import (
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
)

// unifiedDiff returns the unified diff from old to new of the file at
// host path p. The diff is computed on the real text (so a change of a
// password alone still shows as a changed line) and each line of it is
// then passed through mask, so that no secret is printed.
func unifiedDiff(p string, old, new []byte, mask func(string) string) string {
	from := "a" + p
	if old == nil {
		from = "/dev/null"
	}
	d := udiff.Unified(from, "b"+p, string(old), string(new))
	if mask == nil || d == "" {
		return d
	}
	lines := strings.SplitAfter(d, "\n")
	for i, l := range lines {
		if l == "" || strings.HasPrefix(l, "---") || strings.HasPrefix(l, "+++") || strings.HasPrefix(l, "@@") {
			continue
		}
		body := strings.TrimRight(l[1:], "\r\n")
		lines[i] = l[:1] + mask(body) + l[1+len(body):]
	}
	return strings.Join(lines, "")
}
