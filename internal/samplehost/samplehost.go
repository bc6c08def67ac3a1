// Package samplehost writes a drifted sample DCOR host into a directory,
// for `make demo` and the CLI tests: a CKAN 2.9 ckan.ini, CKAN's stock
// uWSGI and supervisor files, a DCOR nginx site an admin has edited, a
// self-signed certificate, a stand-in CKAN virtualenv and a site file.
package samplehost

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/internal/selfsigned"
)

//go:embed all:tree
var tree embed.FS

// FQDN is the sample site's domain name.
const FQDN = "dcor.demo.example"

// Build writes the sample host under dir (created when missing).
func Build(dir string) error {
	err := fs.WalkDir(tree, "tree", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "tree")
		dst := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := tree.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		switch {
		case strings.Contains(rel, "/bin/"):
			mode = 0o755
		case strings.HasSuffix(rel, "dcor.yaml"), strings.HasSuffix(rel, "ckan.ini"):
			mode = 0o600
		}
		return os.WriteFile(dst, data, mode)
	})
	if err != nil {
		return err
	}
	// Empty directories cannot be embedded.
	for _, d := range []string{"data/ckan-demo/resources", "var/lib/ckan/webassets", "data/tmp/nginx"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	return selfsigned.Write(filepath.Join(dir, "etc/ssl/certs", FQDN+".cert"), filepath.Join(dir, "etc/ssl/private", FQDN+".key"),
		FQDN, 10*365*24*time.Hour)
}
