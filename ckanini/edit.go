package ckanini

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// contIndent is added to the indentation of an option line for the
// continuation lines of a multi-line value that Set writes.
const contIndent = "    "

// CheckOption reports whether Set can write key = value into section so that
// ConfigParser reads it back as this package's Set documents, and CKAN can
// interpolate it. Section and key must be non-empty single lines; the key
// must not have surrounding whitespace, contain '=' or ':', or start with
// '#', ';' or '['; every '%' in the value must be part of "%%" or of
// "%(name)s"; a line after the first line of a multi-line value must not
// start with '#' or ';'. An empty section stands for app:main.
func CheckOption(section, key, value string) error {
	if section == "" {
		section = mainSection
	}
	switch {
	case !utf8.ValidString(section) || !utf8.ValidString(key) || !utf8.ValidString(value):
		return errors.New("invalid UTF-8")
	case strings.ContainsAny(section, "\r\n"):
		return fmt.Errorf("section name %q contains a line break", section)
	case key == "":
		return errors.New("empty key")
	case pyStrip(key) != key:
		return fmt.Errorf("key %q has surrounding whitespace", key)
	case strings.ContainsAny(key, "=:\r\n"):
		return fmt.Errorf("key %q contains '=', ':' or a line break", key)
	case strings.ContainsAny(key[:1], "#;["):
		return fmt.Errorf("key %q starts with '#', ';' or '['", key)
	}
	lines := valueLines(value)
	for _, l := range lines[1:] {
		if isComment(l) {
			return fmt.Errorf("line %q of the value would be read as a comment", clip(l))
		}
	}
	return checkPercent(strings.Join(lines, "\n"))
}

// valueLines returns value as ConfigParser would read it back, one string a
// line: surrounding whitespace of the value and of each line dropped.
func valueLines(value string) []string {
	var lines []string
	for _, l := range splitLines(value) {
		lines = append(lines, pyStrip(value[l.start:l.start+l.n]))
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return []string{""}
	}
	return lines
}

// eol returns the line ending for new lines: that of the first line that has
// one, else "\n".
func (f *File) eol() uint8 {
	for _, l := range f.lines {
		if l.eol != eolNone {
			return l.eol
		}
	}
	return eolLF
}

// Set sets key = value in section (app:main when section is "") the way
// `ckan config-tool` does, and reports whether the file changed:
//
//   - the first active occurrence of the key in the section is changed in
//     place, keeping its indentation, spelling and the spacing around '=';
//     its continuation lines are replaced;
//   - if the key is only commented out in the section (a line "#key = x",
//     "# key: x" or ";key = x"), the first such line is uncommented and set;
//   - later active occurrences in the section are commented out by putting
//     '#' in front of them and of their continuation lines;
//   - an absent key is inserted right after the section header; a missing
//     section is inserted, with the key, just before [app:main], or appended
//     at the end when there is no [app:main];
//   - keys are compared case-insensitively (unlike config-tool, which would
//     add "secret_key" next to "SECRET_KEY" and so break CKAN 2.9);
//   - a commented line is not taken when uncommenting it would turn the
//     indented lines below it into its continuation; the key is then inserted
//     after the header.
//
// The value is stored as ConfigParser reads it back: without surrounding
// whitespace; the lines of a multi-line value after the first become
// indented continuation lines. Setting the value a key already has (and no
// later occurrence to comment out) changes nothing. Every line not named
// above keeps its bytes; new lines get the file's line ending, and a changed
// file ends with a line ending.
//
// Set panics if CheckOption reports an error: names are meant to be
// constants, and a value that CKAN cannot interpolate would stop CKAN from
// starting. Check values from users with CheckOption first.
func (f *File) Set(section, key, value string) (changed bool) {
	if section == "" {
		section = mainSection
	}
	if err := CheckOption(section, key, value); err != nil {
		panic("ckanini: Set: " + err.Error())
	}
	return f.set(section, key, value)
}

// SetLiteral is Set for INI files that are not read with ConfigParser
// interpolation (uWSGI, whose logformat holds "%(ftime)"): the value is
// written as it is, without the '%' check.
func (f *File) SetLiteral(section, key, value string) (changed bool) {
	if section == "" {
		section = mainSection
	}
	return f.set(section, key, value)
}

// isNew reports whether line i was written by Set.
func (f *File) isNew(i int) bool { return int(f.lines[i].start) >= len(f.src) }

// splice replaces del lines at index at by ins.
type splice struct {
	at, del int
	ins     []line
}

// apply makes the splice on f.lines and returns its inverse.
func (f *File) apply(s splice) splice {
	old := slices.Clone(f.lines[s.at : s.at+s.del])
	f.lines = slices.Replace(f.lines, s.at, s.at+s.del, s.ins...)
	return splice{at: s.at, del: len(s.ins), ins: old}
}

func (f *File) set(section, key, value string) (changed bool) {
	vl := valueLines(value)
	want := strings.Join(vl, "\n")
	fk := fold(key)
	eol := f.eol()

	var active []int
	if f.sections[section] != nil {
		cur := ""
		for i, l := range f.lines {
			switch l.kind {
			case lineSection:
				cur, _ = sectionName(pyStrip(f.text(i)))
			case lineOption:
				if cur == section && foldEqual(f.optionKey(i), fk) {
					active = append(active, i)
				}
			}
		}
	}

	replace := map[int][]string{} // line index -> replacement texts (nil: drop)
	before := map[int][]string{}  // line index -> lines to insert before it
	after := map[int][]string{}   // line index -> lines to insert after it
	var tail []string             // lines to append

	switch {
	case len(active) > 0:
		first := active[0]
		if len(active) == 1 && f.value(first) == want {
			return false
		}
		t := f.text(first)
		_, delim, valStart, _ := splitOption(t)
		replace[first] = optionLines(t, delim, valStart, vl)
		for _, c := range f.contLines(first) {
			replace[c] = nil
		}
		for _, d := range active[1:] {
			replace[d] = []string{"#" + f.text(d)}
			for _, c := range f.contLines(d) {
				replace[c] = []string{"#" + f.text(c)}
			}
		}
	default:
		if c, rest, delim, valStart := f.commented(section, fk); c >= 0 {
			replace[c] = optionLines(rest, delim, valStart, vl)
			break
		}
		if s := f.sections[section]; s != nil && len(s.headers) > 0 {
			h := int(s.headers[0])
			lead := ""
			if n := f.nextContent(h); n >= 0 {
				lead, _ = leading(f.text(n))
			}
			after[h] = newOption(lead, key, vl)
			break
		}
		if s := f.sections[mainSection]; s != nil && len(s.headers) > 0 {
			h := int(s.headers[0])
			lead, _ := leading(f.text(h))
			lines := append([]string{lead + "[" + section + "]"}, newOption(lead, key, vl)...)
			before[h] = append(lines, "")
			break
		}
		if n := len(f.lines); n > 0 && f.lines[n-1].kind != lineBlank {
			tail = append(tail, "")
		}
		tail = append(tail, "["+section+"]")
		tail = append(tail, newOption("", key, vl)...)
	}

	// The edits, as splices from the last line up so that the indices of
	// the lines before each stay valid; the lines slice has room for the
	// few new lines, so that a large file is not copied.
	touched := make([]int, 0, len(replace)+len(before)+len(after))
	for _, m := range []map[int][]string{replace, before, after} {
		for i := range m {
			if !slices.Contains(touched, i) {
				touched = append(touched, i)
			}
		}
	}
	slices.Sort(touched)
	var undo []splice
	for k := len(touched) - 1; k >= 0; k-- {
		i := touched[k]
		var ins []line
		for _, t := range before[i] {
			ins = append(ins, f.newLine(t, eol))
		}
		if r, ok := replace[i]; ok {
			for j, t := range r {
				e := eol
				if j == len(r)-1 {
					e = f.lines[i].eol
				}
				ins = append(ins, f.newLine(t, e))
			}
		} else {
			ins = append(ins, f.lines[i])
		}
		for _, t := range after[i] {
			ins = append(ins, f.newLine(t, eol))
		}
		undo = append(undo, f.apply(splice{at: i, del: 1, ins: ins}))
	}
	if len(tail) > 0 {
		ins := make([]line, len(tail))
		for j, t := range tail {
			ins[j] = f.newLine(t, eol)
		}
		undo = append(undo, f.apply(splice{at: len(f.lines), ins: ins}))
	}
	// A changed file ends with a line ending (only the old last line can
	// lack one).
	for i := len(f.lines) - 1; i >= 0; i-- {
		if f.lines[i].eol == eolNone {
			l := f.lines[i]
			l.eol = eol
			undo = append(undo, f.apply(splice{at: i, del: 1, ins: []line{l}}))
			break
		}
	}

	// A line ending "\r" followed by an empty line ending "\n" would read
	// back as one line ending "\r\n" (files that mix line endings): the
	// new line of the two takes the other's kind of ending, and between
	// two old lines that a removal brought together goes a "#" line.
	for i := 0; i+1 < len(f.lines); i++ {
		a, b := f.lines[i], f.lines[i+1]
		if a.eol != eolCR || b.n != 0 || b.eol != eolLF {
			continue
		}
		switch {
		case f.isNew(i + 1):
			b.eol = eolCR
			undo = append(undo, f.apply(splice{at: i + 1, del: 1, ins: []line{b}}))
		case f.isNew(i):
			a.eol = eolLF
			undo = append(undo, f.apply(splice{at: i, del: 1, ins: []line{a}}))
		default:
			undo = append(undo, f.apply(splice{at: i + 1, ins: []line{f.newLine("#", eolLF)}}))
		}
	}

	if err := f.parse(); err != nil {
		for k := len(undo) - 1; k >= 0; k-- {
			f.apply(undo[k])
		}
		if f.parse() != nil {
			panic("ckanini: internal error: cannot restore the file")
		}
		panic("ckanini: internal error: Set produced an unreadable file: " + err.Error())
	}
	return true
}

// optionLines rewrites an option line text (delimiter at delim, value from
// valStart) to hold the value lines vl, keeping everything before the value.
func optionLines(text string, delim, valStart int, vl []string) []string {
	prefix := text[:valStart]
	if vl[0] == "" {
		prefix = pyRStrip(prefix)
	} else if valStart == delim+1 && delim > 0 && isSpaceBefore(text[:delim]) {
		prefix += " " // "key =" becomes "key = value"
	}
	lead, _ := leading(text)
	return append([]string{prefix + vl[0]}, contTexts(lead, vl[1:])...)
}

func isSpaceBefore(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return isSpace(r)
}

// newOption returns the lines of a new option "key = value" indented by lead.
func newOption(lead, key string, vl []string) []string {
	first := lead + key + " ="
	if vl[0] != "" {
		first += " " + vl[0]
	}
	return append([]string{first}, contTexts(lead, vl[1:])...)
}

func contTexts(lead string, vl []string) []string {
	out := make([]string, len(vl))
	for i, l := range vl {
		if l != "" {
			out[i] = lead + contIndent + l
		}
	}
	return out
}

// contLines returns the continuation lines of the option line at i.
func (f *File) contLines(i int) []int {
	var out []int
	for j := i + 1; j < len(f.lines); j++ {
		switch f.lines[j].kind {
		case lineCont:
			out = append(out, j)
		case lineBlank, lineComment:
		default:
			return out
		}
	}
	return out
}

// nextContent returns the index of the first line after i that is not blank
// and not a comment, or -1.
func (f *File) nextContent(i int) int {
	for j := i + 1; j < len(f.lines); j++ {
		if k := f.lines[j].kind; k != lineBlank && k != lineComment {
			return j
		}
	}
	return -1
}

// commented finds the first line of section that holds the folded key
// commented out ("#key = x", "# key: x", ";key = x", the marker in the first
// column) and can be uncommented without changing how later lines are read.
// It returns the line index (-1 if none) and the line without its marker.
func (f *File) commented(section, fk string) (idx int, rest string, delim, valStart int) {
	cur := ""
	for i, l := range f.lines {
		if l.kind == lineSection {
			cur, _ = sectionName(pyStrip(f.text(i)))
			continue
		}
		if l.kind != lineComment || cur != section {
			continue
		}
		t := f.text(i)
		if t == "" || (t[0] != '#' && t[0] != ';') {
			continue
		}
		r := pyLStrip(t[1:])
		key, d, vs, ok := splitOption(r)
		if !ok || !foldEqual(key, fk) {
			continue
		}
		// The uncommented line has no indentation; an indented line after it
		// would become its continuation.
		if n := f.nextContent(i); n >= 0 && indentOf(f.text(n)) > 0 {
			continue
		}
		return i, r, d, vs
	}
	return -1, "", 0, 0
}
