package nginxconf

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
)

// randomConf writes a random, valid configuration from a small vocabulary,
// so that two of them share many statements.
func randomConf(r *rand.Rand, depth int, indent string, b *strings.Builder) {
	pick := func(s ...string) string { return s[r.Intn(len(s))] }
	sep := func() string { return pick(" ", "  ", "\t", "\n"+indent+"  ") }
	nl := func() string { return pick("\n", "\n", "\n\n", " ", "\n# c\n", " # t\n") }
	for n := r.Intn(5); n >= 0; n-- {
		if r.Intn(6) == 0 {
			b.WriteString(indent + pick("# a comment", "# c", "#") + "\n")
		}
		b.WriteString(indent)
		if depth > 0 && r.Intn(3) == 0 {
			switch r.Intn(4) {
			case 0:
				b.WriteString("server")
			case 1:
				b.WriteString("location" + sep() + pick("/", "= /", "=/", `~ \.(x)$`, "/a"))
			case 2:
				b.WriteString(pick("x", "if", "map") + sep() + pick("1", "($a = \"b\")", "$a $b"))
			default:
				b.WriteString("server")
			}
			b.WriteString(pick(" {", "\n"+indent+"{") + nl())
			randomConf(r, depth-1, indent+pick("    ", "\t", "  "), b)
			b.WriteString(indent + "}" + nl())
			continue
		}
		switch r.Intn(7) {
		case 0:
			b.WriteString("listen" + sep() + pick("80", "443", "[::]:80", "443 ssl", "80 default_server", "'80'"))
		case 1:
			b.WriteString("server_name" + sep() + pick("a", "b", "_", "a b", "A"))
		case 2:
			b.WriteString("proxy_set_header" + sep() + pick("H", "I") + sep() + pick("$host", "\"v w\"", "x"))
		case 3:
			b.WriteString(pick("a", "b", "c") + sep() + pick("1", "2", "\"1\"", "'x\\'y'", "${v}z"))
		case 4:
			b.WriteString("return" + sep() + pick("404", "200 \"a\nb\"", "301 $x"))
		case 5:
			b.WriteString("proxy_cache_path" + sep() + pick("/p", "/q") + sep() + pick("keys_zone=z:1m", "keys_zone=y:1m"))
		default:
			b.WriteString(pick("include", "a", "d") + sep() + pick("f", "g"))
		}
		b.WriteString(pick(";", " ;", ";") + nl())
	}
}

func TestEnforceRandom(t *testing.T) {
	r := rand.New(rand.NewSource(randomSeed))
	n := randomN
	if testing.Short() {
		n = 300
	}
	for i := int64(0); i < n; i++ {
		var cb, tb strings.Builder
		randomConf(r, 3, "", &cb)
		randomConf(r, 3, "", &tb)
		cur, tpl := []byte(cb.String()), []byte(tb.String())
		switch r.Intn(3) {
		case 0: // the template with some drift
			cur = bytes.Replace(tpl, []byte(pickOne(r, "a", "1", "listen", "server", ";\n")), []byte(pickOne(r, "b", "2", "# x\n", "")), 1)
			if _, err := Parse(cur); err != nil {
				cur = tpl
			}
		case 1: // the template with statements deleted, copied or moved
			cur = tpl
			for k := r.Intn(3); k >= 0; k-- {
				cur = mutateStatements(r, cur)
			}
		}
		out, diffs, err := Enforce(cur, tpl)
		if err != nil {
			t.Fatalf("Enforce: %v\ncurrent:\n%s\ntemplate:\n%s", err, cur, tpl)
		}
		if len(diffs) == 0 && !bytes.Equal(out, cur) {
			t.Fatalf("no differences, but changed:\n%q\n%q", cur, out)
		}
		if a, b := countStatements(t, cur), countStatements(t, out); b < a {
			t.Fatalf("statements lost (%d -> %d):\n%q\n%q", a, b, cur, out)
		}
		again, diffs2, err := Enforce(out, tpl)
		if err != nil || !bytes.Equal(again, out) || len(diffs2) != 0 {
			t.Fatalf("not idempotent (%v): %+v\ncurrent:  %q\ntemplate: %q\nfirst:    %q\nsecond:   %q",
				err, diffs2, cur, tpl, out, again)
		}
	}
}

func pickOne(r *rand.Rand, s ...string) string { return s[r.Intn(len(s))] }

var randomSeed, randomN int64 = 7, 3000

// mutateStatements deletes a random statement, or copies it elsewhere, or
// moves it.
func mutateStatements(r *rand.Rand, data []byte) []byte {
	c, err := Parse(data)
	if err != nil {
		return data
	}
	var all []*node
	var walk func(n *node)
	walk = func(n *node) {
		for _, ch := range n.children {
			all = append(all, ch)
			walk(ch)
		}
	}
	walk(c.root)
	if len(all) == 0 {
		return data
	}
	n := all[r.Intn(len(all))]
	stmt := string(data[n.start:n.end])
	rest := string(data[:n.start]) + string(data[n.end:])
	switch r.Intn(3) {
	case 0:
		return []byte(rest)
	case 1:
		to := all[r.Intn(len(all))]
		return []byte(string(data[:to.end]) + "\n" + stmt + "\n" + string(data[to.end:]))
	default:
		to := all[r.Intn(len(all))]
		if to.end <= n.start {
			return []byte(string(data[:to.end]) + "\n" + stmt + "\n" + rest[to.end:])
		}
		if to.start >= n.end {
			k := to.start - (n.end - n.start)
			return []byte(rest[:k] + stmt + "\n" + rest[k:])
		}
		return []byte(rest)
	}
}

func countStatements(t *testing.T, data []byte) int {
	c, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	flat(c.root, "", &all)
	return len(all)
}
