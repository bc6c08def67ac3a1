package ckanini

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// maxDepth is ConfigParser's MAX_INTERPOLATION_DEPTH.
const maxDepth = 10

// maxWork bounds the references and bytes one interpolation may go through.
// Ten levels of references can describe values of astronomic size (on which
// CKAN would hang); ckanini reports them as errors instead.
const maxWork = 1 << 18

// chain is a file followed by the files it uses (`use = config:`), in the
// order CKANConfigLoader reads them.
type chain []*File

func (f *File) chain() chain {
	var c chain
	for g := f; g != nil; g = g.used {
		c = append(c, g)
	}
	return c
}

// raw looks name (folded) up as ConfigParser does after CKANConfigLoader has
// read files 0..i into one parser: [app:main] before [DEFAULT], later files
// before earlier ones; `here` is the directory of file i (unless its own
// [DEFAULT] sets it), `__file__` the path of file 0.
func (c chain) raw(i int, name string) (string, bool) {
	for j := i; j >= 0; j-- {
		if v, ok := c[j].lookupValue(mainSection, name); ok {
			return v, true
		}
	}
	for j := i; j >= 0; j-- {
		if j < i && name == "here" {
			continue // overridden by the `here` injected for file i
		}
		if v, ok := c[j].lookupValue(defaultSection, name); ok {
			return v, true
		}
	}
	switch name {
	case "here":
		return filepath.Dir(c[i].abs), true
	case "__file__":
		return c[0].abs, true
	}
	return "", false
}

// inDefaults reports whether name is a [DEFAULT] option once files 0..i are
// read (CKANConfigLoader re-reads those after each file).
func (c chain) inDefaults(i int, name string) bool {
	if name == "here" || name == "__file__" {
		return true
	}
	for j := 0; j <= i; j++ {
		if _, ok := c[j].lookup(defaultSection, name); ok {
			return true
		}
	}
	return false
}

// get returns the value CKAN ends up with for the folded option name.
func (c chain) get(name string) (string, bool, error) {
	n := len(c) - 1
	i := -1
	if c.inDefaults(n, name) {
		i = n
	} else {
		for j := 0; j <= n; j++ {
			if _, ok := c[j].lookup(mainSection, name); ok {
				i = j
				break
			}
		}
	}
	if i < 0 {
		return "", false, nil
	}
	raw, _ := c.raw(i, name)
	v, err := c.interpolate(i, name, raw)
	if err != nil {
		return "", true, err
	}
	return v, true, nil
}

// interpolate expands raw with the options visible after reading files
// 0..i; option is the (folded) option whose value raw is, "" for none.
func (c chain) interpolate(i int, option, raw string) (string, error) {
	x := expansion{c: c, i: i}
	var stack []string
	if option != "" {
		stack = []string{option}
	}
	if err := x.expand(raw, 1, stack); err != nil {
		return "", err
	}
	return x.b.String(), nil
}

// expansion is the state of one interpolation.
type expansion struct {
	c    chain
	i    int // files 0..i have been read
	b    strings.Builder
	work int
}

// expand is BasicInterpolation._interpolate_some.
func (x *expansion) expand(rest string, depth int, stack []string) error {
	b := &x.b
	x.work += len(rest) + 1
	if x.work > maxWork {
		return fmt.Errorf("the expansion is too large (%s)", strings.Join(stack, " -> "))
	}
	if depth > maxDepth {
		return fmt.Errorf("more than %d nested %%(...)s references (%s)", maxDepth, strings.Join(stack, " -> "))
	}
	for rest != "" {
		p := strings.IndexByte(rest, '%')
		if p < 0 {
			b.WriteString(rest)
			return nil
		}
		b.WriteString(rest[:p])
		rest = rest[p:]
		switch {
		case strings.HasPrefix(rest, "%%"):
			b.WriteByte('%')
			rest = rest[2:]
		case strings.HasPrefix(rest, "%("):
			end := strings.IndexByte(rest[2:], ')')
			if end <= 0 || 2+end+1 >= len(rest) || rest[2+end+1] != 's' {
				return fmt.Errorf("bad reference %q: write %%(name)s, or %%%% for a literal %%", clip(rest))
			}
			name := fold(rest[2 : 2+end])
			rest = rest[2+end+2:]
			v, ok := x.c.raw(x.i, name)
			if !ok {
				return fmt.Errorf("%%(%s)s: no option %q in [app:main] or [DEFAULT]", name, name)
			}
			if !strings.Contains(v, "%") {
				b.WriteString(v)
				continue
			}
			for _, s := range stack {
				if s == name {
					return fmt.Errorf("reference loop: %s -> %s", strings.Join(stack, " -> "), name)
				}
			}
			if err := x.expand(v, depth+1, append(stack[:len(stack):len(stack)], name)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("'%%' must be followed by '%%' or '(', found %q (write %%%% for a literal %%)", clip(rest))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Get returns the value CKAN sees for key: the option of [app:main], else of
// [DEFAULT] (also `here` and `__file__`), taking the files named by
// `use = config:` into account (see the package documentation), with
// %(...)s references expanded. Keys are case-insensitive. Get reports false
// when the key is absent or its value cannot be interpolated (a missing
// option, a reference loop, a stray '%'); Validate tells why.
func (f *File) Get(key string) (string, bool) {
	v, ok, err := f.chain().get(fold(key))
	if err != nil || !ok {
		return "", false
	}
	return v, true
}

// Interpolate expands the %(...)s references in s as if s were the value of
// an option in [app:main], after all chained files have been read. It is
// meant for values such as `string:%(SECRET_KEY)s`.
func (f *File) Interpolate(s string) (string, error) {
	c := f.chain()
	v, err := c.interpolate(len(c)-1, "", s)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.path, err)
	}
	return v, nil
}

// Validate reports what makes CKAN refuse to start when it reads the options
// of [app:main]: a missing [app:main] section or `use` option, and values
// that cannot be interpolated. It does not report duplicates (see
// Duplicates).
func (f *File) Validate() error {
	c := f.chain()
	var errs []error
	seen := map[string]bool{}
	reported := map[string]bool{}
	if !f.HasSection(mainSection) {
		return fmt.Errorf("%s: no [%s] section", f.path, mainSection)
	}
	for i := range c {
		for _, name := range c.options(i) {
			if seen[name] && !c.inDefaults(i, name) {
				continue
			}
			seen[name] = true
			raw, _ := c.raw(i, name)
			if _, err := c.interpolate(i, name, raw); err != nil {
				msg := fmt.Sprintf("%s: [%s] %s: %v", c[i].path, mainSection, name, err)
				if !reported[msg] {
					reported[msg] = true
					errs = append(errs, errors.New(msg))
				}
			}
		}
	}
	if len(errs) == 0 {
		if _, ok := c.raw(len(c)-1, "use"); !ok {
			errs = append(errs, fmt.Errorf("%s: [%s] has no `use` option", f.path, mainSection))
		}
	}
	return errors.Join(errs...)
}

// options lists the folded option names of [app:main] after reading files
// 0..i, as ConfigParser.options does.
func (c chain) options(i int) []string {
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for j := 0; j <= i; j++ {
		for _, k := range c[j].keys(mainSection) {
			add(k)
		}
	}
	for j := 0; j <= i; j++ {
		for _, k := range c[j].keys(defaultSection) {
			add(k)
		}
	}
	add("here")
	add("__file__")
	return out
}

// loadChain follows `use = config:PATH`, reading each named file.
func (f *File) loadChain() error {
	c := chain{f}
	visited := map[string]bool{f.abs: true}
	for {
		cur := c[len(c)-1]
		line, ok := cur.lookup(mainSection, "use")
		if !ok {
			line, ok = cur.lookup(defaultSection, "use")
		}
		if !ok {
			return nil
		}
		use, err := c.interpolate(len(c)-1, "use", cur.value(line))
		if err != nil {
			return &ParseError{Path: cur.path, Line: line + 1, Msg: "use: " + err.Error()}
		}
		rest, ok := strings.CutPrefix(use, "config:")
		if !ok {
			return nil
		}
		p := rest
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(cur.abs), p)
		}
		next := absPath(p)
		if visited[next] {
			return &ParseError{Path: cur.path, Line: line + 1,
				Msg: fmt.Sprintf("use = %s: loop in the chain of config files", use)}
		}
		visited[next] = true
		data, err := readFile(p)
		if err != nil {
			return &ParseError{Path: cur.path, Line: line + 1, Msg: fmt.Sprintf("use = %s: %v", use, err)}
		}
		g, err := parseOwned(p, data)
		if err != nil {
			return err
		}
		cur.used = g
		c = append(c, g)
	}
}

// refRE is BasicInterpolation._KEYCRE.
var refRE = regexp.MustCompile(`%\(([^)]+)\)s`)

// checkPercent refuses what BasicInterpolation.before_set refuses: a '%'
// that is neither part of "%%" nor of "%(name)s".
func checkPercent(v string) error {
	t := strings.ReplaceAll(v, "%%", "")
	t = refRE.ReplaceAllString(t, "")
	if i := strings.IndexByte(t, '%'); i >= 0 {
		return fmt.Errorf("value %q: a '%%' must start %%(name)s or be doubled (%%%%)", clip(v))
	}
	return nil
}
