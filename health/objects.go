package health

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/DCOR-dev/dcor/backup"
)

// probeObjects checks DCOR's object storage (ckan.ini's
// dcor_object_store.*): the endpoint answers to the credentials, and
// how many circle buckets (bucket_name with a circle's UUID) and whether
// the backup bucket exist, as dcor_control status counts them. A host
// without object storage (the local-storage way) is skipped.
func probeObjects(ctx context.Context, c *config) []Result {
	const name = "object-storage"
	endpoint := c.ini["dcor_object_store.endpoint_url"]
	if endpoint == "" {
		return result(name, Skip, "ckan.ini sets no dcor_object_store.endpoint_url (resources on local storage)")
	}
	tmpl := c.ini["dcor_object_store.bucket_name"]
	if tmpl == "" {
		return result(name, Fail, "ckan.ini sets dcor_object_store.endpoint_url but no dcor_object_store.bucket_name")
	}
	noVerify, err := backup.ParseSSLVerify(c.ini["dcor_object_store.ssl_verify"])
	if err != nil {
		return result(name, Fail, "ckan.ini: %v", err)
	}
	s, err := backup.DialS3(backup.S3Config{Endpoint: endpoint,
		AccessKey:   c.ini["dcor_object_store.access_key_id"],
		SecretKey:   c.ini["dcor_object_store.secret_access_key"],
		NoVerifyTLS: noVerify,
		Sources:     "ckan.ini dcor_object_store.*"})
	if err != nil {
		return result(name, Fail, "%v", err)
	}
	names, err := s.Buckets(ctx)
	if err != nil {
		return result(name, Fail, "%v", err)
	}
	prefix := strings.ReplaceAll(tmpl, "{organization_id}", "")
	circle := regexp.MustCompile("^" + regexp.QuoteMeta(prefix) +
		"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
	n := 0
	for _, b := range names {
		if circle.MatchString(b) {
			n++
		}
	}
	backups := "absent (no instance backup to S3 yet)"
	if bb := backup.BackupBucket(tmpl); slices.Contains(names, bb) {
		backups = "present"
	}
	return result(name, OK, "%s: %d circle buckets (%s<circle id>), backup bucket %s %s",
		s.Endpoint(), n, prefix, backup.BackupBucket(tmpl), backups)
}

// objectKeys are the ckan.ini keys probeObjects reads.
var objectKeys = []string{"dcor_object_store.endpoint_url", "dcor_object_store.access_key_id",
	"dcor_object_store.secret_access_key", "dcor_object_store.bucket_name", "dcor_object_store.ssl_verify"}
