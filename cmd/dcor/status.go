package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/health"
	"github.com/DCOR-dev/dcor/internal/pymeta"
	"github.com/spf13/cobra"
)

// statusOptions are the flags of `dcor status`.
type statusOptions struct {
	strict, brief bool
	venv          string
	timeout       time.Duration
}

func (a *app) statusCommand() *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Check whether the host works: services, backups, free space, certificate",
		Long: `status shows the site kind, FQDN and the versions of CKAN and the DCOR
packages (from the virtualenv's package metadata), then checks each part of
the host and gives it a state, ok, warn or fail, with the reason:
supervisord and each of its programs, nginx (configuration test, port 443),
uWSGI (its socket answers), CKAN (status_show through ckan.site_url),
PostgreSQL (connection, database size), Redis (PING), Solr (ping, documents
of this ckan.site_id), free space on /data and / (warn under 10 %), the
newest encrypted backup (warn older than 26 h, fail older than 72 h or
none), the TLS certificate (warn under 30 days, fail expired) and the API
token secret. The checks run in parallel, each within --timeout; status
changes nothing.

Under --root the checks that talk to services are skipped (the tree is not
the running system); the file checks read the tree.

  --brief    one line for cron and monitoring:
             dcor status: ok|warn|fail: N ok, N warn, N fail: first problem
  --strict   warnings count as failures for the exit code

Exit 0 when nothing fails (with --strict: nothing fails or warns), else 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStatus(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.strict, "strict", false, "exit 1 on warnings too")
	f.BoolVar(&o.brief, "brief", false, "print one line (for cron and monitoring)")
	f.StringVar(&o.venv, "venv", "/usr/lib/ckan/default", "CKAN virtualenv `PATH`")
	f.DurationVar(&o.timeout, "timeout", health.DefaultTimeout, "time each check may take (`DURATION`)")
	return cmd
}

// statusJSON is the document `dcor status --json` prints (README:
// `dcor status`).
type statusJSON struct {
	State    health.State         `json:"state"`
	Kind     string               `json:"kind"`
	FQDN     string               `json:"fqdn"`
	Hostname string               `json:"hostname"`
	SiteFile string               `json:"site_file"`
	CKANIni  string               `json:"ckan_ini"`
	Venv     string               `json:"venv"`
	Root     string               `json:"root"`
	Version  string               `json:"dcor_version"`
	Packages []health.Package     `json:"packages"`
	Checks   []health.Result      `json:"checks"`
	Counts   map[health.State]int `json:"counts"`
	Duration float64              `json:"duration_ms"`
	Strict   bool                 `json:"strict"`
}

// runStatus is `dcor status`.
func (a *app) runStatus(ctx context.Context, o statusOptions) error {
	if o.brief && a.json {
		return usageErrorf("--brief and --json exclude each other")
	}
	if o.timeout <= 0 {
		return usageErrorf("--timeout needs a positive duration, e.g. 3s")
	}
	h := a.host()
	s, siteErr := a.siteFile()
	env := &health.Env{Host: h, Site: s, SiteErr: siteErr, SitePath: a.config, CKANIni: a.ckanIniPath(),
		Venv: o.venv, Network: h.Live(), Timeout: o.timeout}
	rep := health.Run(ctx, env)
	if code, _ := interruptedBy(ctx); code != 0 {
		return a.stopped(nil)
	}
	state := rep.State()
	counts := rep.Counts()
	failed := state == health.Fail || o.strict && state == health.Warn

	switch {
	case a.json:
		doc := statusJSON{State: state, Kind: s.Kind, FQDN: s.FQDNOrDefault(), Hostname: s.HostnameOrDefault(),
			SiteFile: a.config, CKANIni: a.ckanIniPath(), Venv: o.venv, Root: h.Root, Version: dcorVersion(),
			Packages: rep.Packages, Checks: rep.Results, Counts: counts,
			Duration: float64(rep.Duration.Microseconds()) / 1000, Strict: o.strict}
		if err := a.emit(doc); err != nil {
			return err
		}
	case o.brief:
		line := fmt.Sprintf("dcor status: %s: %d ok, %d warn, %d fail", state, counts[health.OK], counts[health.Warn], counts[health.Fail])
		if p := rep.FirstProblem(); p != nil {
			line += ": " + p.Name + ": " + p.Reason
		}
		fmt.Fprintln(a.stdout, line)
	default:
		a.printStatus(o, rep)
	}
	if failed {
		return silentExit(1)
	}
	return nil
}

// printStatus prints the report for people: one screen.
func (a *app) printStatus(o statusOptions, rep *health.Report) {
	w := a.stdout
	s, _ := a.siteFile()
	kind := s.Kind
	if kind == "" {
		kind = "(unknown: no site file)"
	}
	pw := len("site kind:")
	for _, p := range rep.Packages {
		pw = max(pw, len(p.Name)+1)
	}
	line := func(label, value string) { fmt.Fprintf(w, "%-*s %s\n", pw, label+":", value) }
	line("site kind", kind)
	line("FQDN", s.FQDNOrDefault())
	if !a.host().Live() {
		line("root", a.host().Root)
	}
	line("dcor", dcorVersion())
	var missing []string
	for _, p := range rep.Packages {
		if p.Version == "" {
			missing = append(missing, p.Name)
			continue
		}
		line(p.Name, p.Version)
	}
	if len(missing) > 0 {
		line("not in venv", strings.Join(missing, ", "))
	}
	fmt.Fprintln(w)
	width := 0
	for _, r := range rep.Results {
		width = max(width, len(r.Name))
	}
	for _, r := range rep.Results {
		mark := map[health.State]string{health.OK: a.paint("32", "ok  "), health.Warn: a.paint("33", "warn"),
			health.Fail: a.paint("31", "fail"), health.Skip: a.paint("2", "skip")}[r.State]
		fmt.Fprintf(w, "%s  %-*s  %s\n", mark, width, r.Name, r.Reason)
	}
	c := rep.Counts()
	summary := fmt.Sprintf("%d ok, %d warn, %d fail", c[health.OK], c[health.Warn], c[health.Fail])
	if c[health.Skip] > 0 {
		summary += fmt.Sprintf(", %d skipped", c[health.Skip])
	}
	fmt.Fprintf(w, "\n%s: %s (%s)\n", rep.State(), summary, rep.Duration.Round(time.Millisecond))
}

// ckanVersion reads the installed CKAN's version from the virtualenv's
// package metadata (local path venv), "" when not found.
func ckanVersion(venv string) string { return pymeta.Version(venv, "ckan") }
