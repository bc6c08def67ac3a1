package ckanini

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/ini.v1"
)

// loadINIv1 reads data with gopkg.in/ini.v1 configured to come as close to
// ConfigParser as it can, `here` and `__file__` injected into [DEFAULT].
func loadINIv1(path string, data []byte) (*ini.File, error) {
	cfg, err := ini.LoadSources(ini.LoadOptions{
		InsensitiveKeys:         true, // ConfigParser's optionxform
		IgnoreInlineComment:     true, // "k = v # c" is "v # c"
		IgnoreContinuation:      true, // no backslash continuation
		PreserveSurroundedQuote: true, // quotes are part of the value
		// AllowPythonMultilineValues is not used: ini.v1 keeps the
		// indentation of continuation lines (and "\r"), ends them at blank
		// lines and ignores the indentation of the option line.
	}, data)
	if err != nil {
		return nil, err
	}
	abs := absPath(path)
	def := cfg.Section(ini.DefaultSection)
	for k, v := range map[string]string{"here": filepath.Dir(abs), "__file__": abs} {
		if !def.HasKey(k) {
			if _, err := def.NewKey(k, v); err != nil {
				return nil, err
			}
		}
	}
	return cfg, nil
}

// FuzzINIv1 checks that this package and gopkg.in/ini.v1 read the same
// sections, options and values from files in the part of the format where
// both implement ConfigParser (see genTame). This package is authoritative;
// the comparison guards it with a second, independent reader.
func FuzzINIv1(f *testing.F) {
	f.Add([]byte("seed"))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24})
	f.Add([]byte{0, 0, 3, 3, 3, 3, 0, 0, 5, 3, 0, 2, 1, 3, 3, 3, 7, 4, 1, 0, 0, 3, 9, 9, 3, 1, 1, 1, 0})
	f.Fuzz(func(t *testing.T, choices []byte) {
		data := []byte(genTame(&byteSrc{b: choices}))
		compareINIv1(t, data)
	})
}

func compareINIv1(t *testing.T, data []byte) {
	t.Helper()
	ours, err := Parse(fuzzPath, data)
	if err != nil {
		t.Fatalf("Parse: %v\n%q", err, data)
	}
	theirs, err := loadINIv1(fuzzPath, data)
	if err != nil {
		t.Fatalf("ini.v1: %v\n%q", err, data)
	}

	// The same sections ...
	var names []string
	for _, s := range theirs.Sections() {
		if s.Name() != ini.DefaultSection || ours.HasSection(defaultSection) {
			names = append(names, s.Name())
		}
	}
	if !sameSet(names, ours.order) {
		t.Fatalf("sections: ini.v1 %q, ckanini %q\n%s", names, ours.order, clipData(data))
	}

	// ... the same options and values.
	for _, name := range ours.order {
		order := ours.keys(name)
		sec := theirs.Section(name)
		var keys []string
		for _, k := range sec.KeyStrings() {
			if name == defaultSection && (k == "here" || k == "__file__") {
				if _, ok := ours.lookup(name, k); !ok {
					continue
				}
			}
			keys = append(keys, k)
		}
		if !sameSet(keys, order) {
			t.Fatalf("[%s] keys: ini.v1 %q, ckanini %q\n%s", name, keys, order, clipData(data))
		}
		for _, fk := range order {
			got := sec.Key(fk).Value() // raw
			var v string
			if name == mainSection {
				got = sec.Key(fk).String() // interpolated
				val, ok, err := ours.chain().get(fk)
				if err != nil {
					// ini.v1 leaves what it cannot resolve; ckanini must
					// have failed for a missing option only.
					if !strings.Contains(err.Error(), "no option") {
						t.Fatalf("Get(%q): %v\n%s", fk, err, clipData(data))
					}
					continue
				}
				if !ok {
					t.Fatalf("Get(%q) found nothing", fk)
				}
				v = val
			} else {
				v, _ = ours.lookupValue(name, fk)
			}
			if got != v {
				t.Fatalf("[%s] %s: ini.v1 %q, ckanini %q\n%s", name, fk, got, v, clipData(data))
			}
		}
	}
}

// clipData shortens data for messages.
func clipData(data []byte) string {
	if len(data) > 400 {
		return fmt.Sprintf("%q...", data[:400])
	}
	return fmt.Sprintf("%q", data)
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// The test files in the common subset (no continuation lines) read the
// same with ini.v1.
func TestINIv1Testdata(t *testing.T) {
	for _, name := range []string{"ckan29.ini", "ckan29_crlf.ini", "ckan29_bom.ini", "ckan29.golden",
		"chain/main.ini", "chain/base/base.ini"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		compareINIv1(t, data)
	}
}
