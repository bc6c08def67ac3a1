package change

import (
	"bytes"
	"hash/maphash"
	"strconv"
	"strings"

	"github.com/DCOR-dev/dcor/ckanini"
)

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 3

// maxEditDistance bounds the edit distance (lines deleted plus lines
// inserted) UnifiedDiff searches for a minimal diff: beyond it, the
// changed part of the file is shown as one hunk replacing it all.
const maxEditDistance = 10000

// UnifiedDiff returns the unified diff from old to new of the file at
// host path p (old nil: a new file), "" when they are equal. The diff is
// computed on the real text (so a change of a password alone still shows
// as a changed line) and each line of it is then passed through mask, so
// that no secret is printed.
//
// The format is the one of diff -u (and of go-udiff, which dcor used
// before): "--- a/PATH" and "+++ b/PATH" headers ("/dev/null" for a new
// file), "@@ -l,n +l,n @@" hunks with 3 lines of context, and
// "\ No newline at end of file" after a last line without one.
//
// It works on the bytes as they are, without copying them: the common
// leading and trailing lines are skipped, and Myers' O(ND) algorithm
// (in its linear-space form) runs on the lines in between, compared by a
// 32-bit hash and then byte by byte. Its memory beyond the inputs is
// about 4.5 bytes per line in between plus the diff itself.
func UnifiedDiff(p string, old, new []byte, mask func(string) string) string {
	from := "a" + p
	if old == nil {
		from = "/dev/null"
	}
	if bytes.Equal(old, new) {
		return ""
	}

	// Common leading lines: up to the last newline before the first
	// differing byte.
	pre := bytes.LastIndexByte(old[:commonPrefix(old, new)], '\n') + 1
	// Common trailing lines: from the first line start in both within
	// the common trailing bytes.
	j := commonSuffix(old[pre:], new[pre:])
	k := 0
	for ; k < j; k++ {
		po, pn := len(old)-j+k, len(new)-j+k
		if k == 0 {
			if (po == pre || old[po-1] == '\n') && (pn == pre || new[pn-1] == '\n') {
				break
			}
		} else if old[po-1] == '\n' {
			break
		}
	}
	oEnd, nEnd := len(old)-j+k, len(new)-j+k

	seed := maphash.MakeSeed()
	a := newLineTable(old[pre:oEnd], seed)
	b := newLineTable(new[pre:nEnd], seed)
	d := &differ{a: a, b: b, budget: 50_000_000 + 10*(a.n+b.n)}
	d.diff(0, a.n, 0, b.n)
	if d.aborted {
		d.blocks = append(d.blocks[:0], block{0, a.n, 0, b.n})
	}

	u := unifiedWriter{
		a: a, b: b, mask: mask,
		skipped: bytes.Count(old[:pre], []byte{'\n'}),
		before:  lastLines(old[:pre], diffContext),
		after:   firstLines(old[oEnd:], diffContext),
		blocks:  d.blocks,
		from:    from,
		to:      "b" + p,
	}
	return u.write()
}

// commonPrefix returns the length of the common leading bytes of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	const chunk = 4096
	for i+chunk <= n && bytes.Equal(a[i:i+chunk], b[i:i+chunk]) {
		i += chunk
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// commonSuffix returns the length of the common trailing bytes of a and b.
func commonSuffix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	const chunk = 4096
	for i+chunk <= n && bytes.Equal(a[len(a)-i-chunk:len(a)-i], b[len(b)-i-chunk:len(b)-i]) {
		i += chunk
	}
	for i < n && a[len(a)-1-i] == b[len(b)-1-i] {
		i++
	}
	return i
}

// lastLines returns the last n lines of text, which is empty or ends with
// a newline.
func lastLines(text []byte, n int) [][]byte {
	var out [][]byte
	end := len(text)
	for len(out) < n && end > 0 {
		start := bytes.LastIndexByte(text[:end-1], '\n') + 1
		out = append(out, text[start:end])
		end = start
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// firstLines returns the first n lines of text.
func firstLines(text []byte, n int) [][]byte {
	var out [][]byte
	for len(out) < n && len(text) > 0 {
		end := lineEnd(text, 0)
		out = append(out, text[:end])
		text = text[end:]
	}
	return out
}

// lineEnd returns the end of the line of text starting at start: after its
// newline, or the end of text.
func lineEnd(text []byte, start int) int {
	if i := bytes.IndexByte(text[start:], '\n'); i >= 0 {
		return start + i + 1
	}
	return len(text)
}

// lineTable indexes the lines of a text: a hash of each line, and the
// start of every 16th line. The hash is maphash's 64 bits folded to 32:
// half the memory (on a 100 MB ckan.ini, 16 MiB rather than 32 MiB of
// dcor inspect --diff's peak), and equal hashes are confirmed by
// bytes.Equal anyway. line finds a line from there, or from the
// line it found last (the diff walks lines one after the other).
type lineTable struct {
	data  []byte
	hash  []uint32
	marks []int // marks[i] is the start of line 16*i
	n     int

	ci, cs, ce int // the line found last: its index, start and end
}

func newLineTable(data []byte, seed maphash.Seed) *lineTable {
	n := bytes.Count(data, []byte{'\n'})
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	t := &lineTable{data: data, hash: make([]uint32, n), marks: make([]int, (n+15)/16), n: n, ci: -1}
	off := 0
	for i := range n {
		end := lineEnd(data, off)
		if i&15 == 0 {
			t.marks[i>>4] = off
		}
		h := maphash.Bytes(seed, data[off:end])
		t.hash[i] = uint32(h ^ h>>32)
		off = end
	}
	return t
}

// line returns line i (0-based), with its newline.
func (t *lineTable) line(i int) []byte {
	switch {
	case i == t.ci:
	case i == t.ci+1 && t.ci >= 0:
		t.cs = t.ce
		t.ce = lineEnd(t.data, t.cs)
	case i == t.ci-1:
		t.ce = t.cs
		t.cs = bytes.LastIndexByte(t.data[:t.ce-1], '\n') + 1
	default:
		s := t.marks[i>>4]
		for range i & 15 {
			s = lineEnd(t.data, s)
		}
		t.cs, t.ce = s, lineEnd(t.data, s)
	}
	t.ci = i
	return t.data[t.cs:t.ce]
}

// block is a change: lines a0 to a1 (exclusive) of the old text replaced
// by lines b0 to b1 of the new text.
type block struct{ a0, a1, b0, b1 int }

// differ computes a minimal line diff of a to b with Myers' algorithm in
// linear space (the middle snake of "An O(ND) Difference Algorithm and
// Its Variations", 1986, §4b), as the change blocks in order.
type differ struct {
	a, b    *lineTable
	v1, v2  []int
	blocks  []block
	work    int // lines compared and diagonals tried so far
	budget  int // work beyond which the differ gives up
	aborted bool
}

// eq tells whether line x of a equals line y of b.
func (d *differ) eq(x, y int) bool {
	d.work++
	return d.a.hash[x] == d.b.hash[y] && bytes.Equal(d.a.line(x), d.b.line(y))
}

// add appends a change block, joined with the last one when adjacent.
func (d *differ) add(a0, a1, b0, b1 int) {
	if n := len(d.blocks); n > 0 && d.blocks[n-1].a1 == a0 && d.blocks[n-1].b1 == b0 {
		d.blocks[n-1].a1, d.blocks[n-1].b1 = a1, b1
		return
	}
	d.blocks = append(d.blocks, block{a0, a1, b0, b1})
}

// diff appends the changes from lines aLo..aHi of a to lines bLo..bHi of b.
func (d *differ) diff(aLo, aHi, bLo, bHi int) {
	if d.aborted {
		return
	}
	for aLo < aHi && bLo < bHi && d.eq(aLo, bLo) {
		aLo, bLo = aLo+1, bLo+1
	}
	for aLo < aHi && bLo < bHi && d.eq(aHi-1, bHi-1) {
		aHi, bHi = aHi-1, bHi-1
	}
	if aLo == aHi && bLo == bHi {
		return
	}
	if aLo == aHi || bLo == bHi {
		d.add(aLo, aHi, bLo, bHi)
		return
	}
	x, y, ok := d.bisect(aLo, aHi, bLo, bHi)
	if !ok {
		d.add(aLo, aHi, bLo, bHi)
		return
	}
	d.diff(aLo, x, bLo, y)
	d.diff(x, aHi, y, bHi)
}

// bisect finds a point (x, y) on a shortest edit path from (aLo, bLo) to
// (aHi, bHi), walking forward from the start and backward from the end
// until the two meet. It sets d.aborted when the edit distance exceeds
// maxEditDistance or the work its budget.
func (d *differ) bisect(aLo, aHi, bLo, bHi int) (int, int, bool) {
	n, m := aHi-aLo, bHi-bLo
	maxD := (n + m + 1) / 2
	limit := min(maxD, maxEditDistance/2+1)
	off, vlen := limit, 2*limit+2
	if cap(d.v1) < vlen {
		d.v1, d.v2 = make([]int, vlen), make([]int, vlen)
	}
	v1, v2 := d.v1[:vlen], d.v2[:vlen]
	for i := range vlen {
		v1[i], v2[i] = -1, -1
	}
	v1[off+1], v2[off+1] = 0, 0
	delta := n - m
	front := delta%2 != 0
	var k1start, k1end, k2start, k2end int
	for e := 0; e < limit; e++ {
		d.work += 2*e + 1
		if d.work > d.budget {
			d.aborted = true
			return 0, 0, false
		}
		// Forward.
		for k1 := -e + k1start; k1 <= e-k1end; k1 += 2 {
			i := off + k1
			var x1 int
			if k1 == -e || (k1 != e && v1[i-1] < v1[i+1]) {
				x1 = v1[i+1]
			} else {
				x1 = v1[i-1] + 1
			}
			y1 := x1 - k1
			for x1 < n && y1 < m && d.eq(aLo+x1, bLo+y1) {
				x1, y1 = x1+1, y1+1
			}
			v1[i] = x1
			switch {
			case x1 > n:
				k1end += 2
			case y1 > m:
				k1start += 2
			case front:
				if j := off + delta - k1; j >= 0 && j < vlen && v2[j] != -1 && x1 >= n-v2[j] {
					return aLo + x1, bLo + y1, true
				}
			}
		}
		// Backward.
		for k2 := -e + k2start; k2 <= e-k2end; k2 += 2 {
			i := off + k2
			var x2 int
			if k2 == -e || (k2 != e && v2[i-1] < v2[i+1]) {
				x2 = v2[i+1]
			} else {
				x2 = v2[i-1] + 1
			}
			y2 := x2 - k2
			for x2 < n && y2 < m && d.eq(aHi-1-x2, bHi-1-y2) {
				x2, y2 = x2+1, y2+1
			}
			v2[i] = x2
			switch {
			case x2 > n:
				k2end += 2
			case y2 > m:
				k2start += 2
			case !front:
				if j := off + delta - k2; j >= 0 && j < vlen && v1[j] != -1 {
					x1 := v1[j]
					y1 := off + x1 - j
					if x1 >= n-x2 {
						return aLo + x1, bLo + y1, true
					}
				}
			}
		}
		if d.work > d.budget {
			d.aborted = true
			return 0, 0, false
		}
	}
	if limit < maxD {
		d.aborted = true
	}
	return 0, 0, false
}

// unifiedWriter writes the hunks of a diff. Old line numbers: skipped
// common leading lines (the last of them in before), then the lines of
// a, then common trailing lines (the first of them in after).
type unifiedWriter struct {
	a, b          *lineTable
	mask          func(string) string
	skipped       int
	before, after [][]byte
	blocks        []block
	from, to      string
	sb            strings.Builder
}

// oldLine returns old line g (0-based, counted from the file's start).
func (u *unifiedWriter) oldLine(g int) []byte {
	switch {
	case g < u.skipped:
		return u.before[g-(u.skipped-len(u.before))]
	case g < u.skipped+u.a.n:
		return u.a.line(g - u.skipped)
	default:
		return u.after[g-u.skipped-u.a.n]
	}
}

func (u *unifiedWriter) write() string {
	if len(u.blocks) == 0 {
		return ""
	}
	lo, hi := u.skipped-len(u.before), u.skipped+u.a.n+len(u.after)
	// Hunks: blocks no more than 2×context lines apart go together.
	type hunk struct{ first, last int }
	var hunks []hunk
	size := len(u.from) + len(u.to) + 10
	for i, bl := range u.blocks {
		if i > 0 && bl.a0-u.blocks[i-1].a1 <= 2*diffContext {
			hunks[len(hunks)-1].last = i
		} else {
			hunks = append(hunks, hunk{i, i})
		}
		for x := bl.a0; x < bl.a1; x++ {
			size += len(u.a.line(x)) + 2
		}
		for y := bl.b0; y < bl.b1; y++ {
			size += len(u.b.line(y)) + 2
		}
	}
	size += len(hunks) * (4*diffContext*80 + 40)
	u.sb.Grow(size)
	u.sb.WriteString("--- ")
	u.sb.WriteString(u.from)
	u.sb.WriteString("\n+++ ")
	u.sb.WriteString(u.to)
	u.sb.WriteString("\n")
	for _, h := range hunks {
		first, last := u.blocks[h.first], u.blocks[h.last]
		// Blocks are in a's and b's numbering; add the skipped lines.
		oStart := max(u.skipped+first.a0-diffContext, lo)
		oEnd := min(u.skipped+last.a1+diffContext, hi)
		nStart := oStart + first.b0 - first.a0
		nEnd := oEnd + last.b1 - last.a1
		u.sb.WriteString("@@ -")
		u.writeRange(oStart, oEnd-oStart)
		u.sb.WriteString(" +")
		u.writeRange(nStart, nEnd-nStart)
		u.sb.WriteString(" @@\n")
		cur := oStart
		for _, bl := range u.blocks[h.first : h.last+1] {
			for ; cur < u.skipped+bl.a0; cur++ {
				u.writeLine(' ', u.oldLine(cur))
			}
			for x := bl.a0; x < bl.a1; x++ {
				u.writeLine('-', u.a.line(x))
			}
			for y := bl.b0; y < bl.b1; y++ {
				u.writeLine('+', u.b.line(y))
			}
			cur = u.skipped + bl.a1
		}
		for ; cur < oEnd; cur++ {
			u.writeLine(' ', u.oldLine(cur))
		}
	}
	return u.sb.String()
}

// writeRange writes the "l,n" of a hunk header for n lines from line
// start (0-based), as go-udiff did: "l" alone for one line, "0,0" for
// none at the start.
func (u *unifiedWriter) writeRange(start, n int) {
	switch {
	case n > 1:
		u.sb.WriteString(strconv.Itoa(start + 1))
		u.sb.WriteByte(',')
		u.sb.WriteString(strconv.Itoa(n))
	case n == 0 && start == 0:
		u.sb.WriteString("0,0")
	default:
		u.sb.WriteString(strconv.Itoa(start + 1))
	}
}

// writeLine writes one line of a hunk, its text through the mask.
func (u *unifiedWriter) writeLine(kind byte, line []byte) {
	u.sb.WriteByte(kind)
	if u.mask == nil {
		u.sb.Write(line)
	} else {
		s := string(line)
		body := strings.TrimRight(s, "\r\n")
		u.sb.WriteString(u.mask(body))
		u.sb.WriteString(s[len(body):])
	}
	if len(line) == 0 || line[len(line)-1] != '\n' {
		u.sb.WriteString("\n\\ No newline at end of file\n")
	}
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
