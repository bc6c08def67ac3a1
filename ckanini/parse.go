package ckanini

import (
	"bytes"
	"os"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// rawLine is one physical line of the file.
type rawLine struct {
	text string // without the line ending (and without the BOM on line 1)
	eol  string // "\n", "\r\n", "\r" or "" (last line without line ending)
}

type lineKind uint8

const (
	lineBlank   lineKind = iota // only whitespace
	lineComment                 // first non-space character is '#' or ';'
	lineSection                 // a section header
	lineOption                  // key = value / key: value
	lineCont                    // continuation of the value of an option line
)

// lineInfo is what ConfigParser makes of one line.
type lineInfo struct {
	kind    lineKind
	section string // section the line is in; for a header the section it opens
	indent  int    // characters of leading whitespace, as ConfigParser counts

	// option lines
	key      string // as written
	delim    int    // byte offset of the '=' or ':'
	valStart int    // byte offset where the value starts
	value    string // the value as ConfigParser reads it (continuations joined)

	owner int // continuation lines: index of their option line
}

// entry is an option of a section.
type entry struct {
	key   string // spelling of the last occurrence
	value string // raw (uninterpolated) value of the last occurrence
	line  int    // index of the last occurrence's option line
	lines []int  // indices of all occurrences
}

type section struct {
	name    string
	headers []int             // indices of header lines
	entries map[string]*entry // by folded key
	order   []string          // folded keys in order of first appearance
}

// Parse parses data as the contents of the ckan.ini at path. Path is used
// for %(here)s and %(__file__)s and in messages; Parse does not read it, nor
// the files named by `use = config:` (see Load). Errors are *ParseError.
func Parse(path string, data []byte) (*File, error) {
	f := &File{path: path, abs: absPath(path)}
	if bytes.HasPrefix(data, utf8BOM) {
		f.bom = true
		data = data[len(utf8BOM):]
	}
	f.lines = splitLines(string(data))
	if err := f.parse(); err != nil {
		return nil, err
	}
	return f, nil
}

// Load reads the ckan.ini at path and, for reading, the files it names with
// `use = config:PATH` in [app:main] (relative to the directory of the naming
// file, followed recursively). Set and Bytes concern only the file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if err := f.loadChain(); err != nil {
		return nil, err
	}
	return f, nil
}

// splitLines splits s at line endings as Python's universal newlines do
// ("\r\n", "\r" and "\n").
func splitLines(s string) []rawLine {
	var lines []rawLine
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			lines = append(lines, rawLine{text: s})
			break
		}
		n := 1
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			n = 2
		}
		lines = append(lines, rawLine{text: s[:i], eol: s[i : i+n]})
		s = s[i+n:]
	}
	return lines
}

// isSpace reports whether Python's str.isspace (and the regexp class \s)
// holds for r.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is Python's str.strip().
func pyStrip(s string) string { return strings.TrimFunc(s, isSpace) }

// pyRStrip is Python's str.rstrip().
func pyRStrip(s string) string { return strings.TrimRightFunc(s, isSpace) }

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

// fold maps an option name to the form used for comparisons: Python's
// str.lower() (ConfigParser's optionxform), without the final-sigma rule.
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
	lead, _ := leading(text)
	d := strings.IndexAny(text, "=:")
	if d < 0 {
		return "", 0, 0, false
	}
	key = pyRStrip(text[len(lead):d])
	rest := text[d+1:]
	valStart = d + 1 + len(rest) - len(strings.TrimLeftFunc(rest, isSpace))
	return key, d, valStart, true
}

// parse classifies f.lines as ConfigParser._read does and builds the model.
func (f *File) parse() error {
	f.info = make([]lineInfo, len(f.lines))
	f.sections = map[string]*section{}
	f.order = nil
	f.dups = nil

	var (
		cur         *section
		curName     string
		optLine     = -1 // current option line (ConfigParser's optname)
		indentLevel = 0
		pieces      = map[int][]string{}
	)
	for i, ln := range f.lines {
		info := &f.info[i]
		info.section = curName
		info.owner = -1
		if !utf8.ValidString(ln.text) {
			return &ParseError{Path: f.path, Line: i + 1, Msg: "invalid UTF-8"}
		}
		st := pyStrip(ln.text)
		_, info.indent = leading(ln.text)
		if st == "" {
			info.kind = lineBlank
			if cur != nil && optLine >= 0 {
				pieces[optLine] = append(pieces[optLine], "")
			}
			continue
		}
		if isComment(st) {
			info.kind = lineComment
			continue
		}
		if cur != nil && optLine >= 0 && info.indent > indentLevel {
			info.kind = lineCont
			info.owner = optLine
			pieces[optLine] = append(pieces[optLine], st)
			continue
		}
		indentLevel = info.indent
		if name, ok := sectionName(st); ok {
			info.kind = lineSection
			info.section = name
			curName = name
			cur = f.sections[name]
			if cur == nil {
				cur = &section{name: name, entries: map[string]*entry{}}
				f.sections[name] = cur
				f.order = append(f.order, name)
			}
			cur.headers = append(cur.headers, i)
			optLine = -1
			continue
		}
		if cur == nil {
			return &ParseError{Path: f.path, Line: i + 1,
				Msg: "option before the first section header"}
		}
		key, delim, valStart, ok := splitOption(ln.text)
		if !ok {
			return &ParseError{Path: f.path, Line: i + 1,
				Msg: "neither a section header, an option (key = value), a comment nor a continuation line"}
		}
		if key == "" {
			return &ParseError{Path: f.path, Line: i + 1, Msg: "option without a name"}
		}
		info.kind = lineOption
		info.key = key
		info.delim = delim
		info.valStart = valStart
		pieces[i] = []string{pyStrip(ln.text[valStart:])}
		optLine = i

		fk := fold(key)
		e := cur.entries[fk]
		if e == nil {
			e = &entry{}
			cur.entries[fk] = e
			cur.order = append(cur.order, fk)
		}
		e.key, e.line = key, i
		e.lines = append(e.lines, i)
	}

	for i, p := range pieces {
		f.info[i].value = pyRStrip(strings.Join(p, "\n"))
	}
	for _, name := range f.order {
		s := f.sections[name]
		for _, fk := range s.order {
			e := s.entries[fk]
			e.value = f.info[e.line].value
			if len(e.lines) > 1 {
				f.dups = append(f.dups, Duplicate{Section: name,
					Key: f.info[e.lines[0]].key, Lines: lineNumbers(e.lines)})
			}
		}
		if len(s.headers) > 1 && name != defaultSection {
			f.dups = append(f.dups, Duplicate{Section: name, Lines: lineNumbers(s.headers)})
		}
	}
	sort.SliceStable(f.dups, func(a, b int) bool { return f.dups[a].Lines[0] < f.dups[b].Lines[0] })
	return nil
}

func lineNumbers(idx []int) []int {
	out := make([]int, len(idx))
	for i, x := range idx {
		out[i] = x + 1
	}
	return out
}

// lookup returns the entry of key in the named section of this file only,
// without the [DEFAULT] fallback.
func (f *File) lookup(sec, fk string) (*entry, bool) {
	s := f.sections[sec]
	if s == nil {
		return nil, false
	}
	e, ok := s.entries[fk]
	return e, ok
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
	if e, ok := f.lookup(section, fk); ok {
		return e.value, true
	}
	if e, ok := f.lookup(defaultSection, fk); ok {
		return e.value, true
	}
	return "", false
}

// Bytes returns the whole file as it is now, with its byte order mark and
// line endings.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	if f.bom {
		b.Write(utf8BOM)
	}
	for _, ln := range f.lines {
		b.WriteString(ln.text)
		b.WriteString(ln.eol)
	}
	return b.Bytes()
}
