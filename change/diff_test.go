package change

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	udiff "github.com/aymanbagabas/go-udiff"
)

func TestMaskLineHidesSecretsOnly(t *testing.T) {
	cases := map[string]string{
		"sqlalchemy.url = postgresql://u:hunter2@db/ckan": "sqlalchemy.url = postgresql://u:****@db/ckan",
		"beaker.session.secret = abc123":                  "beaker.session.secret = ****",
		"#smtp.password = your_password":                  "#smtp.password = ****",
		"ckan.site_title = DCOR":                          "ckan.site_title = DCOR",
	}
	for in, want := range cases {
		if got := MaskSecrets("/etc/ckan/default/ckan.ini", in); got != want {
			t.Errorf("MaskSecrets(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDiffShowsPasswordChangeMasked(t *testing.T) {
	old := []byte("[app:main]\nsqlalchemy.url = postgresql://u:old@db/ckan\n")
	new := []byte("[app:main]\nsqlalchemy.url = postgresql://u:new@db/ckan\n")
	d := UnifiedDiff("/etc/ckan/default/ckan.ini", old, new, func(l string) string { return MaskSecrets("", l) })
	if !strings.Contains(d, "-sqlalchemy.url = postgresql://u:****@db/ckan") || !strings.Contains(d, "+sqlalchemy.url = postgresql://u:****@db/ckan") {
		t.Errorf("diff does not show the masked change:\n%s", d)
	}
	if strings.Contains(d, "old") || strings.Contains(d, "new@") {
		t.Errorf("diff leaks a password:\n%s", d)
	}
}

// applyUnified applies a unified diff made by UnifiedDiff to old and
// returns the result, checking every context and deleted line against
// old, the hunk headers' line numbers and counts against both sides, and
// that each hunk has at most 3 lines of context at its edges.
func applyUnified(t *testing.T, diff string, old []byte) []byte {
	t.Helper()
	if diff == "" {
		return old
	}
	oldLines := splitLinesForTest(old)
	lines := strings.SplitAfter(diff, "\n")
	if lines[len(lines)-1] != "" {
		t.Fatalf("diff does not end with a newline:\n%s", diff)
	}
	lines = lines[:len(lines)-1]
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		t.Fatalf("diff has no headers:\n%s", diff)
	}
	var out []byte
	next, outLines := 0, 0 // next old line to copy; lines written
	i := 2
	for i < len(lines) {
		var oStart, oCount, nStart, nCount int
		h := lines[i]
		if !strings.HasPrefix(h, "@@ -") || !strings.HasSuffix(h, " @@\n") {
			t.Fatalf("line %d: not a hunk header: %q\n%s", i+1, h, diff)
		}
		fields := strings.Fields(h[3 : len(h)-4])
		if len(fields) != 2 {
			t.Fatalf("bad hunk header %q", h)
		}
		oStart, oCount = parseRange(t, fields[0][1:])
		nStart, nCount = parseRange(t, fields[1][1:])
		first := oStart - 1 // 0-based first old line of the hunk
		if oCount == 0 {
			first = oStart // "-l,0": after line l
		}
		if first < next {
			t.Fatalf("hunk %q overlaps the previous one", h)
		}
		for ; next < first; next++ {
			out = append(out, oldLines[next]...)
			outLines++
		}
		wantN := nStart - 1
		if nCount == 0 {
			wantN = nStart
		}
		if outLines != wantN {
			t.Errorf("hunk %q: new side starts at line %d, want %d\n%s", h, outLines+1, wantN+1, diff)
		}
		i++
		var gotO, gotN, lead, trail int
		changed := false
		for i < len(lines) && !strings.HasPrefix(lines[i], "@@") {
			l := lines[i]
			i++
			text := l[1:]
			if i < len(lines) && lines[i] == "\\ No newline at end of file\n" {
				text = strings.TrimSuffix(text, "\n")
				i++
			}
			switch l[0] {
			case ' ', '-':
				if next >= len(oldLines) || string(oldLines[next]) != text {
					t.Fatalf("hunk %q: line %q does not match old line %d\n%s", h, l, next+1, diff)
				}
				next++
				gotO++
				if l[0] == ' ' {
					gotN++
					out = append(out, text...)
					outLines++
					if changed {
						trail++
					} else {
						lead++
					}
				} else {
					changed, trail = true, 0
				}
			case '+':
				out = append(out, text...)
				outLines++
				gotN++
				changed, trail = true, 0
			default:
				t.Fatalf("unexpected diff line %q\n%s", l, diff)
			}
		}
		if gotO != oCount || gotN != nCount {
			t.Errorf("hunk %q has %d old and %d new lines\n%s", h, gotO, gotN, diff)
		}
		if !changed || lead > 3 || trail > 3 {
			t.Errorf("hunk %q: %d leading and %d trailing context lines, changed %v\n%s", h, lead, trail, changed, diff)
		}
	}
	for ; next < len(oldLines); next++ {
		out = append(out, oldLines[next]...)
	}
	return out
}

func parseRange(t *testing.T, s string) (start, count int) {
	t.Helper()
	a, b, ok := strings.Cut(s, ",")
	start, err := strconv.Atoi(a)
	if err != nil {
		t.Fatalf("bad range %q", s)
	}
	count = 1
	if ok {
		if count, err = strconv.Atoi(b); err != nil {
			t.Fatalf("bad range %q", s)
		}
	}
	return start, count
}

func splitLinesForTest(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n') + 1
		if i == 0 {
			i = len(b)
		}
		out = append(out, b[:i])
		b = b[i:]
	}
	return out
}

// changedLines counts the - and + lines of a diff.
func changedLines(d string) (del, ins int) {
	for _, l := range strings.Split(d, "\n") {
		switch {
		case strings.HasPrefix(l, "---") || strings.HasPrefix(l, "+++"):
		case strings.HasPrefix(l, "-"):
			del++
		case strings.HasPrefix(l, "+"):
			ins++
		}
	}
	return del, ins
}

// numbered returns lines "line N\n" for each n.
func numbered(ns ...int) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "line %d\n", n)
	}
	return b.String()
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestUnifiedDiffCases(t *testing.T) {
	many := func(edit func(i int) string) string {
		var b strings.Builder
		for i := range 200 {
			b.WriteString(edit(i))
		}
		return b.String()
	}
	cases := []struct {
		name     string
		old, new []byte
		want     string // "" with same: compare with go-udiff
		same     bool   // compare with go-udiff's output
	}{
		{name: "identical", old: []byte("a\nb\n"), new: []byte("a\nb\n"), want: ""},
		{name: "both empty", old: []byte{}, new: []byte{}, want: ""},
		{name: "new file", old: nil, new: []byte("a\nb\n"),
			want: "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{name: "new empty file", old: nil, new: []byte{}, want: ""}, // as go-udiff: no lines, no diff
		{name: "empty old", old: []byte{}, new: []byte("a\n"), same: true},
		{name: "empty new", old: []byte("a\nb"), new: []byte{}, same: true},
		{name: "one line", old: []byte("a\n"), new: []byte("b\n"), same: true},
		{name: "add trailing newline", old: []byte("x\ny"), new: []byte("x\ny\n"),
			want: "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+y\n"},
		{name: "drop trailing newline", old: []byte("x\ny\n"), new: []byte("x\ny"), same: true},
		{name: "no newline either side", old: []byte("x\ny"), new: []byte("x\nz"), same: true},
		{name: "append after no newline", old: []byte("x\ny"), new: []byte("x\ny\nz"), same: true},
		{name: "crlf", old: []byte("a\r\nb\r\nc\r\n"), new: []byte("a\r\nB\r\nc\r\n"),
			want: "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\r\n-b\r\n+B\r\n c\r\n"},
		{name: "crlf to lf", old: []byte("a\r\nb\r\n"), new: []byte("a\nb\n"), same: true},
		{name: "insert at start", old: []byte(numbered(seq(0, 10)...)), new: []byte("new\n" + numbered(seq(0, 10)...)),
			want: "--- a/f\n+++ b/f\n@@ -1,3 +1,4 @@\n+new\n line 0\n line 1\n line 2\n"},
		{name: "insert at end", old: []byte(numbered(seq(0, 10)...)), new: []byte(numbered(seq(0, 10)...) + "new\n"),
			want: "--- a/f\n+++ b/f\n@@ -8,3 +8,4 @@\n line 7\n line 8\n line 9\n+new\n"},
		{name: "delete in middle", old: []byte(numbered(seq(0, 10)...)), new: []byte(numbered(append(seq(0, 5), seq(6, 10)...)...)), same: true},
		{name: "two hunks", old: []byte(numbered(seq(0, 40)...)), new: []byte(numbered(append(append([]int{0, 100}, seq(2, 30)...), seq(31, 40)...)...)),
			want: "--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n line 0\n-line 1\n+line 100\n line 2\n line 3\n line 4\n" +
				"@@ -28,7 +28,6 @@\n line 27\n line 28\n line 29\n-line 30\n line 31\n line 32\n line 33\n"},
		{name: "joined hunk (6 lines apart)", old: []byte(numbered(seq(0, 20)...)),
			new: []byte(numbered(append(append([]int{0, 1, 100}, seq(3, 9)...), append([]int{101}, seq(10, 20)...)...)...)), same: true},
		{name: "split hunks (7 lines apart)", old: []byte(numbered(seq(0, 20)...)),
			new: []byte(numbered(append(append([]int{0, 1, 100}, seq(3, 10)...), append([]int{101}, seq(11, 20)...)...)...)), same: true},
		{name: "many separated edits", old: []byte(many(func(i int) string { return fmt.Sprintf("l%d\n", i) })),
			new: []byte(many(func(i int) string {
				switch {
				case i%17 == 3:
					return fmt.Sprintf("changed %d\n", i)
				case i%23 == 5:
					return ""
				case i%29 == 7:
					return fmt.Sprintf("l%d\nadded\n", i)
				}
				return fmt.Sprintf("l%d\n", i)
			}))},
		{name: "long identical runs", old: []byte(many(func(int) string { return "same\n" })),
			new: []byte(many(func(i int) string {
				if i == 100 {
					return "other\n"
				}
				return "same\n"
			}))},
		{name: "repeated lines", old: []byte("a\nb\na\nb\na\n"), new: []byte("b\na\nb\na\nb\n")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := UnifiedDiff("/f", c.old, c.new, nil)
			if c.same {
				from := "a/f"
				if c.old == nil {
					from = "/dev/null"
				}
				c.want = udiff.Unified(from, "b/f", string(c.old), string(c.new))
			}
			if (c.want != "" || c.same || bytes.Equal(c.old, c.new)) && got != c.want {
				t.Errorf("UnifiedDiff =\n%s\nwant\n%s", got, c.want)
			}
			if applied := applyUnified(t, got, c.old); !bytes.Equal(applied, c.new) {
				t.Errorf("the diff applied to old gives %q, want %q\n%s", applied, c.new, got)
			}
			// Minimal: no more changed lines than go-udiff.
			d, i := changedLines(got)
			ud, ui := changedLines(udiff.Unified("a/f", "b/f", string(c.old), string(c.new)))
			if d+i > ud+ui {
				t.Errorf("%d deleted + %d inserted lines, go-udiff %d + %d", d, i, ud, ui)
			}
		})
	}
}

func TestUnifiedDiffMasksEveryLine(t *testing.T) {
	old := []byte("a = 1\nsecret = x\r\nb = 2\nc = 3")
	new := []byte("a = 1\nsecret = x\r\nb = 3\nc = 4")
	got := UnifiedDiff("/f", old, new, strings.ToUpper)
	want := "--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n A = 1\n SECRET = X\r\n-B = 2\n-C = 3\n\\ No newline at end of file\n+B = 3\n+C = 4\n\\ No newline at end of file\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// TestUnifiedDiffLargeEditsFallBack: beyond maxEditDistance the diff is
// one hunk replacing the changed part (rather than one hunk per change),
// still correct.
func TestUnifiedDiffLargeEditsFallBack(t *testing.T) {
	var old, new strings.Builder
	old.WriteString("head\n")
	new.WriteString("head\n")
	for i := range 10 * maxEditDistance {
		fmt.Fprintf(&old, "line %d\n", i)
		if i%10 == 5 {
			fmt.Fprintf(&new, "changed %d\n", i)
		} else {
			fmt.Fprintf(&new, "line %d\n", i)
		}
	}
	old.WriteString("tail\n")
	new.WriteString("tail\n")
	o, n := []byte(old.String()), []byte(new.String())
	start := time.Now()
	d := UnifiedDiff("/f", o, n, nil)
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %v", el)
	}
	if got := applyUnified(t, d, o); !bytes.Equal(got, n) {
		t.Fatal("the diff does not apply")
	}
	if h := strings.Count(d, "\n@@ "); h != 1 {
		t.Errorf("%d hunks, want 1", h)
	}
	// Below the bound, one hunk per change.
	o, n = o[:len(o)/20], n[:len(n)/20]
	d = UnifiedDiff("/f", o, n, nil)
	if got := applyUnified(t, d, o); !bytes.Equal(got, n) {
		t.Fatal("the diff does not apply")
	}
	if h := strings.Count(d, "\n@@ "); h < 500 {
		t.Errorf("%d hunks, want one a change", h)
	}
}

// TestUnifiedDiffMemory: a 100 MB file with 50 scattered edits is diffed
// with less than half its size allocated (the hash of each line and the
// output), instead of 9× with go-udiff.
func TestUnifiedDiffMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 200 MB of input")
	}
	const size = 100 << 20
	old := make([]byte, 0, size+200)
	for i := 0; len(old) < size; i++ {
		switch i % 4 {
		case 0:
			old = fmt.Appendf(old, "# comment %09d: a comment as long as the comments of CKAN's ckan.ini\n", i)
		case 1:
			old = fmt.Appendf(old, "ckanext.option_%09d = value of option number %d\n", i, i)
		case 2:
			old = fmt.Appendf(old, "ckanext.url_%09d = https://example.org/%d/resource\n", i, i)
		default:
			old = append(old, '\n')
		}
	}
	new := make([]byte, 0, len(old)+4096)
	lines := bytes.Count(old, []byte{'\n'})
	rest := old
	for i := 0; len(rest) > 0; i++ {
		end := bytes.IndexByte(rest, '\n') + 1
		line := rest[:end]
		rest = rest[end:]
		if i%(lines/50) == lines/100 {
			new = fmt.Appendf(new, "edited line %d = yes\n", i)
			continue
		}
		new = append(new, line...)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	d := UnifiedDiff("/etc/ckan/default/ckan.ini", old, new, func(s string) string { return MaskSecrets("", s) })
	el := time.Since(start)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("diff of a %d MiB file with %d lines, 50 edits: %d bytes of diff, %.1f MiB allocated (%.2f× the file), %v",
		len(old)>>20, lines, len(d), float64(alloc)/(1<<20), float64(alloc)/float64(len(old)), el)
	if alloc > uint64(len(old)/2) {
		t.Errorf("allocated %d bytes, more than half the file's %d", alloc, len(old))
	}
	if h := strings.Count(d, "\n@@ "); h != 50 {
		t.Errorf("%d hunks, want 50", h)
	}
	if del, ins := changedLines(d); del != 50 || ins != 50 {
		t.Errorf("%d deleted and %d inserted lines, want 50 and 50", del, ins)
	}
	if got := applyUnified(t, d, old); !bytes.Equal(got, new) {
		t.Error("the diff does not apply")
	}
}

// fuzzLines turns fuzz bytes into lines from a small alphabet (so that
// lines repeat), or distinct numbered lines when distinct is set.
func fuzzLines(b []byte, distinct bool, noEOL bool) []byte {
	var out []byte
	for _, c := range b {
		switch {
		case distinct:
			out = fmt.Appendf(out, "l%d\n", c)
		case c%8 == 7:
			out = append(out, "x\r\n"...)
		default:
			out = fmt.Appendf(out, "%c\n", 'a'+c%8)
		}
	}
	if noEOL && len(out) > 0 {
		out = out[:len(out)-1]
	}
	return out
}

// FuzzUnifiedDiff applies the diff of two texts to the first and checks
// that it gives the second, with no more changed lines than go-udiff's,
// and for texts of distinct lines in the same order (one possible diff)
// the same hunks as go-udiff.
func FuzzUnifiedDiff(f *testing.F) {
	f.Add([]byte("abcabc"), []byte("bcab"), false, false, false)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}, []byte{1, 2, 20, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 21, 22}, true, false, true)
	f.Add([]byte(""), []byte("a"), false, true, true)
	f.Add([]byte("a\nb"), []byte("a\r\nb\n"), false, false, false)
	f.Fuzz(func(t *testing.T, a, b []byte, distinct, noEOLa, noEOLb bool) {
		if len(a) > 300 || len(b) > 300 {
			return
		}
		for _, raw := range []bool{true, false} {
			old, new := a, b
			if !raw {
				old, new = fuzzLines(a, distinct, noEOLa), fuzzLines(b, distinct, noEOLb)
			}
			d := UnifiedDiff("/f", old, new, nil)
			if (d == "") != bytes.Equal(old, new) {
				t.Fatalf("diff %q of %q and %q", d, old, new)
			}
			if got := applyUnified(t, d, old); !bytes.Equal(got, new) {
				t.Fatalf("applied to %q gives %q, want %q\n%s", old, got, new, d)
			}
			ud := udiff.Unified("a/f", "b/f", string(old), string(new))
			del, ins := changedLines(d)
			udel, uins := changedLines(ud)
			if del+ins > udel+uins || del-ins != udel-uins {
				t.Fatalf("%d deleted + %d inserted lines, go-udiff %d + %d\n%s\ngo-udiff:\n%s", del, ins, udel, uins, d, ud)
			}
			if !raw && distinct && inOrder(a, b) && hunkBodies(d) != hunkBodies(ud) {
				t.Fatalf("diff\n%s\ngo-udiff\n%s", d, ud)
			}
		}
	})
}

// inOrder tells whether the bytes of a and b are each distinct and those
// in both are in the same order: then only one minimal diff exists.
func inOrder(a, b []byte) bool {
	var inA, inB [256]bool
	for _, c := range a {
		if inA[c] {
			return false
		}
		inA[c] = true
	}
	var common []byte
	for _, c := range b {
		if inB[c] {
			return false
		}
		inB[c] = true
		if inA[c] {
			common = append(common, c)
		}
	}
	i := 0
	for _, c := range a {
		if inB[c] {
			if common[i] != c {
				return false
			}
			i++
		}
	}
	return true
}

// hunkBodies returns the hunks of a diff without the new-side line
// numbers of their headers (go-udiff miscounts them after a hunk of
// joined changes).
func hunkBodies(d string) string {
	lines := strings.SplitAfter(d, "\n")
	if len(lines) > 2 {
		lines = lines[2:]
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "@@ ") {
			f := strings.Fields(l)
			_, n := parseRangeLoose(f[2][1:])
			lines[i] = fmt.Sprintf("@@ %s +?,%d @@\n", f[1], n)
		}
	}
	return strings.Join(lines, "")
}

func parseRangeLoose(s string) (int, int) {
	a, b, ok := strings.Cut(s, ",")
	start, _ := strconv.Atoi(a)
	if !ok {
		return start, 1
	}
	n, _ := strconv.Atoi(b)
	return start, n
}
