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
		return []*Finding{{Path: p, Severity: Failure, Message: fmt.Sprintf("%s: %v; nothing was changed", p, hostError(env.Host, err))}}
	}
	var out []*Finding
	for _, e := range templateEntries(rendered) {
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
			f.SetLiteral(e.section, e.key, e.value)
			tx.Stage(check, p, data, f.Bytes(), 0o644, nil)
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
