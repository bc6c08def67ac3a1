package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/figshare"
	"github.com/DCOR-dev/dcor/internal/figsharetest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// s3Script inspects a bucket inside the stack's namespace with DCOR's
// own S3 code (dcor_shared.s3, the credentials of ckan.ini): "list
// BUCKET" prints each object's key, size, ETag, md5 and tags as JSON;
// "rm BUCKET KEY…" removes the keys.
const s3Script = `import hashlib, json, sys
from dcor_shared import s3
client = s3.get_s3()[0]
cmd, bucket, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
if cmd == "rm":
    for k in keys:
        try:
            client.delete_object(Bucket=bucket, Key=k)
        except client.exceptions.NoSuchBucket:
            pass
    sys.exit(0)
out = []
try:
    pages = list(client.get_paginator("list_objects_v2").paginate(Bucket=bucket))
except client.exceptions.NoSuchBucket:
    pages = []
for page in pages:
    for o in page.get("Contents", []):
        body = client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        tags = client.get_object_tagging(Bucket=bucket, Key=o["Key"])["TagSet"]
        out.append({"key": o["Key"], "size": o["Size"], "etag": o["ETag"].strip('"'),
                    "md5": hashlib.md5(body).hexdigest(),
                    "tags": {t["Key"]: t["Value"] for t in tags}})
print(json.dumps(out))
`

// download fetches a resource through nginx into dl as a browser does:
// DCOR's download route (dc_serve) must redirect to the object's
// presigned URL, DCOR's own (dcor_shared.s3: SigV2, boto3 without a
// region), which the stack's MinIO must serve.
func download(t *testing.T, e *Env, bucket, url, rid, dl string) {
	t.Helper()
	loc := strings.TrimSpace(mustRun(t, e, time.Minute, "curl", "-sS", "--cacert", e.Cert, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", url))
	presigned := "/" + bucket + "/" + figshare.ObjectKey(rid) + "?"
	if !strings.HasPrefix(loc, "302 ") || !strings.Contains(loc, presigned) {
		t.Fatalf("download %s: %s, want a redirect to the presigned URL of %s", url, loc, strings.TrimSuffix(presigned, "?"))
	}
	url = strings.TrimPrefix(loc, "302 ")
	if out, code := run(t, e, time.Minute, "curl", "-sSf", "-o", dl, url); code != 0 {
		t.Fatalf("DCOR's presigned URL %s: exit %d: %s", url, code, out)
	}
}

// s3Object is an object as s3Script lists it.
type s3Object struct {
	Key, ETag, MD5 string
	Size           int64
	Tags           map[string]string
}

// TestImportFigshareS3OnTheStack imports two articles from a fake
// figshare (run inside the stack's namespace) into the 2.11 lane's CKAN
// with object storage, with dcor import-figshare as the site user, as
// DCOR 1.x's depot does: package_show through nginx returns the active
// datasets and their resources (s3_available) with DCOR's ids; the
// objects are in the circle's bucket under resource/<id> with the files'
// md5, tagged public=true; a download through nginx follows DCOR's
// redirect to the presigned S3 URL and gives the file's bytes; a second
// run changes nothing in under 2 s. What DCOR's background jobs add
// (sha256, etag, format, condensed and preview objects) is waited for
// and logged.
func TestImportFigshareS3OnTheStack(t *testing.T) {
	e := stackEnv(t)
	if e.Lane == "2.9" {
		t.Skip("seed lane: CKAN 2.9 with the 2022 DCOR extensions keeps resources on the local disk (TestImportFigshareOnTheStack); object storage is the 2.11 lane's")
	}
	ini, err := ckanini.Load(e.CKANIni)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := ini.Get("dcor_object_store.endpoint_url"); v == "" {
		testtool.Missing(t, "the stack has no object storage (dcor_object_store.* unset in ckan.ini): start it with this tree's stack/stack.sh")
	}
	bin := dcor(t)
	fx := newFigshareFixture(t, e, "dcor-stack-figshare-s3-", 601)
	arts, names, dir := fx.arts, fx.names, fx.dir
	script := filepath.Join(dir, "s3.py")
	if err := os.WriteFile(script, []byte(s3Script), 0o644); err != nil {
		t.Fatal(err)
	}
	token := adminToken(t, e)
	listObjects := func(bucket string) []s3Object {
		var objs []s3Object
		out := mustRun(t, e, 2*time.Minute, e.Venv+"/bin/python", script, "list", bucket)
		if err := json.Unmarshal([]byte(lastLine(out)), &objs); err != nil {
			t.Fatalf("listing %s: %v\n%s", bucket, err, out)
		}
		return objs
	}
	// the circle's bucket (the circle may exist from an earlier run)
	bucketOf := func() string {
		code, doc := api(t, e, token, "organization_show", map[string]any{"id": figshare.Organization})
		if code != 200 {
			return ""
		}
		name, _ := ini.Get("dcor_object_store.bucket_name")
		return strings.ReplaceAll(name, "{organization_id}", fmt.Sprint(result(doc)["id"]))
	}
	cleanup := func() {
		bucket := bucketOf()
		for i, n := range names {
			id := figshare.MakeID(arts[i].DOI(), n)
			if bucket != "" {
				var keys []string
				for _, f := range arts[i].Files {
					key := figshare.ObjectKey(figshare.MakeID(id, f.MD5))
					rest := strings.TrimPrefix(key, "resource/")
					keys = append(keys, key, "condensed/"+rest, "preview/"+rest)
				}
				run(t, e, time.Minute, e.Venv+"/bin/python", append([]string{script, "rm", bucket}, keys...)...)
			}
			fx.purge(t, e, token, n)
			// DCOR names its jobs <package id>_<position>_<job> and
			// enqueues none while one of that id is in Redis
			run(t, e, time.Minute, "sh", "-c", "redis-cli --scan --pattern 'rq:job:"+id+"_*' | xargs -r redis-cli del")
		}
	}
	cleanup()
	defer cleanup()

	if code := fx.importFirst(t, e, bin); code != 0 {
		t.Fatalf("first run: exit %d", code)
	}
	bucket := bucketOf()
	if !strings.HasPrefix(bucket, "circle-") {
		t.Fatalf("no circle %s after the import", figshare.Organization)
	}

	// the objects: DCOR's keys, the files' bytes, public (DCOR's bucket
	// policy lets anyone get them)
	objs := map[string]s3Object{}
	for _, o := range listObjects(bucket) {
		objs[o.Key] = o
	}
	endpoint, _ := ini.Get("dcor_object_store.endpoint_url")
	for i, a := range arts {
		id := figshare.MakeID(a.DOI(), names[i])
		for _, f := range a.Files {
			key := figshare.ObjectKey(figshare.MakeID(id, f.MD5))
			o, ok := objs[key]
			switch {
			case !ok:
				t.Errorf("no object %s/%s for %s", bucket, key, f.Name)
			case o.MD5 != f.MD5 || o.Size != f.Size || o.Tags["public"] != "true":
				t.Errorf("object %s: %+v, want md5 %s size %d tag public=true", key, o, f.MD5, f.Size)
			}
			anon := filepath.Join(dir, fmt.Sprintf("anon-%d", f.ID))
			if out, code := run(t, e, time.Minute, "curl", "-sSf", "-o", anon, endpoint+"/"+bucket+"/"+key); code != 0 {
				t.Errorf("anonymous GET of %s/%s (DCOR's bucket policy: public=true for anyone): exit %d: %s", bucket, key, code, out)
			} else if h, err := figshare.HashFile(anon); err != nil || h.MD5 != f.MD5 {
				t.Errorf("anonymous GET of %s/%s: md5 %s (%v), want %s", bucket, key, h.MD5, err, f.MD5)
			}
		}
	}

	// CKAN through nginx (anonymous: public and active), and the files
	fx.eachResource(t, e, func(name, wantID, rid string, f *figsharetest.File, rd map[string]any) {
		if rd["id"] != rid || rd["name"] != f.Name || rd["s3_available"] != true {
			t.Errorf("resource %v, want id %s name %s s3_available", rd, rid, f.Name)
		}
		dl := filepath.Join(dir, fmt.Sprintf("dl-%d", f.ID))
		download(t, e, bucket, fmt.Sprintf("%s/dataset/%s/resource/%s/download/%s", e.URL, wantID, rid, f.Name), rid, dl)
		got, err := figshare.HashFile(dl)
		if err != nil || got.MD5 != f.MD5 {
			t.Errorf("download of %s: md5 %s (%v), want the file's %s", f.Name, got.MD5, err, f.MD5)
		}
	})

	fx.importAgain(t, e, bin)

	// what DCOR's background jobs make of the resources (logged)
	jobs(t, e, arts, names, bucket, listObjects, 3*time.Minute)
}

// jobs waits (at most within) for DCOR 1.x's jobs: the resources'
// sha256, etag and format in CKAN, and the condensed and preview
// objects in the bucket; it logs what it found when. A sha256 other than
// the file's is an error.
func jobs(t *testing.T, e *Env, arts []*figsharetest.Article, names []string, bucket string, list func(string) []s3Object, within time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		var missing []string
		objs := map[string]bool{}
		for _, o := range list(bucket) {
			objs[o.Key] = true
		}
		for i, a := range arts {
			_, doc := api(t, e, "", "package_show", map[string]any{"id": names[i]})
			res, _ := result(doc)["resources"].([]any)
			for j, f := range a.Files {
				rid := figshare.MakeID(figshare.MakeID(a.DOI(), names[i]), f.MD5)
				rest := strings.TrimPrefix(figshare.ObjectKey(rid), "resource/")
				var rd map[string]any
				if j < len(res) {
					rd, _ = res[j].(map[string]any)
				}
				h, _ := figshare.HashFile(f.Path)
				if s, _ := rd["sha256"].(string); s != "" && s != h.SHA256 {
					t.Errorf("%s: CKAN's sha256 %s, the file's %s", f.Name, s, h.SHA256)
				}
				for _, k := range []string{"sha256", "etag", "format", "size"} {
					if v, ok := rd[k]; !ok || v == "" || v == nil {
						missing = append(missing, f.Name+" "+k)
					}
				}
				for _, k := range []string{"condensed/" + rest, "preview/" + rest} {
					if !objs[k] {
						missing = append(missing, f.Name+" "+strings.SplitN(k, "/", 2)[0]+" object")
					}
				}
			}
		}
		if len(missing) == 0 {
			t.Logf("DCOR's jobs: sha256, etag, format, size and the condensed and preview objects of every resource after %v", time.Since(start).Round(time.Second))
			return
		}
		if time.Since(start) > within {
			t.Logf("DCOR's jobs after %v: still missing %v (workers' logs: %s/log and /var/log/ckan in the namespace)", within, missing, e.State)
			return
		}
		time.Sleep(3 * time.Second)
	}
}
