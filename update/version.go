package update

import (
	"strconv"
	"strings"
)

// CompareVersions compares two Python package versions as PEP 440 orders
// the common cases: the release numbers numerically (missing parts are 0),
// then a pre-release (a, b, rc, dev) before the release and a post-release
// after it. It returns -1, 0 or 1.
func CompareVersions(a, b string) int {
	ra, sa := splitVersion(a)
	rb, sb := splitVersion(b)
	for i := 0; i < len(ra) || i < len(rb); i++ {
		var x, y int
		if i < len(ra) {
			x = ra[i]
		}
		if i < len(rb) {
			y = rb[i]
		}
		if x != y {
			return sign(x - y)
		}
	}
	return sign(suffixRank(sa) - suffixRank(sb))
}

// splitVersion returns the release numbers and the rest ("rc1", ".post2").
func splitVersion(v string) ([]int, string) {
	v = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(v)), "v")
	if i := strings.IndexByte(v, '!'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i] // a local version label does not order
	}
	var nums []int
	for v != "" {
		j := 0
		for j < len(v) && v[j] >= '0' && v[j] <= '9' {
			j++
		}
		if j == 0 {
			break
		}
		n, _ := strconv.Atoi(v[:j])
		nums = append(nums, n)
		v = v[j:]
		if strings.HasPrefix(v, ".") && len(v) > 1 && v[1] >= '0' && v[1] <= '9' {
			v = v[1:]
			continue
		}
		break
	}
	return nums, strings.TrimLeft(v, ".-_")
}

// suffixRank orders what follows the release: dev < a < b < rc < final < post.
func suffixRank(s string) int {
	switch {
	case s == "":
		return 0
	case strings.HasPrefix(s, "rc"), strings.HasPrefix(s, "c"), strings.HasPrefix(s, "pre"):
		return -1
	case strings.HasPrefix(s, "post"), strings.HasPrefix(s, "rev"), strings.HasPrefix(s, "r"):
		return 1
	case strings.HasPrefix(s, "b"), strings.HasPrefix(s, "beta"):
		return -2
	case strings.HasPrefix(s, "a"), strings.HasPrefix(s, "alpha"):
		return -3
	default: // dev and anything unknown
		return -4
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// majorMinor is "2.10" of "2.10.3".
func majorMinor(v string) string {
	nums, _ := splitVersion(v)
	for len(nums) < 2 {
		nums = append(nums, 0)
	}
	return strconv.Itoa(nums[0]) + "." + strconv.Itoa(nums[1])
}

// Canonical is a package name as pip compares names (PEP 503): lower
// case, runs of "-", "_" and "." as one "-".
func Canonical(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(strings.TrimSpace(name)) {
		if r == '-' || r == '_' || r == '.' {
			if !dash {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		dash = false
		b.WriteRune(r)
	}
	return b.String()
}
