package inspect

import (
	"fmt"
	"sort"
	"strings"

	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/templates"
)

const mainSection = "app:main"

// checkCKANIni compares every option DCOR expects for this site with
// ckan.ini and sets the ones that differ, as `ckan config-tool` would.
func checkCKANIni(env *Env) []*Finding {
	var out []*Finding
	f, err := env.ckanIni()
	if err != nil {
		return append(out, &Finding{Path: env.CKANIni, Severity: Failure, Message: err.Error()})
	}
	if !f.HasSection(mainSection) {
		return append(out, &Finding{Path: env.CKANIni, Severity: Failure,
			Message: fmt.Sprintf("%s has no [app:main] section: is it a CKAN config file? Nothing was changed", env.CKANIni)})
	}
	opts, err := expectedOptions(env)
	if err != nil {
		return append(out, &Finding{Path: env.CKANIni, Severity: Failure, Message: err.Error()})
	}
	for _, d := range f.Duplicates() {
		if d.Section != mainSection {
			continue
		}
		d := d
		out = append(out, &Finding{Path: env.CKANIni, Key: d.Key, Severity: Drift, Fixable: true,
			Message: fmt.Sprintf("%s is set %d times in [app:main] (lines %s); CKAN uses the last one", d.Key, len(d.Lines), joinInts(d.Lines)),
			fix: func(tx *Tx) error {
				// config-tool semantics: keep the first, comment out later ones.
				v, _ := f.GetRaw(mainSection, d.Key)
				f.Set(mainSection, d.Key, v)
				tx.Stage("ckan-ini", env.CKANIni, env.iniOriginal(), f.Bytes(), 0o640, nil)
				return nil
			}})
	}
	for _, o := range opts {
		o := o
		cur, ok := f.Get(o.Key)
		if len(o.Missing) > 0 {
			out = append(out, &Finding{Path: env.CKANIni, Key: o.Key, Severity: Unmanaged,
				Current: ckanini.Mask(o.Key, cur),
				Message: fmt.Sprintf("%s not managed: set %s in %s (the current value is left alone)",
					o.Key, strings.Join(o.Missing, ", "), env.SitePath)})
			continue
		}
		want := strings.ReplaceAll(o.Value, "%%", "%") // what CKAN reads from the raw value
		if ok && cur == want {
			continue
		}
		fnd := &Finding{Path: env.CKANIni, Key: o.Key, Severity: Drift, Fixable: true,
			Current: ckanini.Mask(o.Key, cur), Expected: ckanini.Mask(o.Key, want)}
		if !ok {
			fnd.Message = fmt.Sprintf("%s is not set, expected %s", o.Key, fnd.Expected)
		} else if fnd.Current == fnd.Expected {
			fnd.Message = fmt.Sprintf("%s = %s: the secret in it differs from the site file's", o.Key, fnd.Current)
		} else {
			fnd.Message = fmt.Sprintf("%s = %s, expected %s", o.Key, fnd.Current, fnd.Expected)
		}
		fnd.fix = func(tx *Tx) error {
			setOption(env, tx, "ckan-ini", o.Key, o.Value)
			return nil
		}
		out = append(out, fnd)
	}
	return out
}

// setOption sets an [app:main] option of ckan.ini on the staged copy;
// raw is the value as written in the file (a literal % written %%).
func setOption(env *Env, tx *Tx, check, key, raw string) {
	f, _ := env.ckanIni()
	f.Set(mainSection, key, raw)
	tx.Stage(check, env.CKANIni, env.iniOriginal(), f.Bytes(), 0o640, nil)
}

// expectedOptions are DCOR's options for this site: the template's, then
// the site file's overrides. Values the site file lacks are asked for on
// a terminal (and saved to the site file) before they are reported as
// not managed.
func expectedOptions(env *Env) ([]templates.Option, error) {
	p := env.params()
	if p.Kind == "" {
		p.Kind = "production"
	}
	opts, err := templates.Options(p)
	if err != nil {
		return nil, err
	}
	if env.AskValue != nil && env.SiteErr == nil {
		if asked, err := askMissing(env, opts); err != nil {
			return nil, err
		} else if asked {
			p = env.params()
			if opts, err = templates.Options(p); err != nil {
				return nil, err
			}
		}
	}
	if env.Site.Kind == "" {
		// Without a site file only kind-neutral options are enforced.
		opts = kindNeutral(opts)
	}
	index := map[string]int{}
	for i, o := range opts {
		index[o.Key] = i
	}
	for _, k := range env.Site.OverrideKeys() {
		// Site values are plain text; ConfigParser reads %% as %.
		o := templates.Option{Key: k, Value: strings.ReplaceAll(env.Site.CKAN[k], "%", "%%")}
		if i, ok := index[k]; ok {
			opts[i] = o
		} else {
			opts = append(opts, o)
		}
	}
	return opts, nil
}

// kindNeutral drops the options whose value depends on the site kind.
func kindNeutral(opts []templates.Option) []templates.Option {
	var out []templates.Option
	for _, o := range opts {
		switch {
		case strings.HasPrefix(o.Key, "smtp."), o.Key == "ckan.site_title", o.Key == "ckan.site_url",
			o.Key == "email_to", o.Key == "error_email_from", strings.HasPrefix(o.Key, "ckan.auth."),
			o.Key == "ckanext.dcor_schemas.allow_public_datasets":
			continue
		}
		out = append(out, o)
	}
	return out
}

// siteFields maps the site-file fields that templates may lack to the
// question asked for them and whether the answer is secret.
var siteFields = map[string]struct {
	prompt string
	secret bool
	set    func(env *Env, v string)
}{
	"database.password": {"PostgreSQL password of ckan.ini's sqlalchemy.url (saved to the site file)", true,
		func(env *Env, v string) { env.Site.Database.Password = v }},
	"email":       {"admin email address", false, func(env *Env, v string) { env.Site.Email = v }},
	"fqdn":        {"fully qualified domain name", false, func(env *Env, v string) { env.Site.FQDN = v }},
	"ip":          {"IP address the site is reached at", false, func(env *Env, v string) { env.Site.IP = v }},
	"smtp.server": {"SMTP server (host:port)", false, func(env *Env, v string) { env.Site.SMTP.Server = v }},
	"smtp.mail_domain": {"mail domain of the noreply/error senders", false,
		func(env *Env, v string) { env.Site.SMTP.Domain = v }},
	"hostname": {"short host name", false, func(env *Env, v string) { env.Site.Hostname = v }},
}

func askMissing(env *Env, opts []templates.Option) (bool, error) {
	need := map[string]bool{}
	for _, o := range opts {
		for _, m := range o.Missing {
			need[m] = true
		}
	}
	var names []string
	for n := range need {
		if _, ok := siteFields[n]; ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	asked := false
	for _, n := range names {
		sf := siteFields[n]
		v, err := env.AskValue(sf.prompt, sf.secret)
		if err != nil {
			return asked, err
		}
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		sf.set(env, v)
		asked = true
	}
	if asked {
		if err := env.Site.Save(env.Host.Path(env.SitePath)); err != nil {
			return asked, fmt.Errorf("save %s: %v", env.SitePath, err)
		}
	}
	return asked, nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
