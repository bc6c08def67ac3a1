package nginxconf

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Difference is one way the current site differs from the template.
type Difference struct {
	// Block says where: the labels of the enclosing blocks joined by
	// " > ", e.g. `server[listen 443 ssl http2; listen [::]:443 ssl
	// http2; server_name dcor.example.org] > location ~ \.(rtdc)$`; ""
	// for the main context.
	Block string
	// Directive is the directive's name (e.g. "client_max_body_size"),
	// or the label of a missing block (e.g. "location = /", or
	// "server[listen 80; listen [::]:80; server_name dcor.example.org]").
	Directive string
	// Current and Expected are the directive's arguments as written,
	// separated by single spaces; Current is "" when the directive is
	// missing, both are "" for a missing block.
	Current, Expected string
}

// errInternal marks a result that Enforce refuses to return because it
// would not be valid (a bug here, never the input's fault).
var errInternal = errors.New("nginxconf: internal error")

// repeatable lists the simple directives that may appear several times in
// one context. They are matched by their name and first argument (listen
// by its address; the *_cache_path and limit_* zone directives by the
// name of their zone). Every other simple directive is matched by its
// name alone. When a key occurs several times, the n-th occurrence in the
// template goes with the n-th occurrence in the current file.
var repeatable = map[string]bool{
	"listen": true, "server": true, "include": true, "set": true, "rewrite": true,
	"error_page": true, "access_log": true, "error_log": true, "log_format": true,
	"allow": true, "deny": true, "env": true, "load_module": true,
	"set_real_ip_from": true, "sub_filter": true, "more_set_headers": true,
	"add_header": true, "add_trailer": true,
	"proxy_set_header": true, "proxy_hide_header": true, "proxy_pass_header": true,
	"proxy_cache_path": true, "proxy_ssl_conf_command": true, "ssl_conf_command": true,
	"fastcgi_param": true, "fastcgi_hide_header": true, "fastcgi_pass_header": true, "fastcgi_cache_path": true,
	"uwsgi_param": true, "uwsgi_hide_header": true, "uwsgi_pass_header": true, "uwsgi_cache_path": true,
	"scgi_param": true, "scgi_hide_header": true, "scgi_pass_header": true, "scgi_cache_path": true,
	"grpc_set_header": true, "grpc_hide_header": true, "grpc_pass_header": true,
	"limit_req_zone": true, "limit_conn_zone": true, "limit_req": true,
}

// zoneArg names the argument prefix that carries the identity of the
// directives that define or use a shared memory zone.
var zoneArg = map[string]string{
	"proxy_cache_path": "keys_zone=", "fastcgi_cache_path": "keys_zone=",
	"uwsgi_cache_path": "keys_zone=", "scgi_cache_path": "keys_zone=",
	"limit_req_zone": "zone=", "limit_conn_zone": "zone=", "limit_req": "zone=",
}

// Enforce returns current with the statements of template enforced, and
// the differences it found, in the template's order. Both are whole nginx
// files (e.g. a site included in the http context).
//
// Each statement of the template is looked for in the same context of
// current:
//   - a server block by its listen addresses (the first argument of each
//     listen, options aside) and its server names; failing that, the first
//     server with the same names that shares an address with it, provided
//     no other template server with these names listens there;
//   - a location block by its arguments ("=/" is "= /"); other blocks
//     (http, events, if, map, upstream, …) by name and arguments;
//   - a simple directive by its name (client_max_body_size, proxy_pass,
//     ssl_certificate, server_name, return, …), except the repeatable ones
//     (listen, include, proxy_set_header, add_header, *_param, set,
//     rewrite, error_page, access_log, allow, deny, upstream's server, …),
//     matched by name and first argument: listen by its address, the
//     cache path and limit zone directives by the name of their zone.
//
// When a key occurs several times, the n-th in the template goes with the
// n-th in current. Found blocks are enforced recursively. A found simple
// directive whose arguments differ in value (quoting does not matter, nor
// the order of listen's options) is replaced by the template's text, only
// that statement's bytes. A missing statement is inserted with the
// template's text, preceded by the comment lines above it in the template
// (unless these were left behind in current), indented like its siblings
// in current, after the statement that precedes it in the template (or
// before the one that follows it, or at the end of the block).
// Everything only in current (statements, comments, layout) stays as it
// is, byte for byte.
//
// Enforce is idempotent, and returns an unchanged copy of current without
// differences when current has every statement of the template, whatever
// its comments and whitespace. When current or template does not parse,
// the error names the line and nothing else is returned.
func Enforce(current, template []byte) (updated []byte, diffs []Difference, err error) {
	cur, err := Parse(current)
	if err != nil {
		return nil, nil, fmt.Errorf("current file: %w", err)
	}
	tpl, err := Parse(template)
	if err != nil {
		return nil, nil, fmt.Errorf("template: %w", err)
	}
	e := &enforcer{cur: cur, tpl: tpl, curStep: indentStep(cur), tplStep: indentStep(tpl)}
	e.block(cur.root, tpl.root, "")
	out, err := e.apply()
	if err != nil {
		return nil, nil, err
	}
	if _, err := Parse(out); err != nil {
		return nil, nil, fmt.Errorf("%w: the enforced file does not parse: %v", errInternal, err)
	}
	return out, e.diffs, nil
}

type edit struct {
	start, end int // replaced bytes of current; start == end for an insertion
	insert     bool
	seq        int
	text       string // replacement text, or the inserted lines (no final newline)
	blank      bool   // insertion: wants an empty line before it
}

type enforcer struct {
	cur, tpl *Config
	// curStep and tplStep are the indentation per block level of current
	// and template ("" when unknown).
	curStep, tplStep string
	edits            []edit
	diffs            []Difference
}

// block enforces the children of template block t on current block c.
func (e *enforcer) block(c, t *node, path string) {
	match := pair(c.children, t.children)
	first := e.firstIndent(c)
	anchors := make([]int, len(t.children))
	prevSame := map[string]int{}
	// after is where a statement following template child j goes.
	after := func(j int) int {
		if match[j] != nil {
			return e.afterPos(match[j])
		}
		return anchors[j]
	}
	for i, tc := range t.children {
		k := key(tc)
		prev, hasPrev := prevSame[k]
		prevSame[k] = i
		cc := match[i]
		if cc != nil {
			switch {
			case tc.block:
				e.block(cc, tc, joinPath(path, label(tc)))
			case !argsEqual(tc, cc):
				e.edits = append(e.edits, edit{start: cc.start, end: cc.end, seq: len(e.edits),
					text: e.reindent(tc.start, tc.end, e.tpl.lineIndent(tc.start), e.cur.lineIndent(cc.start))})
				e.diffs = append(e.diffs, Difference{Block: path, Directive: label(tc),
					Current: strings.Join(cc.rawArgs, " "), Expected: strings.Join(tc.rawArgs, " ")})
			}
			continue
		}
		// Missing: after the previous occurrence of its key (so that the
		// n-th stays the n-th), else after its predecessor, else before
		// its first found successor, else at the end of the block.
		boundary := t.open + 1
		if i > 0 {
			boundary = t.children[i-1].end
		}
		comments, blank := e.comments(tc, boundary)
		var pos int
		switch {
		case hasPrev:
			pos = after(prev)
		case i > 0 && i+1 < len(t.children) && match[i+1] != nil && len(comments) > 0 &&
			e.hasComments(c, e.beforePos(match[i+1]), comments):
			// Its comments were left above its successor.
			pos = e.beforePos(match[i+1])
		case i > 0:
			pos = after(i - 1)
			if q, ok := e.orphanAfter(c, pos, comments); ok && len(comments) > 0 {
				// Its comments were left below its predecessor.
				pos, comments, blank = q, nil, false
			}
		default:
			pos = -1
			for j := i + 1; j < len(t.children); j++ {
				if match[j] != nil {
					pos = e.beforePos(match[j])
					break
				}
			}
			if pos < 0 {
				pos = e.endPos(c)
			}
		}
		anchors[i] = pos
		indent := e.childIndent(c, t, tc, first)
		if len(comments) > 0 && e.hasComments(c, pos, comments) {
			// Left behind when the statement was deleted: not twice.
			comments, blank = nil, false
		}
		var text strings.Builder
		for _, l := range comments {
			text.WriteString(indent + l + "\n")
		}
		text.WriteString(indent + e.reindent(tc.start, tc.end, e.tpl.lineIndent(tc.start), indent))
		e.edits = append(e.edits, edit{start: pos, end: pos, insert: true, seq: len(e.edits), text: text.String(), blank: blank})
		d := Difference{Block: path, Directive: label(tc)}
		if !tc.block {
			d.Expected = strings.Join(tc.rawArgs, " ")
		}
		e.diffs = append(e.diffs, d)
	}
}

func joinPath(path, label string) string {
	if path == "" {
		return label
	}
	return path + " > " + label
}

// pair returns, for each template statement, the current statement it
// goes with, or nil.
func pair(cur, tpl []*node) []*node {
	match := make([]*node, len(tpl))
	used := make([]bool, len(cur))
	byKey := map[string][]int{}
	for j, c := range cur {
		k := key(c)
		byKey[k] = append(byKey[k], j)
	}
	seen := map[string]int{}
	for i, t := range tpl {
		k := key(t)
		if n := seen[k]; n < len(byKey[k]) {
			j := byKey[k][n]
			match[i], used[j] = cur[j], true
		}
		seen[k]++
	}
	// A server whose listen addresses changed is still the same server:
	// the first one with the same names and a common address, when that
	// address is no other template server's with these names.
	count := map[string]int{}
	for _, t := range tpl {
		if isServer(t) {
			for _, a := range addrKeys(t) {
				count[a]++
			}
		}
	}
	cands := map[string][]int{}
	for j, c := range cur {
		if isServer(c) && !used[j] {
			for _, a := range addrKeys(c) {
				cands[a] = append(cands[a], j)
			}
		}
	}
	for i, t := range tpl {
		if match[i] != nil || !isServer(t) {
			continue
		}
		best := -1
		for _, a := range addrKeys(t) {
			if count[a] != 1 {
				best = -1
				break
			}
			l := cands[a]
			for len(l) > 0 && used[l[0]] {
				l = l[1:]
			}
			cands[a] = l
			if len(l) > 0 && (best < 0 || l[0] < best) {
				best = l[0]
			}
		}
		if best >= 0 {
			match[i], used[best] = cur[best], true
		}
	}
	return match
}

func isServer(n *node) bool { return n.block && n.name == "server" }

// ident computes a server's addresses and names.
func ident(n *node) {
	if n.hasIdent {
		return
	}
	n.hasIdent = true
	var names []string
	for _, c := range n.children {
		switch {
		case c.block:
		case c.name == "listen":
			a := keyArg(c)
			n.addrs = append(n.addrs, a)
		case c.name == "server_name":
			for _, a := range c.args {
				names = append(names, strings.ToLower(a))
			}
		}
	}
	slices.Sort(n.addrs)
	n.addrs = slices.Compact(n.addrs)
	slices.Sort(names)
	n.names = strings.Join(slices.Compact(names), "\x00")
}

// addrKeys are a server's names and arguments with each of its addresses
// (one key without an address for a server without listen).
func addrKeys(n *node) []string {
	ident(n)
	g := strings.Join(n.args, "\x00") + "\x01" + n.names + "\x01"
	if len(n.addrs) == 0 {
		return []string{g + "\x02"}
	}
	keys := make([]string, len(n.addrs))
	for i, a := range n.addrs {
		keys[i] = g + "\x03" + a
	}
	return keys
}

// key is a statement's identity in its context.
func key(n *node) string {
	if n.key != "" {
		return n.key
	}
	switch {
	case n.block && n.name == "server":
		ident(n)
		n.key = "B server\x00" + strings.Join(n.args, "\x00") + "\x01" +
			strings.Join(n.addrs, "\x00") + "\x01" + n.names
	case n.block && n.name == "location":
		n.key = "B location\x00" + strings.Join(locationArgs(n.args), "\x00")
	case n.block:
		n.key = "B " + n.name + "\x00" + strings.Join(n.args, "\x00")
	case repeatable[n.name]:
		a := keyArg(n)
		n.key = "D " + n.name + "\x00" + a
	default:
		n.key = "D " + n.name
	}
	return n.key
}

// keyArg is the argument that identifies a repeatable directive.
func keyArg(n *node) string {
	if p, ok := zoneArg[n.name]; ok {
		for _, a := range n.args {
			if strings.HasPrefix(a, p) {
				name, _, _ := strings.Cut(a[len(p):], ":")
				return p + name
			}
		}
	}
	if len(n.args) == 0 {
		return ""
	}
	return n.args[0]
}

// locationArgs splits a modifier written together with its URI ("=/").
func locationArgs(args []string) []string {
	if len(args) != 1 {
		return args
	}
	for _, m := range []string{"^~", "~*", "=", "~"} {
		if a := args[0]; len(a) > len(m) && strings.HasPrefix(a, m) {
			return []string{m, a[len(m):]}
		}
	}
	return args
}

// argsEqual compares the values of two simple directives' arguments.
func argsEqual(a, b *node) bool {
	if a.name == "listen" && len(a.args) > 0 && len(b.args) > 0 {
		if a.args[0] != b.args[0] {
			return false
		}
		x, y := slices.Clone(a.args[1:]), slices.Clone(b.args[1:])
		slices.Sort(x)
		slices.Sort(y)
		return slices.Equal(x, y)
	}
	return slices.Equal(a.args, b.args)
}

// label names a statement in a Difference.
func label(n *node) string {
	if !n.block {
		return n.name
	}
	l := strings.TrimSpace(n.name + " " + strings.Join(n.rawArgs, " "))
	if n.name != "server" {
		return l
	}
	var parts []string
	for _, c := range n.children {
		if !c.block && (c.name == "listen" || c.name == "server_name") {
			parts = append(parts, strings.TrimSpace(c.name+" "+strings.Join(c.rawArgs, " ")))
		}
	}
	return l + "[" + strings.Join(parts, "; ") + "]"
}

func blanks(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// atLineStart reports whether pos begins a line outside of any token.
func atLineStart(c *Config, pos int) bool {
	return (pos == 0 || c.data[pos-1] == '\n') && c.idle[pos]
}

// afterPos is where a statement following n goes: the start of the next
// line when only blanks or a comment follow n on its line, else right
// after n.
func (e *enforcer) afterPos(n *node) int {
	d := e.cur.data
	q := n.end
	for q < len(d) && (d[q] == ' ' || d[q] == '\t' || d[q] == '\r') {
		q++
	}
	if q < len(d) && d[q] == '#' {
		for q < len(d) && d[q] != '\n' {
			q++
		}
	}
	if q == len(d) {
		return q
	}
	if d[q] == '\n' && atLineStart(e.cur, q+1) {
		return q + 1
	}
	return n.end
}

// beforePos is where a statement preceding n goes: the start of n's line
// when only blanks precede n there, else right before n.
func (e *enforcer) beforePos(n *node) int {
	ls := e.cur.lineStart(n.start)
	if blanks(e.cur.data[ls:n.start]) && atLineStart(e.cur, ls) {
		return ls
	}
	return n.start
}

// endPos is where a statement goes at the end of block b.
func (e *enforcer) endPos(b *node) int {
	if b.close >= len(e.cur.data) {
		return len(e.cur.data)
	}
	ls := e.cur.lineStart(b.close)
	if blanks(e.cur.data[ls:b.close]) && atLineStart(e.cur, ls) {
		return ls
	}
	return b.close
}

// firstIndent is the indentation of the first child of current block c
// that starts a line, nil when there is none.
func (e *enforcer) firstIndent(c *node) *string {
	for _, ch := range c.children {
		ls := e.cur.lineStart(ch.start)
		if blanks(e.cur.data[ls:ch.start]) {
			s := string(e.cur.data[ls:ch.start])
			return &s
		}
	}
	return nil
}

// childIndent is the indentation of statements inserted in current block
// c (template block t, statement tc): that of c's first child that starts
// a line (first), else c's own plus the template's indentation step.
func (e *enforcer) childIndent(c, t, tc *node, first *string) string {
	if first != nil {
		return *first
	}
	parent, tparent := "", ""
	if c.open >= 0 {
		parent = e.cur.lineIndent(c.start)
	}
	if t.open >= 0 {
		tparent = e.tpl.lineIndent(t.start)
	}
	step := "    "
	if ti := e.tpl.lineIndent(tc.start); strings.HasPrefix(ti, tparent) {
		step = ti[len(tparent):]
	}
	return parent + step
}

// comments returns the comment lines right above template statement tc
// (not before boundary, the end of its predecessor), without their
// indentation; blank reports an empty line above those.
func (e *enforcer) comments(tc *node, boundary int) (comments []string, blank bool) {
	d := e.tpl.data
	ls := e.tpl.lineStart(tc.start)
	if !blanks(d[ls:tc.start]) || !atLineStart(e.tpl, ls) {
		return nil, false
	}
	for l := ls; l > 0 && l > boundary; {
		pls := e.tpl.lineStart(l - 1)
		if pls < boundary {
			break
		}
		line := strings.TrimLeft(string(d[pls:l-1]), " \t")
		if !strings.HasPrefix(line, "#") {
			blank = strings.TrimSpace(line) == ""
			break
		}
		comments = append(comments, strings.TrimRight(line, " \t\r"))
		l = pls
	}
	slices.Reverse(comments)
	return comments, blank
}

// orphanAfter reports whether comments follow pos in current block c,
// empty lines skipped, and returns the start of the line after them.
func (e *enforcer) orphanAfter(c *node, pos int, comments []string) (int, bool) {
	d := e.cur.data
	if len(comments) == 0 || !atLineStart(e.cur, pos) {
		return 0, false
	}
	bound := min(c.close, len(d))
	if k := sort.Search(len(c.children), func(k int) bool { return c.children[k].start >= pos }); k < len(c.children) {
		bound = min(bound, c.children[k].start)
	}
	l := pos
	for n := 0; n < len(comments); {
		if l > bound {
			return 0, false
		}
		nl := bytes.IndexByte(d[l:bound], '\n')
		if nl < 0 {
			return 0, false
		}
		line := strings.Trim(string(d[l:l+nl]), " \t\r")
		l += nl + 1
		switch {
		case line == "" && n == 0:
			continue
		case line != comments[n]:
			return 0, false
		}
		n++
	}
	return l, true
}

// hasComments reports whether the comment lines above pos in current
// block c, empty lines skipped, end with comments.
func (e *enforcer) hasComments(c *node, pos int, comments []string) bool {
	d := e.cur.data
	if !atLineStart(e.cur, pos) {
		return false
	}
	boundary := c.open + 1
	if k := sort.Search(len(c.children), func(k int) bool { return c.children[k].end > pos }); k > 0 {
		boundary = max(boundary, c.children[k-1].end)
	}
	n := len(comments)
	for l := pos; l > 0 && l > boundary && n > 0; {
		pls := e.cur.lineStart(l - 1)
		if pls < boundary {
			return false
		}
		line := strings.Trim(string(d[pls:l-1]), " \t\r")
		l = pls
		switch {
		case line == "" && n == len(comments):
			continue
		case line != comments[n-1]:
			return false
		}
		n--
	}
	return n == 0
}

// reindent returns the template's bytes start:end with the indentation
// from of each line but the first replaced by to, and each level of
// deeper indentation (the template's step) by the current file's step.
// Lines that start inside a token (a quoted string spanning lines) are
// left alone.
func (e *enforcer) reindent(start, end int, from, to string) string {
	c := e.tpl
	d := c.data
	if bytes.IndexByte(d[start:end], '\n') < 0 {
		return string(d[start:end])
	}
	fromStep, toStep := e.tplStep, e.curStep
	if fromStep == "" || toStep == "" {
		fromStep, toStep = "", ""
	}
	if from == to && fromStep == toStep {
		return string(d[start:end])
	}
	var b strings.Builder
	last := start
	for i := start; i < end; i++ {
		if d[i] != '\n' || i+1 >= end || !c.idle[i+1] {
			continue
		}
		ls := i + 1
		b.Write(d[last:ls])
		last = ls
		if !bytes.HasPrefix(d[ls:end], []byte(from)) {
			continue
		}
		rest := ls + len(from)
		if rest >= end || d[rest] == '\n' || d[rest] == '\r' {
			last = rest // no blanks on an empty line
			continue
		}
		b.WriteString(to)
		for fromStep != "" && bytes.HasPrefix(d[rest:end], []byte(fromStep)) {
			b.WriteString(toStep)
			rest += len(fromStep)
		}
		last = rest
	}
	b.Write(d[last:end])
	return b.String()
}

// indentStep is the indentation that a file adds per block level: that
// of the first statement that starts a line in a block and is indented
// more than its block, "" when there is none.
func indentStep(c *Config) string {
	var find func(n *node, parent string) (string, bool)
	find = func(n *node, parent string) (string, bool) {
		for _, ch := range n.children {
			ls := c.lineStart(ch.start)
			if n.open >= 0 && blanks(c.data[ls:ch.start]) {
				in := string(c.data[ls:ch.start])
				if len(in) > len(parent) && strings.HasPrefix(in, parent) {
					return in[len(parent):], true
				}
			}
			if ch.block {
				if s, ok := find(ch, c.lineIndent(ch.start)); ok {
					return s, true
				}
			}
		}
		return "", false
	}
	s, _ := find(c.root, "")
	return s
}

// apply builds the new text from current and the edits.
func (e *enforcer) apply() ([]byte, error) {
	d := e.cur.data
	edits := e.edits
	sort.SliceStable(edits, func(i, j int) bool {
		a, b := edits[i], edits[j]
		if a.start != b.start {
			return a.start < b.start
		}
		if a.insert != b.insert {
			return a.insert
		}
		return a.seq < b.seq
	})
	var out bytes.Buffer
	at := 0
	for i := 0; i < len(edits); {
		ed := edits[i]
		if ed.start < at || ed.end < ed.start || ed.end > len(d) {
			return nil, fmt.Errorf("%w: overlapping edits at offset %d", errInternal, ed.start)
		}
		out.Write(d[at:ed.start])
		at = ed.end
		if !ed.insert {
			out.WriteString(ed.text)
			i++
			continue
		}
		j := i
		for j < len(edits) && edits[j].insert && edits[j].start == ed.start {
			j++
		}
		group := edits[i:j]
		i = j
		pos := ed.start
		if atLineStart(e.cur, pos) {
			// Whole lines; an empty line first where the template has one,
			// unless there is one already (or the block just opened).
			prevBlank := true
			if pos > 0 {
				prev := bytes.TrimSpace(d[e.cur.lineStart(pos-1) : pos-1])
				prevBlank = len(prev) == 0 || prev[len(prev)-1] == '{'
			}
			for _, g := range group {
				if g.blank && !prevBlank {
					out.WriteByte('\n')
				}
				out.WriteString(g.text)
				out.WriteByte('\n')
				prevBlank = false
			}
			continue
		}
		// Within a line: on lines of their own, then what followed goes
		// on, indented as its line was.
		for _, g := range group {
			out.WriteByte('\n')
			out.WriteString(g.text)
		}
		out.WriteByte('\n')
		if pos < len(d) {
			out.WriteString(e.cur.lineIndent(pos))
			for at < len(d) && (d[at] == ' ' || d[at] == '\t') {
				at++
			}
		}
	}
	out.Write(d[at:])
	return out.Bytes(), nil
}
