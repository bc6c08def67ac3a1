package ckanini

import (
	"bytes"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// maxSize is the largest file this package reads: line offsets are 32-bit.
const maxSize = 1<<31 - 1

// Line endings of a line.
const (
	eolNone uint8 = iota // the last line, without a line ending
	eolLF                // "\n"
	eolCRLF              // "\r\n"
	eolCR                // "\r"
)

var eolText = [...]string{eolNone: "", eolLF: "\n", eolCRLF: "\r\n", eolCR: "\r"}

type lineKind uint8

const (
	lineBlank   lineKind = iota // only whitespace
	lineComment                 // first non-space character is '#' or ';'
	lineSection                 // a section header
	lineOption                  // key = value / key: value
	lineCont                    // continuation of the value of an option line
)

// line is one physical line of the file. Its text is not stored in the
// line: it is the span [start, start+n) of the file's text space, which
// is the file as read (src) followed by the text of lines that Set wrote
// (extra). A line costs 12 bytes however long it is, and parsing copies
// no text: a 100 MB ckan.ini is held in little more than 100 MB.
type line struct {
	start uint32
	n     uint32
	eol   uint8
	kind  lineKind
}

// Parse parses data as the contents of the ckan.ini at path. Path is used
// for %(here)s and %(__file__)s and in messages; Parse does not read it, nor
// the files named by `use = config:` (see Load). Parse keeps a copy of
// data. Errors are *ParseError.
func Parse(path string, data []byte) (*File, error) {
	return parseOwned(path, bytes.Clone(data))
}

// parseOwned is Parse of data that the File may keep and share (Original).
func parseOwned(path string, data []byte) (*File, error) {
	f := &File{path: path, abs: absPath(path), data: data}
	if len(data) > maxSize {
		return nil, &ParseError{Path: path, Line: 1, Msg: "the file is larger than 2 GiB"}
	}
	text := data
	if bytes.HasPrefix(text, utf8BOM) {
		f.bom = true
		text = text[len(utf8BOM):]
	}
	// src shares data's memory: data is never written (see Original).
	f.src = unsafe.String(unsafe.SliceData(text), len(text))
	f.lines = splitLines(f.src)
	if err := f.parse(); err != nil {
		return nil, err
	}
	return f, nil
}

// Load reads the ckan.ini at path and, for reading, the files it names with
// `use = config:PATH` in [app:main] (relative to the directory of the naming
// file, followed recursively). Set and Bytes concern only the file at path.
func Load(path string) (*File, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	f, err := parseOwned(path, data)
	if err != nil {
		return nil, err
	}
	if err := f.loadChain(); err != nil {
		return nil, err
	}
	return f, nil
}

// readFile is os.ReadFile with a buffer of the file's exact size, so that
// a large file does not leave a larger buffer behind.
func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() || info.Size() > maxSize {
		return io.ReadAll(io.LimitReader(fh, maxSize+1))
	}
	data := make([]byte, info.Size())
	n, err := io.ReadFull(fh, data)
	switch {
	case err == io.ErrUnexpectedEOF:
		return data[:n], nil // shrank while read
	case err != nil:
		return nil, err
	}
	// The file may have grown since Stat.
	rest, err := io.ReadAll(fh)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		data = append(data, rest...)
	}
	return data, nil
}

// Original returns the content the file was parsed from (the data given
// to Parse, or the file Load read), without the edits of Set. It shares
// the File's memory: the caller must not modify it.
func (f *File) Original() []byte { return f.data }

// splitLines splits s at line endings as Python's universal newlines do
// ("\r\n", "\r" and "\n"). The slice has room for some lines more, for
// Set.
func splitLines(s string) []line {
	n := strings.Count(s, "\n") + strings.Count(s, "\r") + 1
	lines := make([]line, 0, n+256)
	pos := 0
	for pos < len(s) {
		rest := s[pos:]
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest)
		}
		if j := strings.IndexByte(rest[:i], '\r'); j >= 0 {
			i = j
		}
		l := line{start: uint32(pos), n: uint32(i)}
		switch {
		case i == len(rest):
			l.eol = eolNone
		case rest[i] == '\n':
			l.eol = eolLF
		case i+1 < len(rest) && rest[i+1] == '\n':
			l.eol = eolCRLF
		default:
			l.eol = eolCR
		}
		lines = append(lines, l)
		pos += i + len(eolText[l.eol])
	}
	return lines
}

// text returns the text of line i, without its line ending.
func (f *File) text(i int) string {
	l := f.lines[i]
	if int(l.start) < len(f.src) {
		return f.src[l.start : l.start+l.n]
	}
	if l.n == 0 {
		return ""
	}
	s := l.start - uint32(len(f.src))
	return f.extraText[s : s+l.n]
}

// eolOf returns the line ending of line i.
func (f *File) eolOf(i int) string { return eolText[f.lines[i].eol] }

// newLine stores text for a line that Set writes and returns the line.
func (f *File) newLine(text string, eol uint8) line {
	start := len(f.src) + f.extra.Len()
	f.extra.WriteString(text)
	// Strings taken from the builder stay valid as it grows.
	f.extraText = f.extra.String()
	return line{start: uint32(start), n: uint32(len(text)), eol: eol}
}

// isSpace reports whether Python's str.isspace (and the regexp class \s)
// holds for r.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// asciiSpace is isSpace for the bytes below utf8.RuneSelf.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true,
	0x1c: true, 0x1d: true, 0x1e: true, 0x1f: true}

// pyStrip is Python's str.strip().
func pyStrip(s string) string { return pyRStrip(pyLStrip(s)) }

// pyLStrip is Python's str.lstrip().
func pyLStrip(s string) string {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf && asciiSpace[s[i]] {
		i++
	}
	if i < len(s) && s[i] >= utf8.RuneSelf {
		return strings.TrimLeftFunc(s[i:], isSpace)
	}
	return s[i:]
}

// pyRStrip is Python's str.rstrip().
func pyRStrip(s string) string {
	i := len(s)
	for i > 0 && s[i-1] < utf8.RuneSelf && asciiSpace[s[i-1]] {
		i--
	}
	if i > 0 && s[i-1] >= utf8.RuneSelf {
		return strings.TrimRightFunc(s[:i], isSpace)
	}
	return s[:i]
}

// leading returns the leading whitespace of s and its length in characters.
func leading(s string) (string, int) {
	n := 0
	for i, r := range s {
		if !isSpace(r) {
			return s[:i], n
		}
		n++
	}
	return s, n
}

// indentOf is the length in characters of the leading whitespace of s.
func indentOf(s string) int {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf && asciiSpace[s[i]] {
		i++
	}
	if i < len(s) && s[i] >= utf8.RuneSelf {
		_, n := leading(s[i:])
		return i + n
	}
	return i
}

// fold maps an option name to the form used for comparisons: Python's
// str.lower() (ConfigParser's optionxform), without the final-sigma rule.
// A name already in that form is returned as it is, without a copy.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	for _, r := range s {
		if r == '\u0130' { // İ: Python's full lower-case mapping
			b.WriteString("i\u0307")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// foldEqual reports whether fold(s) == fk, without a copy for ASCII s.
func foldEqual(s, fk string) bool {
	if len(s) != len(fk) {
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return fold(s) == fk
			}
		}
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return fold(s) == fk
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != fk[i] {
			return false
		}
	}
	return true
}

// isComment reports whether ConfigParser takes the stripped line st for a
// comment.
func isComment(st string) bool {
	return strings.HasPrefix(st, "#") || strings.HasPrefix(st, ";")
}

// sectionName returns the header of a stripped line as ConfigParser's
// SECTCRE (`\[(?P<header>.+)\]`, matched at the start) does.
func sectionName(st string) (string, bool) {
	if !strings.HasPrefix(st, "[") {
		return "", false
	}
	end := strings.LastIndexByte(st, ']')
	if end < 2 {
		return "", false
	}
	return st[1:end], true
}

// splitOption splits an option line as ConfigParser's OPTCRE does: the key
// is everything before the first '=' or ':'. It returns the stripped key and
// the byte offsets of the delimiter and of the value.
func splitOption(text string) (key string, delim, valStart int, ok bool) {
	d := strings.IndexAny(text, "=:")
	if d < 0 {
		return "", 0, 0, false
	}
	key = pyRStrip(pyLStrip(text[:d]))
	rest := text[d+1:]
	valStart = d + 1 + len(rest) - len(pyLStrip(rest))
	return key, d, valStart, true
}

// optionKey returns the key of option line i as written.
func (f *File) optionKey(i int) string {
	k, _, _, _ := splitOption(f.text(i))
	return k
}

// parse classifies f.lines as ConfigParser._read does, reporting what it
// would refuse, and records the section headers. The index of the options
// is built when first needed (see ensureIndex): a run of Sets on a large
// file does not rebuild it each time.
func (f *File) parse() error {
	if f.sections == nil {
		f.sections = map[string]*section{}
	}
	for _, s := range f.sections {
		s.headers = s.headers[:0]
		s.options = 0
	}
	f.order = f.order[:0]
	f.indexed.Store(false)

	var (
		cur         *section
		optLine     = -1 // current option line (ConfigParser's optname)
		indentLevel = 0
	)
	for i := range f.lines {
		t := f.text(i)
		if !utf8.ValidString(t) {
			return &ParseError{Path: f.path, Line: i + 1, Msg: "invalid UTF-8"}
		}
		st := pyStrip(t)
		if st == "" {
			f.lines[i].kind = lineBlank
			continue
		}
		if st[0] == '#' || st[0] == ';' {
			f.lines[i].kind = lineComment
			continue
		}
		indent := indentOf(t)
		if cur != nil && optLine >= 0 && indent > indentLevel {
			f.lines[i].kind = lineCont
			continue
		}
		indentLevel = indent
		if name, ok := sectionName(st); ok {
			f.lines[i].kind = lineSection
			cur = f.sections[name]
			if cur == nil {
				cur = &section{}
				f.sections[name] = cur
			}
			if len(cur.headers) == 0 {
				f.order = append(f.order, name)
			}
			cur.headers = append(cur.headers, int32(i))
			optLine = -1
			continue
		}
		if cur == nil {
			return &ParseError{Path: f.path, Line: i + 1,
				Msg: "option before the first section header"}
		}
		key, _, _, ok := splitOption(t)
		if !ok {
			return &ParseError{Path: f.path, Line: i + 1,
				Msg: "neither a section header, an option (key = value), a comment nor a continuation line"}
		}
		if key == "" {
			return &ParseError{Path: f.path, Line: i + 1, Msg: "option without a name"}
		}
		f.lines[i].kind = lineOption
		cur.options++
		optLine = i
	}
	for name, s := range f.sections {
		if len(s.headers) == 0 {
			delete(f.sections, name)
		}
	}
	return nil
}

func lineNumbers(idx []int32) []int {
	out := make([]int, len(idx))
	for i, x := range idx {
		out[i] = int(x) + 1
	}
	return out
}

// value returns the value of the option at line i as ConfigParser reads
// it: the text after the delimiter, then its continuation lines (blank
// lines kept inside, comments left out), joined with "\n", trailing
// whitespace dropped.
func (f *File) value(i int) string {
	_, _, valStart, _ := splitOption(f.text(i))
	first := pyStrip(f.text(i)[valStart:])
	j := i + 1
	for j < len(f.lines) && (f.lines[j].kind == lineBlank || f.lines[j].kind == lineComment) {
		j++
	}
	if j == len(f.lines) || f.lines[j].kind != lineCont {
		return pyRStrip(first) // one line: no copy
	}
	var b strings.Builder
	b.WriteString(first)
	for j = i + 1; j < len(f.lines); j++ {
		switch f.lines[j].kind {
		case lineBlank:
			b.WriteByte('\n')
		case lineComment:
		case lineCont:
			b.WriteByte('\n')
			b.WriteString(pyStrip(f.text(j)))
		default:
			return pyRStrip(b.String())
		}
	}
	return pyRStrip(b.String())
}

// lookup returns the line of the last occurrence of the folded key in the
// named section of this file only, without the [DEFAULT] fallback.
func (f *File) lookup(sec, fk string) (int, bool) {
	f.ensureIndex()
	s := f.sections[sec]
	if s == nil {
		return 0, false
	}
	return s.find(f, fk)
}

// lookupValue is the value of lookup's option.
func (f *File) lookupValue(sec, fk string) (string, bool) {
	i, ok := f.lookup(sec, fk)
	if !ok {
		return "", false
	}
	return f.value(i), true
}

// keys returns the folded keys of the named section in the order of their
// first appearance.
func (f *File) keys(sec string) []string {
	if f.sections[sec] == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	cur := ""
	for i, l := range f.lines {
		switch l.kind {
		case lineSection:
			cur, _ = sectionName(pyStrip(f.text(i)))
		case lineOption:
			if fk := fold(f.optionKey(i)); cur == sec && !seen[fk] {
				seen[fk] = true
				out = append(out, fk)
			}
		}
	}
	return out
}

// GetRaw returns the uninterpolated value of key in the named section of
// this file only (not of the files it uses), falling back to [DEFAULT] like
// ConfigParser's get(section, key, raw=True). Keys are case-insensitive;
// section names are not. When an option occurs more than once, the last
// occurrence counts.
func (f *File) GetRaw(section, key string) (string, bool) {
	if section != defaultSection && f.sections[section] == nil {
		return "", false
	}
	fk := fold(key)
	if v, ok := f.lookupValue(section, fk); ok {
		return v, true
	}
	if v, ok := f.lookupValue(defaultSection, fk); ok {
		return v, true
	}
	return "", false
}

// Size is the length in bytes of Bytes.
func (f *File) Size() int {
	n := 0
	if f.bom {
		n = len(utf8BOM)
	}
	for _, l := range f.lines {
		n += int(l.n) + len(eolText[l.eol])
	}
	return n
}

// Bytes returns the whole file as it is now, with its byte order mark and
// line endings, in a new buffer of its exact size.
func (f *File) Bytes() []byte {
	b := make([]byte, 0, f.Size())
	if f.bom {
		b = append(b, utf8BOM...)
	}
	for i := range f.lines {
		b = append(b, f.text(i)...)
		b = append(b, eolText[f.lines[i].eol]...)
	}
	return b
}
