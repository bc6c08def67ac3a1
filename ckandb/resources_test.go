package ckandb

import (
	"context"
	"slices"
	"testing"
)

func TestLiveResources(t *testing.T) {
	c, url := ckanDB(t)
	c.Exec(t, url, `INSERT INTO package (id, name, state) VALUES
		('p-active', 'active-set', 'active'), ('p-draft', 'draft-set', 'draft'),
		('p-deleted', 'deleted-set', 'deleted'), ('p-private', 'private-set', 'active')`)
	c.Exec(t, url, `INSERT INTO resource (id, package_id, url, name, format, url_type, state, extras) VALUES
		('r-live', 'p-active', 'upload', 'cells.rtdc', 'RT-DC', 'upload', 'active', '{"sha256": "ABC123"}'),
		('r-gone', 'p-active', 'upload', 'old.rtdc', '', 'upload', 'deleted', NULL),
		('r-draft', 'p-draft', 'upload', 'draft.RTDC', '', 'upload', 'active', 'not json'),
		('r-of-deleted-set', 'p-deleted', 'upload', 'x.csv', 'CSV', 'upload', 'active', NULL),
		('r-no-state', 'p-private', 'https://example.org/x', 'link', '', NULL, NULL, '{}')`)
	db := open(t, url)
	ctx := context.Background()
	var ids []string
	if err := db.LiveResourceIDs(ctx, func(id string, upload bool) { ids = append(ids, id) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	want := []string{"r-draft", "r-live", "r-no-state", "r-of-deleted-set"}
	if !slices.Equal(ids, want) {
		t.Fatalf("live ids %q, want %q", ids, want)
	}
	got := map[string]Resource{}
	if err := db.LiveResources(ctx, func(r Resource) error { got[r.ID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("live resources: %v", got)
	}
	if r := got["r-live"]; !r.Upload() || !r.RTDC() || r.SHA256() != "abc123" || r.PackageID != "p-active" {
		t.Errorf("r-live = %+v (sha256 %q)", r, r.SHA256())
	}
	if r := got["r-draft"]; !r.RTDC() || r.SHA256() != "" {
		t.Errorf("r-draft = %+v", r)
	}
	if r := got["r-no-state"]; r.Upload() || r.RTDC() {
		t.Errorf("r-no-state = %+v", r)
	}
	if r := got["r-of-deleted-set"]; r.RTDC() {
		t.Errorf("a CSV counts as RT-DC: %+v", r)
	}
}
