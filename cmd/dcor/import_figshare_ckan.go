package main

import (
	"fmt"

	"github.com/DCOR-dev/dcor/update"
)

// symlinksRefusedSince is the first CKAN release that refuses a resource
// file that is a symlink: CKAN 2.9.9 added to ckan/lib/uploader.py
// ResourceUpload.get_path the check that the path is its own realpath
// (ValidationError "Invalid storage path"), and 2.10 and later have it.
// The seed-era depot, and import-figshare without object storage, link
// each resource's file to the depot file.
const symlinksRefusedSince = "2.9.9"

// checkSymlinkCKAN is import-figshare's look at the installed CKAN (its
// version from the package metadata in venv) before it links resource
// files (local storage, no object storage). A CKAN that refuses symlinked
// resource files would leave the datasets half imported: the linked files
// are not served, and the next resource_create and the activation of their
// dataset fail. So a run refuses, with one line that names the version,
// the reason and the ways out; --force-symlinks (a CKAN patched to serve
// them) and --check only print that line as a warning. An unknown version
// (no CKAN in venv) is logged and not checked.
func (a *app) checkSymlinkCKAN(venv string, check, force bool) error {
	version := ckanVersion(a.host().Path(venv))
	if version == "" {
		a.logf("no CKAN found in %s: not checked whether it serves symlinked resource files (--venv)", venv)
		return nil
	}
	if update.CompareVersions(version, symlinksRefusedSince) < 0 {
		return nil
	}
	why := fmt.Sprintf("CKAN %s in %s refuses resource files that are symlinks (since CKAN %s, uploader.py: \"Invalid storage path\"): "+
		"the linked files would not be served, and their datasets could neither get another resource nor become active",
		version, venv, symlinksRefusedSince)
	if force || check {
		fmt.Fprintf(a.stderr, "%s %s\n", a.paint("33", "warning:"), why)
		return nil
	}
	return fmt.Errorf("%s; nothing imported: configure object storage (dcor_object_store.* in ckan.ini), or run CKAN 2.9.8 or older, "+
		"or give --force-symlinks if this CKAN is patched to serve them", why)
}
