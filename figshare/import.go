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
	if env.Objects != nil {
		return planArticleS3(ctx, env, ds, fa, pkg, a, org, p)
	}
	check := "import-figshare " + ds.Name
	do := func(desc string, run func(ctx context.Context) error) {
		p.Do(check, change.Action{Description: desc, Run: func(ctx context.Context) error {
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
	if pkg == nil {
		a.steps++
		do(fmt.Sprintf("create dataset %s (%s) as draft in %s", ds.Name, ds.ID, Organization), func(ctx context.Context) error {
			return env.CKAN.Action(ctx, "package_create", ds, nil)
		})
	}
	byID, byName := map[string]Resource{}, map[string]Resource{}
	if pkg != nil {
		for _, r := range pkg.Resources {
			byID[r.ID], byName[r.Name] = r, r
		}
	}
	dir := DepotDir(env.Depots, ds.Name)
	for _, f := range fa.Files {
		fr := &FileReport{Name: f.Name, Size: f.Size}
		a.Files = append(a.Files, fr)
		if f.IsLinkOnly {
			fr.Status = "link only"
			continue
		}
		if f.Name == "" || strings.ContainsAny(f.Name, "/\x00") || f.Name == "." || f.Name == ".." {
			fr.Status, fr.Note = "failed", fmt.Sprintf("figshare names a file %q, which is not a file name", f.Name)
			a.State, a.Error = "failed", fr.Note
			continue
		}
		rid := MakeID(ds.ID, f.SuppliedMD5)
		fr.ResourceID, fr.Depot = rid, dir+"/"+f.Name
		old, byNameOK := byName[f.Name]
		_, exists := byID[rid]
		if !exists && byNameOK {
			fr.Status = "md5 changed"
			fr.Note = fmt.Sprintf("figshare's md5 of %s is now %s, but resource %s holds the file imported before: not replaced (delete the resource to import the new file)", f.Name, f.SuppliedMD5, old.ID)
			continue
		}
		depotLocal := env.Host.Path(fr.Depot)
		rpath := ResourcePath(env.Storage, rid)
		linked := linkedTo(env.Host.PathNoFollow(rpath), fr.Depot)
		st, serr := os.Stat(depotLocal)
		haveFile := serr == nil && st.Mode().IsRegular() && st.Size() == f.Size
		if exists && linked && haveFile {
			fr.Status = "in place"
			continue
		}
		var planned []string
		var hashes *Hashes
		var mu sync.Mutex
		f := f
		if !haveFile {
			planned = append(planned, "download")
			a.steps++
			do(fmt.Sprintf("download %s (%s) from figshare to %s", f.Name, sizeText(f.Size), fr.Depot), func(ctx context.Context) error {
				if err := os.MkdirAll(env.Host.Path(dir), 0o755); err != nil {
					return err
				}
				start := time.Now()
				local := env.Host.Path(fr.Depot)
				h, err := env.Figshare.Download(ctx, f, local)
				fr.Seconds = time.Since(start).Seconds()
				fr.Downloaded = h.Size
				if err != nil {
					return err
				}
				mu.Lock()
				hashes = &h
				mu.Unlock()
				return nil
			})
		}
		// the depot file's sums: from the download, else read once
		sums := func() (Hashes, error) {
			mu.Lock()
			defer mu.Unlock()
			if hashes == nil {
				h, err := HashFile(env.Host.Path(fr.Depot))
				if err != nil {
					return Hashes{}, err
				}
				if f.SuppliedMD5 != "" && !strings.EqualFold(h.MD5, f.SuppliedMD5) {
					return Hashes{}, fmt.Errorf("%s: md5 %s, figshare says %s: move the file away and run again to download it anew", fr.Depot, h.MD5, f.SuppliedMD5)
				}
				hashes = &h
			}
			return *hashes, nil
		}
		if !exists {
			planned = append(planned, "create resource")
			a.steps++
			do(fmt.Sprintf("create resource %s (%s) in %s", f.Name, rid, ds.Name), func(ctx context.Context) error {
				h, err := sums()
				if err != nil {
					return err
				}
				return env.CKAN.ResourceCreate(ctx, NewResource{ID: rid, PackageID: ds.ID, Name: f.Name,
					SHA256: h.SHA256, Size: h.Size, Format: Format(f.Name)})
			})
		}
		if !linked || !exists {
			planned = append(planned, "link")
			a.steps++
			desc := fmt.Sprintf("link %s → %s", rpath, fr.Depot)
			if exists {
				desc = "repair: " + desc + " (the resource exists, its file is not the depot file)"
			}
			do(desc, func(ctx context.Context) error {
				if exists { // a repair: the depot file must be the right one
					if _, err := sums(); err != nil {
						return err
					}
				}
				return link(env, rpath, fr.Depot)
			})
		}
		fr.Status = "planned: " + strings.Join(planned, ", ")
	}
	if pkg == nil || pkg.State != "active" {
		a.steps++
		do(fmt.Sprintf("set dataset %s active", ds.Name), func(ctx context.Context) error {
			return env.CKAN.Action(ctx, "package_patch", map[string]any{"id": ds.ID, "state": "active"}, nil)
		})
	}
	switch {
	case a.State == "failed":
	case a.steps == 0:
		a.State = "in place"
	default:
		a.State = "planned"
	}
	return nil
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
