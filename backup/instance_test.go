package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/s3test"
)

// storageTree makes a storage tree under root/data/ckan-h with modes,
// owners, symlinks (relative, absolute, dangling), a hard link, odd
// names and files that --exclude skips.
func storageTree(t *testing.T, root string) string {
	t.Helper()
	tree := filepath.Join(root, "data", "ckan-h")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"resources/abc/def", "storage/uploads/group", "webassets/.webassets-cache", "tmp-cache"} {
		must(os.MkdirAll(filepath.Join(tree, d), 0o755))
	}
	big := make([]byte, 3<<20)
	rand.Read(big)
	files := map[string]struct {
		data []byte
		mode os.FileMode
	}{
		"resources/abc/def/0123456789":    {big, 0o640},
		"storage/uploads/group/logo.png":  {[]byte("\x89PNG fake"), 0o644},
		"resources/abc/def/empty":         {nil, 0o400},
		"storage/uploads/run.sh":          {[]byte("#!/bin/sh\necho hi\n"), 0o755},
		"storage/uploads/ünï cödé name":   {[]byte("odd name"), 0o600},
		"webassets/.webassets-cache/x.js": {[]byte("cache"), 0o644},
		"storage/uploads/skip.tmp":        {[]byte("excluded"), 0o644},
		"tmp-cache/dropped":               {[]byte("excluded dir"), 0o644},
	}
	for n, f := range files {
		p := filepath.Join(tree, n)
		must(os.WriteFile(p, f.data, 0o600))
		must(os.Chmod(p, f.mode))
	}
	must(os.Symlink("def/0123456789", filepath.Join(tree, "resources/abc/link-rel")))
	must(os.Symlink("/data/ckan-h/storage/uploads/group/logo.png", filepath.Join(tree, "storage/link-abs")))
	must(os.Symlink("nowhere", filepath.Join(tree, "storage/dangling")))
	must(os.Link(filepath.Join(tree, "storage/uploads/run.sh"), filepath.Join(tree, "storage/hardlink.sh")))
	must(os.Chmod(filepath.Join(tree, "resources/abc"), 0o750))
	must(os.Chmod(filepath.Join(tree, "storage/uploads/group"), 0o2775))
	if os.Geteuid() == 0 {
		must(os.Lchown(filepath.Join(tree, "storage/uploads/group/logo.png"), 1234, 5678))
		must(os.Lchown(filepath.Join(tree, "storage/link-abs"), 4321, 8765))
	}
	old := time.Date(2021, 2, 3, 4, 5, 6, 789000000, time.UTC)
	must(os.Chtimes(filepath.Join(tree, "resources/abc/def/0123456789"), old, old))
	return tree
}

// treeState describes every entry under dir: type, mode, owner, link
// target, content and mtime, by relative path.
func treeState(t *testing.T, dir string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		for _, s := range skip {
			if rel == s {
				return filepath.SkipDir
			}
		}
		info, _ := de.Info()
		st := info.Sys().(*syscall.Stat_t)
		desc := info.Mode().String() + " " + itoa(int(st.Uid)) + ":" + itoa(int(st.Gid))
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case info.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			desc += " " + string(data) + " " + info.ModTime().UTC().Format(time.RFC3339Nano)
		}
		if rel != "." {
			out[rel] = desc
		}
		return nil
	})
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestInstanceBackup(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(t, testBucket)
	c := pgtest.Start(t)
	url := newCKANDatabase(t, c, "ckan_default", password)
	want := tableRows(t, c, url)
	key := newGPGKey(t, "cv25519")
	ctx := context.Background()
	root := t.TempDir()
	tree := storageTree(t, root)
	out := filepath.Join(t.TempDir(), "instance-encrypted")

	st := s3Store(t, srv)
	res, err := RunInstance(ctx, InstanceOptions{Database: Options{DatabaseURL: url, Hostname: "h"},
		Recipients: recipients(t, key), Trees: []string{tree}, Root: root, Exclude: []string{"*.tmp", "/data/ckan-h/tmp-cache"},
		OutDir: out, Remote: st, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary())
	name := "backup_instance_h_2024-03-05_01-02-03_" + key.keyID + "_dcor.tar.gpg"
	if res.File != filepath.Join(out, "2024-03", name) || res.Remote != "s3://"+testBucket+"/2024/03/"+name {
		t.Fatalf("file %s remote %s", res.File, res.Remote)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
	// Nothing else in the output directory: the spool was never visible.
	var seen []string
	filepath.WalkDir(out, func(p string, de fs.DirEntry, err error) error {
		if !de.IsDir() && de.Name() != lockName {
			seen = append(seen, filepath.Base(p))
		}
		return nil
	})
	if !reflect.DeepEqual(seen, []string{name, name + ".sha256"}) {
		t.Errorf("output directory holds %q", seen)
	}

	// gpg decrypts it; the tar holds DCOR's member names.
	plain := gpgDecrypt(t, key, res.File)
	tr := tar.NewReader(bytes.NewReader(plain))
	var members []string
	var dump []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, h.Name)
		if strings.HasPrefix(h.Name, "backups/database/") {
			dump, _ = io.ReadAll(tr)
		}
	}
	if members[0] != "backups/database/ckan_db_h_2024-03-05_01-02-03.pgc" || int64(len(dump)) != res.DumpSize || !bytes.HasPrefix(dump, []byte("PGDMP")) {
		t.Fatalf("first member %q, dump %d bytes (want %d)", members[0], len(dump), res.DumpSize)
	}
	for _, m := range members {
		if strings.Contains(m, "skip.tmp") || strings.Contains(m, "tmp-cache") {
			t.Errorf("excluded %s is in the archive", m)
		}
	}
	// GNU tar reads the archive too.
	if _, err := exec.LookPath("tar"); err == nil {
		cmd := exec.Command("tar", "-tvf", "-")
		cmd.Stdin = bytes.NewReader(plain)
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GNU tar: %v\n%s", err, o)
		} else if !strings.Contains(string(o), "data/ckan-h/resources/abc/link-rel -> def/0123456789") {
			t.Errorf("GNU tar listing lacks the symlink:\n%s", o)
		}
	}

	// Restore from S3 into a new directory: the tree byte for byte.
	into := filepath.Join(t.TempDir(), "restored")
	rr, err := RestoreInstance(ctx, InstanceRestoreOptions{Store: st, File: "2024/03/" + name, Key: secretKey(t, key), To: into})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(tree, "storage/uploads/skip.tmp"))
	os.RemoveAll(filepath.Join(tree, "tmp-cache"))
	wantTree := treeState(t, tree)
	gotTree := treeState(t, filepath.Join(into, "data", "ckan-h"))
	for k, v := range wantTree {
		if gotTree[k] != v {
			t.Errorf("%s restored as %q, want %q", k, gotTree[k], v)
		}
	}
	if len(gotTree) != len(wantTree) {
		t.Errorf("%d entries restored, want %d", len(gotTree), len(wantTree))
	}
	// pg_restore restores identical rows from the unpacked dump.
	if rr.Dump == "" {
		t.Fatal("no dump unpacked")
	}
	target := c.CreateDatabase(t, "from_instance", "ckan_default", password)
	pgRestore, _ := findPgProgram("pg_restore", "")
	if o, err := exec.Command(pgRestore, "--no-owner", "--exit-on-error", "--dbname="+target, rr.Dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, o)
	}
	sameRows(t, want, tableRows(t, c, target))

	// Not into a non-empty directory.
	_, err = RestoreInstance(ctx, InstanceRestoreOptions{File: res.File, Key: secretKey(t, key), To: into})
	wantErr(t, err, "is not empty")

	// Overwrite (restore over the live tree, --force): every entry of the
	// archive replaces the changed file, link or FIFO under its name.
	restored := filepath.Join(into, "data", "ckan-h")
	var changed []string
	filepath.WalkDir(restored, func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			changed = append(changed, p)
		}
		return nil
	})
	for _, p := range changed {
		os.Chmod(filepath.Dir(p), 0o755)
		os.Remove(p)
		os.WriteFile(p, []byte("changed after the backup"), 0o600)
	}
	if len(changed) == 0 {
		t.Fatal("no files restored to change")
	}
	if _, err := RestoreInstance(ctx, InstanceRestoreOptions{File: res.File, Key: secretKey(t, key), To: into, Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	gotTree = treeState(t, restored)
	for k, v := range wantTree {
		if gotTree[k] != v {
			t.Errorf("after Overwrite %s is %q, want %q", k, gotTree[k], v)
		}
	}

	t.Run("interrupted mid-upload: nothing under a final name", func(t *testing.T) {
		emptyBucket(t, srv)
		bigTree := filepath.Join(t.TempDir(), "big")
		os.MkdirAll(bigTree, 0o755)
		big := make([]byte, 48<<20)
		rand.Read(big)
		os.WriteFile(filepath.Join(bigTree, "big"), big, 0o644)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			for len(srv.Uploads(t, testBucket)) == 0 {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
		}()
		out2 := t.TempDir()
		_, err := RunInstance(cctx, InstanceOptions{Database: Options{DatabaseURL: url, Hostname: "h"},
			Recipients: recipients(t, key), Trees: []string{bigTree}, OutDir: out2, Remote: s3Store(t, srv), Now: testNow})
		wantErr(t, err, "interrupted")
		noFinalFiles(t, out2)
		if k := srv.Keys(t, testBucket); len(k) > 0 {
			t.Errorf("objects left: %q", k)
		}
		if u := srv.Uploads(t, testBucket); len(u) > 0 {
			t.Errorf("unfinished uploads left: %q", u)
		}
	})
}

func TestMemberPath(t *testing.T) {
	for _, bad := range []string{"../x", "a/../../x", "/etc/passwd", "a/..", ""} {
		if _, err := memberPath("/r", bad); err == nil {
			t.Errorf("memberPath accepted %q", bad)
		}
	}
	if p, err := memberPath("/r", "data/x/"); err != nil || p != "/r/data/x" {
		t.Errorf("memberPath(data/x/) = %q, %v", p, err)
	}
}
