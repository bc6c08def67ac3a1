package inspect

import (
	"context"
	"path/filepath"
	"time"

	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/storage"
)

// settle is how long before the database was read a file must have been
// left unchanged to count as an orphan: CKAN writes an upload's file
// just before it commits the resource's row.
const settle = time.Minute

// dataPaths are the host paths of CKAN's storage, the depots and the
// users depot, from ckan.ini with DCOR's defaults (facts §1).
func (e *Env) dataPaths() (storagePath, depots, usersDepot string) {
	storagePath = e.iniValue("ckan.storage_path")
	if storagePath == "" {
		storagePath = "/data/ckan-" + e.Site.HostnameOrDefault()
	}
	depots = e.iniValue("ckanext.dcor_depot.depots_path")
	if depots == "" {
		depots = host.DefaultDepots
	}
	name := e.iniValue("ckanext.dcor_depot.users_depot_name")
	if name == "" {
		name = "users-" + e.Site.HostnameOrDefault()
	}
	return storagePath, depots, filepath.Join(depots, name)
}

// layout is where this host keeps resource files.
func (e *Env) layout() (storage.Layout, error) {
	if _, err := e.ckanIni(); err != nil {
		return storage.Layout{}, err
	}
	storagePath, _, usersDepot := e.dataPaths()
	return storage.Layout{Host: e.Host, Resources: filepath.Join(storagePath, "resources"), UsersDepot: usersDepot}, nil
}

// openDB connects to the database that ckan.ini names.
func (e *Env) openDB(ctx context.Context) (*ckandb.DB, error) {
	f, err := e.ckanIni()
	if err != nil {
		return nil, err
	}
	url, err := ckandb.IniURL(f.Get, e.CKANIni)
	if err != nil {
		return nil, err
	}
	return ckandb.Open(ctx, url)
}

// liveResources reads every live resource once; the set of their ids
// and the time just before the query are kept for the orphans check.
func (e *Env) liveResources(ctx context.Context) ([]ckandb.Resource, error) {
	if e.resources != nil || e.resourcesErr != nil {
		return e.resources, e.resourcesErr
	}
	e.resourcesErr = e.withDB(ctx, func(db *ckandb.DB) error {
		e.resources = []ckandb.Resource{}
		ids := storage.NewIDSet(0)
		err := db.LiveResources(ctx, func(r ckandb.Resource) error {
			e.resources = append(e.resources, r)
			ids.Add(r.ID)
			return nil
		})
		e.ids = ids
		return err
	})
	if e.resourcesErr != nil {
		e.resources, e.ids = nil, nil
	}
	return e.resources, e.resourcesErr
}

// liveIDs is the set of the ids of live resources and the time just
// before they were read.
func (e *Env) liveIDs(ctx context.Context) (*storage.IDSet, time.Time, error) {
	if e.ids != nil || e.resourcesErr != nil {
		return e.ids, e.idsTime, e.resourcesErr
	}
	var ids *storage.IDSet
	err := e.withDB(ctx, func(db *ckandb.DB) error {
		ids = storage.NewIDSet(1 << 12)
		e.uploads = 0
		return db.LiveResourceIDs(ctx, func(id string, upload bool) {
			ids.Add(id)
			if upload {
				e.uploads++
			}
		})
	})
	if err != nil {
		e.resourcesErr = err
		return nil, time.Time{}, err
	}
	e.ids = ids
	return e.ids, e.idsTime, nil
}

// withDB runs fn on a connection to the CKAN database, noting the time
// before the first query and how long fn took.
func (e *Env) withDB(ctx context.Context, fn func(db *ckandb.DB) error) error {
	db, err := e.openDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	e.idsTime = time.Now()
	err = fn(db)
	e.logf("read the live resources from %s in %s", db, time.Since(e.idsTime).Round(time.Millisecond))
	return err
}

func (e *Env) progress(msg string) {
	if e.Progress != nil {
		e.Progress(msg)
	}
}
