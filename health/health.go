// Package health checks whether a DCOR host works: the parts it runs
// (supervisord and its programs, nginx, uWSGI, CKAN, PostgreSQL, Redis,
// Solr) and what they need (free space, a recent encrypted backup, a
// valid TLS certificate, an API token secret). Each probe returns
// results with a state (ok, warn, fail) and the reason; the probes run in
// parallel, each bounded by a timeout, and never change anything.
//
// Under --root (a host tree that is not the running system) the probes
// that talk to services are skipped and the file probes read the tree.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/pymeta"
	"github.com/DCOR-dev/dcor/site"
	"github.com/DCOR-dev/dcor/update"
)

// State is how a part of the host is.
type State string

// The states of a result, from good to bad; Skip is a probe that did not
// run (under --root, or without what it needs) and counts as nothing.
const (
	OK   State = "ok"
	Warn State = "warn"
	Fail State = "fail"
	Skip State = "skip"
)

// rank orders states for the worst of several.
func (s State) rank() int {
	switch s {
	case Warn:
		return 2
	case Fail:
		return 3
	case OK:
		return 1
	}
	return 0
}

// Result is the state of one part of the host.
type Result struct {
	// Name names the part: "supervisord", "supervisor:ckan-uwsgi",
	// "nginx", "disk:/data", … (README: `dcor status`).
	Name string `json:"name"`
	// State is ok, warn, fail or skip.
	State State `json:"state"`
	// Reason says why, in one line.
	Reason string `json:"reason"`
	// Duration is how long the probe took.
	Duration time.Duration `json:"-"`
}

// MarshalJSON adds the duration in milliseconds.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"duration_ms"`
	}{plain(r), ms(r.Duration)})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Package is an installed package's version ("" when not installed).
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Report is what Run found.
type Report struct {
	// Packages are CKAN and the DCOR packages, in order, with their
	// versions read from the virtualenv's package metadata.
	Packages []Package
	// Results are the probes' results, in a fixed order.
	Results []Result
	// Duration is how long the whole run took.
	Duration time.Duration
}

// Counts counts the results per state.
func (r *Report) Counts() map[State]int {
	c := map[State]int{OK: 0, Warn: 0, Fail: 0, Skip: 0}
	for _, x := range r.Results {
		c[x.State]++
	}
	return c
}

// State is the worst state of the results (ok when all were skipped).
func (r *Report) State() State {
	s := OK
	for _, x := range r.Results {
		if x.State.rank() > s.rank() {
			s = x.State
		}
	}
	return s
}

// FirstProblem is the first result that is not ok (fail before warn),
// nil when there is none.
func (r *Report) FirstProblem() *Result {
	for _, want := range []State{Fail, Warn} {
		for i := range r.Results {
			if r.Results[i].State == want {
				return &r.Results[i]
			}
		}
	}
	return nil
}

// Env is the host that Run checks.
type Env struct {
	// Host maps host paths under --root.
	Host host.Host
	// Site is the site file's content (empty when there is none) and
	// SiteErr why it could not be read.
	Site    *site.Site
	SiteErr error
	// SitePath, CKANIni and Venv are host paths.
	SitePath, CKANIni, Venv string
	// Network runs the probes that talk to services; false under --root.
	Network bool
	// Timeout bounds each probe (default DefaultTimeout).
	Timeout time.Duration
	// Now is when the run began (certificate and backup ages).
	Now time.Time
}

// DefaultTimeout is how long a probe may take by default.
const DefaultTimeout = 3 * time.Second

// noAnswer stands for a timeout in a reason; runProbe names the timeout.
const noAnswer = "no answer in time"

// notLive is the reason of a skipped network probe.
const notLive = "not the running system (--root): not probed"

// config is what the probes share, read once before they start and
// never written while they run.
type config struct {
	*Env
	site     *site.Site
	ini      map[string]string // the keys of iniKeys that ckan.ini sets, interpolated
	iniErr   error
	versions map[string]string // normalized package name → version
}

// iniKeys are the ckan.ini keys the probes read.
var iniKeys = []string{"sqlalchemy.url", "ckan.redis.url", "solr_url", "solr_user", "solr_password",
	"ckan.site_url", "ckan.site_id", "api_token.jwt.encode.secret", "api_token.jwt.decode.secret",
	"api_token.jwt.algorithm", "beaker.session.secret", "SECRET_KEY"}

// get is ckan.ini's value of key.
func (c *config) get(key string) (string, bool) {
	v, ok := c.ini[key]
	return v, ok
}

// probe is one check of the host; it returns one result or several
// (supervisord and each program).
type probe struct {
	name string
	// network probes talk to services: skipped under --root.
	network bool
	// ini probes need ckan.ini: skipped when it cannot be read.
	ini bool
	run func(ctx context.Context, c *config) []Result
}

// probes are every probe, in the order of the report.
var probes = []probe{
	{name: "site-file", run: probeSiteFile},
	{name: "ckan-ini", run: probeCKANIni},
	{name: "venv", run: probeVenv},
	{name: "supervisord", network: true, run: probeSupervisor},
	{name: "nginx", run: probeNginx},
	{name: "https", network: true, run: probeHTTPS},
	{name: "uwsgi", network: true, run: probeUWSGI},
	{name: "ckan", network: true, ini: true, run: probeCKAN},
	{name: "postgresql", network: true, ini: true, run: probePostgres},
	{name: "redis", network: true, ini: true, run: probeRedis},
	{name: "solr", network: true, ini: true, run: probeSolr},
	{name: "object-storage", network: true, ini: true, run: probeObjects},
	{name: "disk:/data", run: probeDisk("/data")},
	{name: "disk:/", run: probeDisk("/")},
	{name: "backup", run: probeBackup},
	{name: "certificate", run: probeCertificate},
	{name: "api-token-secret", ini: true, run: probeAPISecret},
}

// Names lists the probes' names (a probe may report under more names:
// supervisor:PROGRAM).
func Names() []string {
	out := make([]string, len(probes))
	for i, p := range probes {
		out[i] = p.name
	}
	return out
}

// packageNames are the packages whose versions are reported: CKAN and
// the DCOR packages.
func packageNames() []string { return append([]string{"ckan"}, update.Packages...) }

// Run checks the host: it reads the site file's values, ckan.ini and the
// virtualenv's package metadata, then runs every probe in parallel, each
// within env.Timeout. A probe that does not end in time is a failure
// ("no answer within …"); when ctx ends, Run returns what it has.
func Run(ctx context.Context, env *Env) *Report {
	start := time.Now()
	if env.Timeout <= 0 {
		env.Timeout = DefaultTimeout
	}
	if env.Now.IsZero() {
		env.Now = start
	}
	c := &config{Env: env, site: env.Site}
	if c.site == nil {
		c.site = &site.Site{}
	}
	c.loadIni()
	c.versions = pymeta.Versions(env.Host.Path(env.Venv), packageNames())
	rep := &Report{}
	for _, n := range packageNames() {
		rep.Packages = append(rep.Packages, Package{Name: n, Version: c.versions[pymeta.Normalize(n)]})
	}

	out := make([][]Result, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		switch {
		case p.network && !env.Network:
			out[i] = []Result{{Name: p.name, State: Skip, Reason: notLive}}
			continue
		case p.ini && c.iniErr != nil:
			out[i] = []Result{{Name: p.name, State: Skip, Reason: "needs ckan.ini, which cannot be read"}}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = runProbe(ctx, c, p)
		}()
	}
	wg.Wait()
	for _, r := range out {
		rep.Results = append(rep.Results, r...)
	}
	rep.Duration = time.Since(start)
	return rep
}

// runProbe runs p within the timeout. A probe that ignores its context
// (a hung file system) is left behind: its result is the timeout.
func runProbe(ctx context.Context, c *config, p probe) []Result {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	start := time.Now()
	done := make(chan []Result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- []Result{{Name: p.name, State: Fail, Reason: fmt.Sprintf("the probe failed: %v", v)}}
			}
		}()
		done <- p.run(ctx, c)
	}()
	var rs []Result
	select {
	case rs = <-done:
	case <-ctx.Done():
		reason := fmt.Sprintf("no answer within %s", c.Timeout)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			reason = "interrupted"
		}
		rs = []Result{{Name: p.name, State: Fail, Reason: reason}}
	}
	d := time.Since(start)
	for i := range rs {
		if rs[i].Duration == 0 {
			rs[i].Duration = d
		}
		// a probe that timed out itself says so in netReason's words
		rs[i].Reason = strings.ReplaceAll(rs[i].Reason, noAnswer, fmt.Sprintf("no answer within %s", c.Timeout))
	}
	return rs
}

// loadIni reads the keys the probes need from ckan.ini.
func (c *config) loadIni() {
	local := c.Host.Path(c.CKANIni)
	info, err := os.Stat(local)
	switch {
	case errors.Is(err, os.ErrNotExist):
		c.iniErr = fmt.Errorf("%s does not exist: point --ckan-ini or CKAN_INI at ckan.ini", c.CKANIni)
		return
	case err != nil:
		c.iniErr = fmt.Errorf("cannot read %s: %v", c.CKANIni, err)
		return
	case info.IsDir():
		c.iniErr = fmt.Errorf("%s is a directory, expected the ckan.ini file", c.CKANIni)
		return
	}
	f, err := ckanini.Load(local)
	if err != nil {
		c.iniErr = fmt.Errorf("%s: %v", c.CKANIni, hostText(c.Host, err.Error()))
		return
	}
	c.ini = map[string]string{}
	for _, k := range append(iniKeys, objectKeys...) {
		if v, ok := f.Get(k); ok {
			c.ini[k] = strings.TrimSpace(v)
		}
	}
}

// hostText turns the paths under --root in s into host paths.
func hostText(h host.Host, s string) string {
	if h.Live() {
		return s
	}
	return strings.ReplaceAll(s, strings.TrimSuffix(h.Root, "/")+"/", "/")
}

// result is a Result of state s with a formatted reason.
func result(name string, s State, format string, args ...any) []Result {
	return []Result{{Name: name, State: s, Reason: fmt.Sprintf(format, args...)}}
}
