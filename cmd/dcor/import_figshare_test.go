package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/figshare"
	"github.com/DCOR-dev/dcor/internal/figsharetest"
)

// TestImportFigshareCommand runs `dcor import-figshare` against a fake
// figshare and a fake CKAN on a host under --root: usage errors, --check
// (exit 1, nothing written), the import (one line per article, the CC BY
// article skipped with its license named, exit 0), a second run that finds everything in
// place (--check exit 0), and --json.
func TestImportFigshareCommand(t *testing.T) {
	dir := t.TempDir()
	f1, err := figsharetest.NewRTDC(dir, 11, "beads.rtdc", 3000)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := figsharetest.NewRTDC(dir, 12, "blood.rtdc", 2000)
	if err != nil {
		t.Fatal(err)
	}
	cc0 := &figsharetest.Article{ID: 7771184, Version: 2, Title: "Beads", License: "CC0", Authors: []string{"P M"},
		Files: []*figsharetest.File{f1, f2}}
	ccby := &figsharetest.Article{ID: 11302595, Version: 1, Title: "Other", License: "CC BY 4.0", Authors: []string{"X"},
		Files: []*figsharetest.File{f1}}
	fig := figsharetest.New(cc0, ccby)
	fsrv := httptest.NewServer(fig)
	defer fsrv.Close()
	fig.URL = fsrv.URL
	root := filepath.Join(dir, "host")
	ck := figsharetest.NewCKAN("tok", filepath.Join(root, "data/ckan-storage"))
	csrv := httptest.NewServer(ck)
	defer csrv.Close()
	ini := filepath.Join(root, "etc/ckan/default/ckan.ini")
	os.MkdirAll(filepath.Dir(ini), 0o755)
	os.WriteFile(ini, []byte("[app:main]\nckan.site_url = "+csrv.URL+"\nckan.storage_path = /data/ckan-storage\nckanext.dcor_depot.depots_path = /data/depots\n"), 0o644)
	key := filepath.Join(dir, "key")
	os.WriteFile(key, []byte("tok\n"), 0o600)

	dcor := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(append([]string{"--root", root}, args...), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	base := []string{"import-figshare", "--figshare-url", fsrv.URL + "/v2", "--api-key-file", key,
		"--doi", cc0.DOI(), "--doi", ccby.DOI()}

	if _, stderr, code := dcor("import-figshare", "--doi", "10.1/nope"); code != 2 || !strings.Contains(stderr, "not a figshare DOI") {
		t.Errorf("bad --doi: exit %d, %s", code, stderr)
	}
	if _, stderr, code := dcor("import-figshare", "--limit", "-1"); code != 2 {
		t.Errorf("--limit -1: exit %d, %s", code, stderr)
	}

	out, stderr, code := dcor(append(base, "--check")...)
	if code != 1 || !strings.Contains(out, "would download beads.rtdc") || !strings.Contains(out, "figshare-7771184-v2: would be imported") {
		t.Fatalf("--check: exit %d\n%s%s", code, out, stderr)
	}
	if ck.Calls("package_create")+ck.Calls("organization_create") != 0 {
		t.Error("--check wrote to CKAN")
	}
	if _, err := os.Stat(filepath.Join(root, "data/depots")); err == nil {
		t.Error("--check created the depot")
	}

	out, stderr, code = dcor(base...)
	if code != 0 || !strings.Contains(out, "figshare-7771184-v2: imported (2/2 files in place)") ||
		!strings.Contains(out, ccby.DOI()+": skipped: license is not CC0 (\"CC BY 4.0\")") {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	rid := figshare.MakeID(figshare.MakeID(cc0.DOI(), "figshare-7771184-v2"), f1.MD5)
	link := filepath.Join(root, "data/ckan-storage/resources", rid[:3], rid[3:6], rid[6:])
	if target, err := os.Readlink(link); err != nil || target != "/data/depots/figshare/figshare-7771184-v2/beads.rtdc" {
		t.Errorf("%s → %q (%v), want the depot file's host path", link, target, err)
	}

	// a second run: in place, nothing to do
	one := []string{"import-figshare", "--figshare-url", fsrv.URL + "/v2", "--api-key-file", key, "--doi", cc0.DOI()}
	out, stderr, code = dcor(append(one, "--check")...)
	if code != 0 || !strings.Contains(out, "figshare-7771184-v2: in place (2/2 files in place)") {
		t.Errorf("second --check: exit %d\n%s%s", code, out, stderr)
	}
	writes := ck.Calls("resource_create") + ck.Calls("package_patch")
	out, stderr, code = dcor(append([]string{"--json"}, one...)...)
	var doc importFigshareJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
		t.Fatalf("--json second run: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if len(doc.Articles) != 1 || doc.Articles[0].State != "in place" || len(doc.Report.Changes) != 0 {
		t.Errorf("--json second run: %s", out)
	}
	if ck.Calls("resource_create")+ck.Calls("package_patch") != writes {
		t.Error("the second run wrote to CKAN")
	}

	// a wrong token: one clear line
	os.WriteFile(key, []byte("wrong\n"), 0o600)
	_, stderr, code = dcor(one...)
	if code != 1 || !strings.Contains(stderr, "Authorization Error") {
		t.Errorf("wrong token: exit %d, %s", code, stderr)
	}
}
