package ckanini

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata (check them by eye)")

// edit is one `ckan config-tool` argument: [-s SECTION] key=value.
type edit struct {
	section, key, value string
}

// readEdits reads an .edits file: one edit a line, '#' comments.
func readEdits(t testing.TB, path string) []edit {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []edit
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var e edit
		if rest, ok := strings.CutPrefix(line, "-s "); ok {
			e.section, line, _ = strings.Cut(strings.TrimSpace(rest), " ")
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: no '=' in %q", path, n+1, line)
		}
		e.key, e.value = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(e.value, `"`) {
			if e.value, err = strconv.Unquote(e.value); err != nil {
				t.Fatalf("%s:%d: %v", path, n+1, err)
			}
		}
		out = append(out, e)
	}
	return out
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s", path, lineDiff(want, got))
	}
}

// lineDiff lists the first lines that differ.
func lineDiff(want, got []byte) string {
	w := strings.SplitAfter(string(want), "\n")
	g := strings.SplitAfter(string(got), "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, a, c)
			if n++; n == 5 {
				break
			}
		}
	}
	return b.String()
}

var goldenCases = []struct{ input, edits, golden string }{
	{"ckan29.ini", "ckan29.edits", "ckan29.golden"},
	{"ckan29_crlf.ini", "ckan29.edits", "ckan29_crlf.golden"},
	{"ckan29_bom.ini", "ckan29.edits", "ckan29_bom.golden"},
	{"ckan211.ini", "ckan211.edits", "ckan211.golden"},
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.input, func(t *testing.T) {
			path := filepath.Join("testdata", c.input)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(path, data)
			if err != nil {
				t.Fatal(err)
			}
			edits := readEdits(t, filepath.Join("testdata", c.edits))
			var log strings.Builder
			for _, e := range edits {
				fmt.Fprintf(&log, "[%s] %s: changed=%v\n", e.section, e.key, f.Set(e.section, e.key, e.value))
			}
			out := f.Bytes()
			checkGolden(t, filepath.Join("testdata", c.golden), out)
			checkGolden(t, filepath.Join("testdata", strings.TrimSuffix(c.edits, ".edits")+".changes"), []byte(log.String()))

			// The result reads back with the new values ...
			g, err := Parse(path, out)
			if err != nil {
				t.Fatalf("golden output does not parse: %v", err)
			}
			for _, e := range edits {
				sec := e.section
				if sec == "" {
					sec = mainSection
				}
				want := strings.Join(valueLines(e.value), "\n")
				if got, ok := g.GetRaw(sec, e.key); !ok || got != want {
					t.Errorf("GetRaw(%q, %q) = %q, %v; want %q", sec, e.key, got, ok, want)
				}
				if sec == mainSection {
					if got, ok := g.Get(e.key); !ok || got != want {
						t.Errorf("Get(%q) = %q, %v; want %q", e.key, got, ok, want)
					}
				}
			}
			if d := g.Duplicates(); len(d) != 0 {
				t.Errorf("duplicates left: %v", d)
			}
			if err := g.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			// ... and applying the edits again changes nothing.
			for _, e := range edits {
				if f.Set(e.section, e.key, e.value) {
					t.Errorf("second Set(%q, %q) reported a change", e.section, e.key)
				}
			}
			if !bytes.Equal(f.Bytes(), out) {
				t.Error("second round of edits changed the file")
			}
		})
	}
}

// The CRLF and BOM goldens must be the LF golden with only the line endings
// or the BOM changed.
func TestGoldenVariants(t *testing.T) {
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	lf := read("ckan29.golden")
	if got := read("ckan29_crlf.golden"); !bytes.Equal(got, bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))) {
		t.Error("ckan29_crlf.golden is not ckan29.golden with CRLF line endings")
	}
	if got := read("ckan29_bom.golden"); !bytes.Equal(got, append(append([]byte{}, utf8BOM...), lf...)) {
		t.Error("ckan29_bom.golden is not ckan29.golden with a BOM")
	}
}
