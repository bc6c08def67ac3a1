package backup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"
)

// This file opens the S3 store to objects other than backups: DCOR's
// circle buckets, where the figshare import puts resources (DialS3,
// InBucket, EnsureBucket, Stat, PutFile, Tags, SetTags). The connection,
// the configuration and the error messages are the backup store's.

// ErrNoObject marks a key (or its bucket) that does not exist.
var ErrNoObject = errors.New("no such object")

// ErrPolicyRefused marks a bucket that was created but whose policy the
// server refused (Versity Gateway rejects the tag condition of DCOR's).
var ErrPolicyRefused = errors.New("the server refused the bucket policy")

// DialS3 makes a store for cfg's endpoint and credentials without
// needing a bucket (InBucket chooses one). Nothing is sent yet.
func DialS3(cfg S3Config) (*S3Store, error) { return dialS3(cfg, false) }

// InBucket is the store on bucket, over the same connection.
func (s *S3Store) InBucket(bucket string) *S3Store {
	c := *s
	c.cfg.Bucket = bucket
	return &c
}

// Bucket is the store's bucket.
func (s *S3Store) Bucket() string { return s.cfg.Bucket }

// Endpoint is the server's scheme://host[:port].
func (s *S3Store) Endpoint() string { return s.host }

// EnsureBucket creates the bucket when it does not exist and then puts
// policy (a bucket policy JSON, "" for none) on it, as DCOR's
// require_bucket does: an existing bucket's policy is left alone. It
// reports whether it created the bucket; a refused policy gives an error
// wrapping ErrPolicyRefused, with the bucket created.
func (s *S3Store) EnsureBucket(ctx context.Context, policy string) (bool, error) {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return false, s.explain("check the bucket", err)
	}
	if ok {
		return false, nil
	}
	if err := s.client.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region}); err != nil {
		var resp minio.ErrorResponse
		if !errors.As(err, &resp) || (resp.Code != "BucketAlreadyOwnedByYou" && resp.Code != "BucketAlreadyExists") {
			return false, s.explain("create the bucket", err)
		}
		return false, nil // made by someone else meanwhile
	}
	if policy != "" {
		if err := s.client.SetBucketPolicy(ctx, s.cfg.Bucket, policy); err != nil {
			return true, fmt.Errorf("S3 bucket %s at %s: %w: %v", s.cfg.Bucket, s.host, ErrPolicyRefused, oneLineErr(err.Error()))
		}
	}
	return true, nil
}

// ObjectInfo is what Stat returns of an object.
type ObjectInfo struct {
	Key  string
	Size int64
	// ETag without quotes: the md5 of a single-part upload,
	// <md5 of the parts' md5s>-<parts> of a multipart one.
	ETag string
	// Metadata is the user metadata (x-amz-meta-*), keys in canonical
	// form ("Sha256").
	Metadata map[string]string
}

// Stat returns the object under key, or an error wrapping ErrNoObject
// when it (or the bucket) does not exist.
func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	st, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && (resp.Code == "NoSuchKey" || resp.Code == "NoSuchBucket" || resp.StatusCode == http.StatusNotFound) {
			return ObjectInfo{}, fmt.Errorf("%s: %w", s.URL(key), ErrNoObject)
		}
		return ObjectInfo{}, s.explain("read "+key, err)
	}
	meta := map[string]string{}
	for k, v := range st.UserMetadata {
		meta[http.CanonicalHeaderKey(k)] = v
	}
	return ObjectInfo{Key: key, Size: st.Size, ETag: strings.Trim(st.ETag, `"'`), Metadata: meta}, nil
}

// PutPartSize is the part size of PutFile: a file up to it is one PUT
// (its ETag is its md5), a larger one a multipart upload of parts of it.
const PutPartSize = 32 << 20

// PutFile uploads the file at path to key with the user metadata meta.
// Every request carries its Content-MD5, so the server refuses bytes
// that differ from the file's; an unfinished multipart upload of key (a
// killed run's) is aborted first. The object appears only complete.
func (s *S3Store) PutFile(ctx context.Context, key, path string, meta map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	s.client.RemoveIncompleteUpload(ctx, s.cfg.Bucket, key)
	_, err = s.client.PutObject(ctx, s.cfg.Bucket, key, f, st.Size(), minio.PutObjectOptions{
		ContentType:    "application/octet-stream",
		UserMetadata:   meta,
		PartSize:       PutPartSize,
		NumThreads:     2,
		SendContentMd5: true,
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("upload to %s interrupted (%v)", s.URL(key), context.Cause(ctx))
		}
		return s.explain("upload "+key, err)
	}
	return nil
}

// Tags returns the object's tags.
func (s *S3Store) Tags(ctx context.Context, key string) (map[string]string, error) {
	t, err := s.client.GetObjectTagging(ctx, s.cfg.Bucket, key, minio.GetObjectTaggingOptions{})
	if err != nil {
		return nil, s.explain("read the tags of "+key, err)
	}
	return t.ToMap(), nil
}

// SetTags replaces the object's tags.
func (s *S3Store) SetTags(ctx context.Context, key string, m map[string]string) error {
	t, err := tags.NewTags(m, true)
	if err != nil {
		return err
	}
	if err := s.client.PutObjectTagging(ctx, s.cfg.Bucket, key, t, minio.PutObjectTaggingOptions{}); err != nil {
		return s.explain("tag "+key, err)
	}
	return nil
}

// Buckets lists the names of the buckets the credentials can see.
func (s *S3Store) Buckets(ctx context.Context) ([]string, error) {
	bs, err := s.client.ListBuckets(ctx)
	if err != nil {
		return nil, s.explain("list the buckets", err)
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Name
	}
	return names, nil
}
