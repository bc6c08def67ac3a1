package doctor

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/nginxconf"
)

// readHost reads the file at host path p; a missing file is nil, nil.
func (d *diag) readHost(p string) ([]byte, error) {
	data, err := os.ReadFile(d.env.Host.Path(p))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// iniOption is one active option of an INI file, as read line by line.
type iniOption struct {
	section, key, value string
	line                int
}

// iniOptions lists the active `key = value` lines of an INI file (our
// own reading for evidence: line numbers; edits go through ckanini).
func iniOptions(data []byte) []iniOption {
	var out []iniOption
	section := ""
	for i, l := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == "", t[0] == '#', t[0] == ';':
		case t[0] == '[' && strings.HasSuffix(t, "]"):
			section = strings.TrimSpace(t[1 : len(t)-1])
		case l[0] == ' ' || l[0] == '\t':
			// a continuation line
		default:
			j := strings.IndexAny(t, "=:")
			if j <= 0 || section == "" {
				continue
			}
			out = append(out, iniOption{section, strings.ToLower(strings.TrimSpace(t[:j])), strings.TrimSpace(t[j+1:]), i + 1})
		}
	}
	return out
}

// lookup returns the last option key of section.
func lookup(opts []iniOption, section, key string) (iniOption, bool) {
	var found iniOption
	ok := false
	for _, o := range opts {
		if o.section == section && o.key == key {
			found, ok = o, true
		}
	}
	return found, ok
}

// supervisorPrograms lists the supervisor program files of the host.
func (d *diag) supervisorFiles() []string {
	names, _ := filepath.Glob(filepath.Join(d.env.Host.Path(host.SupervisorDir), "*.conf"))
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(host.SupervisorDir, filepath.Base(n))
	}
	return out
}

// nginxSite is the parsed nginx site.
type nginxSite struct {
	path string
	data []byte
	cfg  *nginxconf.Config
}

// readNginx reads and parses the nginx site (nil when missing).
func (d *diag) readNginx() (*nginxSite, error) {
	data, err := d.readHost(host.NginxSite)
	if err != nil || data == nil {
		return nil, err
	}
	cfg, err := nginxconf.Parse(data)
	if err != nil {
		return nil, err
	}
	return &nginxSite{path: host.NginxSite, data: data, cfg: cfg}, nil
}

// directive returns the first statement named name anywhere in the site.
func (s *nginxSite) directive(name string) *nginxconf.Statement {
	var walk func(st []*nginxconf.Statement) *nginxconf.Statement
	walk = func(st []*nginxconf.Statement) *nginxconf.Statement {
		for _, x := range st {
			if x.Name == name && !x.Block {
				return x
			}
			if x.Block {
				if y := walk(x.Children); y != nil {
					return y
				}
			}
		}
		return nil
	}
	return walk(s.cfg.Statements())
}

// tlsServer is the server block that listens on 443.
func (s *nginxSite) tlsServer() *nginxconf.Statement {
	for _, st := range s.cfg.Statements() {
		if !st.Block || st.Name != "server" {
			continue
		}
		for _, c := range st.Children {
			if c.Name == "listen" && len(c.Args) > 0 && (c.Args[0] == "443" || strings.HasSuffix(c.Args[0], ":443")) {
				return st
			}
		}
	}
	return nil
}

// lineOf returns line n (1-based) of data.
func lineOf(data []byte, n int) string {
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return short(strings.TrimSpace(lines[n-1]))
}

// setDirective returns the site with `name args;` in the TLS server: a
// commented-out `# name …` line whose argument is under /data is
// uncommented, an active one is replaced, else the line is added before
// the server's first statement.
func (s *nginxSite) setDirective(name, args string) ([]byte, bool) {
	lines := strings.SplitAfter(string(s.data), "\n")
	if st := s.directive(name); st != nil && st.Line >= 1 && st.Line <= len(lines) {
		l := lines[st.Line-1]
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		lines[st.Line-1] = indent + name + " " + args + ";" + eol(l)
		return []byte(strings.Join(lines, "")), true
	}
	commented := regexp.MustCompile(`^(\s*)#\s*` + regexp.QuoteMeta(name) + `\s+/data/[^;]*;\s*$`)
	for i, l := range lines {
		if m := commented.FindStringSubmatch(strings.TrimRight(l, "\r\n")); m != nil {
			lines[i] = m[1] + name + " " + args + ";" + eol(l)
			return []byte(strings.Join(lines, "")), true
		}
	}
	srv := s.tlsServer()
	if srv == nil || len(srv.Children) == 0 {
		return nil, false
	}
	first := srv.Children[0].Line
	l := lines[first-1]
	indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	nl := "\n"
	if strings.HasSuffix(l, "\r\n") {
		nl = "\r\n"
	}
	ins := indent + name + " " + args + ";" + nl
	out := append(append(append([]string{}, lines[:first-1]...), ins), lines[first-1:]...)
	return []byte(strings.Join(out, "")), true
}

func eol(l string) string {
	switch {
	case strings.HasSuffix(l, "\r\n"):
		return "\r\n"
	case strings.HasSuffix(l, "\n"):
		return "\n"
	}
	return ""
}

// nginxSeconds parses an nginx time ("60", "60s", "2m", "1h", "1h 30m").
func nginxSeconds(v string) (int, bool) {
	re := regexp.MustCompile(`(\d+)(ms|s|m|h|d|w|M|y)?`)
	total := 0
	rest := strings.ReplaceAll(v, " ", "")
	if rest == "" {
		return 0, false
	}
	for _, m := range re.FindAllStringSubmatchIndex(rest, -1) {
		n, _ := strconv.Atoi(rest[m[2]:m[3]])
		unit := ""
		if m[4] >= 0 {
			unit = rest[m[4]:m[5]]
		}
		mult := map[string]int{"": 1, "s": 1, "ms": 0, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}[unit]
		total += n * mult
	}
	return total, true
}
