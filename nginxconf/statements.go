package nginxconf

// Statement is one directive of a parsed configuration as nginx reads it,
// for callers that look at directives (certificates, paths) rather than
// enforce a template.
type Statement struct {
	// Name is the directive's name, Args its arguments (unescaped: the
	// values nginx sees).
	Name string
	Args []string
	// ArgSpans are the byte offsets [start, end) of each argument in the
	// parsed text, quotes included: where to splice a new value in.
	ArgSpans [][2]int
	// Line is the line of the directive's name.
	Line int
	// Block is true for a block ("server { … }"); Children are its
	// statements.
	Block    bool
	Children []*Statement
}

// Statements returns the statements of the main context, in order.
func (c *Config) Statements() []*Statement {
	return statementsOf(c.root)
}

func statementsOf(n *node) []*Statement {
	out := make([]*Statement, 0, len(n.children))
	for _, ch := range n.children {
		s := &Statement{Name: ch.name, Args: ch.args, ArgSpans: ch.argSpans, Line: ch.line, Block: ch.block}
		if ch.block {
			s.Children = statementsOf(ch)
		}
		out = append(out, s)
	}
	return out
}
