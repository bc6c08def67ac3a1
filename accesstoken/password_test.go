package accesstoken

import (
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestNewPassword(t *testing.T) {
	bits := float64(passwordGroups*passwordGroupSize) * math.Log2(float64(len(passwordAlphabet)))
	if bits < 128 {
		t.Fatalf("passwords carry %.1f bits, want >= 128", bits)
	}
	if strings.ContainsAny(passwordAlphabet, "01oli") || len(passwordAlphabet) != 31 {
		t.Fatalf("alphabet %q has look-alikes", passwordAlphabet)
	}
	shape := regexp.MustCompile(`^[a-hjkmnp-z2-9]{5}(-[a-hjkmnp-z2-9]{5}){5}$`)
	seen := map[rune]int{}
	prev := map[string]bool{}
	for range 2000 {
		pw, err := NewPassword()
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(pw) || prev[pw] {
			t.Fatalf("password %q", pw)
		}
		prev[pw] = true
		for _, r := range strings.ReplaceAll(pw, "-", "") {
			seen[r]++
		}
	}
	// 60000 symbols over 31: each about 1935 times; a biased draw (e.g.
	// modulo instead of rejection) would push some far off.
	for _, r := range passwordAlphabet {
		if n := seen[r]; n < 1600 || n > 2300 {
			t.Errorf("%c drawn %d times of 60000", r, n)
		}
	}
}

func TestReadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{
		"secret\n":         "secret",
		"secret\r\nnext\n": "secret",
		"  spaced pw  ":    "  spaced pw  ",
	} {
		p := writeFile(t, filepath.Join(dir, "pw"), content)
		if got, err := ReadPasswordFile(p); err != nil || got != want {
			t.Errorf("%q: %q, %v", content, got, err)
		}
	}
	p := writeFile(t, filepath.Join(dir, "empty"), "\n")
	if _, err := ReadPasswordFile(p); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty: %v", err)
	}
	if _, err := ReadPasswordFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file read")
	}
}
