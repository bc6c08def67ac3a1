package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/reset"
)

// resetOptions are the flags of `dcor reset`.
type resetOptions struct {
	reset.Options
	yes, check bool
	venv       string
	// backupDir is the host directory of the plain dump taken when no
	// backup key is configured; outDir that of the encrypted dumps.
	backupDir  string
	outDir     string
	pgDump     string
	asPostgres bool
}

func (a *app) resetCommand() *cobra.Command {
	var o resetOptions
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Reset parts of the site: webassets, database or datasets, zombie users, search index, dcor's state",
		Long: `reset does what dcor_control's reset did, in the same order, after a plan that
says exactly what will go:

  1. a backup of the CKAN database, whenever it changes (--database,
     --datasets, --zombie-users): encrypted to every public key in the
     backup key directory (/etc/dcor/backup-keys, the site file's
     backup.key_dir) into /data/encrypted_db_dumps/YYYY-MM/ (--out-dir); without keys a
     plain custom dump /backup/YYYY-MM/ckan_db_<host>_<date>.dump (directory
     0500, file 0400; --backup-dir). When the backup fails, nothing is reset.
  2. --cache: the webassets (bundles and .webassets-cache) under
     ckan.webassets.path, as ckan asset clean; CKAN builds them again.
  3. --database: ckan db clean --yes, then ckan db init (CKAN 2.9/2.10) or
     ckan db upgrade (2.11), each checked in the database (they exit 0 on
     failure). Or --datasets: every dataset in every state purged in one
     transaction, as dataset_purge does, and their Solr documents deleted.
     Uploaded files stay on disk: dcor inspect --only orphans removes them.
  4. --zombie-users: users that are no sysadmin, created no dataset that is
     not deleted (after --datasets: none), and were last active more than 12
     weeks ago or never (CKAN 2.9: their newest activity); deleted as ckan
     user remove does (state deleted). --keep-user NAME protects a user.
  5. --search-index: the Solr documents of this ckan.site_id (other sites
     sharing the core keep theirs), deleted and committed, then counted: 0.
  6. --control: dcor_control's state (/root/.config/dcor_control, with the
     database password in clear). dcor keeps no other state: its site file
     and the dated copies in /var/backups/dcor stay.
  7. supervisor reloaded (when supervisord runs).

--check shows the plan and changes nothing (exit 1 when there is something to
reset). Without -y dcor asks once for the whole plan (d shows it); without a
terminal it only shows it.`,
		Example: `  dcor reset --datasets --zombie-users --keep-user dcoraid --check
  dcor reset --datasets --zombie-users --keep-user dcoraid -y
  dcor reset --search-index --cache`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runReset(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Cache, "cache", false, "remove the webassets (ckan asset clean)")
	f.BoolVar(&o.Database, "database", false, "drop the CKAN database's tables and create them again (after a backup)")
	f.BoolVar(&o.Datasets, "datasets", false, "purge every dataset in every state (after a backup)")
	f.BoolVar(&o.ZombieUsers, "zombie-users", false, "delete users without datasets inactive for 12 weeks (after a backup)")
	f.BoolVar(&o.SearchIndex, "search-index", false, "delete this site's documents from the Solr index")
	f.BoolVar(&o.Control, "control", false, "remove dcor_control's state ("+reset.LegacyControlDir+")")
	f.StringArrayVar(&o.KeepUsers, "keep-user", nil, "never delete the user `NAME` as a zombie (repeatable)")
	f.BoolVarP(&o.yes, "yes", "y", false, "reset without asking")
	f.BoolVar(&o.check, "check", false, "show what would be reset; change nothing")
	f.StringVar(&o.venv, "venv", host.DefaultVenv, "CKAN virtualenv `PATH` (its bin/ckan runs ckan db)")
	f.StringVar(&o.backupDir, "backup-dir", backup.DefaultPlainDir, "host `DIR` of the plain dump taken when no backup key is configured")
	f.StringVar(&o.outDir, "out-dir", host.EncryptedDumpsDir, "host `DIR` of the encrypted dump (YYYY-MM/ below it) when backup keys are configured")
	f.StringVar(&o.pgDump, "pg-dump", "", "pg_dump `PROGRAM` (default: from PATH, else the newest /usr/lib/postgresql/*/bin)")
	f.BoolVar(&o.asPostgres, "as-postgres", false, "run pg_dump as the system user postgres (peer authentication)")
	return cmd
}

// resetJSON is what `dcor reset --json` prints.
type resetJSON struct {
	Check  bool           `json:"check"`
	Plan   *reset.Summary `json:"plan"`
	Result *reset.Result  `json:"result,omitempty"`
	Asked  string         `json:"asked,omitempty"`
	Report *planReport    `json:"report"`
	Next   []string       `json:"next,omitempty"`
}

// runReset is `dcor reset`.
func (a *app) runReset(ctx context.Context, o resetOptions) error {
	if !o.Any() {
		return usageErrorf("say what to reset: --cache, --database or --datasets, --zombie-users, --search-index, --control")
	}
	if o.Database && o.Datasets {
		return usageErrorf("%v", reset.ErrDatabaseAndDatasets)
	}
	if len(o.KeepUsers) > 0 && !o.ZombieUsers {
		return usageErrorf("--keep-user protects users from --zombie-users: add --zombie-users")
	}
	if o.check && o.yes {
		return usageErrorf("--check changes nothing and -y changes without asking: give one")
	}
	env, err := a.resetEnv(ctx, o)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	stopProgress := a.showProgress("looking at the site…")
	plan, sum, res, err := reset.Build(ctx, env, o.Options)
	stopProgress()
	if err != nil {
		if ctx.Err() != nil {
			return a.stopped(nil)
		}
		return &exitError{code: 1, msg: err.Error()}
	}
	doc := &resetJSON{Plan: sum}
	check := o.check
	if !o.check && !o.yes && (!a.interactive() || a.json) {
		check = true
		if !a.json {
			fmt.Fprintln(a.stderr, "dcor: no terminal to ask at: showing the plan only (use -y to reset)")
		}
	}
	changes := plan.Changes(false)
	if !a.json {
		for _, n := range sum.Notes {
			fmt.Fprintf(a.stdout, "nothing to do: %s\n", n)
		}
	}
	if !check && !o.yes && len(changes) > 0 {
		planText := a.resetPlanText(changes, sum)
		fmt.Fprint(a.stderr, planText)
		dec := change.NewDecider(a.prompt(a.stderr))
		ok, err := dec.Decide(ctx, fmt.Sprintf("reset: carry out these %d steps?", len(changes)), func() string { return planText })
		switch {
		case ctx.Err() != nil:
			return a.stopped(nil)
		case err != nil && !errors.Is(err, change.ErrQuit):
			return &exitError{code: 1, msg: err.Error()}
		case !ok:
			doc.Asked = "no"
			if a.json {
				doc.Report = &planReport{Changes: changes, Check: true}
				a.emit(doc)
			}
			return &exitError{code: 1, msg: "nothing was changed"}
		}
		doc.Asked = "yes"
	}
	doc.Check = check
	rep, err := a.carryOut(ctx, plan, planOptions{check: check, stopOnError: true})
	doc.Report = rep
	var failed *exitError
	if errors.As(err, &failed) && failed.code == 1 && !check && rep != nil && len(rep.Changes) > 0 {
		// The backup is the plan's first step: when it failed, nothing
		// else ran. Say so on stderr, for cron and scripts too.
		if c := rep.Changes[0]; c.Check == "backup" && !c.Applied && c.Error != "" && !strings.HasPrefix(c.Error, "not done") {
			why, _, _ := strings.Cut(strings.TrimSpace(c.Error), "\n")
			err = &exitError{code: 1, msg: "the database backup failed, so nothing was reset: " + why + "; fix the backup and run dcor reset again"}
		}
	}
	if !check {
		if res.Backup != "" {
			res.Backup = a.host().HostPath(res.Backup)
		}
		doc.Result = res
		if res.DatasetsPurged != nil || res.DatabaseRevision != "" {
			doc.Next = append(doc.Next, "dcor inspect --only orphans")
		}
	}
	if a.json {
		if perr := a.emit(doc); perr != nil && err == nil {
			return perr
		}
		return err
	}
	if check {
		if len(changes) == 0 {
			fmt.Fprintln(a.stdout, "nothing to reset")
		}
		return err
	}
	if res.Backup != "" {
		fmt.Fprintf(a.stdout, "backup: %s\n", res.Backup)
	}
	if len(changes) == 0 {
		fmt.Fprintln(a.stdout, "nothing to reset")
	}
	if len(doc.Next) > 0 {
		fmt.Fprintln(a.stdout, "the uploaded resource files stay on disk: remove them with `dcor inspect --only orphans`")
	}
	return err
}

// showProgress shows msg on the progress line until the returned
// function is called.
func (a *app) showProgress(msg string) func() {
	p := a.progress()
	if p == nil {
		return func() {}
	}
	p(msg)
	return func() { p("") }
}

// resetPlanText is the plan for the question (and its d key).
func (a *app) resetPlanText(changes []*change.Change, sum *reset.Summary) string {
	var b strings.Builder
	b.WriteString("dcor reset will:\n")
	for i, c := range changes {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, c)
	}
	b.WriteString("  then reload supervisor (when supervisord runs)\n")
	for _, n := range sum.Notes {
		fmt.Fprintf(&b, "  nothing to do: %s\n", n)
	}
	return b.String()
}

// resetEnv reads ckan.ini, the site file and the backup keys.
func (a *app) resetEnv(ctx context.Context, o resetOptions) (reset.Env, error) {
	h := a.host()
	iniPath := a.ckanIniPath()
	ini, err := ckanini.Load(h.Path(iniPath))
	if err != nil {
		return reset.Env{}, fmt.Errorf("read ckan.ini %s: %v (set --ckan-ini or $CKAN_INI)", iniPath, err)
	}
	get := func(k string) string { v, _ := ini.Get(k); return strings.TrimSpace(v) }
	version := ckanVersion(h.Path(o.venv))
	env := reset.Env{Host: h, Now: time.Now(), CKAN: h.Path(filepath.Join(o.venv, "bin", "ckan")), CKANIni: h.Path(iniPath),
		CKANVersion: version, ControlDirs: []string{reset.LegacyControlDir}}
	if o.ChangesDatabase() {
		if env.DatabaseURL, err = ckandb.IniURL(ini.Get, iniPath); err != nil {
			return env, err
		}
	}
	env.Solr = reset.Solr{URL: get("solr_url"), User: get("solr_user"), Password: get("solr_password"),
		SiteID: siteID(get("ckan.site_id"), get("ckan.site_url"), version)}
	env.Webassets = get("ckan.webassets.path")
	if env.Webassets == "" {
		if sp := get("ckan.storage_path"); sp != "" {
			env.Webassets = path.Join(sp, "webassets")
		} else {
			env.Webassets = host.DefaultWebassets
		}
	}
	if o.ChangesDatabase() {
		if env.Backup, err = a.resetBackup(ctx, o, env.DatabaseURL); err != nil {
			return env, err
		}
	}
	return env, nil
}

// siteID is ckan.site_id as CKAN sees it: when unset, 2.10+ declares
// "default"; 2.9 took the host of ckan.site_url.
func siteID(id, siteURL, version string) string {
	if id != "" {
		return id
	}
	if strings.HasPrefix(version, "2.9.") {
		if u, err := url.Parse(siteURL); err == nil && u.Host != "" {
			return u.Host
		}
	}
	return "default"
}

// resetBackup is the backup step: encrypted to every public key in the
// backup key directory, else a plain custom dump the 2021 way.
func (a *app) resetBackup(ctx context.Context, o resetOptions, dbURL string) (*reset.Backup, error) {
	s, err := a.backupSite()
	if err != nil {
		return nil, err
	}
	h := a.host()
	keyDir := s.BackupKeyDir()
	files, _ := filepath.Glob(filepath.Join(h.Path(keyDir), "*.asc"))
	sort.Strings(files)
	bo := backup.Options{DatabaseURL: dbURL, AsPostgres: o.asPostgres, Hostname: s.HostnameOrDefault(), PgDump: o.pgDump}
	if len(files) == 0 {
		bo.OutDir = h.Path(o.backupDir)
		return &reset.Backup{
			Description: fmt.Sprintf("back the CKAN database up: a plain custom dump %s/YYYY-MM/ckan_db_%s_<date>.dump (no backup key in %s)",
				strings.TrimRight(o.backupDir, "/"), s.HostnameOrDefault(), keyDir),
			Run: func(ctx context.Context) (string, error) {
				r, err := backup.Plain(ctx, bo)
				if err != nil {
					return "", err
				}
				return r.File, nil
			}}, nil
	}
	rs, err := backup.LoadRecipients(ctx, backup.KeySources{Files: files, Dir: h.Path(keyDir),
		Warn: func(msg string) { fmt.Fprintf(a.stderr, "%s %s\n", a.paint("33", "warning:"), msg) }})
	if err != nil {
		return nil, fmt.Errorf("backup keys in %s: %w; nothing was changed", keyDir, err)
	}
	bo.Recipients, bo.OutDir = rs, h.Path(o.outDir)
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.KeyID
	}
	return &reset.Backup{
		Description: fmt.Sprintf("back the CKAN database up, encrypted to %s, into %s/YYYY-MM/", strings.Join(ids, ", "), strings.TrimRight(o.outDir, "/")),
		Run: func(ctx context.Context) (string, error) {
			r, err := backup.Run(ctx, bo)
			if err != nil {
				return "", err
			}
			return r.File, nil
		}}, nil
}
