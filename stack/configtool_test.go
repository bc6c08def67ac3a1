package stack

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// appMain returns the options of [app:main] in file order, as raw
// "key = value" text (CKAN's generated files have no continuation lines).
func appMain(data []byte) (keys []string, values map[string]string) {
	values = map[string]string{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trim, "["):
			in = trim == "[app:main]"
		case !in || trim == "" || strings.HasPrefix(trim, "#") || strings.HasPrefix(trim, ";"):
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k = strings.TrimSpace(k)
			if _, seen := values[k]; !seen {
				keys = append(keys, k)
			}
			values[k] = strings.TrimSpace(v)
		}
	}
	return keys, values
}

// TestConfigToolGivesTheSameFile: CKAN's own `ckan config-tool`, given
// the options dcor changed in ckan.ini (the file before dcor's first
// inspect -y is its oldest dated copy), writes byte for byte the file
// dcor wrote.
func TestConfigToolGivesTheSameFile(t *testing.T) {
	e := stackEnv(t)
	copies, _ := filepath.Glob(filepath.Join(e.State, "root/var/backups/dcor/etc/ckan/default/ckan.ini.dcor-*"))
	if len(copies) == 0 {
		t.Fatal("no dated copy of ckan.ini: make stack runs dcor inspect -y on the file ckan generate config made")
	}
	slices.Sort(copies)
	before, err := os.ReadFile(copies[0])
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(e.CKANIni)
	if err != nil {
		t.Fatal(err)
	}
	_, old := appMain(before)
	keys, cur := appMain(after)
	var opts []string
	for _, k := range keys {
		if v, ok := old[k]; !ok || v != cur[k] {
			opts = append(opts, k+" = "+cur[k]) // as typed: "key = value"
		}
	}
	if len(opts) == 0 {
		t.Fatal("dcor changed no option of ckan.ini")
	}
	dir, err := os.MkdirTemp("", "dcor-stack-configtool-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	ini := filepath.Join(dir, "ckan.ini")
	if err := os.WriteFile(ini, before, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, e, 2*time.Minute, e.Venv+"/bin/ckan", append([]string{"config-tool", ini}, opts...)...)
	got, err := os.ReadFile(ini)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, after) {
		gl, al := strings.Split(string(got), "\n"), strings.Split(string(after), "\n")
		for i := 0; i < len(gl) || i < len(al); i++ {
			var g, a string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(al) {
				a = al[i]
			}
			if g != a {
				t.Fatalf("config-tool with dcor's %d options gives another file; first difference at line %d:\nconfig-tool: %q\ndcor:        %q", len(opts), i+1, g, a)
			}
		}
	}
}
