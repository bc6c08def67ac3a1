package backup

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// dumpTree makes files in dir (paths relative to dir) and returns a
// function listing what is left.
func dumpTree(t *testing.T, dir string, files ...string) func() []string {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(f), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	return func() []string {
		var left []string
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				left = append(left, rel)
			}
			return nil
		})
		sort.Strings(left)
		return left
	}
}

func TestPrune(t *testing.T) {
	now := time.Date(2024, 5, 10, 0, 2, 0, 0, time.Local)
	const id = "8FD98B2183B2C228"
	name := func(host, stamp string) string {
		return stamp[:7] + "/ckan_db_" + host + "_" + stamp + ".dump_" + id + ".gpg"
	}
	files := []string{
		name("h", "2024-03-01_00-02-00"), name("h", "2024-03-01_00-02-00") + ".sha256",
		name("h", "2024-04-01_00-02-00"), name("h", "2024-04-01_00-02-00") + ".sha256",
		name("h", "2024-05-01_00-02-00"),
		name("h", "2024-05-09_00-02-00"), name("h", "2024-05-09_00-02-00") + ".sha256",
		name("h", "2024-05-10_00-02-00"), name("h", "2024-05-10_00-02-00") + ".sha256",
		name("other-host", "2024-01-01_00-02-00"),                                    // another host's dump
		"2024-01/ckan_db_h_2024-01-01_00-02-00.dump",                                 // a plain dump
		"2024-01/notes.txt",                                                          // anything else
		"2024-01/ckan_db_h_2024-01-01_00-02-00.dump_" + id + ".gpg.bak",              // not the pattern
		"misc/ckan_db_h_2024-01-01_00-02-00.dump_" + id + ".gpg",                     // not a month directory
		"ckan_db_h_2024-01-01_00-02-00.dump_" + id + ".gpg",                          // not in a month directory
		"2024-02/ckan_db_h_2024-02-01_00-02-00.dump_" + id + "+ABCDEF0123456789.gpg", // two recipients
	}
	current := name("h", "2024-05-10_00-02-00")

	t.Run("keep newest", func(t *testing.T) {
		dir := t.TempDir()
		left := dumpTree(t, dir, files...)
		removed, err := prune(dir, "h", 2, 0, now, filepath.Join(dir, current))
		if err != nil {
			t.Fatal(err)
		}
		if len(removed) != 4 {
			t.Errorf("removed %v, want the 4 oldest of h's 6 dumps", removed)
		}
		want := []string{
			"2024-01/ckan_db_h_2024-01-01_00-02-00.dump",
			"2024-01/ckan_db_h_2024-01-01_00-02-00.dump_" + id + ".gpg.bak",
			name("other-host", "2024-01-01_00-02-00"),
			"2024-01/notes.txt",
			name("h", "2024-05-09_00-02-00"), name("h", "2024-05-09_00-02-00") + ".sha256",
			current, current + ".sha256",
			"ckan_db_h_2024-01-01_00-02-00.dump_" + id + ".gpg",
			"misc/ckan_db_h_2024-01-01_00-02-00.dump_" + id + ".gpg",
		}
		sort.Strings(want)
		if got := left(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("left:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, m := range []string{"2024-02", "2024-03", "2024-04"} {
			if _, err := os.Stat(filepath.Join(dir, m)); !os.IsNotExist(err) {
				t.Errorf("empty month directory %s kept", m)
			}
		}
	})

	t.Run("keep days", func(t *testing.T) {
		dir := t.TempDir()
		left := dumpTree(t, dir, files...)
		removed, err := prune(dir, "h", 0, 30, now, filepath.Join(dir, current))
		if err != nil {
			t.Fatal(err)
		}
		// older than 2024-04-10: 2024-02-01, 2024-03-01, 2024-04-01
		if len(removed) != 3 {
			t.Errorf("removed %v", removed)
		}
		for _, f := range left() {
			if strings.Contains(f, "_h_2024-04-01") || strings.Contains(f, "_h_2024-03") {
				t.Errorf("%s kept", f)
			}
		}
	})

	t.Run("never the current dump", func(t *testing.T) {
		dir := t.TempDir()
		dumpTree(t, dir, files...)
		// A clock set back: the dump just written looks oldest.
		cur := filepath.Join(dir, name("h", "2024-03-01_00-02-00"))
		removed, _ := prune(dir, "h", 1, 1, now, cur)
		for _, r := range removed {
			if r == cur {
				t.Fatal("removed the dump just written")
			}
		}
		if _, err := os.Stat(cur); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("off", func(t *testing.T) {
		dir := t.TempDir()
		left := dumpTree(t, dir, files...)
		if removed, err := prune(dir, "h", 0, 0, now, ""); err != nil || len(removed) != 0 || len(left()) != len(files) {
			t.Errorf("removed %v, %v", removed, err)
		}
	})
}

// TestRemoveStale: the leftovers of a killed backup of this host go
// (partials of the encrypted dump, its .sha256 and the plain dump, a
// .sha256 whose dump is gone), also from a plain dump's 0500 month
// directory; nothing else does.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	const gpg = "ckan_db_h_2024-03-01_00-02-00.dump_8FD98B2183B2C228.gpg"
	const gpg2 = "ckan_db_h_2024-03-02_00-02-00.dump_8FD98B2183B2C228.gpg"
	const other = "ckan_db_other_2024-03-01_00-02-00.dump_8FD98B2183B2C228.gpg"
	left := dumpTree(t, dir,
		"2024-03/"+gpg+".partial",
		"2024-03/"+gpg+".sha256.partial",
		"2024-03/ckan_db_h_2024-03-01_00-02-00.dump.partial",
		"2024-03/"+gpg2+".sha256", // its dump is gone: stale
		"2024-03/"+other+".partial",
		"2024-03/"+other+".sha256",
		"2024-03/other.partial",
		"2024-03/"+gpg,
		"2024-03/"+gpg+".sha256",
		"plain.partial",
	)
	os.Chmod(filepath.Join(dir, "2024-03"), 0o500)
	defer os.Chmod(filepath.Join(dir, "2024-03"), 0o700)
	removed := removeStale(dir, "h")
	if len(removed) != 4 {
		t.Errorf("removed %v", removed)
	}
	want := []string{"2024-03/" + gpg, "2024-03/" + gpg + ".sha256", "2024-03/" + other + ".partial",
		"2024-03/" + other + ".sha256", "2024-03/other.partial", "plain.partial"}
	sort.Strings(want)
	if got := left(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("left\n%v\nwant\n%v", got, want)
	}
	if st, _ := os.Stat(filepath.Join(dir, "2024-03")); st.Mode().Perm() != 0o500 {
		t.Errorf("month directory is %v after the removal, want 0500 again", st.Mode().Perm())
	}
}
