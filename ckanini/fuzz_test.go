package ckanini

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fuzzPath = "/etc/ckan/default/ckan.ini"

// seedFiles returns the test ini files, as fuzz seeds.
func seedFiles(f *testing.F) [][]byte {
	var out [][]byte
	for _, pattern := range []string{"testdata/*.ini", "testdata/chain/*.ini", "testdata/chain/*/*.ini"} {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, data)
		}
	}
	return append(out,
		[]byte("[app:main]\nk = a\n  b\n\n  c\n#k = d\nK = e\n"),
		[]byte("[app:main]\r\n#k = 1\r\n  x\r\n"),
		[]byte("\ufeff[app:main]"),
		[]byte("  [app:main]\n  k = 1\n   c\n"),
		[]byte("[a]\nk = %(k)s\n[app:main]\nx = %(here)s %%\n"),
	)
}

func FuzzParse(f *testing.F) {
	for _, s := range seedFiles(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(fuzzPath, data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			n := len(splitLines(strings.TrimPrefix(string(data), "\ufeff")))
			if pe.Line < 1 || pe.Line > n || pe.Path != fuzzPath {
				t.Fatalf("bad error position: %v (%d lines)", err, n)
			}
			return
		}
		if !bytes.Equal(g.Bytes(), data) {
			t.Fatalf("Bytes() = %q, want the input %q", g.Bytes(), data)
		}
		nlines := len(g.lines)
		for _, d := range g.Duplicates() {
			if len(d.Lines) < 2 {
				t.Fatalf("duplicate with %d lines", len(d.Lines))
			}
			for _, l := range d.Lines {
				if l < 1 || l > nlines {
					t.Fatalf("duplicate line %d out of range", l)
				}
			}
		}
		for _, name := range g.order {
			for _, fk := range g.keys(name) {
				e, _ := optionOf(g, name, fk)
				if v, ok := g.GetRaw(name, e.key); !ok || v != e.value {
					t.Fatalf("GetRaw(%q, %q) = %q, %v", name, e.key, v, ok)
				}
				_, _ = g.Get(e.key)
				_, _ = g.Interpolate(e.value)
			}
		}
		_ = g.Validate()
	})
}

// lineSet describes what Set may touch: the option and continuation lines of
// the key in the section, and the commented-out lines of the key there.
func touchable(g *File, section, fk string) map[int]bool {
	out := map[int]bool{}
	info := viewOf(g)
	lines := linesOf(g)
	for i, in := range info {
		switch in.kind {
		case lineOption:
			if in.section == section && fold(in.key) == fk {
				out[i] = true
			}
		case lineCont:
			o := info[in.owner]
			if o.section == section && fold(o.key) == fk {
				out[i] = true
			}
		case lineComment:
			t := lines[i].text
			if in.section == section && (t[0] == '#' || t[0] == ';') {
				if k, _, _, ok := splitOption(strings.TrimLeftFunc(t[1:], isSpace)); ok && fold(k) == fk {
					out[i] = true
				}
			}
		}
	}
	return out
}

func FuzzSet(f *testing.F) {
	for _, s := range seedFiles(f) {
		f.Add(s, uint8(0), "ckan.site_url", "https://dcor.example.org")
		f.Add(s, uint8(0), "ckan.storage_path", "/data/ckan-host")
		f.Add(s, uint8(0), "secret_key", "x\ny")
		f.Add(s, uint8(1), "debug", "true")
		f.Add(s, uint8(2), "level", "DEBUG")
		f.Add(s, uint8(3), "port", "5000")
		f.Add(s, uint8(0), "k", "")
	}
	f.Fuzz(func(t *testing.T, data []byte, sel uint8, key, value string) {
		g, err := Parse(fuzzPath, data)
		if err != nil {
			return
		}
		section := ""
		switch sel % 4 {
		case 1:
			section = defaultSection
		case 2:
			if len(g.order) > 0 {
				section = g.order[int(sel/4)%len(g.order)]
			}
		case 3:
			section = "new:section"
		}
		checkSet(t, g, data, section, key, value)
	})
}

// checkSet calls g.Set(section, key, value) on g, parsed from data, and
// checks the invariants of an edit.
func checkSet(t *testing.T, g *File, data []byte, section, key, value string) {
	t.Helper()
	if err := CheckOption(section, key, value); err != nil {
		defer func() {
			if recover() == nil {
				t.Fatalf("Set did not panic although CheckOption said %v", err)
			}
		}()
		g.Set(section, key, value)
		return
	}
	if section == "" {
		section = mainSection
	}
	fk := fold(key)
	want := strings.Join(valueLines(value), "\n")
	oldLines := linesOf(g)
	old, _ := Parse(fuzzPath, data)
	touch := touchable(old, section, fk)

	changed := g.Set(section, key, value)
	out := g.Bytes()
	if !changed && !bytes.Equal(out, data) {
		t.Fatal("Set reported no change but the file changed")
	}

	// The result reads back, with the value.
	h, err := Parse(fuzzPath, out)
	if err != nil {
		t.Fatalf("result does not parse: %v\n%q", err, out)
	}
	if v, ok := h.GetRaw(section, key); !ok || v != want {
		t.Fatalf("GetRaw(%q, %q) = %q, %v; want %q\n%q", section, key, v, ok, want, out)
	}
	if section == mainSection && !strings.Contains(want, "%") {
		if v, ok := h.Get(key); !ok || v != want {
			t.Fatalf("Get(%q) = %q, %v; want %q", key, v, ok, want)
		}
	}
	if d := h.Duplicates(); len(d) > 0 {
		for _, x := range d {
			if x.Section == section && fold(x.Key) == fk {
				t.Fatalf("duplicates of the key left: %v", x)
			}
		}
	}

	// Every other option keeps its value, and no option appears.
	for _, name := range old.order {
		for _, k := range old.keys(name) {
			if name == section && k == fk {
				continue
			}
			was, _ := optionOf(old, name, k)
			e, ok := optionOf(h, name, k)
			if !ok || e.value != was.value {
				t.Fatalf("[%s] %s changed from %q to %+v\n%q", name, k, was.value, e, out)
			}
		}
	}
	for _, name := range h.order {
		for _, k := range h.keys(name) {
			if name == section && k == fk {
				continue
			}
			if _, ok := old.lookup(name, k); !ok {
				t.Fatalf("[%s] %s appeared", name, k)
			}
		}
	}

	// Lines not touched by the edit are byte-identical and in order; at
	// most the last one gains a line ending.
	newLines := linesOf(h)
	j := 0
	kept := 0
	for i, l := range oldLines {
		if touch[i] {
			continue
		}
		kept++
		for ; j < len(newLines); j++ {
			n := newLines[j]
			if n.text == l.text && (n.eol == l.eol || (i == len(oldLines)-1 && l.eol == "")) {
				break
			}
		}
		if j == len(newLines) {
			t.Fatalf("line %d %q lost or changed\n%q\n%q", i+1, l.text, data, out)
		}
		j++
	}
	if added := len(newLines) - kept; added > 2*len(touch)+len(valueLines(value))+3 {
		t.Fatalf("%d lines added for %d touched lines", added, len(touch))
	}

	// Line endings: only those of the file, "\n" for a file without.
	eols := map[string]bool{}
	for _, l := range oldLines {
		if l.eol != "" {
			eols[l.eol] = true
		}
	}
	if len(eols) == 0 {
		eols["\n"] = true
	}
	for _, l := range newLines {
		if l.eol != "" && !eols[l.eol] {
			t.Fatalf("new line ending %q", l.eol)
		}
	}
	if changed && (len(newLines) == 0 || newLines[len(newLines)-1].eol == "") {
		t.Fatal("changed file does not end with a line ending")
	}
	if bytes.HasPrefix(out, utf8BOM) != bytes.HasPrefix(data, utf8BOM) {
		t.Fatal("BOM lost or added")
	}

	// The same Set again is a no-op.
	if g.Set(section, key, value) || !bytes.Equal(g.Bytes(), out) {
		t.Fatalf("second Set changed the file\n%q\n%q", out, g.Bytes())
	}
}

// FuzzWild parses generated files that use every rule of the format and
// edits them, with the checks of FuzzSet. The key is one of those the
// generator uses unless key is non-empty.
func FuzzWild(f *testing.F) {
	f.Add([]byte("seed"), uint8(0), "", "v")
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 200, 201, 202}, uint8(1), "", "a\nb")
	f.Add([]byte{2, 2, 2, 2, 7, 7, 7, 3, 3, 3, 1, 1, 0, 0, 9, 9, 9, 9}, uint8(6), "SECRET_KEY", "%(k)s")
	f.Fuzz(func(t *testing.T, choices []byte, sel uint8, key, value string) {
		data := []byte(genWild(&byteSrc{b: choices}))
		g, err := Parse(fuzzPath, data)
		if err != nil {
			return
		}
		_ = g.Validate()
		if key == "" {
			key = []string{"k", "K", "a", "b", "here", "use", "SECRET_KEY", "Note", "a b", "new"}[int(sel/4)%10]
		}
		section := []string{"", "DEFAULT", "a", "x"}[sel%4]
		checkSet(t, g, data, section, key, value)
	})
}
