package ckanini

// Views of a File's internals for the tests, in the shape of the lines
// and options they describe.

// rawLine is one physical line: its text and its line ending.
type rawLine struct {
	text, eol string
}

// linesOf returns the lines of g.
func linesOf(g *File) []rawLine {
	out := make([]rawLine, len(g.lines))
	for i := range g.lines {
		out[i] = rawLine{g.text(i), g.eolOf(i)}
	}
	return out
}

// lineView is what ConfigParser makes of one line.
type lineView struct {
	kind    lineKind
	section string // the section the line is in
	key     string // option lines: the key as written
	owner   int    // continuation lines: their option line
}

// viewOf classifies the lines of g.
func viewOf(g *File) []lineView {
	out := make([]lineView, len(g.lines))
	cur, opt := "", -1
	for i, l := range g.lines {
		v := lineView{kind: l.kind, owner: -1}
		switch l.kind {
		case lineSection:
			cur, _ = sectionName(pyStrip(g.text(i)))
			opt = -1
		case lineOption:
			v.key = g.optionKey(i)
			opt = i
		case lineCont:
			v.owner = opt
		}
		v.section = cur
		out[i] = v
	}
	return out
}

// option is an option of a section: the spelling and the value of its last
// occurrence.
type option struct {
	key, value string
}

// optionOf returns the option fk (folded) of the section.
func optionOf(g *File, sec, fk string) (option, bool) {
	i, ok := g.lookup(sec, fk)
	if !ok {
		return option{}, false
	}
	return option{g.optionKey(i), g.value(i)}, true
}

// numOptions is the number of distinct options of the section.
func numOptions(g *File, sec string) int {
	g.ensureIndex()
	if s := g.sections[sec]; s != nil {
		return s.n
	}
	return 0
}
