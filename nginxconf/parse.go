// Package nginxconf reads nginx configuration text and enforces the
// directives of a template on an existing site file, keeping everything
// else of that file byte for byte.
//
// The tokenizer follows nginx's own (ngx_conf_read_token): words, quoted
// strings ('…' and "…" with backslash escapes), ";", "{", "}", "#"
// comments to the end of the line (only at the start of a word, never
// inside quotes), and "$var" / "${var}" variables. Statements are either
// simple ("name args;") or blocks ("name args { … }"); which directive
// takes a block is not checked here, only the structure.
//
// See Enforce for how template directives are matched with the current
// file's.
package nginxconf

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Config is a parsed nginx configuration: the tree of its statements,
// with the byte offsets of each statement in the parsed text.
type Config struct {
	data []byte
	root *node
	// idle[i] is true when the tokenizer, about to read byte i, is
	// between statements or words (not inside a word, a quoted string or
	// a comment, and not after a backslash); idle[len(data)] is the state
	// at the end of the text. Inserting text that starts and ends with a
	// separator there keeps every existing token as it is.
	idle []bool
	// lines are the offsets where lines start.
	lines []int
}

// Parse tokenizes data like nginx does and builds the tree of its
// statements. Errors name the line: unbalanced braces, an unterminated
// quoted string, a directive without its ";".
func Parse(data []byte) (*Config, error) {
	toks, idle, err := tokenize(data)
	if err != nil {
		return nil, err
	}
	root, err := build(data, toks)
	if err != nil {
		return nil, err
	}
	lines := []int{0}
	for i, b := range data {
		if b == '\n' {
			lines = append(lines, i+1)
		}
	}
	return &Config{data: data, root: root, idle: idle, lines: lines}, nil
}

// lineStart is the offset of the start of the line holding byte pos.
func (c *Config) lineStart(pos int) int {
	i := sort.SearchInts(c.lines, pos+1) // first line start after pos
	if i == 0 {
		return 0
	}
	return c.lines[i-1]
}

// lineIndent is the leading blanks of the line holding byte pos.
func (c *Config) lineIndent(pos int) string {
	ls := c.lineStart(pos)
	i := ls
	for i < len(c.data) && (c.data[i] == ' ' || c.data[i] == '\t') {
		i++
	}
	return string(c.data[ls:i])
}

// node is one statement; the root node stands for the main context.
type node struct {
	name    string   // the directive's name, unescaped
	args    []string // its arguments, unescaped (the values nginx sees)
	rawArgs []string // its arguments as written (quotes included)
	// argSpans are the byte offsets [start, end) of rawArgs in the text.
	argSpans [][2]int
	line     int // line of the name
	// start and end delimit the statement: from its name to its ";" or
	// to its matching "}" included.
	start, end int
	block      bool
	// open and close are the offsets of "{" and "}" of a block; for the
	// root they are -1 and len(data).
	open, close int
	children    []*node

	// Computed once, by enforce.go.
	key      string   // identity in its context (see key)
	addrs    []string // server: sorted distinct listen addresses
	names    string   // server: sorted distinct lower-cased names
	hasIdent bool
}

type tokKind uint8

const (
	tokWord tokKind = iota
	tokSemi
	tokOpen
	tokClose
)

type token struct {
	kind       tokKind
	start, end int // raw bytes, quotes included
	line       int
	val        string // unescaped value of a word
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// tokenize is a port of nginx's ngx_conf_read_token, for a whole file.
func tokenize(data []byte) ([]token, []bool, error) {
	var (
		toks      []token
		idle      = make([]bool, len(data)+1)
		line      = 1
		lastSpace = true
		needSpace bool
		sharp     bool // inside a # comment
		quoted    bool // the previous byte was a backslash
		dq, sq    bool // inside "…" or '…'
		variable  bool // just after "$" (so that "${" stays in the word)
		start     int  // start of the current word
		startLine int
		nargs     int // words of the current statement
		stmtTok   int // index in toks of the current statement's first word
		stmtLine  int
	)
	word := func(rawEnd, valStart, valEnd int) {
		if nargs == 0 {
			stmtTok = len(toks)
			stmtLine = startLine
		}
		toks = append(toks, token{kind: tokWord, start: start, end: rawEnd, line: startLine,
			val: unescape(data[valStart:valEnd])})
		nargs++
	}
	punct := func(i int, k tokKind) {
		toks = append(toks, token{kind: k, start: i, end: i + 1, line: line})
		nargs = 0
	}
	stmtName := func() string {
		if stmtTok < len(toks) {
			return toks[stmtTok].val
		}
		return ""
	}
	for i := 0; i < len(data); i++ {
		ch := data[i]
		idle[i] = lastSpace && !needSpace && !sharp && !quoted
		if ch == '\n' {
			line++
			sharp = false
		}
		if sharp {
			continue
		}
		if quoted {
			quoted = false
			continue
		}
		if needSpace {
			switch {
			case isSpace(ch):
				lastSpace, needSpace = true, false
				continue
			case ch == ';':
				lastSpace, needSpace = true, false
				punct(i, tokSemi)
				continue
			case ch == '{':
				lastSpace, needSpace = true, false
				punct(i, tokOpen)
				continue
			case ch == ')':
				lastSpace, needSpace = true, false
			default:
				return nil, nil, fmt.Errorf("line %d: unexpected %q after a quoted string", line, ch)
			}
		}
		if lastSpace {
			if isSpace(ch) {
				continue
			}
			start, startLine = i, line
			switch ch {
			case ';', '{':
				if nargs == 0 {
					return nil, nil, fmt.Errorf("line %d: unexpected %q", line, ch)
				}
				if ch == ';' {
					punct(i, tokSemi)
				} else {
					punct(i, tokOpen)
				}
			case '}':
				if nargs != 0 {
					return nil, nil, fmt.Errorf("line %d: unexpected \"}\": directive %q (line %d) is missing its \";\"",
						line, stmtName(), stmtLine)
				}
				punct(i, tokClose)
			case '#':
				sharp = true
			case '\\':
				quoted, lastSpace = true, false
			case '"':
				dq, lastSpace = true, false
			case '\'':
				sq, lastSpace = true, false
			case '$':
				variable, lastSpace = true, false
			default:
				lastSpace = false
			}
			continue
		}
		// Inside a word.
		if ch == '{' && variable {
			continue
		}
		variable = false
		if ch == '\\' {
			quoted = true
			continue
		}
		if ch == '$' {
			variable = true
			continue
		}
		switch {
		case dq:
			if ch == '"' {
				dq, needSpace = false, true
				word(i+1, start+1, i)
			}
		case sq:
			if ch == '\'' {
				sq, needSpace = false, true
				word(i+1, start+1, i)
			}
		case isSpace(ch) || ch == ';' || ch == '{':
			lastSpace = true
			word(i, start, i)
			if ch == ';' {
				punct(i, tokSemi)
			} else if ch == '{' {
				punct(i, tokOpen)
			}
		}
	}
	idle[len(data)] = lastSpace && !needSpace && !sharp && !quoted
	switch {
	case dq || sq:
		return nil, nil, fmt.Errorf("line %d: unterminated quoted string", startLine)
	case !lastSpace && nargs == 0:
		name := unescape(data[start:min(len(data), start+40)])
		return nil, nil, fmt.Errorf("line %d: unexpected end of file: directive %q is missing its \";\"",
			startLine, name)
	case !lastSpace || nargs > 0:
		return nil, nil, fmt.Errorf("line %d: unexpected end of file: directive %q is missing its \";\"",
			stmtLine, stmtName())
	}
	return toks, idle, nil
}

// unescape does what nginx does to every word: \" \' \\ lose their
// backslash, \t \r \n become control characters, other backslashes stay.
func unescape(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		if b[i] == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case '"', '\'', '\\':
				i++
			case 't':
				out = append(out, '\t')
				i += 2
				continue
			case 'r':
				out = append(out, '\r')
				i += 2
				continue
			case 'n':
				out = append(out, '\n')
				i += 2
				continue
			}
		}
		out = append(out, b[i])
		i++
	}
	return string(out)
}

// build turns the token stream into the statement tree.
func build(data []byte, toks []token) (*node, error) {
	root := &node{block: true, open: -1, close: len(data), start: 0, end: len(data)}
	stack := []*node{root}
	var words []token
	newNode := func() *node {
		n := &node{name: words[0].val, line: words[0].line, start: words[0].start}
		for _, w := range words[1:] {
			n.args = append(n.args, w.val)
			n.rawArgs = append(n.rawArgs, string(data[w.start:w.end]))
			n.argSpans = append(n.argSpans, [2]int{w.start, w.end})
		}
		words = words[:0]
		return n
	}
	for _, t := range toks {
		top := stack[len(stack)-1]
		switch t.kind {
		case tokWord:
			words = append(words, t)
		case tokSemi, tokOpen:
			if len(words) == 0 { // the tokenizer rejects this already
				return nil, fmt.Errorf("line %d: unexpected %q", t.line, data[t.start])
			}
			n := newNode()
			top.children = append(top.children, n)
			if t.kind == tokSemi {
				n.end = t.end
			} else {
				n.block, n.open = true, t.start
				stack = append(stack, n)
			}
		case tokClose:
			if len(words) != 0 || len(stack) == 1 {
				return nil, fmt.Errorf("line %d: unexpected \"}\"", t.line)
			}
			top.close, top.end = t.start, t.end
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 1 {
		b := stack[len(stack)-1]
		return nil, fmt.Errorf("line %d: block %q is not closed: unexpected end of file, expecting \"}\"",
			b.line, strings.TrimSpace(b.name+" "+strings.Join(b.rawArgs, " ")))
	}
	return root, nil
}
