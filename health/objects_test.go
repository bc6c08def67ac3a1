package health

import (
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/internal/s3test"
)

// TestObjectStorage runs the object-storage probe against a real S3
// server: the circle buckets and the backup bucket counted as DCOR names
// them, wrong credentials and an unreachable endpoint a failure in one
// line without the secret, and a host without object storage skipped.
func TestObjectStorage(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(t, "circle-5a7a053d-55fb-4f99-960c-f478d0bd418f")
	srv.MakeBucket(t, "circle-0c1d2e3f-55fb-4f99-960c-f478d0bd418f")
	srv.MakeBucket(t, "circle-not-a-circle")
	ini := map[string]string{
		"dcor_object_store.endpoint_url":      srv.Endpoint,
		"dcor_object_store.access_key_id":     srv.AccessKey,
		"dcor_object_store.secret_access_key": srv.SecretKey,
		"dcor_object_store.bucket_name":       "circle-{organization_id}",
		"dcor_object_store.ssl_verify":        "false",
	}
	check(t, "two circles", newHost(t, ini).config(), probeObjects, OK,
		srv.Endpoint, "2 circle buckets", "circle-000000000-backup absent")
	srv.MakeBucket(t, "circle-000000000-backup")
	check(t, "backup bucket", newHost(t, ini).config(), probeObjects, OK, "circle-000000000-backup present")

	wrong := map[string]string{}
	for k, v := range ini {
		wrong[k] = v
	}
	wrong["dcor_object_store.secret_access_key"] = "not-the-secret-of-this-server"
	r := check(t, "wrong secret", newHost(t, wrong).config(), probeObjects, Fail, srv.Endpoint, "refused the credentials (")
	if strings.Contains(r.Reason, "not-the-secret") || strings.Contains(r.Reason, "\n") {
		t.Errorf("reason %q shows the secret or has several lines", r.Reason)
	}
	wrong["dcor_object_store.secret_access_key"] = srv.SecretKey
	wrong["dcor_object_store.endpoint_url"] = "http://127.0.0.1:1"
	check(t, "unreachable", newHost(t, wrong).config(), probeObjects, Fail, "127.0.0.1:1")

	wrong["dcor_object_store.endpoint_url"] = srv.Endpoint
	wrong["dcor_object_store.ssl_verify"] = "perhaps"
	check(t, "ssl_verify", newHost(t, wrong).config(), probeObjects, Fail, `ssl_verify = "perhaps" is neither true nor false`)
	wrong["dcor_object_store.ssl_verify"] = "0"
	check(t, "ssl_verify 0", newHost(t, wrong).config(), probeObjects, OK, "circle buckets")

	check(t, "local storage", newHost(t, map[string]string{"solr_url": "http://127.0.0.1:1/solr/ckan"}).config(), probeObjects, Skip, "no dcor_object_store.endpoint_url")
	check(t, "no bucket name", newHost(t, map[string]string{"dcor_object_store.endpoint_url": srv.Endpoint}).config(), probeObjects, Fail, "bucket_name")
}
