package inspect

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/templates"
)

// checkUWSGI enforces the uWSGI template's keys on ckan-uwsgi.ini.
func checkUWSGI(env *Env) []*Finding {
	return checkTemplateFiles(env, "uwsgi", []string{"ckan-uwsgi.ini"})
}

// checkSupervisor enforces the five supervisor program templates.
func checkSupervisor(env *Env) []*Finding {
	var names []string
	for _, t := range templates.List() {
		if strings.HasPrefix(t.Path, host.SupervisorDir+"/") {
			names = append(names, t.Name)
		}
	}
	return checkTemplateFiles(env, "supervisor", names)
}

func checkTemplateFiles(env *Env, check string, names []string) []*Finding {
	var out []*Finding
	p := env.params()
	for _, name := range names {
		t, ok := templateByName(name)
		if !ok {
			out = append(out, &Finding{Severity: Failure, Message: "no embedded template " + name})
			continue
		}
		rendered, err := templates.Render(name, p)
		if err != nil {
			out = append(out, &Finding{Path: t.Path, Severity: Failure, Message: err.Error()})
			continue
		}
		out = append(out, checkINIFile(env, check, t.Path, rendered)...)
	}
	return out
}

func templateByName(name string) (templates.Template, bool) {
	for _, t := range templates.List() {
		if t.Name == name {
			return t, true
		}
	}
	return templates.Template{}, false
}

// checkINIFile makes sure the INI file at host path p holds every
// section/key of the rendered template with the template's value. Keys
// the file has beyond the template are kept; a missing file is created
// from the template.
func checkINIFile(env *Env, check, p string, rendered []byte) []*Finding {
	local := env.Host.Path(p)
	data, err := os.ReadFile(local)
	if errors.Is(err, os.ErrNotExist) {
		if _, statErr := os.Lstat(local); statErr == nil {
			return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("%s is a broken symbolic link: fix or remove it", p)}}
		}
		return []*Finding{{Path: p, Severity: Drift, Fixable: true,
			Message: fmt.Sprintf("%s is missing; it will be created from the template", p),
			fix: func(tx *Tx) error {
				tx.Stage(check, p, nil, rendered, 0o644, nil)
				return nil
			}}}
	}
	if err != nil {
		if info, statErr := os.Stat(local); statErr == nil && info.IsDir() {
			return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("%s is a directory, expected a file: move it away", p)}}
		}
		return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("cannot read %s: %v", p, err)}}
	}
	f, err := ckanini.Parse(local, data)
	if err != nil {
		return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("%s: %v; nothing was changed", p, hostError(env.Host, local, err))}}
	}
	var out []*Finding
	entries := templateEntries(rendered)
	out = append(out, conflictingKeys(env, check, p, local, f, data, entries)...)
	for _, e := range entries {
		e := e
		cur, ok := f.GetRaw(e.section, e.key)
		if ok && cur == e.value {
			continue
		}
		fnd := &Finding{Path: p, Key: e.section + ":" + e.key, Severity: Drift, Fixable: true,
			Current: ckanini.Mask(e.key, cur), Expected: ckanini.Mask(e.key, e.value)}
		if !f.HasSection(e.section) {
			fnd.Message = fmt.Sprintf("[%s] is missing; %s = %s expected", e.section, e.key, fnd.Expected)
		} else if !ok {
			fnd.Message = fmt.Sprintf("[%s] %s is not set, expected %s", e.section, e.key, fnd.Expected)
		} else if fnd.Current == fnd.Expected {
			fnd.Message = fmt.Sprintf("[%s] %s: the secret in it differs from the template's", e.section, e.key)
		} else {
			fnd.Message = fmt.Sprintf("[%s] %s = %s, expected %s", e.section, e.key, fnd.Current, fnd.Expected)
		}
		fnd.fix = func(tx *Tx) error {
			// Edit what is planned so far, not the file as read: a fix
			// previewed (d) or declined leaves no trace in the next one.
			cur, err := ckanini.Parse(local, tx.Current(p, data))
			if err != nil {
				return err
			}
			cur.SetLiteral(e.section, e.key, e.value)
			tx.Stage(check, p, data, cur.Bytes(), 0o644, nil)
			return nil
		}
		out = append(out, fnd)
	}
	return out
}

type templateEntry struct{ section, key, value string }

// templateEntries lists the section/key/value lines of a rendered INI
// template (our own files: one `key = value` a line, no continuations).
func templateEntries(data []byte) []templateEntry {
	var out []templateEntry
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case l == "", l[0] == '#', l[0] == ';':
		case l[0] == '[' && strings.HasSuffix(l, "]"):
			section = strings.TrimSpace(l[1 : len(l)-1])
		default:
			i := strings.IndexAny(l, "=:")
			if i <= 0 || section == "" {
				continue
			}
			out = append(out, templateEntry{section, strings.TrimSpace(l[:i]), strings.TrimSpace(l[i+1:])})
		}
	}
	return out
}

// conflicts lists keys that must not stay beside a template key: uWSGI
// would bind CKAN's port twice if the stock `http = 127.0.0.1:8080`
// stayed next to DCOR's `http11-socket`.
var conflicts = map[string][]string{
	"uwsgi:http11-socket": {"http", "http-socket", "socket", "uwsgi-socket"},
}

// conflictingKeys reports active keys that clash with a template key; the
// fix comments them out (";" prefix), keeping every other byte.
func conflictingKeys(env *Env, check, p, local string, f *ckanini.File, data []byte, entries []templateEntry) []*Finding {
	var out []*Finding
	for _, e := range entries {
		for _, k := range conflicts[e.section+":"+e.key] {
			cur, ok := f.GetRaw(e.section, k)
			if !ok {
				continue
			}
			section, key := e.section, k
			out = append(out, &Finding{Path: p, Key: section + ":" + key, Current: cur, Severity: Drift, Fixable: true,
				Message: fmt.Sprintf("[%s] %s = %s clashes with %s = %s; it will be commented out", section, key, cur, e.key, e.value),
				fix: func(tx *Tx) error {
					tx.Stage(check, p, data, commentOut(tx.Current(p, data), section, key), 0o644, nil)
					return nil
				}})
		}
	}
	return out
}

// commentOut prefixes the active lines of key in section with "; ".
func commentOut(data []byte, section, key string) []byte {
	lines := strings.SplitAfter(string(data), "\n")
	cur := ""
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			cur = strings.TrimSpace(t[1 : len(t)-1])
			continue
		}
		if cur != section || t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if j := strings.IndexAny(t, "=:"); j > 0 && strings.EqualFold(strings.TrimSpace(t[:j]), key) {
			lines[i] = "; " + l
		}
	}
	return []byte(strings.Join(lines, ""))
}
