package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/figshare"
	"github.com/DCOR-dev/dcor/internal/figsharetest"
	"github.com/DCOR-dev/dcor/internal/s3test"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// TestStackS3Version: stack.sh runs the Versity Gateway release the S3
// tests build (one binary in the cache for both).
func TestStackS3Version(t *testing.T) {
	b, err := os.ReadFile("stack.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^S3GW_VERSION=(\S+)`).FindSubmatch(b)
	if m == nil || string(m[1]) != s3test.Version {
		t.Errorf("stack.sh S3GW_VERSION = %q, internal/s3test.Version = %s", m, s3test.Version)
	}
}

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

// presignScript makes presigned URLs of an object inside the stack
// (argv = bucket, key, file name) and prints two lines: DCOR's own
// (dcor_shared.s3.create_presigned_url, which dc_serve's download route
// redirects to), and one made with the same client, SigV4 and an
// integer expiry.
const presignScript = `import sys, boto3
from botocore.config import Config
from dcor_shared import s3
from dcor_shared.ckan import get_ckan_config_option as opt
bucket, key, name = sys.argv[1:4]
print(s3.create_presigned_url(bucket, key, filename=name))
c = boto3.client("s3", endpoint_url=opt("dcor_object_store.endpoint_url"),
                 aws_access_key_id=opt("dcor_object_store.access_key_id"),
                 aws_secret_access_key=opt("dcor_object_store.secret_access_key"),
                 config=Config(signature_version="s3v4"))
print(c.generate_presigned_url("get_object", ExpiresIn=3600, Params={
    "Bucket": bucket, "Key": key, "ResponseContentDisposition": "attachment; filename = " + name}))
`

// download fetches a resource through nginx into dl as a browser does:
// DCOR's download route (dc_serve) redirects to the object's presigned
// URL. On the stack that fails upstream, and the test logs how: CKAN
// 2.11.5's own resource.download shadows dc_serve's route (Werkzeug
// 3.1.8 matches dataset_resource.download first) and redirects to the
// resource's url, which DCOR sets to the download URL itself, a loop
// (before DCOR's jobs set it, an empty url gives HTTP 500);
// and DCOR's presigned URLs are SigV2 (botocore's default for
// us-east-1), which Versity Gateway refuses (with SigV4 configured,
// DCOR's fractional ExpiresIn gives an X-Amz-Expires S3 refuses too).
// Then the file is fetched from a presigned URL of the same object made
// with DCOR's client, SigV4 and an integer expiry.
func download(t *testing.T, e *Env, bucket, url, rid, dl string) {
	t.Helper()
	loc := strings.TrimSpace(mustRun(t, e, time.Minute, "curl", "-sS", "--cacert", e.Cert, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", url))
	key := figshare.ObjectKey(rid)
	presigned := "/" + bucket + "/" + key + "?"
	switch {
	case strings.HasPrefix(loc, "302 ") && strings.Contains(loc, presigned):
		url = strings.TrimPrefix(loc, "302 ")
		if out, code := run(t, e, time.Minute, "curl", "-sSf", "-o", dl, url); code == 0 {
			return
		} else {
			t.Logf("DCOR's presigned URL %s: %s", url, out)
		}
	case loc == "302 "+url:
		t.Logf("%s redirects to itself: CKAN 2.11.5's resource.download shadows dc_serve's download route", url)
	case loc == "500":
		t.Logf("%s: HTTP 500: CKAN 2.11.5's resource.download shadows dc_serve's download route and fails to redirect to the resource's url, which DCOR's jobs have not set yet", url)
	default:
		t.Fatalf("download %s: %s, want a redirect to the presigned URL of %s/%s", url, loc, bucket, key)
	}
	script := filepath.Join(filepath.Dir(dl), "presign.py")
	if err := os.WriteFile(script, []byte(presignScript), 0o644); err != nil {
		t.Fatal(err)
	}
	urls := strings.Split(strings.TrimSpace(mustRun(t, e, time.Minute, e.Venv+"/bin/python", script, bucket, key, path.Base(url))), "\n")
	if len(urls) < 2 || !strings.Contains(urls[len(urls)-1], presigned) {
		t.Fatalf("presigned URLs of %s/%s: %q", bucket, key, urls)
	}
	dcorURL, v4 := urls[len(urls)-2], urls[len(urls)-1]
	out, _ := run(t, e, time.Minute, "curl", "-sS", dcorURL)
	t.Logf("DCOR's own presigned URL (%.60s…): %.200s", dcorURL, out)
	mustRun(t, e, time.Minute, "curl", "-sSf", "-o", dl, v4)
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

	// the objects: DCOR's keys, the files' bytes, public
	objs := map[string]s3Object{}
	for _, o := range listObjects(bucket) {
		objs[o.Key] = o
	}
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
