package ckanini

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var (
	pythonCheck = flag.Bool("python", false, "compare the reader with Python's configparser (needs python3)")
	pythonN     = flag.Int("python.n", 3000, "number of generated files for -python")
	pythonSeed  = flag.Int64("python.seed", 1, "random seed for -python")
)

// pyReader reads each file named on the command line as CKAN does
// (ConfigParser with `here` and `__file__` in the defaults; strict=False so
// that duplicates do not hide the rest) and prints one JSON object a line.
const pyReader = `
import configparser, json, os, sys
for path in sys.argv[1:]:
    p = configparser.ConfigParser(strict=False)
    p._defaults['__file__'] = os.path.abspath(path)
    p._defaults['here'] = os.path.dirname(os.path.abspath(path))
    out = {}
    try:
        p.read(path, encoding='utf-8')
    except configparser.Error as e:
        out['error'] = type(e).__name__
        print(json.dumps(out)); continue
    out['sections'] = {s: dict(p._sections[s]) for s in p.sections()}
    out['defaults'] = dict(p._defaults)
    if p.has_section('app:main'):
        main = {}
        for o in p.options('app:main'):
            try:
                main[o] = {'v': p.get('app:main', o)}
            except (configparser.Error, RecursionError) as e:
                main[o] = {'err': type(e).__name__}
        out['main'] = main
    print(json.dumps(out))
`

type pyResult struct {
	Error    string                       `json:"error"`
	Sections map[string]map[string]string `json:"sections"`
	Defaults map[string]string            `json:"defaults"`
	Main     map[string]struct {
		V   *string `json:"v"`
		Err string  `json:"err"`
	} `json:"main"`
}

// TestAgainstPython compares Parse, GetRaw, Get and the results of Set with
// what Python's configparser reads, on the test files and on generated ones.
// Run with: go test -run TestAgainstPython -python ./ckanini/
func TestAgainstPython(t *testing.T) {
	if !*pythonCheck {
		t.Skip("run with -python to compare with Python's configparser")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	dir := t.TempDir()
	var inputs []string
	for _, p := range []string{"ckan29.ini", "ckan29_crlf.ini", "ckan211.ini", "ckan29.golden", "ckan211.golden"} {
		data, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, string(data))
	}
	rng := rand.New(rand.NewSource(*pythonSeed))
	keys := []string{"k", "K", "a", "b", "use", "SECRET_KEY", "Note", "a b", "new"}
	values := []string{"v", "", "x y", "a\nb", "a\n\n  b\n", "%(k)s", "100%%", "[x]", "#v"}
	sections := []string{"", "", "DEFAULT", "a", "x"}
	for i := 0; i < *pythonN; i++ {
		choices := make([]byte, rng.Intn(80))
		rng.Read(choices)
		data := genWild(&byteSrc{b: choices})
		inputs = append(inputs, data)
		// and the file after an edit
		if f, err := Parse("x.ini", []byte(data)); err == nil {
			f.Set(sections[rng.Intn(len(sections))], keys[rng.Intn(len(keys))], values[rng.Intn(len(values))])
			inputs = append(inputs, string(f.Bytes()))
		}
	}
	var paths []string
	for i, s := range inputs {
		p := filepath.Join(dir, fmt.Sprintf("f%05d.ini", i))
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	cmd := exec.Command(py, append([]string{"-c", pyReader}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.Bytes())
	}
	results := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(results) != len(paths) {
		t.Fatalf("python printed %d results for %d files", len(results), len(paths))
	}
	fails, parsed := 0, 0
	for i, line := range results {
		var r pyResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Error == "" {
			parsed++
		}
		if msg := comparePython(paths[i], []byte(inputs[i]), &r); msg != "" {
			t.Errorf("%s: %s\ninput: %q", filepath.Base(paths[i]), msg, inputs[i])
			if fails++; fails == 10 {
				t.FailNow()
			}
		}
	}
	t.Logf("%d files compared, %d of them readable", len(paths), parsed)
}

func comparePython(path string, data []byte, r *pyResult) string {
	f, err := Parse(path, data)
	if (err != nil) != (r.Error != "") {
		return fmt.Sprintf("Parse error %v, Python error %q", err, r.Error)
	}
	if err != nil {
		return ""
	}
	var ours []string
	for _, name := range f.order {
		if name != defaultSection {
			ours = append(ours, name)
		}
	}
	var theirs []string
	for name := range r.Sections {
		theirs = append(theirs, name)
	}
	sort.Strings(ours)
	sort.Strings(theirs)
	if strings.Join(ours, "\x00") != strings.Join(theirs, "\x00") {
		return fmt.Sprintf("sections %q, Python %q", ours, theirs)
	}
	cmp := func(name string, py map[string]string) string {
		n := numOptions(f, name)
		if n != len(py) {
			return fmt.Sprintf("[%s] has %d options, Python %d: %q", name, n, len(py), py)
		}
		for k, v := range py {
			e, ok := optionOf(f, name, k)
			if !ok || e.value != v {
				return fmt.Sprintf("[%s] %s = %+v, Python %q", name, k, e, v)
			}
		}
		return ""
	}
	for name, py := range r.Sections {
		if msg := cmp(name, py); msg != "" {
			return msg
		}
	}
	// Python's defaults hold `here` and `__file__` unless the file sets them.
	for k, v := range map[string]string{"here": filepath.Dir(f.abs), "__file__": f.abs} {
		if _, ok := f.lookup(defaultSection, k); !ok && r.Defaults[k] == v {
			delete(r.Defaults, k)
		}
	}
	if msg := cmp(defaultSection, r.Defaults); msg != "" {
		return msg
	}
	if r.Main == nil {
		return ""
	}
	c := f.chain()
	opts := c.options(0)
	if len(opts) != len(r.Main) {
		return fmt.Sprintf("options(app:main) = %q, Python %d", opts, len(r.Main))
	}
	for k, want := range r.Main {
		v, ok, err := c.get(k)
		switch {
		case !ok:
			return fmt.Sprintf("Get(%q) found nothing", k)
		case (err != nil) != (want.Err != ""):
			return fmt.Sprintf("Get(%q) = %q, %v; Python %+v", k, v, err, want)
		case err == nil && v != *want.V:
			return fmt.Sprintf("Get(%q) = %q; Python %q", k, v, *want.V)
		}
	}
	return ""
}
