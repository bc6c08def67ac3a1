// Package host models a DCOR host: its well-known paths, seen through a
// root directory, and the few things dcor does to the files and services
// on it.
package host

import (
	"os"
	"path/filepath"
	"strings"
)

// Default host paths of a DCOR host (facts §1).
const (
	DefaultCKANIni      = "/etc/ckan/default/ckan.ini"
	DefaultSiteFile     = "/etc/dcor/dcor.yaml"
	DefaultVenv         = "/usr/lib/ckan/default"
	UWSGIIni            = "/etc/ckan/default/ckan-uwsgi.ini"
	NginxSite           = "/etc/nginx/sites-enabled/ckan"
	SupervisorDir       = "/etc/supervisor/conf.d"
	CondenseLockDir     = "/tmp/DCOR_generate_condensed"
	DefaultWebassets    = "/var/lib/ckan/webassets"
	DefaultDepots       = "/data/depots"
	EncryptedDumpsDir   = "/data/encrypted_db_dumps"
	DefaultBackupKeyDir = "/etc/dcor/backup-keys"
	CKANLogDir          = "/var/log/ckan"
)

// Host is a DCOR host whose file system starts at Root ("/" on the live
// host, a directory in tests, demos or when checking a mounted image).
type Host struct {
	// Root is the directory every host path resolves under.
	Root string
}

// New returns the host rooted at root ("" means "/").
func New(root string) Host {
	if root == "" {
		root = "/"
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return Host{Root: filepath.Clean(root)}
}

// Live reports whether the host is the running machine (root "/"), the
// only case in which services may be reloaded.
func (h Host) Live() bool { return h.Root == "/" || h.Root == "" }

// HostPath is the inverse of Path: it turns a path under the root back
// into the path as the host sees it (Path(HostPath(x)) is x for a path x
// that Path returned). Paths outside the root are returned unchanged.
func (h Host) HostPath(p string) string {
	if h.Live() {
		return p
	}
	rel, err := filepath.Rel(h.Root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return p
	}
	return filepath.Join("/", rel)
}

// Hostname returns the machine's short host name.
func Hostname() string {
	name, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	return name
}
