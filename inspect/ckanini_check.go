package inspect

import (
	"fmt"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/site"
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
		if d.Key == "" {
			// A repeated section header: CKAN's parser refuses the file,
			// and which options go where is for a person to decide.
			out = append(out, &Finding{Path: env.CKANIni, Severity: Failure,
				Message: fmt.Sprintf("[%s] appears %d times in %s (lines %s): CKAN refuses to start on it; merge the sections into one by hand",
					d.Section, len(d.Lines), env.CKANIni, joinInts(d.Lines))})
			continue
		}
		if d.Section != mainSection {
			continue
		}
		d := d
		out = append(out, &Finding{Path: env.CKANIni, Key: d.Key, Severity: Drift, Fixable: true,
			Message: fmt.Sprintf("%s is set %d times in [app:main] (lines %s); CKAN uses the last one", d.Key, len(d.Lines), joinInts(d.Lines)),
			fix: func(tx *Tx) error {
				// config-tool semantics: keep the first, comment out later ones.
				v, _ := f.GetRaw(mainSection, d.Key)
				return setOption(env, tx, "ckan-ini", d.Key, v)
			}})
	}
	for _, o := range opts {
		o := o
		cur, ok := f.Get(o.Key)
		if _, overridden := env.Site.CKAN[o.Key]; o.Key == dbURLKey && !overridden && env.Site.Database != (site.Database{}) {
			if fnd := checkDatabaseURL(env, cur, ok); fnd != nil {
				out = append(out, fnd)
			}
			continue
		}
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
			return setOption(env, tx, "ckan-ini", o.Key, o.Value)
		}
		out = append(out, fnd)
	}
	return out
}

// setOption sets an [app:main] option of ckan.ini on the staged copy;
// raw is the value as written in the file (a literal % written %%). A
// key or value that ckan.ini cannot hold is an error, never a panic.
func setOption(env *Env, tx *Tx, check, key, raw string) error {
	f, err := env.ckanIni()
	if err != nil {
		return err
	}
	if err := ckanini.CheckOption(mainSection, key, raw); err != nil {
		return fmt.Errorf("cannot set %s in %s: %v", key, env.CKANIni, err)
	}
	f.Set(mainSection, key, raw)
	tx.stageIni(check)
	return nil
}

// dbURLKey is the ckan.ini option that names CKAN's database.
const dbURLKey = "sqlalchemy.url"

// checkDatabaseURL compares sqlalchemy.url (cur, as CKAN reads it; ok
// false when unset) with the site file's database section. dcor manages
// only the parts the site file sets (the password, and user, host, port
// and database name when given): every other part stays as found, so a
// database on another host or port is not moved to localhost. The parts
// are compared decoded, so a password percent-encoded differently is no
// drift. It returns nil when they agree.
func checkDatabaseURL(env *Env, cur string, ok bool) *Finding {
	d := env.Site.Database
	if msg := checkSiteDatabase(d); msg != "" {
		return &Finding{Path: env.SitePath, Key: dbURLKey, Severity: Failure,
			Message: fmt.Sprintf("%s in %s; %s was left alone", msg, env.SitePath, dbURLKey)}
	}
	u, err := ckandb.ParseURL(cur)
	if !ok || err != nil {
		u = &ckandb.URL{Scheme: "postgresql", User: "ckan_default", Host: "localhost", Name: "ckan_default"}
		if d.Password == "" {
			// Without a password dcor cannot write a URL CKAN can use.
			return &Finding{Path: env.CKANIni, Key: dbURLKey, Severity: Unmanaged, Current: ckanini.Mask(dbURLKey, cur),
				Message: fmt.Sprintf("%s not managed: set database.password in %s (the current value is left alone)", dbURLKey, env.SitePath)}
		}
	}
	want := *u
	if d.Password != "" {
		want.Password, want.HasPassword = d.Password, true
	}
	if d.User != "" {
		want.User = d.User
	}
	if d.Host != "" {
		want.Host = d.Host
		if a, err := netip.ParseAddr(d.Host); err == nil && a.Is6() {
			want.Host = "[" + d.Host + "]"
		}
	}
	if d.Port != "" {
		want.Port = d.Port
	}
	if d.Name != "" {
		want.Name = d.Name
	}
	if ok && err == nil && want.Password == u.Password && want.HasPassword == u.HasPassword &&
		want.User == u.User && want.Host == u.Host && want.Port == u.Port && want.Name == u.Name {
		return nil
	}
	text := databaseURL(&want)
	raw := strings.ReplaceAll(text, "%", "%%") // ConfigParser reads %% as %
	fnd := &Finding{Path: env.CKANIni, Key: dbURLKey, Severity: Drift, Fixable: true,
		Current: ckanini.Mask(dbURLKey, cur), Expected: ckanini.Mask(dbURLKey, text)}
	switch {
	case !ok:
		fnd.Message = fmt.Sprintf("%s is not set, expected %s", dbURLKey, fnd.Expected)
	case err != nil:
		fnd.Message = fmt.Sprintf("%s = %s: %v; expected %s", dbURLKey, fnd.Current, err, fnd.Expected)
	case fnd.Current == fnd.Expected:
		fnd.Message = fmt.Sprintf("%s = %s: the secret in it differs from the site file's", dbURLKey, fnd.Current)
	default:
		fnd.Message = fmt.Sprintf("%s = %s, expected %s", dbURLKey, fnd.Current, fnd.Expected)
	}
	fnd.fix = func(tx *Tx) error { return setOption(env, tx, "ckan-ini", dbURLKey, raw) }
	return fnd
}

// checkSiteDatabase says what is wrong with the site file's database
// host and port ("" when nothing is).
func checkSiteDatabase(d site.Database) string {
	if h := d.Host; h != "" && strings.ContainsAny(h, "/@?#[]: \t\r\n%") {
		if a, err := netip.ParseAddr(h); err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Sprintf("database.host %q is not a host name or IP address", h)
		}
	}
	if p := d.Port; p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("database.port %q is not a port number (1-65535)", p)
		}
	}
	return ""
}

// databaseURL writes u back as sqlalchemy.url: scheme and query as
// found, user, password and database name percent-encoded.
func databaseURL(u *ckandb.URL) string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	switch {
	case u.HasPassword:
		b.WriteString(url.UserPassword(u.User, u.Password).String())
		b.WriteByte('@')
	case u.User != "":
		b.WriteString(url.User(u.User).String())
		b.WriteByte('@')
	}
	b.WriteString(u.HostPort())
	b.WriteByte('/')
	b.WriteString(url.PathEscape(u.Name))
	if u.Query != "" {
		b.WriteByte('?')
		b.WriteString(u.Query)
	}
	return b.String()
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
		// The answers are saved through the run's plan: atomically, with
		// a dated copy, keeping the file's comments and order.
		if err := env.planSiteSave(); err != nil {
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
