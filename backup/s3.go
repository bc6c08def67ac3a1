package backup

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says where and how to reach the S3 bucket of off-site
// backups. The secret key never goes to an argument list or a message.
type S3Config struct {
	// Endpoint is the server's URL (https://host[:port]); a bare
	// host[:port] means https.
	Endpoint string
	// AccessKey and SecretKey are the credentials (SigV4).
	AccessKey, SecretKey string
	// Region is the signing region; "" means us-east-1.
	Region string
	// Bucket is the bucket of backups (DCOR's <prefix>000000000-backup).
	Bucket string
	// Prefix goes before the YYYY/MM/NAME keys ("" in DCOR).
	Prefix string
	// NoVerifyTLS turns TLS certificate verification off
	// (dcor_object_store.ssl_verify = false).
	NoVerifyTLS bool
	// Sources says where the values came from, for messages
	// ("ckan.ini dcor_object_store.*", "site file backup.s3", …).
	Sources string
}

// BackupBucket is DCOR's name of the backup bucket for ckan.ini's
// dcor_object_store.bucket_name: the name formatted with an empty
// organization id, then "000000000-backup" ("circle-{organization_id}"
// gives "circle-000000000-backup").
func BackupBucket(bucketName string) string {
	return strings.ReplaceAll(bucketName, "{organization_id}", "") + "000000000-backup"
}

// s3PartSize is the multipart part size: s3Threads buffers of it are
// the upload's memory, and 10000 parts of it (156 GiB) its maximum size.
const (
	s3PartSize = 16 << 20
	s3Threads  = 2
)

// metaBackup marks objects that dcor wrote (user metadata
// x-amz-meta-dcor-backup); metaSHA256 holds the checksum, set once the
// object was read back and matched.
const (
	metaBackup = "Dcor-Backup"
	metaSHA256 = "Dcor-Sha256"
)

// S3Store keeps backups in an S3 bucket under PREFIX/YYYY/MM/NAME, with
// the sha256 in the object's metadata and in NAME.sha256 beside it.
type S3Store struct {
	cfg    S3Config
	client *minio.Client
	host   string
}

// NewS3Store connects to the bucket and checks that it exists and that
// the credentials are accepted: every failure is one line naming the
// endpoint, the bucket and what to check.
func NewS3Store(ctx context.Context, cfg S3Config) (*S3Store, error) {
	s, err := dialS3(cfg, true)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ok, err := s.client.BucketExists(cctx, cfg.Bucket)
	if err != nil {
		return nil, s.explain("check the bucket", err)
	}
	if !ok {
		return nil, fmt.Errorf("S3 bucket %s does not exist at %s: create it (dcor does not create buckets) or set the bucket (%s)", cfg.Bucket, s.host, s.sources())
	}
	return s, nil
}

// dialS3 checks cfg (the bucket too when needBucket) and makes the
// client; nothing is sent yet.
func dialS3(cfg S3Config, needBucket bool) (*S3Store, error) {
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("no S3 endpoint: set dcor_object_store.endpoint_url in ckan.ini, backup.s3.endpoint_url in the site file or AWS_ENDPOINT_URL")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, fmt.Errorf("no S3 credentials for %s: set dcor_object_store.access_key_id and secret_access_key in ckan.ini, backup.s3 in the site file or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", cfg.Endpoint)
	}
	if cfg.Bucket == "" && needBucket {
		return nil, fmt.Errorf("no S3 bucket: set dcor_object_store.bucket_name in ckan.ini or backup.s3.bucket in the site file")
	}
	raw := cfg.Endpoint
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("S3 endpoint %q is not a URL like https://host[:port]", cfg.Endpoint)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 2 * time.Minute
	if cfg.NoVerifyTLS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Transport:    tr,
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   3,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 endpoint %s: %v", cfg.Endpoint, err)
	}
	return &S3Store{cfg: cfg, client: c, host: u.Scheme + "://" + u.Host}, nil
}

func (s *S3Store) sources() string {
	if s.cfg.Sources != "" {
		return s.cfg.Sources
	}
	return "ckan.ini dcor_object_store.*"
}

// explain turns an S3 error into one line naming the endpoint and what
// to check.
func (s *S3Store) explain(what string, err error) error {
	inBucket, forBucket := "", ""
	if s.cfg.Bucket != "" {
		inBucket, forBucket = " in bucket "+s.cfg.Bucket, " for bucket "+s.cfg.Bucket
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidSecurity", "AuthorizationHeaderMalformed":
			return fmt.Errorf("S3 at %s refused the credentials%s (%s): check the access key id and secret (%s)", s.host, forBucket, resp.Code, s.sources())
		case "NoSuchBucket":
			return fmt.Errorf("S3 bucket %s does not exist at %s: create it or set the bucket (%s)", s.cfg.Bucket, s.host, s.sources())
		}
		msg := resp.Message
		if msg == "" {
			msg = resp.Code
		}
		return fmt.Errorf("S3 at %s: %s%s failed: %s", s.host, what, inBucket, oneLineErr(msg))
	}
	var netErr net.Error
	var opErr *net.OpError
	var urlErr *url.Error
	if errors.As(err, &opErr) || errors.As(err, &netErr) || errors.As(err, &urlErr) {
		return fmt.Errorf("S3 endpoint %s is unreachable (%s): check the endpoint URL (%s) and the network", s.host, oneLineErr(innermost(err).Error()), s.sources())
	}
	return fmt.Errorf("S3 at %s: %s%s failed: %s", s.host, what, inBucket, oneLineErr(err.Error()))
}

func innermost(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func oneLineErr(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (s *S3Store) String() string {
	return "s3://" + s.cfg.Bucket + "/" + s.cfg.Prefix
}

// Key is PREFIX/YYYY/MM/name (DCOR's key).
func (s *S3Store) Key(t time.Time, name string) string {
	return s.prefix() + t.Format("2006/01") + "/" + name
}

func (s *S3Store) prefix() string {
	p := strings.Trim(s.cfg.Prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// URL is s3://BUCKET/KEY.
func (s *S3Store) URL(key string) string { return "s3://" + s.cfg.Bucket + "/" + key }

// Create starts a multipart upload to key, streaming: parts of
// s3PartSize go up while the rest is written. A failure or a cancelled
// ctx aborts the multipart upload, so that no object appears under key.
func (s *S3Store) Create(ctx context.Context, key string) (Upload, error) {
	if _, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{}); err == nil {
		return nil, fmt.Errorf("%s exists already: not overwriting it", s.URL(key))
	}
	upCtx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	u := &s3Upload{s: s, key: key, pw: pw, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		_, err := s.client.PutObject(upCtx, s.cfg.Bucket, key, pr, -1, minio.PutObjectOptions{
			ContentType:           "application/pgp-encrypted",
			UserMetadata:          map[string]string{metaBackup: "1"},
			PartSize:              s3PartSize,
			NumThreads:            s3Threads,
			ConcurrentStreamParts: true,
		})
		if err != nil {
			u.err = s.explain("upload "+key, err)
			if ctx.Err() != nil {
				u.err = fmt.Errorf("upload to %s interrupted (%v)", s.URL(key), context.Cause(ctx))
			}
		}
		pr.CloseWithError(errUploadStopped)
	}()
	return u, nil
}

var errUploadStopped = errors.New("the upload stopped")

type s3Upload struct {
	s        *S3Store
	key      string
	pw       *io.PipeWriter
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
	finished bool // the object exists under key
	commited bool
}

func (u *s3Upload) Write(p []byte) (int, error) {
	n, err := u.pw.Write(p)
	if err != nil {
		<-u.done
		if u.err != nil {
			return n, u.err
		}
		return n, fmt.Errorf("upload to %s: %w", u.s.URL(u.key), err)
	}
	return n, nil
}

// Finish ends the stream and waits for the multipart upload to complete.
func (u *s3Upload) Finish(ctx context.Context) error {
	u.pw.Close()
	<-u.done
	if u.err != nil {
		return u.err
	}
	u.finished = true
	return nil
}

func (u *s3Upload) Open(ctx context.Context) (io.ReadCloser, error) {
	return u.s.Open(ctx, u.key)
}

// Commit reads the whole object back and compares its sha256 with sum
// (the checksum of what was sent), then stores sum in the object's
// metadata (a copy onto itself) and in KEY.sha256. A mismatch or failure
// removes the object.
func (u *s3Upload) Commit(ctx context.Context, sum string) error {
	r, err := u.s.Open(ctx, u.key)
	if err != nil {
		return err
	}
	h := sha256.New()
	buf := make([]byte, copyBufferSize)
	_, err = io.CopyBuffer(h, r, buf)
	r.Close()
	if err != nil {
		return fmt.Errorf("read back %s: %w", u.s.URL(u.key), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("%s read back has sha256 %s, but %s was sent: removed it", u.s.URL(u.key), got, sum)
	}
	src := minio.CopySrcOptions{Bucket: u.s.cfg.Bucket, Object: u.key}
	dst := minio.CopyDestOptions{Bucket: u.s.cfg.Bucket, Object: u.key, ReplaceMetadata: true,
		UserMetadata: map[string]string{metaBackup: "1", metaSHA256: sum}}
	if _, err := u.s.client.ComposeObject(ctx, dst, src); err != nil {
		return u.s.explain("store the checksum of "+u.key, err)
	}
	line := sum + "  " + path.Base(u.key) + "\n"
	if _, err := u.s.client.PutObject(ctx, u.s.cfg.Bucket, u.key+".sha256", strings.NewReader(line), int64(len(line)),
		minio.PutObjectOptions{ContentType: "text/plain", UserMetadata: map[string]string{metaBackup: "1"}}); err != nil {
		return u.s.explain("write "+u.key+".sha256", err)
	}
	u.commited = true
	return nil
}

// Abort stops the upload (minio-go aborts the multipart upload) or
// removes the object when it was complete but not committed.
func (u *s3Upload) Abort() {
	if u.commited {
		return
	}
	u.cancel()
	u.pw.CloseWithError(errUploadStopped)
	<-u.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if u.finished {
		u.s.client.RemoveObject(ctx, u.s.cfg.Bucket, u.key, minio.RemoveObjectOptions{})
		u.s.client.RemoveObject(ctx, u.s.cfg.Bucket, u.key+".sha256", minio.RemoveObjectOptions{})
	}
	// A killed connection can leave the upload behind: abort it here too.
	u.s.client.RemoveIncompleteUpload(ctx, u.s.cfg.Bucket, u.key)
}

// List lists hostname's backups that dcor wrote (name pattern and
// x-amz-meta-dcor-backup), oldest first; Verified means the checksum in
// the metadata and in KEY.sha256 agree.
func (s *S3Store) List(ctx context.Context, hostname string) ([]Object, error) {
	var objs []Object
	sums := map[string]string{}
	for o := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.prefix(), Recursive: true}) {
		if o.Err != nil {
			return nil, s.explain("list the backups", o.Err)
		}
		rel := strings.TrimPrefix(o.Key, s.prefix())
		dir, name := path.Split(rel)
		if !s3Month.MatchString(dir) {
			continue
		}
		if base, ok := strings.CutSuffix(name, ".sha256"); ok {
			if _, _, ok := parseName(base, hostname, time.Local); ok {
				sums[strings.TrimSuffix(o.Key, ".sha256")] = ""
			}
			continue
		}
		kind, t, ok := parseName(name, hostname, time.Local)
		if !ok {
			continue
		}
		objs = append(objs, Object{Key: o.Key, URL: s.URL(o.Key), Kind: kind, Time: t, Size: o.Size})
	}
	var ours []Object
	for _, o := range objs {
		st, err := s.client.StatObject(ctx, s.cfg.Bucket, o.Key, minio.StatObjectOptions{})
		if err != nil {
			return nil, s.explain("read "+o.Key, err)
		}
		if st.UserMetadata[metaBackup] == "" {
			continue // not written by dcor
		}
		o.SHA256 = st.UserMetadata[metaSHA256]
		if _, ok := sums[o.Key]; ok && o.SHA256 != "" {
			o.Verified = s.sumMatches(ctx, o.Key, o.SHA256)
		}
		ours = append(ours, o)
	}
	sortObjects(ours)
	return ours, nil
}

// s3Month matches the YYYY/MM/ part of keys.
var s3Month = regexp.MustCompile(`^\d{4}/\d{2}/$`)

func (s *S3Store) sumMatches(ctx context.Context, key, sum string) bool {
	r, err := s.client.GetObject(ctx, s.cfg.Bucket, key+".sha256", minio.GetObjectOptions{})
	if err != nil {
		return false
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) == 2 && f[0] == sum && f[1] == path.Base(key)
}

// Open streams the object under key.
func (s *S3Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{}); err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && (resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound) {
			return nil, fmt.Errorf("%s does not exist", s.URL(key))
		}
		return nil, s.explain("read "+key, err)
	}
	r, err := s.client.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.explain("read "+key, err)
	}
	return &s3Reader{r: r, s: s, key: key}, nil
}

type s3Reader struct {
	r   *minio.Object
	s   *S3Store
	key string
}

func (r *s3Reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.explain("read "+r.key, err)
	}
	return n, err
}

func (r *s3Reader) Close() error { return r.r.Close() }

// Remove removes the object under key and KEY.sha256.
func (s *S3Store) Remove(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.explain("remove "+key, err)
	}
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, key+".sha256", minio.RemoveObjectOptions{}); err != nil {
		return s.explain("remove "+key+".sha256", err)
	}
	return nil
}

// CleanStale aborts the unfinished multipart uploads of hostname's
// backup keys (a killed run's), and removes hostname's objects that dcor
// wrote (x-amz-meta-dcor-backup and dcor's name) but never verified (no
// dcor-sha256 metadata: a run killed while reading the object back) and
// KEY.sha256 objects without their object; only objects last modified
// before before (the running backup's start) count. It runs under the
// backup lock: no other backup of this host is uploading.
func (s *S3Store) CleanStale(ctx context.Context, hostname string, before time.Time) []string {
	var removed []string
	for u := range s.client.ListIncompleteUploads(ctx, s.cfg.Bucket, s.prefix(), true) {
		if u.Err != nil {
			break
		}
		if !s.hostKey(u.Key, hostname) {
			continue
		}
		if err := s.client.RemoveIncompleteUpload(ctx, s.cfg.Bucket, u.Key); err == nil {
			removed = append(removed, "unfinished upload of "+s.URL(u.Key))
		}
	}
	exists := map[string]bool{}
	var backups, sums []minio.ObjectInfo
	for o := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.prefix(), Recursive: true}) {
		if o.Err != nil {
			return removed
		}
		exists[o.Key] = true
		if !s.hostKey(o.Key, hostname) || !o.LastModified.Before(before) {
			continue
		}
		if strings.HasSuffix(o.Key, ".sha256") {
			sums = append(sums, o)
		} else {
			backups = append(backups, o)
		}
	}
	for _, o := range backups {
		st, err := s.client.StatObject(ctx, s.cfg.Bucket, o.Key, minio.StatObjectOptions{})
		if err != nil || st.UserMetadata[metaBackup] == "" || st.UserMetadata[metaSHA256] != "" {
			continue
		}
		if s.Remove(ctx, o.Key) == nil {
			exists[o.Key] = false
			removed = append(removed, "unverified object "+s.URL(o.Key))
		}
	}
	for _, o := range sums {
		if exists[strings.TrimSuffix(o.Key, ".sha256")] {
			continue
		}
		st, err := s.client.StatObject(ctx, s.cfg.Bucket, o.Key, minio.StatObjectOptions{})
		if err != nil || st.UserMetadata[metaBackup] == "" {
			continue
		}
		if s.client.RemoveObject(ctx, s.cfg.Bucket, o.Key, minio.RemoveObjectOptions{}) == nil {
			removed = append(removed, "checksum without its object "+s.URL(o.Key))
		}
	}
	return removed
}

// hostKey says whether key is PREFIX/YYYY/MM/NAME[.sha256] with one of
// dcor's backup names for hostname.
func (s *S3Store) hostKey(key, hostname string) bool {
	rel, ok := strings.CutPrefix(key, s.prefix())
	if !ok {
		return false
	}
	dir, name := path.Split(rel)
	if !s3Month.MatchString(dir) {
		return false
	}
	_, _, ok = parseName(strings.TrimSuffix(name, ".sha256"), hostname, time.Local)
	return ok
}

// ParseSSLVerify reads dcor_object_store.ssl_verify as DCOR does (CKAN's
// boolean words; empty means true) and says whether TLS certificate
// verification is off.
func ParseSSLVerify(v string) (noVerify bool, err error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "true", "1", "yes", "on":
		return false, nil
	case "false", "0", "no", "off":
		return true, nil
	}
	return false, fmt.Errorf("dcor_object_store.ssl_verify = %q is neither true nor false", v)
}
