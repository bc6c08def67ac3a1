package ckanini

import "strings"

// byteSrc turns fuzz input into choices.
type byteSrc struct {
	b []byte
	i int
}

func (s *byteSrc) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	c := s.b[s.i]
	s.i++
	return c
}

func (s *byteSrc) intn(n int) int { return int(s.next()) % n }

func (s *byteSrc) done() bool { return s.i >= len(s.b) }

func pick[T any](s *byteSrc, xs []T) T { return xs[s.intn(len(xs))] }

// genWild builds an ini file from s that exercises every rule of
// ConfigParser: indentation, continuation lines, odd whitespace, all line
// endings, interpolation (good and bad), errors. It never adds a BOM, which
// Python's ConfigParser does not accept.
func genWild(s *byteSrc) string {
	eols := []string{"\n", "\r\n", "\r"}
	fileEOL := pick(s, eols)
	mixed := s.intn(8) == 0
	ws := []string{"", "", "", " ", "  ", "\t", "    ", "\f", "\u00a0", "\x1c"}
	sections := []string{"app:main", "app:main", "DEFAULT", "loggers", "a", " a ", "a]", "app:Main"}
	keys := []string{"k", "K", "a", "b", "here", "__file__", "use", "x.y", "SECRET_KEY", "secret_key", "Note", "a b", "k#"}
	vals := []string{"v", "%(k)s", "%(a)s", "%(b)s", "%(SECRET_KEY)s", "%%", "%", "%(here)s", "# c", "; c", "a b", "",
		"[x]", "x=y", ":", "%(x", "%()s", "%(k)d", "\x1cv", "config:x.ini", "  "}
	var b strings.Builder
	n := s.intn(24)
	for i := 0; i < n && !s.done(); i++ {
		lead := ""
		if s.intn(4) == 0 {
			lead = pick(s, ws)
		}
		switch s.intn(14) {
		case 0, 1:
			b.WriteString(lead + "[" + pick(s, sections) + "]")
			if s.intn(4) == 0 {
				b.WriteString(" ; c")
			}
		case 2, 3, 4, 5, 6:
			b.WriteString(lead + pick(s, keys) + pick(s, ws) + pick(s, []string{"=", ":", " = ", "=:"}) + pick(s, ws))
			for j := s.intn(3); j > 0; j-- {
				b.WriteString(pick(s, vals))
			}
			b.WriteString(pick(s, ws))
		case 7:
			b.WriteString(lead + pick(s, []string{"#", ";", "# ", "##"}) + pick(s, keys) + pick(s, []string{" = x", ": y", "", " words"}))
		case 8:
			b.WriteString(lead)
		case 9, 10:
			b.WriteString(pick(s, ws[3:]) + pick(s, vals) + pick(s, vals))
		case 11:
			b.WriteString(lead + pick(s, []string{"junk", "[]", "= x", "[x", "k"}))
		case 12:
			b.WriteString(lead + "[app:main]")
		case 13:
			b.WriteString(lead + pick(s, keys) + " = " + pick(s, vals) + pick(s, vals))
		}
		eol := fileEOL
		if mixed {
			eol = pick(s, eols)
		}
		if i < n-1 || s.intn(4) != 0 {
			b.WriteString(eol)
		}
	}
	return b.String()
}

// genTame builds an ini file in the subset of the format where
// gopkg.in/ini.v1 (IgnoreInlineComment, IgnoreContinuation,
// PreserveSurroundedQuote, InsensitiveKeys) reads what ConfigParser reads:
// no indented option lines (continuations), no option before the first
// header, no '.' in section names, values without leading backtick or `"""`,
// whitespace that Go and Python agree on, '%' only in acyclic %(name)s
// references in [app:main], no line ending "\r" alone.
func genTame(s *byteSrc) string {
	var b strings.Builder
	if s.intn(4) == 0 {
		b.Write(utf8BOM)
	}
	eols := []string{"\n", "\r\n"}
	fileEOL := pick(s, eols)
	mixed := s.intn(8) == 0
	ws := []string{"", " ", "  ", "\t", " \t "}
	sections := []string{"app:main", "app:main", "DEFAULT", "loggers", "handler_console", "server:main", "A"}
	names := []string{"k", "a", "b", "c", "d", "e", "f", "g", "x_y", "solr_url"} // rank order
	words := []string{"v", "w x", "#", ";", "/", "'", `"`, "[", "]", "=", ":", "http://h:1/p", "\\", "é", "-", "0"}
	eol := func() {
		e := fileEOL
		if mixed {
			e = pick(s, eols)
		}
		b.WriteString(e)
	}
	section := pick(s, sections)
	b.WriteString("[" + section + "]")
	eol()
	n := s.intn(30)
	for i := 0; i < n && !s.done(); i++ {
		switch s.intn(8) {
		case 0:
			section = pick(s, sections)
			b.WriteString("[" + section + "]")
			if s.intn(4) == 0 {
				b.WriteString(" # c")
			}
		case 1:
			b.WriteString(pick(s, ws) + pick(s, []string{"#", ";"}) + pick(s, words) + pick(s, words))
		case 2:
			b.WriteString(pick(s, ws))
		default:
			r := s.intn(len(names))
			key := names[r]
			if s.intn(3) == 0 {
				key = strings.ToUpper(key)
			}
			b.WriteString(key + pick(s, ws) + pick(s, []string{"=", ":"}) + pick(s, ws))
			var v strings.Builder
			for j := s.intn(4); j > 0; j-- {
				if section == "app:main" && s.intn(3) == 0 {
					ref := "here"
					if r > 0 && s.intn(4) != 0 {
						ref = names[s.intn(r)]
					}
					if s.intn(2) == 0 {
						ref = strings.ToUpper(ref)
					}
					v.WriteString("%(" + ref + ")s")
				} else {
					v.WriteString(pick(s, words))
				}
				if s.intn(2) == 0 {
					v.WriteString(" ")
				}
			}
			val := v.String()
			if strings.HasPrefix(val, "`") || strings.HasPrefix(val, `"""`) {
				val = "x" + val
			}
			b.WriteString(val + pick(s, ws))
		}
		if i < n-1 || s.intn(4) != 0 {
			eol()
		}
	}
	return b.String()
}
