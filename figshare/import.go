package figshare

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
)

// Env is what an import needs: the two services, the host and its paths.
type Env struct {
	Figshare *Client
	CKAN     *CKAN
	// Host maps host paths to paths on this machine.
	Host host.Host
	// Depots is depots_path and Storage ckan.storage_path, host paths.
	Depots, Storage string
	// Chown gives a directory (a path on this machine) to www-data; nil
	// leaves owners alone.
	Chown func(local string) error
	// Objects, when set, is the site's object storage: files go to S3 as
	// DCOR 1.x has them (s3.go), Storage and Chown are not used.
	Objects *Objects
}

// Report is what an import planned and, after the apply, did.
type Report struct {
	Organization string           `json:"organization"`
	Articles     []*ArticleReport `json:"articles"`

	mu sync.Mutex
}

// ArticleReport is the outcome for one DOI.
type ArticleReport struct {
	DOI  string `json:"doi"`
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
	// State is "in place" (nothing to do), "planned", "imported",
	// "skipped" (license) or "failed".
	State string        `json:"state"`
	Error string        `json:"error,omitempty"`
	Files []*FileReport `json:"files,omitempty"`

	failedStep  string
	steps, done int
}

// FileReport is the outcome for one file of an article.
type FileReport struct {
	Name       string `json:"name"`
	ResourceID string `json:"resource_id,omitempty"`
	Size       int64  `json:"size"`
	// Depot is the depot file's host path.
	Depot string `json:"depot,omitempty"`
	// Object is the file's object (s3://bucket/key) on a site with
	// object storage.
	Object string `json:"object,omitempty"`
	// Status is "in place", "planned: …" (the steps), "imported",
	// "link only" (skipped), "md5 changed" (reported, not replaced) or
	// "failed".
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
	// Downloaded bytes and the seconds they took in this run.
	Downloaded int64   `json:"downloaded,omitempty"`
	Seconds    float64 `json:"seconds,omitempty"`
}

// DownloadBytes is the number of bytes the plan downloads.
func (r *Report) DownloadBytes() int64 {
	var n int64
	for _, a := range r.Articles {
		for _, f := range a.Files {
			if strings.Contains(f.Status, "download") {
				n += f.Size
			}
		}
	}
	return n
}

// Failed reports whether an article failed.
func (r *Report) Failed() bool {
	for _, a := range r.Articles {
		if a.State == "failed" {
			return true
		}
	}
	return false
}

// Format is the resource format of a file: RT-DC for .rtdc (dcor_schemas
// registers it with Python's mimetypes), else its MIME type, else "".
func Format(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if ext == ".rtdc" {
		return "RT-DC"
	}
	if ext == "" {
		return ""
	}
	t := mime.TypeByExtension(ext)
	t, _, _ = strings.Cut(t, ";")
	return t
}

// Plan reads figshare and CKAN and plans on p what importing dois takes.
// Nothing is written. Problems of one article (figshare unreachable, a
// license other than CC0, a dataset with a foreign id) are recorded in
// its report and the other articles are still planned; an error is
// returned only when CKAN cannot be read at all.
//
// The steps of one article depend on each other: after a failed step the
// article's later steps are not done, and the other articles go on.
func Plan(ctx context.Context, env *Env, dois []string, p *change.Plan) (*Report, error) {
	rep := &Report{Organization: Organization}
	org := &ArticleReport{}
	err := env.CKAN.Action(ctx, "organization_show", map[string]any{"id": Organization}, nil)
	switch {
	case errors.Is(err, ErrNotFound):
		p.Do("import-figshare", change.Action{
			Description: fmt.Sprintf("create the circle %s (%q)", Organization, OrganizationTitle),
			Run: func(ctx context.Context) error {
				err := env.CKAN.Action(ctx, "organization_create", map[string]any{
					"name": Organization, "title": OrganizationTitle, "description": OrganizationDescription}, nil)
				if err != nil {
					org.failedStep = "create the circle " + Organization
				}
				return err
			}})
	case err != nil:
		return nil, err
	}
	for _, doi := range dois {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		a := &ArticleReport{DOI: doi}
		rep.Articles = append(rep.Articles, a)
		if err := planArticle(ctx, env, doi, a, org, p); err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			a.State, a.Error = "failed", err.Error()
			if errors.Is(err, ErrLicense) {
				a.State = "skipped"
			}
		}
	}
	return rep, nil
}

func planArticle(ctx context.Context, env *Env, doi string, a, org *ArticleReport, p *change.Plan) error {
	article, version, err := ParseDOI(doi)
	if err != nil {
		return err
	}
	fa, err := env.Figshare.Article(ctx, article, version)
	if err != nil {
		return err
	}
	ds, err := Map(doi, fa)
	if err != nil {
		return err
	}
	a.Name, a.ID = ds.Name, ds.ID
	pkg, err := env.CKAN.PackageShow(ctx, ds.Name)
	if errors.Is(err, ErrNotFound) {
		pkg, err = nil, nil
	}
	if err != nil {
		return err
	}
	if pkg != nil && pkg.ID != ds.ID {
		return fmt.Errorf("dataset %s exists with id %s, not %s as DCOR derives it from %s: not touched", ds.Name, pkg.ID, ds.ID, doi)
	}
	ap := newArticlePlan(env, ds, pkg, a, org, p)
	if env.Objects != nil {
		return planArticleS3(ctx, ap, fa)
	}
	dir := DepotDir(env.Depots, ds.Name)
	for _, f := range fa.Files {
		fr := ap.file(f, dir)
		if fr == nil {
			continue
		}
		exists, changed := ap.resource(fr, f)
		if changed {
			continue
		}
		rid := fr.ResourceID
		rpath := ResourcePath(env.Storage, rid)
		linked := linkedTo(env.Host.PathNoFollow(rpath), fr.Depot)
		df := ap.depotFile(fr, f)
		haveFile := df.present()
		if exists && linked && haveFile {
			fr.Status = "in place"
			continue
		}
		var planned []string
		if !haveFile {
			planned = append(planned, "download")
			ap.download(df, dir)
		}
		if !exists {
			planned = append(planned, "create resource")
			ap.do(fmt.Sprintf("create resource %s (%s) in %s", f.Name, rid, ds.Name), func(ctx context.Context) error {
				h, err := df.sums()
				if err != nil {
					return err
				}
				return env.CKAN.ResourceCreate(ctx, NewResource{ID: rid, PackageID: ds.ID, Name: f.Name,
					SHA256: h.SHA256, Size: h.Size, Format: Format(f.Name)})
			})
		}
		if !linked || !exists {
			planned = append(planned, "link")
			desc := fmt.Sprintf("link %s → %s", rpath, fr.Depot)
			if exists {
				desc = "repair: " + desc + " (the resource exists, its file is not the depot file)"
			}
			ap.do(desc, func(ctx context.Context) error {
				if exists { // a repair: the depot file must be the right one
					if _, err := df.sums(); err != nil {
						return err
					}
				}
				return link(env, rpath, fr.Depot)
			})
		}
		fr.Status = "planned: " + strings.Join(planned, ", ")
	}
	ap.finish()
	return nil
}

// articlePlan plans the steps of one article; both ways use it, the
// local storage's (planArticle: a depot file and a symlink per file)
// and the object storage's (planArticleS3).
type articlePlan struct {
	env    *Env
	ds     Dataset
	pkg    *Package // the dataset in CKAN, nil while there is none
	a, org *ArticleReport
	p      *change.Plan
	// the dataset's resources in CKAN by id and by name
	byID, byName map[string]Resource
}

// newArticlePlan starts the plan of the article a: the creation of its
// dataset as a draft when CKAN does not have it.
func newArticlePlan(env *Env, ds Dataset, pkg *Package, a, org *ArticleReport, p *change.Plan) *articlePlan {
	ap := &articlePlan{env: env, ds: ds, pkg: pkg, a: a, org: org, p: p,
		byID: map[string]Resource{}, byName: map[string]Resource{}}
	if pkg == nil {
		ap.do(fmt.Sprintf("create dataset %s (%s) as draft in %s", ds.Name, ds.ID, Organization), func(ctx context.Context) error {
			return env.CKAN.Action(ctx, "package_create", ds, nil)
		})
	} else {
		for _, r := range pkg.Resources {
			ap.byID[r.ID], ap.byName[r.Name] = r, r
		}
	}
	return ap
}

// do plans a step of the article. The step is not done after the
// circle's creation or an earlier step of the article failed; when it
// fails, the article is failed and its later steps are not done.
func (ap *articlePlan) do(desc string, run func(ctx context.Context) error) {
	a, org := ap.a, ap.org
	a.steps++
	ap.p.Do("import-figshare "+ap.ds.Name, change.Action{Description: desc, Run: func(ctx context.Context) error {
		if org.failedStep != "" {
			return fmt.Errorf("not done: %q failed before it", org.failedStep)
		}
		if a.failedStep != "" {
			return fmt.Errorf("not done: %q failed before it", a.failedStep)
		}
		if err := run(ctx); err != nil {
			a.failedStep, a.State, a.Error = desc, "failed", err.Error()
			return err
		}
		a.done++
		return nil
	}})
}

// file adds the report of f, whose depot file is in dir (a host path),
// and returns it with its resource id and depot file set; it returns nil
// when nothing is planned for f: a link-only file, or a name that is not
// a file name (the article fails).
func (ap *articlePlan) file(f FileEntry, dir string) *FileReport {
	fr := &FileReport{Name: f.Name, Size: f.Size}
	ap.a.Files = append(ap.a.Files, fr)
	if f.IsLinkOnly {
		fr.Status = "link only"
		return nil
	}
	if f.Name == "" || strings.ContainsAny(f.Name, "/\x00") || f.Name == "." || f.Name == ".." {
		fr.Status, fr.Note = "failed", fmt.Sprintf("figshare names a file %q, which is not a file name", f.Name)
		ap.a.State, ap.a.Error = "failed", fr.Note
		return nil
	}
	fr.ResourceID, fr.Depot = MakeID(ap.ds.ID, f.SuppliedMD5), dir+"/"+f.Name
	return fr
}

// resource reports whether the dataset has the resource of f, and
// whether it has another resource of f's name instead: then figshare's
// file changed since it was imported, which is reported, not replaced.
func (ap *articlePlan) resource(fr *FileReport, f FileEntry) (exists, changed bool) {
	old, byName := ap.byName[f.Name]
	_, exists = ap.byID[fr.ResourceID]
	if !exists && byName {
		fr.Status = "md5 changed"
		fr.Note = fmt.Sprintf("figshare's md5 of %s is now %s, but resource %s holds the file imported before: not replaced (delete the resource to import the new file)", f.Name, f.SuppliedMD5, old.ID)
		return false, true
	}
	return exists, false
}

// finish plans setting the dataset active unless it is, and sets the
// article's state: "in place" when nothing is to be done. An article
// that failed while planned (a file that cannot be imported) is not set
// active: its dataset would lack that file.
func (ap *articlePlan) finish() {
	a, ds := ap.a, ap.ds
	if (ap.pkg == nil || ap.pkg.State != "active") && a.State != "failed" {
		ap.do(fmt.Sprintf("set dataset %s active", ds.Name), func(ctx context.Context) error {
			return ap.env.CKAN.Action(ctx, "package_patch", map[string]any{"id": ds.ID, "state": "active"}, nil)
		})
	}
	switch {
	case a.State == "failed":
	case a.steps == 0:
		a.State = "in place"
	default:
		a.State = "planned"
	}
}

// depotFile is a file of an article in the depot (or the download
// cache) and its sums: those of the download, else read once.
type depotFile struct {
	f     FileEntry
	fr    *FileReport // fr.Depot is the file's host path
	local string      // its path on this machine

	mu     sync.Mutex
	hashes *Hashes
}

func (ap *articlePlan) depotFile(fr *FileReport, f FileEntry) *depotFile {
	return &depotFile{f: f, fr: fr, local: ap.env.Host.Path(fr.Depot)}
}

// present reports whether the file is there with figshare's size.
func (d *depotFile) present() bool {
	st, err := os.Stat(d.local)
	return err == nil && st.Mode().IsRegular() && st.Size() == d.f.Size
}

// download plans downloading the file from figshare into dir (a host
// path); a partial file is resumed.
func (ap *articlePlan) download(d *depotFile, dir string) {
	f, fr, env := d.f, d.fr, ap.env
	ap.do(fmt.Sprintf("download %s (%s) from figshare to %s", f.Name, sizeText(f.Size), fr.Depot), func(ctx context.Context) error {
		if err := os.MkdirAll(env.Host.Path(dir), 0o755); err != nil {
			return err
		}
		start := time.Now()
		h, err := env.Figshare.Download(ctx, f, d.local)
		fr.Seconds = time.Since(start).Seconds()
		fr.Downloaded = h.Size
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.hashes = &h
		d.mu.Unlock()
		return nil
	})
}

// sums returns the file's sums: from the download, else read once and
// checked against figshare's md5.
func (d *depotFile) sums() (Hashes, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hashes == nil {
		h, err := HashFile(d.local)
		if err != nil {
			return Hashes{}, err
		}
		if d.f.SuppliedMD5 != "" && !strings.EqualFold(h.MD5, d.f.SuppliedMD5) {
			return Hashes{}, fmt.Errorf("%s: md5 %s, figshare says %s: move the file away and run again to download it anew", d.fr.Depot, h.MD5, d.f.SuppliedMD5)
		}
		d.hashes = &h
	}
	return *d.hashes, nil
}

// linkedTo reports whether local is a symlink to target.
func linkedTo(local, target string) bool {
	t, err := os.Readlink(local)
	return err == nil && t == target
}

// link makes the resource's path in CKAN's storage a symlink to the depot
// file (an absolute host path), replacing the placeholder CKAN stored,
// atomically; its two parent directories go to www-data. Any other file
// there is not replaced.
func link(env *Env, rpath, depot string) error {
	local := env.Host.PathNoFollow(rpath)
	if linkedTo(local, depot) {
		return chownParents(env, local)
	}
	if st, err := os.Lstat(local); err == nil {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is a %s, not the import's placeholder: not replaced; remove it and run again", rpath, st.Mode().Type())
		}
		data, err := os.ReadFile(local)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, DummyBytes) {
			return fmt.Errorf("%s holds %d bytes that are not the import's placeholder: not replaced; remove it and run again", rpath, len(data))
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	tmp := local + ".dcor-link"
	os.Remove(tmp)
	if err := os.Symlink(depot, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, local); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := host.SyncDir(filepath.Dir(local)); err != nil {
		return err
	}
	return chownParents(env, local)
}

func chownParents(env *Env, local string) error {
	if env.Chown == nil {
		return nil
	}
	d := filepath.Dir(local)
	if err := env.Chown(d); err != nil {
		return err
	}
	return env.Chown(filepath.Dir(d))
}

// Finish marks the articles and files after the apply: an article whose
// planned steps were all carried out is "imported", one stopped by an
// interruption "not done".
func (r *Report) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.Articles {
		if a.State == "planned" {
			a.State = "imported"
			if a.done < a.steps {
				a.State = "not done"
			}
		}
		for _, f := range a.Files {
			if strings.HasPrefix(f.Status, "planned") {
				if a.State == "imported" {
					f.Status = "imported"
				} else {
					f.Status = "not done"
				}
			}
		}
	}
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
