package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/DCOR-dev/dcor/ckanini"
)

// s3Flags are the flags that choose the S3 bucket of off-site backups.
type s3Flags struct {
	bucket, prefix string
}

// s3Config resolves the S3 bucket of off-site backups: ckan.ini's
// dcor_object_store.* keys (as DCOR reads them), overridden by the site
// file's backup.s3 (and DCOR_BACKUP_S3_*), overridden by the environment
// (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION), overridden by the flags (bucket and prefix only).
// Secrets are never taken from arguments.
func (a *app) s3Config(f s3Flags) (backup.S3Config, error) {
	var c backup.S3Config
	var sources []string
	sslVerify := ""
	path := a.ckanIniPath()
	ini, err := ckanini.Load(a.host().Path(path))
	switch {
	case err == nil:
		get := func(k string) string { v, _ := ini.Get("dcor_object_store." + k); return strings.TrimSpace(v) }
		c.Endpoint, c.AccessKey, c.SecretKey = get("endpoint_url"), get("access_key_id"), get("secret_access_key")
		if b := get("bucket_name"); b != "" {
			c.Bucket = backup.BackupBucket(b)
		}
		sslVerify = get("ssl_verify")
		if c.Endpoint != "" || c.AccessKey != "" || c.Bucket != "" {
			sources = append(sources, "ckan.ini "+path+" dcor_object_store.*")
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return c, fmt.Errorf("read ckan.ini %s: %v (set --ckan-ini or $CKAN_INI)", path, err)
	}
	s, err := a.backupSite()
	if err != nil {
		return c, err
	}
	if s != nil {
		x := s.Backup.S3
		set := false
		for _, p := range []struct {
			dst *string
			v   string
		}{{&c.Endpoint, x.EndpointURL}, {&c.AccessKey, x.AccessKeyID},
			{&c.SecretKey, x.SecretAccessKey}, {&c.Bucket, x.Bucket}, {&c.Prefix, x.Prefix}, {&c.Region, x.Region}, {&sslVerify, x.SSLVerify}} {
			if p.v != "" {
				*p.dst, set = p.v, true
			}
		}
		if set {
			sources = append(sources, "site file backup.s3")
		}
	}
	env := false
	for _, p := range []struct {
		dst   *string
		names []string
	}{{&c.Endpoint, []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}},
		{&c.AccessKey, []string{"AWS_ACCESS_KEY_ID"}}, {&c.SecretKey, []string{"AWS_SECRET_ACCESS_KEY"}},
		{&c.Region, []string{"AWS_REGION", "AWS_DEFAULT_REGION"}}} {
		for _, n := range p.names {
			if v := os.Getenv(n); v != "" {
				*p.dst, env = v, true
				break
			}
		}
	}
	if env {
		sources = append(sources, "environment AWS_*")
	}
	if f.bucket != "" {
		c.Bucket = f.bucket
	}
	if f.prefix != "" {
		c.Prefix = f.prefix
	}
	if c.NoVerifyTLS, err = backup.ParseSSLVerify(sslVerify); err != nil {
		return c, err
	}
	if len(sources) == 0 {
		sources = []string{"ckan.ini dcor_object_store.*, site file backup.s3 or AWS_* environment: none set"}
	}
	c.Sources = strings.Join(sources, ", ")
	return c, nil
}

// s3Store connects to the bucket of off-site backups.
func (a *app) s3Store(ctx context.Context, f s3Flags) (*backup.S3Store, error) {
	c, err := a.s3Config(f)
	if err != nil {
		return nil, err
	}
	if c.NoVerifyTLS {
		a.logf("S3: TLS certificate verification is off (dcor_object_store.ssl_verify = false)")
	}
	return backup.NewS3Store(ctx, c)
}

// parseS3URL splits s3://BUCKET/KEY.
func parseS3URL(u string) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, key, ok = strings.Cut(rest, "/")
	return bucket, key, ok && bucket != "" && key != ""
}
