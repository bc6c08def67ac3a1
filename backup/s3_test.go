package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/s3test"
)

const testBucket = "circle-000000000-backup"

func s3Config(srv *s3test.Server) S3Config {
	return S3Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: testBucket}
}

func s3Store(t testing.TB, srv *s3test.Server) *S3Store {
	t.Helper()
	s, err := NewS3Store(context.Background(), s3Config(srv))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBackupBucket(t *testing.T) {
	for in, want := range map[string]string{
		"circle-{organization_id}":                 "circle-000000000-backup",
		"circle-dcor.mpl.mpg.de-{organization_id}": "circle-dcor.mpl.mpg.de-000000000-backup",
		"plain-": "plain-000000000-backup",
	} {
		if got := BackupBucket(in); got != want {
			t.Errorf("BackupBucket(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestS3 backs up to and restores from a real S3 server (Versity Gateway).
func TestS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(t, testBucket)
	c := pgtest.Start(t)
	url := newCKANDatabase(t, c, "ckan_default", password)
	want := tableRows(t, c, url)
	key := newGPGKey(t, "cv25519")
	ctx := context.Background()

	t.Run("round trip: upload, gpg, pg_restore", func(t *testing.T) {
		st := s3Store(t, srv)
		out := filepath.Join(t.TempDir(), "dumps")
		res, err := Run(ctx, Options{DatabaseURL: url, Recipients: recipients(t, key), OutDir: out,
			Hostname: "h", Now: testNow, Remote: st, NoLocal: true})
		if err != nil {
			t.Fatal(err)
		}
		wantKey := "2024/03/ckan_db_h_2024-03-05_01-02-03.dump_" + key.keyID + ".gpg"
		if res.Remote != "s3://"+testBucket+"/"+wantKey || res.File != "" {
			t.Fatalf("remote %q file %q, want s3://%s/%s and no file", res.Remote, res.File, testBucket, wantKey)
		}
		if !strings.Contains(res.Summary(), res.Remote) {
			t.Errorf("summary %q does not name %s", res.Summary(), res.Remote)
		}
		noFinalFiles(t, out) // --no-local: only the lock
		if got := srv.Keys(t, testBucket); !reflect.DeepEqual(got, []string{wantKey, wantKey + ".sha256"}) {
			t.Fatalf("bucket holds %q", got)
		}
		cl := srv.Client(t)
		info, err := cl.StatObject(ctx, testBucket, wantKey, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if info.UserMetadata[metaSHA256] != res.SHA256 || info.Size != res.Size {
			t.Errorf("object metadata %v size %d, want sha256 %s size %d", info.UserMetadata, info.Size, res.SHA256, res.Size)
		}
		obj, _ := cl.GetObject(ctx, testBucket, wantKey, minio.GetObjectOptions{})
		data, err := io.ReadAll(obj)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != res.SHA256 {
			t.Errorf("downloaded object's sha256 differs from the result's")
		}
		f := filepath.Join(t.TempDir(), "dl.gpg")
		os.WriteFile(f, data, 0o600)
		if plain := gpgDecrypt(t, key, f); !bytes.HasPrefix(plain, []byte("PGDMP")) || int64(len(plain)) != res.DumpSize {
			t.Errorf("gpg decrypted %d bytes (want %d, a custom dump)", len(plain), res.DumpSize)
		}
		sobj, _ := cl.GetObject(ctx, testBucket, wantKey+".sha256", minio.GetObjectOptions{})
		line, _ := io.ReadAll(sobj)
		if string(line) != res.SHA256+"  "+filepath.Base(wantKey)+"\n" {
			t.Errorf(".sha256 object %q", line)
		}

		objs, err := st.List(ctx, "h")
		if err != nil || len(objs) != 1 || !objs[0].Verified || objs[0].Key != wantKey || objs[0].Kind != KindDatabase {
			t.Fatalf("List: %+v, %v", objs, err)
		}

		// Restore streams the object down: verify and into a new database.
		sk := secretKey(t, key)
		r, err := Restore(ctx, RestoreOptions{Store: st, File: wantKey, Key: sk, Verify: true})
		if err != nil || r.Verified.Tables == 0 {
			t.Fatalf("verify from S3: %+v %v", r, err)
		}
		c.Exec(t, c.SuperURL("postgres"), "ALTER ROLE ckan_default CREATEDB")
		if _, err := Restore(ctx, RestoreOptions{Store: st, File: wantKey, Key: sk, TargetDB: "from_s3", DatabaseURL: url}); err != nil {
			t.Fatal(err)
		}
		i := strings.LastIndex(url, "/ckan_default")
		sameRows(t, want, tableRows(t, c, url[:i]+"/from_s3"+url[i+len("/ckan_default"):]))
		toFile := filepath.Join(t.TempDir(), "plain.dump")
		if _, err := Restore(ctx, RestoreOptions{Store: st, File: wantKey, Key: sk, ToFile: toFile}); err != nil {
			t.Fatal(err)
		}
		_, err = Restore(ctx, RestoreOptions{Store: st, File: "2024/03/missing.gpg", Key: sk, Verify: true})
		wantErr(t, err, "s3://"+testBucket+"/2024/03/missing.gpg does not exist")

		// Local and S3 at once, with --verify-with: both the same bytes.
		res2, err := Run(ctx, Options{DatabaseURL: url, Recipients: recipients(t, key), OutDir: out,
			Hostname: "h", Now: testNow.Add(time.Hour), Remote: st, VerifyWith: sk})
		if err != nil {
			t.Fatal(err)
		}
		local, _ := os.ReadFile(res2.File)
		obj2, _ := cl.GetObject(ctx, testBucket, strings.TrimPrefix(res2.Remote, "s3://"+testBucket+"/"), minio.GetObjectOptions{})
		remote, _ := io.ReadAll(obj2)
		if !bytes.Equal(local, remote) || res2.Verified == nil {
			t.Errorf("local %d bytes and S3 %d bytes differ, or not verified (%v)", len(local), len(remote), res2.Verified)
		}
		emptyBucket(t, srv)
	})

	t.Run("server killed mid-upload, next run cleans up", func(t *testing.T) {
		emptyBucket(t, srv)
		st := s3Store(t, srv)
		out := t.TempDir()
		// 60 MB that does not compress: several 16 MiB parts.
		big := standIn(t, "printf PGDMP; head -c 60000000 /dev/urandom")
		var once sync.Once
		_, err := Run(ctx, Options{DatabaseURL: url, Recipients: recipients(t, key), OutDir: out, Hostname: "h",
			Now: testNow, Remote: st, NoLocal: true, PgDump: big, Progress: func(n int64) {
				if n > 40<<20 {
					once.Do(srv.Kill)
				}
			}})
		if err == nil {
			t.Fatal("the backup succeeded with the server killed")
		}
		t.Logf("error: %v", err)
		if strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("error is not one line: %q", err)
		}
		srv.Restart()
		finalKey := "2024/03/ckan_db_h_2024-03-05_01-02-03.dump_" + key.keyID + ".gpg"
		for _, k := range srv.Keys(t, testBucket) {
			t.Errorf("the interrupted backup left the object %s", k)
		}
		stale := srv.Uploads(t, testBucket)
		t.Logf("unfinished uploads after the kill: %q", stale)
		if len(stale) != 1 || stale[0] != finalKey {
			t.Errorf("unfinished upload of %q, want %q", stale, finalKey)
		}
		// A foreign unfinished upload is never touched.
		cl := srv.Client(t)
		core := &minio.Core{Client: cl}
		foreignID, err := core.NewMultipartUpload(ctx, testBucket, "2024/03/other-tool.tar.gz", minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st = s3Store(t, srv)
		res, err := Run(ctx, Options{DatabaseURL: url, Recipients: recipients(t, key), OutDir: out, Hostname: "h",
			Now: testNow.Add(time.Minute), Remote: st, NoLocal: true})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(fmt.Sprint(res.Stale), finalKey) {
			t.Errorf("the next run did not report cleaning up the upload of %s: %q", finalKey, res.Stale)
		}
		if got := srv.Uploads(t, testBucket); !reflect.DeepEqual(got, []string{"2024/03/other-tool.tar.gz"}) {
			t.Errorf("unfinished uploads after the next run: %q, want only the foreign one", got)
		}
		core.AbortMultipartUpload(ctx, testBucket, "2024/03/other-tool.tar.gz", foreignID)
		emptyBucket(t, srv)
	})

	t.Run("killed during the read-back: the next run removes the unverified object", func(t *testing.T) {
		emptyBucket(t, srv)
		st := s3Store(t, srv)
		cl := srv.Client(t)
		put := func(k string, meta map[string]string) {
			t.Helper()
			if _, err := cl.PutObject(ctx, testBucket, k, strings.NewReader("x"), 1, minio.PutObjectOptions{UserMetadata: meta}); err != nil {
				t.Fatal(err)
			}
		}
		name := func(host string, tm time.Time) string {
			return tm.Format("2006/01/") + "ckan_db_" + host + "_" + tm.Format(timeLayout) + ".dump_" + key.keyID + ".gpg"
		}
		marker := map[string]string{metaBackup: "1"}
		// What a SIGKILL between the multipart upload's completion and
		// the checksum leaves: dcor's object without dcor-sha256.
		killed := name("h", testNow.Add(-time.Hour))
		put(killed, marker)
		// A kill between a removal of the object and its .sha256.
		lone := name("h", testNow.Add(-2*time.Hour)) + ".sha256"
		put(lone, marker)
		verified := name("h", testNow.Add(-3*time.Hour))
		put(verified, map[string]string{metaBackup: "1", metaSHA256: strings.Repeat("0", 64)})
		put(verified+".sha256", marker)
		foreign := []string{
			name("h", testNow.Add(-4*time.Hour)),                      // dcor's name, not dcor's metadata
			name("other-host", testNow.Add(-time.Hour)),               // another host's unverified object
			name("other-host", testNow.Add(-2*time.Hour)) + ".sha256", // another host's lone .sha256
			name("h", testNow.Add(-5*time.Hour)) + ".sha256",          // lone, not written by dcor
			"2024/03/other-tool.tar.gz",
		}
		put(foreign[0], nil)
		put(foreign[1], marker)
		put(foreign[2], marker)
		put(foreign[3], nil)
		put(foreign[4], marker)

		objs, err := st.List(ctx, "h")
		if err != nil {
			t.Fatal(err)
		}
		shown := false
		for _, o := range objs {
			if o.Key == killed {
				shown = true
				if o.Verified || o.SHA256 != "" {
					t.Errorf("backups list shows the unverified %s as verified: %+v", killed, o)
				}
			}
		}
		if !shown {
			t.Errorf("backups list does not show %s: %+v", killed, objs)
		}

		// Objects newer than the running backup's start are not stale
		// (the one being written now).
		if got := st.CleanStale(ctx, "h", time.Now().Add(-time.Hour)); len(got) > 0 {
			t.Errorf("CleanStale removed objects newer than the backup's start: %q", got)
		}

		time.Sleep(1100 * time.Millisecond) // LastModified has whole seconds
		res, err := Run(ctx, Options{DatabaseURL: url, Recipients: recipients(t, key), OutDir: t.TempDir(), Hostname: "h",
			Now: testNow, Remote: st, NoLocal: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{killed, lone} {
			if _, err := cl.StatObject(ctx, testBucket, k, minio.StatObjectOptions{}); err == nil {
				t.Errorf("the next run left the stale %s", k)
			}
			if !strings.Contains(fmt.Sprint(res.Stale), st.URL(k)) {
				t.Errorf("the next run did not report removing %s: %q", k, res.Stale)
			}
		}
		for _, k := range append([]string{verified, verified + ".sha256", res.Remote[len("s3://"+testBucket+"/"):],
			res.Remote[len("s3://"+testBucket+"/"):] + ".sha256"}, foreign...) {
			if _, err := cl.StatObject(ctx, testBucket, k, minio.StatObjectOptions{}); err != nil {
				t.Errorf("the clean-up touched %s: %v", k, err)
			}
		}
		emptyBucket(t, srv)
	})

	t.Run("pg_dump fails: the multipart upload is aborted", func(t *testing.T) {
		st := s3Store(t, srv)
		bad := standIn(t, "printf PGDMP; head -c 20000000 /dev/urandom; echo 'pg_dump: error: simulated' >&2; exit 1")
		_, err := Run(ctx, Options{DatabaseURL: url, Recipients: recipients(t, key), OutDir: t.TempDir(), Hostname: "h",
			Now: testNow, Remote: st, NoLocal: true, PgDump: bad})
		wantErr(t, err, "simulated")
		if k := srv.Keys(t, testBucket); len(k) > 0 {
			t.Errorf("objects left: %q", k)
		}
		if u := srv.Uploads(t, testBucket); len(u) > 0 {
			t.Errorf("unfinished uploads left: %q", u)
		}
	})

	t.Run("configuration errors are one line", func(t *testing.T) {
		bad := s3Config(srv)
		bad.SecretKey = "wrong"
		_, err := NewS3Store(ctx, bad)
		wantErr(t, err, "refused the credentials", srv.Endpoint)
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("the secret is in the message: %v", err)
		}
		missing := s3Config(srv)
		missing.Bucket = "no-such-bucket"
		_, err = NewS3Store(ctx, missing)
		wantErr(t, err, "S3 bucket no-such-bucket does not exist at "+srv.Endpoint)
		down := s3Config(srv)
		down.Endpoint = "http://127.0.0.1:1"
		start := time.Now()
		_, err = NewS3Store(ctx, down)
		wantErr(t, err, "S3 endpoint http://127.0.0.1:1 is unreachable", "connection refused")
		t.Logf("unreachable endpoint reported after %s", time.Since(start).Round(time.Millisecond))
		for _, e := range []error{err} {
			if strings.Contains(e.Error(), "\n") {
				t.Errorf("not one line: %q", e)
			}
		}
	})

	t.Run("retention removes exactly the expected objects", func(t *testing.T) {
		st := s3Store(t, srv)
		cl := srv.Client(t)
		put := func(k string, meta map[string]string) {
			if _, err := cl.PutObject(ctx, testBucket, k, strings.NewReader("x"), 1, minio.PutObjectOptions{UserMetadata: meta}); err != nil {
				t.Fatal(err)
			}
		}
		name := func(host string, tm time.Time) string {
			return tm.Format("2006/01/") + "ckan_db_" + host + "_" + tm.Format(timeLayout) + ".dump_" + key.keyID + ".gpg"
		}
		ours := map[string]string{metaBackup: "1", metaSHA256: strings.Repeat("0", 64)}
		days := []time.Time{}
		for i := 0; i < 6; i++ {
			tm := time.Date(2024, 1, 1+i*10, 1, 0, 0, 0, time.Local) // Jan 1, 11, 21, 31, Feb 10, 20
			days = append(days, tm)
			put(name("h", tm), ours)
			put(name("h", tm)+".sha256", map[string]string{metaBackup: "1"})
		}
		foreign := []string{
			name("h", time.Date(2023, 6, 1, 0, 0, 0, 0, time.Local)), // dcor's name, not dcor's metadata
			name("other-host", days[0]),
			"2023/06/backup_instance_2023-06-01_00-00-00_2B4B066FFE3D288E_dcor-control.tar.bz2.gpg",
			"resource/abc/def",
		}
		for _, k := range foreign {
			put(k, nil)
		}
		before := srv.Keys(t, testBucket)
		now := days[5].Add(time.Hour)
		removed, err := PruneStore(ctx, st, "h", KindDatabase, Retention{Keep: 2, Monthly: 2}, now, "")
		if err != nil {
			t.Fatal(err)
		}
		// kept: the newest 2 (Feb 10, Feb 20) and the newest of Feb and Jan (Jan 31)
		var wantRemoved []string
		for _, d := range days[:3] {
			wantRemoved = append(wantRemoved, st.URL(name("h", d)))
		}
		if !reflect.DeepEqual(removed, wantRemoved) {
			t.Errorf("removed %q\nwant %q", removed, wantRemoved)
		}
		after := srv.Keys(t, testBucket)
		if len(before)-len(after) != 6 {
			t.Errorf("%d keys removed, want 6 (3 backups and their .sha256)", len(before)-len(after))
		}
		for _, k := range foreign {
			if _, err := cl.StatObject(ctx, testBucket, k, minio.StatObjectOptions{}); err != nil {
				t.Errorf("retention touched %s, which dcor did not write: %v", k, err)
			}
		}
	})
}

// emptyBucket removes every object of the test bucket.
func emptyBucket(t *testing.T, srv *s3test.Server) {
	cl := srv.Client(t)
	for _, k := range srv.Keys(t, testBucket) {
		if err := cl.RemoveObject(context.Background(), testBucket, k, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRetentionExpired(t *testing.T) {
	var times []time.Time
	for i := 0; i < 400; i++ { // daily for 400 days
		times = append(times, time.Date(2023, 1, 1, 0, 2, 0, 0, time.UTC).AddDate(0, 0, i))
	}
	now := times[len(times)-1]
	exp := Retention{Daily: 14, Monthly: 12, Yearly: 10}.expired(times, now)
	kept := 0
	for _, e := range exp {
		if !e {
			kept++
		}
	}
	// Jan 1 2023 .. Feb 4 2024: 14 daily (Jan 22 .. Feb 4), 12 monthly
	// (Feb and Jan 2024 are daily ones already: 10 more, Mar .. Dec 2023),
	// 2 yearly (both kept already) = 24.
	if kept != 24 {
		t.Errorf("kept %d of 400 daily backups, want 24", kept)
	}
	if exp[len(exp)-1] {
		t.Error("the newest was removed")
	}
	if got := (Retention{}).expired(times, now); strings.Contains(fmt.Sprint(got), "true") {
		t.Error("an empty retention removed something")
	}
}
