package templates

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// Option is one expected ckan.ini option (section [app:main]).
type Option struct {
	// Key is the option's name, Value its text in ckan.ini: substituted
	// site values have "%" doubled, because CKAN reads ckan.ini with
	// Python's ConfigParser interpolation.
	Key, Value string
	// Missing lists the site values that the option needs and Params
	// lacks, by their site-file names: "hostname", "fqdn", "ip", "email",
	// "database.password", "smtp.server", "smtp.mail_domain". Value is
	// then "" and the option is not managed: leave ckan.ini as it is.
	Missing []string
}

var kinds = []string{"production", "development", "medical", "testing"}

// Kinds returns the kinds of site, for Params.Kind.
func Kinds() []string { return slices.Clone(kinds) }

// optionFields are the fields that option values may use, and the
// site-file name of the value each needs ("" for a value that may be
// empty).
var optionFields = map[string]string{
	"Hostname":     "hostname",
	"FQDN":         "fqdn",
	"SiteHost":     "fqdn",
	"IP":           "ip",
	"Email":        "email",
	"DBPassword":   "database.password",
	"DBUser":       "",
	"DBHost":       "",
	"DBName":       "",
	"SMTPServer":   "smtp.server",
	"SMTPUser":     "",
	"SMTPPassword": "",
	"MailDomain":   "smtp.mail_domain",
}

// Options returns the ckan.ini options that DCOR expects for a site of
// kind p.Kind: the base options in the order of the base file, each
// replaced in place by the kind's override, then the kind's new options.
// It fails for an unknown kind (the error names the valid ones) and for
// values of p that Render rejects.
func Options(p Params) ([]Option, error) {
	if !slices.Contains(kinds, p.Kind) {
		return nil, fmt.Errorf("templates: unknown site kind %q (valid kinds: %s)", p.Kind, strings.Join(kinds, ", "))
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	raw, err := readOptions("base.ini")
	if err != nil {
		return nil, err
	}
	over, err := readOptions(p.Kind + ".ini")
	if err != nil {
		return nil, err
	}
	if CKANAtLeast(p.CKANVersion, 2, 10) {
		newer, err := readOptions("ckan-2.10.ini")
		if err != nil {
			return nil, err
		}
		over = append(newer, over...)
	}
	for _, o := range over {
		if i := slices.IndexFunc(raw, func(r rawOption) bool { return r.key == o.key }); i >= 0 {
			raw[i] = o
		} else {
			raw = append(raw, o)
		}
	}
	data := optionData(p)
	opts := make([]Option, 0, len(raw))
	for _, r := range raw {
		o, err := r.render(data)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// optionData returns the values of the option fields, "%" doubled;
// fields whose value is missing are left out.
func optionData(p Params) map[string]string {
	ip := p.IP
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
		ip = "[" + ip + "]"
	}
	pw := p.DBPassword
	if pw != "" {
		pw = strings.TrimPrefix(url.UserPassword("u", pw).String(), "u:")
	}
	dbHost := cmp.Or(p.DBHost, "localhost")
	if a, err := netip.ParseAddr(dbHost); err == nil && a.Is6() {
		dbHost = "[" + dbHost + "]"
	}
	if p.DBPort != "" {
		dbHost += ":" + p.DBPort
	}
	domain := p.MailDomain
	if _, rest, ok := strings.Cut(p.FQDN, "."); domain == "" && ok {
		domain = rest
	}
	v := map[string]string{
		"Hostname":     p.Hostname,
		"FQDN":         p.FQDN,
		"SiteHost":     cmp.Or(p.FQDN, p.Hostname),
		"IP":           ip,
		"Email":        p.Email,
		"DBPassword":   pw,
		"DBUser":       url.User(cmp.Or(p.DBUser, "ckan_default")).String(),
		"DBHost":       dbHost,
		"DBName":       url.PathEscape(cmp.Or(p.DBName, "ckan_default")),
		"SMTPServer":   p.SMTPServer,
		"SMTPUser":     p.SMTPUser,
		"SMTPPassword": p.SMTPPassword,
		"MailDomain":   domain,
	}
	for k, s := range v {
		if s == "" && optionFields[k] != "" {
			delete(v, k)
			continue
		}
		v[k] = strings.ReplaceAll(s, "%", "%%")
	}
	return v
}

// rawOption is one line of an embedded options file.
type rawOption struct {
	file       string
	line       int
	key, value string
}

// readOptions parses the embedded options file name: "key = value"
// lines, "#" and ";" comments.
func readOptions(name string) ([]rawOption, error) {
	text, err := files.ReadFile("files/ckan-options/" + name)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	var opts []rawOption
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("templates: %s:%d: not a \"key = value\" line", name, n)
		}
		if slices.ContainsFunc(opts, func(o rawOption) bool { return o.key == k }) {
			return nil, fmt.Errorf("templates: %s:%d: duplicate option %s", name, n, k)
		}
		opts = append(opts, rawOption{name, n, k, v})
	}
	return opts, sc.Err()
}

// render fills in the fields of the option's value. Values may hold text
// and {{.Field}} actions only, so that every field the value needs is
// known before it is executed.
func (r rawOption) render(data map[string]string) (Option, error) {
	where := fmt.Sprintf("templates: %s:%d: %s", r.file, r.line, r.key)
	t, err := template.New(r.key).Option("missingkey=error").Parse(r.value)
	if err != nil {
		return Option{}, fmt.Errorf("%s: %w", where, err)
	}
	o := Option{Key: r.key}
	if t.Tree != nil {
		for _, n := range t.Tree.Root.Nodes {
			switch n := n.(type) {
			case *parse.TextNode:
			case *parse.ActionNode:
				f, ok := plainField(n)
				if !ok {
					return Option{}, fmt.Errorf("%s: only {{.Field}} is allowed, not %s", where, n)
				}
				need, known := optionFields[f]
				if !known {
					return Option{}, fmt.Errorf("%s: unknown field .%s", where, f)
				}
				if _, ok := data[f]; !ok && !slices.Contains(o.Missing, need) {
					o.Missing = append(o.Missing, need)
				}
			default:
				return Option{}, fmt.Errorf("%s: only {{.Field}} is allowed, not %s", where, n)
			}
		}
	}
	if len(o.Missing) > 0 {
		return o, nil
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return Option{}, fmt.Errorf("%s: %w", where, err)
	}
	o.Value = b.String()
	return o, nil
}

// plainField returns Field for the action {{.Field}}.
func plainField(a *parse.ActionNode) (string, bool) {
	if len(a.Pipe.Decl) > 0 || len(a.Pipe.Cmds) != 1 || len(a.Pipe.Cmds[0].Args) != 1 {
		return "", false
	}
	f, ok := a.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 1 {
		return "", false
	}
	return f.Ident[0], true
}

// renderOptions writes Options(p) as an INI fragment for ckan.ini.
func renderOptions(p Params) ([]byte, error) {
	opts, err := Options(p)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# DCOR's expected ckan.ini options for a %s site.\n", p.Kind)
	b.WriteString("# Options named in comments are not managed, as site values they need are missing.\n")
	b.WriteString("[app:main]\n")
	for _, o := range opts {
		if len(o.Missing) > 0 {
			// No ':' or '=' in the comment: ckan config-tool would take
			// it for a commented-out option.
			fmt.Fprintf(&b, "# %s is not managed, it needs %s\n", o.Key, strings.Join(o.Missing, " and "))
			continue
		}
		b.WriteString(strings.TrimRight(o.Key+" = "+o.Value, " ") + "\n")
	}
	return b.Bytes(), nil
}

// CKANAtLeast tells whether the CKAN version v ("2.11.5", "2.10.0b1",
// "v2.10") is major.minor or newer; false for an empty or unparsable v.
func CKANAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	digits := strings.IndexFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	if digits >= 0 {
		parts[1] = parts[1][:digits]
	}
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
