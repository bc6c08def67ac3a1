package main

import (
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/ckanini"
)

// TestFigshareObjects: import-figshare works on S3 only when ckan.ini
// configures dcor_object_store.* completely; a partial configuration, a
// bucket name without {organization_id} or a bad ssl_verify is an error
// naming the key; tmp_dir, when set, is where files are downloaded.
func TestFigshareObjects(t *testing.T) {
	base := "[app:main]\nckanext.dcor_depot.depots_path = /data/depots\n"
	full := base + "dcor_object_store.endpoint_url = http://127.0.0.1:9000\n" +
		"dcor_object_store.access_key_id = key\ndcor_object_store.secret_access_key = secret\n" +
		"dcor_object_store.bucket_name = circle-{organization_id}\ndcor_object_store.ssl_verify = false\n"
	parse := func(s string) *ckanini.File {
		f, err := ckanini.Parse("/etc/ckan/default/ckan.ini", []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if o, err := figshareObjects(parse(base), "ckan.ini", "/data/depots"); o != nil || err != nil {
		t.Errorf("without dcor_object_store: %v %v, want local mode", o, err)
	}
	o, err := figshareObjects(parse(full), "ckan.ini", "/data/depots")
	if err != nil || o == nil || o.BucketName != "circle-{organization_id}" || o.Cache != "/data/depots" ||
		o.Store.Endpoint() != "http://127.0.0.1:9000" || o.Bucket("abc") != "circle-abc" {
		t.Fatalf("full configuration: %+v %v", o, err)
	}
	o, err = figshareObjects(parse(full+"ckanext.dcor_depot.tmp_dir = /data/tmp\n"), "ckan.ini", "/data/depots")
	if err != nil || o.Cache != "/data/tmp" {
		t.Errorf("tmp_dir: cache %q, %v", o.Cache, err)
	}
	for _, c := range []struct{ ini, want string }{
		{strings.Replace(full, "dcor_object_store.secret_access_key = secret\n", "", 1), "dcor_object_store.secret_access_key missing"},
		{strings.Replace(full, "circle-{organization_id}", "circle", 1), "lacks {organization_id}"},
		{strings.Replace(full, "ssl_verify = false", "ssl_verify = maybe", 1), "neither true nor false"},
	} {
		if _, err := figshareObjects(parse(c.ini), "ckan.ini", "/data/depots"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one with %q", err, c.want)
		}
	}
}
