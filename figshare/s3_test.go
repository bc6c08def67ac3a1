package figshare

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/DCOR-dev/dcor/backup"
	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/internal/s3test"
)

// The fake CKAN names the circle's id "0rg-figshare-import".
const fakeOrgID = "0rg-figshare-import"

var bucketSeq atomic.Int64

// withS3 gives the world object storage on srv, in a bucket of its own
// (circle-t<N>-{organization_id}).
func (w *world) withS3(t *testing.T, srv *s3test.Server) string {
	t.Helper()
	st, err := backup.DialS3(backup.S3Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("circle-t%d-{organization_id}", bucketSeq.Add(1))
	w.env.Objects = &Objects{Store: st, BucketName: name, Cache: w.env.Depots}
	w.env.Storage, w.env.Chown = "", nil
	return strings.ReplaceAll(name, "{organization_id}", fakeOrgID)
}

// objects lists bucket's objects: key, md5 of the content, the user
// metadata and the tags.
func objects(t *testing.T, srv *s3test.Server, bucket string) string {
	t.Helper()
	c := srv.Client(t)
	ctx := context.Background()
	var lines []string
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			if minio.ToErrorResponse(o.Err).Code == "NoSuchBucket" {
				return ""
			}
			t.Fatal(o.Err)
		}
		r, err := c.GetObject(ctx, bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := md5.New()
		if _, err := io.Copy(h, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
		st, err := c.StatObject(ctx, bucket, o.Key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tags, err := c.GetObjectTagging(ctx, bucket, o.Key, minio.GetObjectTaggingOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var meta []string
		for k, v := range st.UserMetadata {
			meta = append(meta, k+"="+v)
		}
		sort.Strings(meta)
		lines = append(lines, fmt.Sprintf("%s md5 %s meta %v tags %s", o.Key, hex.EncodeToString(h.Sum(nil)), meta, tags))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestImportS3 imports two CC0 articles to object storage as DCOR 1.x's
// depot does: objects under resource/<id> in the circle's bucket with
// the file's md5 (as ETag or metadata) and sha256, tagged public=true,
// the bucket made with DCOR's policy; resources appended with
// package_revise (id, name, s3_available), no resource_create and
// nothing in CKAN's storage; datasets active. A second run plans
// nothing and sends no write.
func TestImportS3(t *testing.T) {
	srv := s3test.Start(t)
	w := newWorld(t)
	bucket := w.withS3(t, srv)
	ctx := context.Background()
	rep, res := w.run(t, ctx)
	if res.Failed() {
		t.Fatalf("import failed: %s", change.Summary(res.Changes))
	}
	if w.ckan.Calls("resource_create") != 0 {
		t.Error("resource_create was called on a site with object storage")
	}
	for _, i := range []int{0, 2} {
		if a := rep.Articles[i]; a.State != "imported" {
			t.Errorf("%s: %s %s", a.DOI, a.State, a.Error)
		}
	}
	pkg, err := w.env.CKAN.PackageShow(ctx, "figshare-7771184-v2")
	if err != nil {
		t.Fatal(err)
	}
	if pkg.State != "active" || len(pkg.Resources) != 2 {
		t.Fatalf("dataset %+v", pkg)
	}
	var want []string
	for _, a := range []int{0, 2} {
		art := w.articles[a]
		id := MakeID(art.DOI(), DatasetName(art.ID, art.Version))
		for _, f := range art.Files {
			if f.LinkOnly {
				continue
			}
			rid := MakeID(id, f.MD5)
			h, err := HashFile(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("%s md5 %s meta [Md5=%s Sha256=%s] tags public=true", ObjectKey(rid), f.MD5, f.MD5, h.SHA256))
		}
	}
	for i, r := range pkg.Resources {
		if f := w.articles[0].Files[i]; r.ID != MakeID(pkg.ID, f.MD5) || r.Name != f.Name {
			t.Errorf("resource %+v for %+v", r, f)
		}
	}
	sort.Strings(want)
	got := objects(t, srv, bucket)
	if got != strings.Join(want, "\n") {
		t.Errorf("objects in %s:\n%s\nwant\n%s", bucket, got, strings.Join(want, "\n"))
	}
	if _, err := srv.Client(t).GetBucketPolicy(ctx, bucket); err != nil {
		t.Logf("bucket policy: %v (Versity Gateway refuses DCOR's tag condition)", err)
	}
	if f := rep.Articles[0].Files[0]; f.Object != "s3://"+bucket+"/"+ObjectKey(f.ResourceID) {
		t.Errorf("report names the object %q", f.Object)
	}
	secondRunInPlace(t, w, func() string { return w.state(t) + "\n" + objects(t, srv, bucket) }, "package_revise")
}

// TestS3Repairs: an object without its public tag is tagged, a resource
// missing from the dataset is appended (the object is not uploaded
// again), an object uploaded without the import's metadata is read back
// once, and an object of the right size with other bytes is reported,
// never replaced.
func TestS3Repairs(t *testing.T) {
	srv := s3test.Start(t)
	w := newWorld(t)
	bucket := w.withS3(t, srv)
	ctx := context.Background()
	if _, res := w.run(t, ctx); res.Failed() {
		t.Fatal(change.Summary(res.Changes))
	}
	c := srv.Client(t)
	ds := MakeID(w.articles[0].DOI(), "figshare-7771184-v2")
	f0, f1 := w.articles[0].Files[0], w.articles[0].Files[1]
	key0, key1 := ObjectKey(MakeID(ds, f0.MD5)), ObjectKey(MakeID(ds, f1.MD5))
	plan := func() []*change.Change {
		p := change.New(w.env.Host, time.Now())
		if _, err := Plan(ctx, w.env, w.dois(), p); err != nil {
			t.Fatal(err)
		}
		ch := p.Changes(false)
		if res := p.Apply(ctx, change.ApplyOptions{}); res.Failed() {
			t.Fatal(change.Summary(res.Changes))
		}
		return ch
	}

	if err := c.RemoveObjectTagging(ctx, bucket, key0, minio.RemoveObjectTaggingOptions{}); err != nil {
		t.Fatal(err)
	}
	if ch := plan(); len(ch) != 1 || !strings.HasPrefix(ch[0].Action, "tag ") {
		t.Errorf("untagged object: planned %v, want one tag", ch)
	}

	// an object as another uploader leaves it: no metadata, uploaded in
	// parts (one here), so its ETag is not the md5
	core := minio.Core{Client: c}
	up, err := core.NewMultipartUpload(ctx, bucket, key1, minio.PutObjectOptions{UserTags: map[string]string{"public": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	part, err := core.PutObjectPart(ctx, bucket, key1, up, 1, mustOpen(t, f1.Path), f1.Size, minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := core.CompleteMultipartUpload(ctx, bucket, key1, up, []minio.CompletePart{{PartNumber: 1, ETag: part.ETag}}, minio.PutObjectOptions{})
	if err != nil || !strings.HasSuffix(info.ETag, "-1") {
		t.Fatalf("multipart upload: ETag %q, %v", info.ETag, err)
	}
	if ch := plan(); len(ch) != 1 || !strings.HasPrefix(ch[0].Action, "verify ") {
		t.Errorf("foreign multipart object: planned %v, want one verify", ch)
	}

	// other bytes of the same size: reported, not replaced
	data, err := io.ReadAll(mustOpen(t, f0.Path))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if _, err := c.PutObject(ctx, bucket, key0, strings.NewReader(string(data)), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	p := change.New(w.env.Host, time.Now())
	rep, err := Plan(ctx, w.env, w.dois(), p)
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Articles[0].Files[0]; f.Status != "failed" || !strings.Contains(f.Note, "not replaced") {
		t.Errorf("a foreign object: %+v", f)
	}
	p.Apply(ctx, change.ApplyOptions{})
	if got := objects(t, srv, bucket); !strings.Contains(got, key0+" md5 "+hex.EncodeToString(md5sum(data))) {
		t.Errorf("the foreign object was replaced:\n%s", got)
	}
}

func md5sum(b []byte) []byte { s := md5.Sum(b); return s[:] }

func mustOpen(t *testing.T, path string) io.Reader {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(data)
}

// TestS3KilledAtRandomPoints interrupts the S3 import at random points
// (file bytes served, CKAN writes committed) and runs it again
// (killAtRandomPoints): the next run completes, CKAN, the cache and the
// bucket equal an uninterrupted import's, and no unfinished upload is
// left.
func TestS3KilledAtRandomPoints(t *testing.T) {
	srv := s3test.Start(t)
	killAtRandomPoints(t, 20, 13, []string{"organization_create", "package_create", "package_revise", "package_patch"},
		func(w *world) (func() string, func(string)) {
			bucket := w.withS3(t, srv)
			result := func() string { return w.state(t) + "\n" + objects(t, srv, bucket) }
			after := func(trial string) {
				if up := srv.Uploads(t, bucket); len(up) != 0 {
					t.Errorf("%s: unfinished uploads left: %v", trial, up)
				}
			}
			return result, after
		})
}

// TestS3FailedFileKeepsDraft: when a file of an article fails (an object
// of another size is under its key: reported, not replaced), the other
// files are still uploaded, but the dataset is not set active with a
// file missing; it stays a draft until a run imports every file.
func TestS3FailedFileKeepsDraft(t *testing.T) {
	srv := s3test.Start(t)
	w := newWorld(t)
	bucket := w.withS3(t, srv)
	ctx := context.Background()
	if err := w.env.CKAN.Action(ctx, "organization_create", map[string]any{"name": Organization, "title": OrganizationTitle}, nil); err != nil {
		t.Fatal(err)
	}
	c := srv.Client(t)
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	ds := MakeID(w.articles[0].DOI(), "figshare-7771184-v2")
	key0 := ObjectKey(MakeID(ds, w.articles[0].Files[0].MD5))
	if _, err := c.PutObject(ctx, bucket, key0, strings.NewReader("other"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, _ := w.run(t, ctx)
	if a := rep.Articles[0]; a.State != "failed" || !strings.Contains(a.Error, "not replaced") {
		t.Errorf("article with a foreign object: %s %q", a.State, a.Error)
	}
	pkg, err := w.env.CKAN.PackageShow(ctx, "figshare-7771184-v2")
	if err != nil {
		t.Fatal(err)
	}
	if pkg.State == "active" {
		t.Errorf("the dataset was set active with %d of its 2 files", len(pkg.Resources))
	}
	if a := rep.Articles[2]; a.State != "imported" {
		t.Errorf("the other article: %s %s", a.State, a.Error)
	}

	// the operator removes the object: the next run imports the file and
	// sets the dataset active
	if err := c.RemoveObject(ctx, bucket, key0, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if rep, res := w.run(t, ctx); res.Failed() || rep.Articles[0].State != "imported" {
		t.Fatalf("after the removal: %s %s", rep.Articles[0].State, change.Summary(res.Changes))
	}
	if pkg, err = w.env.CKAN.PackageShow(ctx, "figshare-7771184-v2"); err != nil || pkg.State != "active" || len(pkg.Resources) != 2 {
		t.Errorf("after the removal: dataset %+v, %v", pkg, err)
	}
}
