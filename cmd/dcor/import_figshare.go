package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/DCOR-dev/dcor/accesstoken"
	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/figshare"
	"github.com/DCOR-dev/dcor/host"
)

// importFigshareOptions are the flags of `dcor import-figshare`.
type importFigshareOptions struct {
	limit                        int
	dois                         []string
	figshareURL, ckanURL, apiKey string
	check                        bool
	venv                         string
	forceSymlinks                bool
}

func (a *app) importFigshareCommand() *cobra.Command {
	var o importFigshareOptions
	cmd := &cobra.Command{
		Use:   "import-figshare",
		Short: "Import DCOR's reference data from figshare into the circle \"Figshare mirror\"",
		Long: `import-figshare does what ckan import-figshare did: it imports public figshare
articles (by default DCOR's four reference articles, in their order) into the
circle figshare-import ("Figshare mirror"), through CKAN's action API.

Each article becomes a dataset figshare-<article>-v<version> whose id is the
md5 of DOI + name as a UUID (as DCOR makes it), created as a draft and set
active at the end; title, authors, DOI, references, license (CC0 → CC0-1.0)
and description come from figshare. Articles under another license are
skipped with a message; the others are still imported.

Each file (link-only files are skipped) is downloaded into
<depots_path>/figshare/figshare-<article>-v<version>/<name>: resumed with
HTTP Range after a dropped connection or a killed run, retried with backoff,
checked against figshare's md5 and size, its sha256 computed while it
streams. It becomes a resource (id = md5 of dataset id + md5, as a UUID) and
its path in CKAN's storage a symlink to the depot file, its two parent
directories owned by www-data. A resource that a killed run created but did
not link is linked by the next run. CKAN 2.9.9 and later refuse resource
files that are symlinks ("Invalid storage path"): on such a CKAN (its
version read from --venv) a run without object storage refuses before it
changes anything, --check warns, and --force-symlinks links anyway (for a
CKAN patched to serve them).

On a site whose ckan.ini sets dcor_object_store.* (DCOR 1.x keeps every
resource on S3), as DCOR's dcor-import-figshare does: each file (downloaded
as above, into ckanext.dcor_depot.tmp_dir when set) goes to its circle's
bucket (bucket_name with the circle's id) under
resource/<id[:3]>/<id[3:6]>/<id[6:]>, with its md5 and sha256, every request
checked by the server against its md5, and tagged public=true; then the
resource (id, name, s3_available) is appended with package_revise. An
object that is there with figshare's size and md5 is not uploaded again;
one that differs is reported, never replaced.

A second run finds everything in place and changes nothing. A file whose md5
on figshare changed is reported, never replaced. One failing article does
not stop the others: its later steps are left out and the exit code is 1.

CKAN is called at --ckan-url (default ckan.site_url of ckan.ini) as the site
user (ckan.site_id), with an API token dcor makes for this run and deletes at
its end, or with the token in --api-key-file. --check lists what a run would
do and changes nothing (exit 1 when there is something to do).
Ctrl-C stops at the next step: exit 130, a partial download is resumed by
the next run.`,
		Example: `  dcor import-figshare --check
  dcor import-figshare
  dcor import-figshare --limit 1 --json
  dcor import-figshare --doi 10.6084/m9.figshare.7771184.v2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runImportFigshare(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.limit, "limit", 0, "import only the first `N` articles (0: all)")
	f.StringArrayVar(&o.dois, "doi", nil, "import the article with this `DOI` instead of the reference articles (repeatable)")
	f.StringVar(&o.figshareURL, "figshare-url", figshare.DefaultAPI, "figshare's API `URL`")
	f.StringVar(&o.ckanURL, "ckan-url", "", "CKAN's `URL` (default: ckan.site_url of ckan.ini)")
	f.StringVar(&o.apiKey, "api-key-file", "", "call CKAN with the sysadmin API token in the first line of `FILE` instead of making one")
	f.BoolVar(&o.check, "check", false, "show what would be imported; change nothing")
	f.StringVar(&o.venv, "venv", host.DefaultVenv, "CKAN virtualenv `PATH` (its CKAN version decides the token secret's fallbacks)")
	f.BoolVar(&o.forceSymlinks, "force-symlinks", false, "link resource files to the depot even though the installed CKAN (2.9.9 or newer) refuses symlinked files")
	return cmd
}

// importFigshareJSON is what `dcor import-figshare --json` prints.
type importFigshareJSON struct {
	Check    bool                      `json:"check"`
	Articles []*figshare.ArticleReport `json:"articles"`
	// Downloaded bytes and the seconds the downloads took.
	Downloaded int64       `json:"downloaded"`
	Seconds    float64     `json:"download_seconds"`
	Report     *planReport `json:"report"`
}

// runImportFigshare is `dcor import-figshare`.
func (a *app) runImportFigshare(ctx context.Context, o importFigshareOptions) error {
	if o.limit < 0 {
		return usageErrorf("--limit needs a number of articles, 0 (all) or more")
	}
	dois := figshare.DefaultDOIs
	if len(o.dois) > 0 {
		dois = o.dois
	}
	for _, d := range dois {
		if _, _, err := figshare.ParseDOI(d); err != nil {
			return usageErrorf("--doi: %v", err)
		}
	}
	if o.limit > 0 && o.limit < len(dois) {
		dois = dois[:o.limit]
	}
	h := a.host()
	iniPath := a.ckanIniPath()
	ini, err := ckanini.Load(h.Path(iniPath))
	if err != nil {
		return fmt.Errorf("read ckan.ini %s: %v (set --ckan-ini or $CKAN_INI)", iniPath, err)
	}
	get := func(k string) string { v, _ := ini.Get(k); return strings.TrimSpace(v) }
	env := &figshare.Env{Host: h, Storage: get("ckan.storage_path"), Depots: get("ckanext.dcor_depot.depots_path")}
	if env.Depots == "" {
		env.Depots = host.DefaultDepots
	}
	if env.Objects, err = figshareObjects(ini, iniPath, env.Depots); err != nil {
		return err
	}
	if env.Storage == "" && env.Objects == nil {
		return fmt.Errorf("%s sets no ckan.storage_path: resources stored on the local disk need it", iniPath)
	}
	if env.Objects == nil {
		// the symlink way: CKAN 2.9.9 and later refuse symlinked files
		if err := a.checkSymlinkCKAN(o.venv, o.check, o.forceSymlinks); err != nil {
			return err
		}
	}
	ckanURL := o.ckanURL
	if ckanURL == "" {
		if ckanURL = get("ckan.site_url"); ckanURL == "" {
			return fmt.Errorf("%s sets no ckan.site_url: give --ckan-url", iniPath)
		}
	}
	client, err := a.ckanHTTPClient()
	if err != nil {
		return err
	}
	env.CKAN = &figshare.CKAN{URL: ckanURL, HTTP: client}
	var downloaded atomic.Int64
	env.Figshare = &figshare.Client{API: o.figshareURL, Progress: func(n int64) { downloaded.Add(n) }}
	if h.Live() && os.Geteuid() == 0 {
		if env.Chown, err = chownTo("www-data"); err != nil {
			return err
		}
	}

	// the API token: given, or made for the site user for this run
	if o.apiKey != "" {
		data, err := os.ReadFile(o.apiKey)
		if err != nil {
			return fmt.Errorf("--api-key-file: %w", err)
		}
		env.CKAN.Token, _, _ = strings.Cut(strings.TrimSpace(string(data)), "\n")
		if env.CKAN.Token = strings.TrimSpace(env.CKAN.Token); env.CKAN.Token == "" {
			return fmt.Errorf("--api-key-file %s holds no token", o.apiKey)
		}
	} else {
		revoke, err := a.siteUserToken(ctx, h, ini, iniPath, o.venv, env.CKAN)
		if err != nil {
			return err
		}
		defer revoke()
	}
	a.logf("ckan: %s; figshare: %s; depots: %s; storage: %s", ckanURL, o.figshareURL, env.Depots, env.Storage)
	if env.Objects != nil {
		a.logf("object storage: %s, buckets %s, downloads in %s/figshare", env.Objects.Store.Endpoint(), env.Objects.BucketName, env.Objects.Cache)
	}

	plan := change.New(h, time.Now())
	rep, err := figshare.Plan(ctx, env, dois, plan)
	if err != nil {
		if code, _ := interruptedBy(ctx); code != 0 {
			return a.stopped(nil)
		}
		return err
	}
	// progress: the step and the downloaded bytes of the whole run
	total := rep.DownloadBytes()
	var step atomic.Value
	step.Store("")
	start := time.Now()
	var stopProgress func()
	if show := a.progress(); show != nil && !o.check {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					show("")
					return
				case <-t.C:
					n := downloaded.Load()
					rate := float64(n) / time.Since(start).Seconds()
					show(fmt.Sprintf("%s | %s of %s, %s/s", step.Load(), mib(n), mib(total), mib(int64(rate))))
				}
			}
		}()
		stopProgress = func() { close(done); wg.Wait() }
	}
	prep, err := a.carryOut(ctx, plan, planOptions{check: o.check, stopOnError: false,
		onStep: func(c *change.Change) { step.Store(trimStep(c.String())) }})
	if stopProgress != nil {
		stopProgress()
	}
	if !o.check {
		rep.Finish()
	}
	secs := 0.0
	for _, ar := range rep.Articles {
		for _, f := range ar.Files {
			secs += f.Seconds
		}
	}
	if a.json {
		doc := importFigshareJSON{Check: o.check, Articles: rep.Articles, Downloaded: downloaded.Load(), Seconds: secs, Report: prep}
		if perr := a.emit(doc); perr != nil && err == nil {
			return perr
		}
	} else {
		a.printImport(rep, o.check, downloaded.Load(), secs)
	}
	if err == nil && rep.Failed() {
		err = silentExit(1)
	}
	return err
}

// printImport prints one line per article and the notes of its files.
func (a *app) printImport(rep *figshare.Report, check bool, downloaded int64, secs float64) {
	for _, ar := range rep.Articles {
		name := ar.Name
		if name == "" {
			name = ar.DOI
		}
		state := ar.State
		if check && state == "planned" {
			state = "would be imported"
		}
		var n, imported int
		for _, f := range ar.Files {
			if f.Status != "link only" {
				n++
			}
			if f.Status == "imported" || f.Status == "in place" {
				imported++
			}
		}
		line := fmt.Sprintf("%s: %s", name, state)
		if n > 0 {
			line += fmt.Sprintf(" (%d/%d files in place)", imported, n)
		}
		if ar.Error != "" {
			line += ": " + ar.Error
		}
		fmt.Fprintln(a.stdout, line)
		for _, f := range ar.Files {
			if f.Note != "" {
				fmt.Fprintf(a.stdout, "  %s: %s\n", f.Name, f.Note)
			}
		}
	}
	if downloaded > 0 && secs > 0 {
		fmt.Fprintf(a.stdout, "downloaded %s in %.1f s (%s/s)\n", mib(downloaded), secs, mib(int64(float64(downloaded)/secs)))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// trimStep shortens a step for the progress line.
func trimStep(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// ckanHTTPClient trusts the system's CAs and the site's certificate (the
// site file's tls.cert), so that a site with its own certificate is
// reached over TLS.
func (a *app) ckanHTTPClient() (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	s, err := a.siteFile()
	if err != nil && !isNoSite(err) {
		return nil, err
	}
	if data, err := os.ReadFile(a.host().Path(s.CertPath())); err == nil {
		pool.AppendCertsFromPEM(data)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// siteUserToken makes an API token for the site user (ckan.site_id, a
// sysadmin CKAN creates) and returns the function that deletes it again.
func (a *app) siteUserToken(ctx context.Context, h host.Host, ini *ckanini.File, iniPath, venv string, c *figshare.CKAN) (func(), error) {
	get := func(k string) string { v, _ := ini.Get(k); return strings.TrimSpace(v) }
	version := ckanVersion(h.Path(venv))
	name := siteID(get("ckan.site_id"), get("ckan.site_url"), version)
	dbURL, err := ckandb.IniURL(ini.Get, iniPath)
	if err != nil {
		return nil, err
	}
	db, err := ckandb.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	u, err := db.User(ctx, name)
	if err == nil && (!u.Active() || !u.Sysadmin) {
		err = fmt.Errorf("the site user %s is not an active sysadmin in the CKAN database", name)
	}
	if err != nil {
		db.Close(context.WithoutCancel(ctx))
		if errors.Is(err, ckandb.ErrNoUser) {
			return nil, fmt.Errorf("%w: CKAN creates its site user on first use (start CKAN once), or pass a sysadmin's token with --api-key-file", err)
		}
		return nil, err
	}
	cfg := accesstoken.Config{Lookup: ini.Get, CKANVersion: version,
		ReadFile: func(p string) ([]byte, error) { return os.ReadFile(underRoot(h, p)) }}
	tok, id, err := accesstoken.MintAPIToken(ctx, cfg, db, u, "dcor-import-figshare-"+time.Now().UTC().Format("20060102T150405"))
	if err != nil {
		db.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	c.Token = tok
	a.logf("API token %s made for the site user %s", id, name)
	return func() {
		bg := context.WithoutCancel(ctx)
		if err := db.DeleteAPIToken(bg, id); err != nil {
			fmt.Fprintf(a.stderr, "dcor: warning: %v: revoke it with `dcor access-token revoke %s`\n", err, id)
		}
		db.Close(bg)
	}, nil
}

// chownTo returns the function that gives a directory to user (and its
// group).
func chownTo(name string) (func(string) error, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w (CKAN's storage belongs to it)", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return func(p string) error {
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("give %s to %s: %w", path.Clean(p), name, err)
		}
		return nil
	}, nil
}
