// Package reset plans `dcor reset`: what dcor_control's reset did
// (dcor-operations §2), on the change engine, with a plan that says
// exactly what would happen before anything does.
//
// Build looks at the host — the datasets and users in the CKAN database,
// the Solr documents of this ckan.site_id, the webassets tree — and
// plans, in this order: a database backup (whenever the database
// changes), the webassets cache, the database (ckan db clean, then
// db init or db upgrade, then the datasets' Solr documents) or the
// datasets (purged in one transaction, and their Solr documents), the
// zombie users, the search index, dcor's own state. Every step but the
// backup asks for a supervisor reload. Apply the plan with StopOnError:
// when the backup fails, nothing is reset.
package reset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/bytesize"
	"github.com/DCOR-dev/dcor/storage"
)

// ZombieWeeks is how long a user without datasets may have been inactive
// before it counts as a zombie (list-zombie-users' default).
const ZombieWeeks = 12

// LegacyControlDir is dcor_control's own state on a host it ran on as
// root (appdirs.user_config_dir("dcor_control")): email, pgsqlpass (the
// database password in clear), setup-identifier, dcor-site-config-dir.
const LegacyControlDir = "/root/.config/dcor_control"

// Options are the parts of a reset that were asked for.
type Options struct {
	// Cache removes the webassets (bundles and .webassets-cache).
	Cache bool
	// Database drops every table and has CKAN create its tables again.
	Database bool
	// Datasets purges every dataset in every state.
	Datasets bool
	// ZombieUsers deletes the zombie users (ckandb.ZombieQuery).
	ZombieUsers bool
	// SearchIndex deletes the Solr documents of this site.
	SearchIndex bool
	// Control removes dcor's own state (ControlDirs).
	Control bool
	// KeepUsers are user names that are never deleted as zombies.
	KeepUsers []string
}

// Any reports whether any part of a reset was asked for.
func (o Options) Any() bool {
	return o.Cache || o.Database || o.Datasets || o.ZombieUsers || o.SearchIndex || o.Control
}

// ChangesDatabase reports whether the reset changes the database (and so
// needs a backup first).
func (o Options) ChangesDatabase() bool { return o.Database || o.Datasets || o.ZombieUsers }

// ErrDatabaseAndDatasets: --database and --datasets are exclusive.
var ErrDatabaseAndDatasets = errors.New("--database and --datasets exclude each other: --database removes the datasets with everything else")

// Backup is the backup step the caller provides (package backup, with
// the site's keys or a plain dump).
type Backup struct {
	// Description says what it will write ("a plain custom dump …").
	Description string
	// Run makes the backup and returns the file written.
	Run func(ctx context.Context) (string, error)
}

// Env is the host a reset works on.
type Env struct {
	// Host is the host under --root.
	Host host.Host
	// Now is the time of the run (the zombie cut-off is 12 weeks before).
	Now time.Time
	// DatabaseURL is ckan.ini's sqlalchemy.url.
	DatabaseURL string
	// CKAN is the ckan program of the virtualenv (a path on this machine).
	CKAN string
	// CKANIni is ckan.ini as the ckan program gets it (-c).
	CKANIni string
	// CKANVersion is the installed CKAN's version ("2.11.4"; "" unknown).
	CKANVersion string
	// Solr is the search index.
	Solr Solr
	// Webassets is the host path of the webassets tree
	// (ckan.webassets.path, else <ckan.storage_path>/webassets).
	Webassets string
	// ControlDirs are the host paths of dcor's own state.
	ControlDirs []string
	// Backup makes the backup before the database changes.
	Backup *Backup
}

// Summary is what the plan found: what a reset would remove.
type Summary struct {
	// Datasets counts the datasets (with --database or --datasets).
	Datasets *ckandb.DatasetCounts `json:"datasets,omitempty"`
	// Users counts the users that are not deleted (with --database).
	Users *int `json:"users,omitempty"`
	// ZombieUsers are the users deleted as zombies (with --zombie-users).
	ZombieUsers []string `json:"zombie_users,omitempty"`
	// KeptUsers are the --keep-user names.
	KeptUsers []string `json:"kept_users,omitempty"`
	// SolrURL and SiteID name the search index.
	SolrURL string `json:"solr_url,omitempty"`
	SiteID  string `json:"site_id,omitempty"`
	// SolrDocuments counts the Solr documents of this site (with
	// --search-index); SolrDatasets those of its datasets (with --datasets
	// or --database).
	SolrDocuments *int64 `json:"solr_documents,omitempty"`
	SolrDatasets  *int64 `json:"solr_datasets,omitempty"`
	// Cache is the webassets tree (with --cache).
	Cache *storage.Tree `json:"cache,omitempty"`
	// Control lists dcor's own state that exists (with --control).
	Control []storage.Tree `json:"control,omitempty"`
	// Notes say what is not planned and why.
	Notes []string `json:"notes,omitempty"`
}

// Result is what the reset did, filled in as the steps run.
type Result struct {
	// Backup is the file of the backup.
	Backup string `json:"backup,omitempty"`
	// CacheRemoved is what was removed from the webassets tree.
	CacheRemoved *storage.Tree `json:"cache_removed,omitempty"`
	// DatabaseRevision is the migration revision after ckan db init/upgrade.
	DatabaseRevision string `json:"database_revision,omitempty"`
	// DatasetsPurged counts the datasets purged.
	DatasetsPurged *int64 `json:"datasets_purged,omitempty"`
	// UsersDeleted are the zombie users deleted.
	UsersDeleted []string `json:"users_deleted,omitempty"`
	// SolrDeleted counts the Solr documents deleted.
	SolrDeleted *int64 `json:"solr_deleted,omitempty"`
	// ControlRemoved lists the state directories removed.
	ControlRemoved []string `json:"control_removed,omitempty"`
}

// Build plans the reset o on env. Nothing is changed: the plan's steps
// do the work when applied.
func Build(ctx context.Context, env Env, o Options) (*change.Plan, *Summary, *Result, error) {
	if o.Database && o.Datasets {
		return nil, nil, nil, ErrDatabaseAndDatasets
	}
	if env.Now.IsZero() {
		env.Now = time.Now()
	}
	p := change.New(env.Host, env.Now)
	sum := &Summary{KeptUsers: o.KeepUsers}
	res := &Result{}
	b := &builder{env: env, o: o, plan: p, sum: sum, res: res}
	if err := b.look(ctx); err != nil {
		return nil, nil, nil, err
	}
	b.build()
	return p, sum, res, nil
}

// builder holds what Build found.
type builder struct {
	env  Env
	o    Options
	plan *change.Plan
	sum  *Summary
	res  *Result

	zombieQuery ckandb.ZombieQuery
}

// look reads the state the plan depends on.
func (b *builder) look(ctx context.Context) error {
	env, o, sum := b.env, b.o, b.sum
	b.zombieQuery = ckandb.ZombieQuery{Cutoff: env.Now.Add(-ZombieWeeks * 7 * 24 * time.Hour), Keep: o.KeepUsers}
	if o.ChangesDatabase() {
		if env.DatabaseURL == "" {
			return errors.New("ckan.ini sets no sqlalchemy.url: it names the CKAN database")
		}
		db, err := ckandb.Open(ctx, env.DatabaseURL)
		if err != nil {
			return err
		}
		defer db.Close(context.Background())
		if o.Database || o.Datasets {
			c, err := db.DatasetCounts(ctx)
			if err != nil {
				return err
			}
			sum.Datasets = &c
		}
		if o.Database {
			n, err := db.UserCount(ctx)
			if err != nil {
				return err
			}
			sum.Users = &n
		}
		if o.ZombieUsers && !o.Database {
			// The zombie users are deleted after the datasets are purged
			// (dcor_control's order, on purpose): their datasets do not
			// keep them then.
			q := b.zombieQuery
			q.IgnoreDatasets = o.Datasets
			if sum.ZombieUsers, err = db.ZombieUsers(ctx, q); err != nil {
				return err
			}
		}
	}
	if o.Database || o.Datasets || o.SearchIndex {
		if env.Solr.URL == "" {
			return errors.New("ckan.ini sets no solr_url: dcor needs it to clear this site's documents from the search index")
		}
		sum.SolrURL, sum.SiteID = env.Solr.URL, env.Solr.SiteID
		if o.Database || o.Datasets {
			n, err := env.Solr.Count(ctx, env.Solr.DatasetQuery())
			if err != nil {
				return fmt.Errorf("%w; nothing was changed", err)
			}
			sum.SolrDatasets = &n
		}
		if o.SearchIndex {
			n, err := env.Solr.Count(ctx, env.Solr.SiteQuery())
			if err != nil {
				return fmt.Errorf("%w; nothing was changed", err)
			}
			sum.SolrDocuments = &n
		}
	}
	if o.Cache {
		t, err := storage.ScanTree(env.Host, env.Webassets)
		if err != nil {
			return fmt.Errorf("webassets %w", err)
		}
		sum.Cache = &t
	}
	if o.Control {
		for _, d := range env.ControlDirs {
			t, err := storage.ScanTree(env.Host, d)
			if err != nil {
				return err
			}
			if t.Exists {
				sum.Control = append(sum.Control, t)
			}
		}
	}
	if o.ChangesDatabase() && env.Backup == nil {
		return errors.New("no way to back the database up: nothing was changed")
	}
	return nil
}

// build plans the steps, in dcor_control's order.
func (b *builder) build() {
	env, o, sum, res := b.env, b.o, b.sum, b.res
	reload := []change.Service{change.Supervisor}
	var steps []func()
	dbChanges := false

	if o.Cache {
		t := sum.Cache
		if t.Files+t.Dirs == 0 {
			sum.Notes = append(sum.Notes, "cache: nothing under "+t.Dir)
		} else {
			steps = append(steps, func() {
				b.plan.Do("cache", change.Action{Description: fmt.Sprintf("remove the webassets under %s: %s (%s)",
					t.Dir, treeCount(*t), strings.Join(t.Top, ", ")), Reload: reload,
					Run: func(ctx context.Context) error {
						removed, err := storage.RemoveTree(env.Host, env.Webassets, true)
						res.CacheRemoved = &removed
						return err
					}})
			})
		}
	}
	if o.Database {
		dbChanges = true
		steps = append(steps, func() {
			b.plan.Do("database", change.Action{Description: fmt.Sprintf(
				"drop every table of the CKAN database %s (%s, %d users) with `ckan db clean --yes`, then `ckan db %s`, "+
					"then delete the %d Solr documents of this site's datasets (site_id %q)",
				ckandb.MaskURL(env.DatabaseURL), sum.Datasets, *sum.Users, initCommand(env.CKANVersion),
				*sum.SolrDatasets, env.Solr.SiteID), Reload: reload,
				Run: func(ctx context.Context) error {
					rev, err := resetDatabase(ctx, env)
					res.DatabaseRevision = rev
					if err != nil {
						return err
					}
					// ckan db clean leaves the search index: without this,
					// package_search lists datasets the database no longer has
					n, err := clearIndex(ctx, env.Solr, env.Solr.DatasetQuery())
					res.SolrDeleted = &n
					if err != nil {
						return fmt.Errorf("the database was reset, but %w; run `dcor reset --search-index`", err)
					}
					return nil
				}})
		})
	}
	if o.Datasets {
		if sum.Datasets.Total == 0 && *sum.SolrDatasets == 0 {
			sum.Notes = append(sum.Notes, "datasets: none in the database or the search index")
		} else {
			dbChanges = true
			steps = append(steps, func() {
				b.plan.Do("datasets", change.Action{Description: fmt.Sprintf(
					"purge %s in one transaction, then delete the %d Solr documents of this site's datasets (site_id %q)",
					sum.Datasets, *sum.SolrDatasets, env.Solr.SiteID), Reload: reload,
					Run: func(ctx context.Context) error { return purgeDatasets(ctx, env, res) }})
			})
		}
	}
	if o.ZombieUsers {
		switch {
		case o.Database:
			sum.Notes = append(sum.Notes, "zombie users: none left after the database is reset (it has no users then)")
		case len(sum.ZombieUsers) == 0:
			sum.Notes = append(sum.Notes, "zombie users: none")
		default:
			dbChanges = true
			names := sum.ZombieUsers
			steps = append(steps, func() {
				b.plan.Do("zombie-users", change.Action{Description: fmt.Sprintf(
					"delete %d zombie users (state deleted, as `ckan user remove`): %s", len(names), strings.Join(names, ", ")),
					Reload: reload,
					Run: func(ctx context.Context) error {
						db, err := ckandb.Open(ctx, env.DatabaseURL)
						if err != nil {
							return err
						}
						defer db.Close(context.Background())
						res.UsersDeleted, err = db.RemoveUsers(ctx, names, b.zombieQuery)
						return err
					}})
			})
		}
	}
	if o.SearchIndex {
		if *sum.SolrDocuments == 0 {
			sum.Notes = append(sum.Notes, fmt.Sprintf("search index: no documents of site_id %q", env.Solr.SiteID))
		} else {
			steps = append(steps, func() {
				b.plan.Do("search-index", change.Action{Description: fmt.Sprintf(
					"delete the %d Solr documents of site_id %q from %s and commit", *sum.SolrDocuments, env.Solr.SiteID, env.Solr.URL),
					Reload: reload,
					Run: func(ctx context.Context) error {
						n, err := clearIndex(ctx, env.Solr, env.Solr.SiteQuery())
						if res.SolrDeleted != nil { // the datasets' documents, gone with --database
							n += *res.SolrDeleted
						}
						res.SolrDeleted = &n
						return err
					}})
			})
		}
	}
	if o.Control {
		if len(sum.Control) == 0 {
			sum.Notes = append(sum.Notes, "control: no state of dcor or dcor_control ("+strings.Join(env.ControlDirs, ", ")+")")
		}
		for _, t := range sum.Control {
			t := t
			steps = append(steps, func() {
				b.plan.Do("control", change.Action{Description: fmt.Sprintf("remove %s (%s)", t.Dir, treeCount(t)),
					Reload: reload,
					Run: func(ctx context.Context) error {
						if _, err := storage.RemoveTree(env.Host, t.Dir, false); err != nil {
							return err
						}
						res.ControlRemoved = append(res.ControlRemoved, t.Dir)
						return nil
					}})
			})
		}
	}
	if dbChanges {
		bk := env.Backup
		b.plan.Do("backup", change.Action{Description: bk.Description, Run: func(ctx context.Context) error {
			f, err := bk.Run(ctx)
			res.Backup = f
			return err
		}})
	}
	for _, s := range steps {
		s()
	}
}

func treeCount(t storage.Tree) string {
	s := fmt.Sprintf("%d files", t.Files)
	if t.Dirs > 0 {
		s += fmt.Sprintf(" in %d directories", t.Dirs)
	}
	return s + ", " + bytesize.Format(t.Bytes)
}

// purgeDatasets purges every dataset in one transaction, then deletes the
// Solr documents of this site's datasets (the commit hook of
// dataset_purge does that for each) and checks that none is left.
func purgeDatasets(ctx context.Context, env Env, res *Result) error {
	db, err := ckandb.Open(ctx, env.DatabaseURL)
	if err != nil {
		return err
	}
	n, err := db.PurgeAllDatasets(ctx)
	db.Close(context.Background())
	if err != nil {
		return err
	}
	res.DatasetsPurged = &n
	if _, err := clearIndex(ctx, env.Solr, env.Solr.DatasetQuery()); err != nil {
		return fmt.Errorf("purged %d datasets from the database, but %w; run `dcor reset --search-index` and `ckan search-index rebuild`", n, err)
	}
	return nil
}

// clearIndex deletes the documents that match query, commits, and checks
// that none is left. It returns how many there were.
func clearIndex(ctx context.Context, s Solr, query string) (int64, error) {
	before, err := s.Count(ctx, query)
	if err != nil {
		return 0, err
	}
	if err := s.Delete(ctx, query); err != nil {
		return 0, err
	}
	after, err := s.Count(ctx, query)
	if err != nil {
		return before, err
	}
	if after != 0 {
		return before - after, fmt.Errorf("%d Solr documents %s are still at %s after the delete and commit", after, query, s.URL)
	}
	return before, nil
}
