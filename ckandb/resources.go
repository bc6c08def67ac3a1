package ckandb

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Resource is a live row of CKAN's resource table (facts §4).
type Resource struct {
	ID        string
	PackageID string
	Name      string
	Format    string
	// URLType is "upload" for a resource whose file CKAN stores.
	URLType string
	// Extras is the JSON text of the resource's extra fields.
	Extras string
}

// Upload reports whether CKAN stores the resource's file.
func (r Resource) Upload() bool { return r.URLType == "upload" }

// RTDC reports whether the resource is an RT-DC measurement: its name
// ends in .rtdc or its format is RT-DC.
func (r Resource) RTDC() bool {
	return strings.HasSuffix(strings.ToLower(r.Name), ".rtdc") || strings.EqualFold(r.Format, "RT-DC")
}

// SHA256 is the checksum DCOR keeps in the resource's extras, "" when
// there is none.
func (r Resource) SHA256() string {
	if r.Extras == "" {
		return ""
	}
	var extras map[string]any
	if json.Unmarshal([]byte(r.Extras), &extras) != nil {
		return ""
	}
	s, _ := extras["sha256"].(string)
	return strings.ToLower(strings.TrimSpace(s))
}

// liveCondition selects the resources whose files must be kept: every
// resource not deleted, in datasets of any state (a purged dataset takes
// its resources with it; package_delete leaves their state alone).
const liveCondition = `state IS DISTINCT FROM 'deleted'`

// LiveResourceIDs calls fn with the id of every live resource and whether
// it is an upload (url_type "upload": a file in the resource tree; other
// resources are links to elsewhere), streaming the rows.
func (db *DB) LiveResourceIDs(ctx context.Context, fn func(id string, upload bool)) error {
	rows, err := db.conn.Query(ctx, `SELECT id, coalesce(url_type, '') = 'upload' FROM resource WHERE `+liveCondition)
	if err != nil {
		return fmt.Errorf("read resource ids from %s: %w", db.masked, err)
	}
	defer rows.Close()
	var id string
	var upload bool
	for rows.Next() {
		if err := rows.Scan(&id, &upload); err != nil {
			return fmt.Errorf("read resource ids from %s: %w", db.masked, err)
		}
		fn(id, upload)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read resource ids from %s: %w", db.masked, err)
	}
	return nil
}

// LiveResources calls fn with every live resource, streaming the rows;
// an error from fn stops the query and is returned.
func (db *DB) LiveResources(ctx context.Context, fn func(Resource) error) error {
	rows, err := db.conn.Query(ctx, `
		SELECT id, coalesce(package_id, ''), coalesce(name, ''), coalesce(format, ''),
		       coalesce(url_type, ''), coalesce(extras, '')
		FROM resource WHERE `+liveCondition+` ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read resources from %s: %w", db.masked, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Resource
		if err := rows.Scan(&r.ID, &r.PackageID, &r.Name, &r.Format, &r.URLType, &r.Extras); err != nil {
			return fmt.Errorf("read resources from %s: %w", db.masked, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read resources from %s: %w", db.masked, err)
	}
	return nil
}
