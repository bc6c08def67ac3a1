package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/internal/figsharetest"
)

// TestImportFigshareSymlinkCKAN runs `dcor import-figshare` (local
// storage, the symlink way) against a fake figshare and a fake CKAN with
// the CKAN version of the host's venv: CKAN 2.9.8 imports without a word;
// CKAN 2.9.9 and 2.11.5 (which refuse symlinked resource files) make a run
// refuse before anything is written, with one line naming the version and
// the reason, --check warn with that line and still plan, and
// --force-symlinks warn and import.
func TestImportFigshareSymlinkCKAN(t *testing.T) {
	dir := t.TempDir()
	f1, err := figsharetest.NewRTDC(dir, 21, "beads.rtdc", 2000)
	if err != nil {
		t.Fatal(err)
	}
	art := &figsharetest.Article{ID: 7771184, Version: 2, Title: "Beads", License: "CC0", Authors: []string{"P M"},
		Files: []*figsharetest.File{f1}}
	fig := figsharetest.New(art)
	fsrv := httptest.NewServer(fig)
	defer fsrv.Close()
	fig.URL = fsrv.URL
	key := filepath.Join(dir, "key")
	os.WriteFile(key, []byte("tok\n"), 0o600)

	// host makes a host with CKAN version in its venv ("": none) and a
	// fake CKAN for it.
	host := func(version string) (string, *figsharetest.CKAN, func()) {
		root := filepath.Join(dir, "host-"+version)
		ck := figsharetest.NewCKAN("tok", filepath.Join(root, "data/ckan-storage"))
		csrv := httptest.NewServer(ck)
		ini := filepath.Join(root, "etc/ckan/default/ckan.ini")
		os.MkdirAll(filepath.Dir(ini), 0o755)
		os.WriteFile(ini, []byte("[app:main]\nckan.site_url = "+csrv.URL+"\nckan.storage_path = /data/ckan-storage\nckanext.dcor_depot.depots_path = /data/depots\n"), 0o644)
		if version != "" {
			meta := filepath.Join(root, "usr/lib/ckan/default/lib/python3.8/site-packages/ckan-"+version+".dist-info/METADATA")
			os.MkdirAll(filepath.Dir(meta), 0o755)
			os.WriteFile(meta, []byte("Metadata-Version: 2.1\nName: ckan\nVersion: "+version+"\n\nCKAN\n"), 0o644)
		}
		return root, ck, csrv.Close
	}
	dcor := func(root string, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		args = append([]string{"--root", root, "import-figshare", "--figshare-url", fsrv.URL + "/v2", "--api-key-file", key,
			"--doi", art.DOI()}, args...)
		code := run(args, strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	const reason = "refuses resource files that are symlinks"

	for _, v := range []string{"2.9.8", ""} {
		root, ck, stop := host(v)
		out, stderr, code := dcor(root)
		stop()
		if code != 0 || strings.Contains(stderr, reason) || ck.Calls("resource_create") != 1 {
			t.Errorf("CKAN %q: exit %d, %d resource_create\n%s%s", v, code, ck.Calls("resource_create"), out, stderr)
		}
	}

	for _, v := range []string{"2.9.9", "2.11.5"} {
		root, ck, stop := host(v)
		out, stderr, code := dcor(root)
		want := "CKAN " + v + " in /usr/lib/ckan/default " + reason
		if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "--force-symlinks") ||
			strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("CKAN %s: exit %d, want 1 and one line with %q:\n%s%s", v, code, want, out, stderr)
		}
		if n := ck.Calls("organization_create") + ck.Calls("package_create") + ck.Calls("resource_create"); n != 0 {
			t.Errorf("CKAN %s: the refused run wrote to CKAN (%d calls)", v, n)
		}
		if _, err := os.Stat(filepath.Join(root, "data/depots")); err == nil {
			t.Errorf("CKAN %s: the refused run created the depot", v)
		}

		out, stderr, code = dcor(root, "--check")
		if code != 1 || !strings.Contains(stderr, "warning: "+want) || !strings.Contains(out, "would be imported") {
			t.Errorf("CKAN %s --check: exit %d, want 1, the warning and the plan:\n%s%s", v, code, out, stderr)
		}

		out, stderr, code = dcor(root, "--force-symlinks")
		stop()
		if code != 0 || !strings.Contains(stderr, "warning: "+want) || ck.Calls("resource_create") != 1 {
			t.Errorf("CKAN %s --force-symlinks: exit %d, %d resource_create\n%s%s", v, code, ck.Calls("resource_create"), out, stderr)
		}
	}
}
