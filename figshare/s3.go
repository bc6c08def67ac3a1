package figshare

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/DCOR-dev/dcor/backup"
)

// Objects is DCOR's object storage, as ckan.ini's dcor_object_store.*
// configure it. With it the import works as DCOR 1.x's depot does
// (DEP-HEAD figshare.py, since 0.14.0): each file goes to the circle's
// bucket under resource/<id[:3]>/<id[3:6]>/<id[6:]>, and the resource
// is appended to the dataset with s3_available (package_revise), not
// created with a placeholder and linked.
type Objects struct {
	// Store is connected to the endpoint (backup.DialS3); the bucket is
	// chosen per circle.
	Store *backup.S3Store
	// BucketName is dcor_object_store.bucket_name ("circle-{organization_id}").
	BucketName string
	// Cache is the host directory the files are downloaded into before
	// the upload (<Cache>/figshare/<dataset>/<file>; a partial download
	// is resumed from there): ckanext.dcor_depot.tmp_dir, else
	// depots_path.
	Cache string

	mu    sync.Mutex
	orgID string
}

// Bucket is the bucket of the circle with the id orgID.
func (o *Objects) Bucket(orgID string) string {
	return strings.ReplaceAll(o.BucketName, "{organization_id}", orgID)
}

// ObjectKey is a resource's key in its circle's bucket.
func ObjectKey(rid string) string {
	return "resource/" + rid[0:3] + "/" + rid[3:6] + "/" + rid[6:]
}

// BucketPolicy is the policy DCOR's require_bucket puts on a bucket it
// creates: anyone may get the objects tagged public=true.
func BucketPolicy(bucket string) string {
	return `{"Version": "2012-10-17", "Statement": [{"Sid": "Allow anonymous access to objects with public:true tag", ` +
		`"Effect": "Allow", "Resource": "arn:aws:s3:::` + bucket + `/*", "Action": ["s3:GetObject"], "Principal": "*", ` +
		`"Condition": {"StringEquals": {"s3:ExistingObjectTag/public": ["true"]}}}]}`
}

// metaMD5 and metaSHA256 are the user metadata the import writes with
// an object: the file's sums (x-amz-meta-md5, x-amz-meta-sha256).
const (
	metaMD5    = "Md5"
	metaSHA256 = "Sha256"
)

// circle returns the id of the circle figshare-import, "" while it does
// not exist; once found it is kept.
func (o *Objects) circle(ctx context.Context, c *CKAN) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.orgID != "" {
		return o.orgID, nil
	}
	var org struct {
		ID string `json:"id"`
	}
	err := c.Action(ctx, "organization_show", map[string]any{"id": Organization}, &org)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if org.ID == "" {
		return "", fmt.Errorf("CKAN organization_show %s: no id in the answer", Organization)
	}
	o.orgID = org.ID
	return org.ID, nil
}

// objectState is what planning found of a file's object.
type objectState int

const (
	objectMissing    objectState = iota
	objectVerified               // size and md5 are figshare's
	objectUnverified             // size matches; the md5 needs a read
)

// inspect looks at the object of f under key: missing, verified (its
// size is figshare's and its ETag, or the md5 the import stored with a
// multipart upload, is figshare's md5) or to be read. An object of
// another size, or whose single-part ETag is another md5, is an error:
// it is never replaced.
func inspectObject(ctx context.Context, st *backup.S3Store, key string, f FileEntry) (objectState, error) {
	info, err := st.Stat(ctx, key)
	if errors.Is(err, backup.ErrNoObject) {
		return objectMissing, nil
	}
	if err != nil {
		return 0, err
	}
	url := "s3://" + st.Bucket() + "/" + key
	if info.Size != f.Size {
		return 0, fmt.Errorf("%s holds %d bytes, figshare's %s has %d: not replaced; remove the object and run again", url, info.Size, f.Name, f.Size)
	}
	switch {
	case f.SuppliedMD5 == "":
		return objectUnverified, nil
	case strings.EqualFold(info.ETag, f.SuppliedMD5), strings.EqualFold(info.Metadata[metaMD5], f.SuppliedMD5) && strings.Contains(info.ETag, "-"):
		return objectVerified, nil
	case len(info.ETag) == 32 && !strings.Contains(info.ETag, "-") && info.Metadata[metaMD5] == "":
		// a plain ETag is the md5 of a single-part upload
		return 0, fmt.Errorf("%s has md5 %s, figshare's %s has %s: not replaced; remove the object and run again", url, info.ETag, f.Name, f.SuppliedMD5)
	}
	return objectUnverified, nil
}

// readMD5 reads the object back and returns its md5.
func readMD5(ctx context.Context, st *backup.S3Store, key string) (string, error) {
	r, err := st.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := md5.New()
	if _, err := io.CopyBuffer(h, r, make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// isPublic reports whether the object has DCOR's tag public=true.
func isPublic(ctx context.Context, st *backup.S3Store, key string) (bool, error) {
	t, err := st.Tags(ctx, key)
	if err != nil {
		return false, err
	}
	return t["public"] == "true", nil
}

// makePublic adds public=true to the object's tags, keeping the others
// (DCOR's make_object_public).
func makePublic(ctx context.Context, st *backup.S3Store, key string) error {
	t, err := st.Tags(ctx, key)
	if err != nil {
		return err
	}
	if t["public"] == "true" {
		return nil
	}
	t["public"] = "true"
	return st.SetTags(ctx, key, t)
}

// planArticleS3 plans, on ap, the files and resources of the article fa
// for a site with object storage (DEP-HEAD's import_dataset): per file,
// download (resumed) into the cache unless the object is there, upload
// to the circle's bucket with the file's md5 and sha256 (every request
// checked by the server against its Content-MD5) and check the object;
// tag it public=true for a public dataset; append the resource (id,
// name, s3_available) with package_revise when the dataset lacks it;
// at the end set the dataset active. An object that is there and
// verified is not uploaded again; one that differs is reported, never
// replaced.
func planArticleS3(ctx context.Context, ap *articlePlan, fa *Article) error {
	env, ds, a := ap.env, ap.ds, ap.a
	o := env.Objects
	orgID, err := o.circle(ctx, env.CKAN)
	if err != nil {
		return err
	}
	// the bucket is known once the circle exists (it may be created by
	// this run)
	bucket := func(ctx context.Context) (*backup.S3Store, error) {
		id, err := o.circle(ctx, env.CKAN)
		if err != nil {
			return nil, err
		}
		if id == "" {
			return nil, fmt.Errorf("the circle %s does not exist", Organization)
		}
		return o.Store.InBucket(o.Bucket(id)), nil
	}
	dir := DepotDir(o.Cache, ds.Name)
	for _, f := range fa.Files {
		fr := ap.file(f, dir)
		if fr == nil {
			continue
		}
		rid := fr.ResourceID
		key := ObjectKey(rid)
		fr.Object = "s3://" + o.BucketName + "/" + key // the circle is made by this run
		if orgID != "" {
			fr.Object = "s3://" + o.Bucket(orgID) + "/" + key
		}
		exists, changed := ap.resource(fr, f)
		if changed {
			continue
		}
		state, tagged := objectMissing, false
		if orgID != "" {
			st := o.Store.InBucket(o.Bucket(orgID))
			if state, err = inspectObject(ctx, st, key, f); err == nil && state != objectMissing && !ds.Private {
				tagged, err = isPublic(ctx, st, key)
			}
			if err != nil {
				fr.Status, fr.Note = "failed", err.Error()
				a.State, a.Error = "failed", err.Error()
				continue
			}
		}
		if state == objectVerified && exists && (tagged || ds.Private) {
			fr.Status = "in place"
			continue
		}
		var planned []string
		if state == objectMissing {
			df := ap.depotFile(fr, f)
			if !df.present() {
				planned = append(planned, "download")
				ap.download(df, dir)
			}
			planned = append(planned, "upload")
			ap.do(fmt.Sprintf("upload %s to %s", fr.Depot, fr.Object), func(ctx context.Context) error {
				h, err := df.sums()
				if err != nil {
					return err
				}
				st, err := bucket(ctx)
				if err != nil {
					return err
				}
				fr.Object = "s3://" + st.Bucket() + "/" + key
				if _, err := st.EnsureBucket(ctx, BucketPolicy(st.Bucket())); errors.Is(err, backup.ErrPolicyRefused) {
					fr.Note = fmt.Sprintf("%v: public objects are served only through CKAN's presigned URLs", err)
				} else if err != nil {
					return err
				}
				if err := st.PutFile(ctx, key, df.local, map[string]string{metaMD5: h.MD5, metaSHA256: h.SHA256}); err != nil {
					return err
				}
				f := f
				f.SuppliedMD5 = h.MD5
				state, err := inspectObject(ctx, st, key, f)
				if err == nil && state != objectVerified {
					err = fmt.Errorf("%s: the server does not confirm the md5 %s of the upload", fr.Object, h.MD5)
				}
				if err != nil {
					return err
				}
				if !ds.Private {
					return makePublic(ctx, st, key)
				}
				return nil
			})
		} else {
			if state == objectUnverified {
				planned = append(planned, "verify")
				ap.do(fmt.Sprintf("verify %s against figshare's md5 (read it back)", fr.Object), func(ctx context.Context) error {
					st, err := bucket(ctx)
					if err != nil {
						return err
					}
					sum, err := readMD5(ctx, st, key)
					if err != nil {
						return err
					}
					if f.SuppliedMD5 != "" && !strings.EqualFold(sum, f.SuppliedMD5) {
						return fmt.Errorf("%s has md5 %s, figshare's %s has %s: not replaced; remove the object and run again", fr.Object, sum, f.Name, f.SuppliedMD5)
					}
					return nil
				})
			}
			if !tagged && !ds.Private {
				planned = append(planned, "tag public")
				ap.do(fmt.Sprintf("tag %s public=true", fr.Object), func(ctx context.Context) error {
					st, err := bucket(ctx)
					if err != nil {
						return err
					}
					return makePublic(ctx, st, key)
				})
			}
		}
		if !exists {
			planned = append(planned, "add resource")
			ap.do(fmt.Sprintf("add resource %s (%s) to %s (package_revise, s3_available)", f.Name, rid, ds.Name), func(ctx context.Context) error {
				return env.CKAN.Action(ctx, "package_revise", map[string]any{
					"match__id":                 ds.ID,
					"update__resources__extend": []map[string]any{{"id": rid, "name": f.Name, "s3_available": true}},
				}, nil)
			})
		}
		fr.Status = "planned: " + strings.Join(planned, ", ")
	}
	ap.finish()
	return nil
}
