package change

import (
	"strings"

	"github.com/DCOR-dev/dcor/ckanini"
	udiff "github.com/aymanbagabas/go-udiff"
)

// UnifiedDiff returns the unified diff from old to new of the file at
// host path p (old nil: a new file). The diff is computed on the real
// text (so a change of a password alone still shows as a changed line)
// and each line of it is then passed through mask, so that no secret is
// printed.
func UnifiedDiff(p string, old, new []byte, mask func(string) string) string {
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

// MaskSecrets hides the secret value of a `key = value` (or `key: value`)
// line of an INI-style file, commented or not: a password, a secret key,
// the password part of a URL. Other lines are returned as they are.
func MaskSecrets(path, line string) string {
	trimmed := strings.TrimLeft(line, " \t#;")
	i := strings.IndexAny(trimmed, "=:")
	if i <= 0 {
		return line
	}
	key := strings.TrimSpace(trimmed[:i])
	if !ckanini.IsSecret(key) {
		return line
	}
	value := strings.TrimSpace(trimmed[i+1:])
	masked := ckanini.Mask(key, value)
	if masked == value {
		return line
	}
	j := strings.LastIndex(line, value)
	if j < 0 {
		return line
	}
	return line[:j] + masked + line[j+len(value):]
}
