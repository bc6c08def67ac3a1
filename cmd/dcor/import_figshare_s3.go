package main

import (
	"fmt"
	"strings"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/figshare"
)

// figshareObjects returns the site's object storage when ckan.ini
// configures dcor_object_store.* (DCOR 1.x keeps every resource on S3),
// else nil: then the import links depot files as the seed-era depot
// did. Only ckan.ini counts here, as for CKAN itself: the site file's
// backup.s3 and AWS_* are the backups' settings. Files are downloaded
// into ckanext.dcor_depot.tmp_dir when it is set, else into depots.
func figshareObjects(ini *ckanini.File, iniPath, depots string) (*figshare.Objects, error) {
	get := func(k string) string { v, _ := ini.Get("dcor_object_store." + k); return strings.TrimSpace(v) }
	keys := []string{"endpoint_url", "access_key_id", "secret_access_key", "bucket_name"}
	var set, missing []string
	for _, k := range keys {
		if get(k) != "" {
			set = append(set, k)
		} else {
			missing = append(missing, "dcor_object_store."+k)
		}
	}
	if len(set) == 0 {
		return nil, nil
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s configures object storage only in part: %s missing (set them, or remove dcor_object_store.* to import to the local disk)", iniPath, strings.Join(missing, ", "))
	}
	cfg := backup.S3Config{Endpoint: get("endpoint_url"), AccessKey: get("access_key_id"),
		SecretKey: get("secret_access_key"), Sources: "ckan.ini " + iniPath + " dcor_object_store.*"}
	noVerify, err := backup.ParseSSLVerify(get("ssl_verify"))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", iniPath, err)
	}
	cfg.NoVerifyTLS = noVerify
	name := get("bucket_name")
	if !strings.Contains(name, "{organization_id}") {
		return nil, fmt.Errorf("%s: dcor_object_store.bucket_name = %q lacks {organization_id}: DCOR keeps each circle in its own bucket", iniPath, name)
	}
	store, err := backup.DialS3(cfg)
	if err != nil {
		return nil, err
	}
	cache := depots
	if v, _ := ini.Get("ckanext.dcor_depot.tmp_dir"); strings.TrimSpace(v) != "" {
		cache = strings.TrimSpace(v)
	}
	return &figshare.Objects{Store: store, BucketName: name, Cache: cache}, nil
}
