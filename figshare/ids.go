// Package figshare imports DCOR's reference data from figshare into a
// CKAN site as DCOR's depot did (`ckan import-figshare`): each article
// becomes a dataset of the circle "figshare-import", each file a resource
// whose file in CKAN's storage is a symlink to the file downloaded into
// the figshare depot. Ids are derived from the DOI and the files' md5
// sums, so a second run finds everything in place and changes nothing.
//
// The package plans every write (downloads, CKAN action calls, links) as
// a change.Action; the command applies the plan.
package figshare

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// DefaultDOIs are DCOR's four reference articles, in the order of the
// depot's figshare_dois.txt.
var DefaultDOIs = []string{
	"10.6084/m9.figshare.7771184.v2",
	"10.6084/m9.figshare.11302595.v1",
	"10.6084/m9.figshare.11662773.v2",
	"10.6084/m9.figshare.12721436.v1",
}

// Organization is the name of the circle the articles go to; its title
// is OrganizationTitle.
const (
	Organization            = "figshare-import"
	OrganizationTitle       = "Figshare mirror"
	OrganizationDescription = "This lab contains selected data imported from figshare. If you would like your dataset to appear here, please send the figshare DOI to Paul Müller."
)

// MakeID is DCOR's make_id: the md5 of the concatenated strings,
// formatted as a UUID (8-4-4-4-12).
func MakeID(parts ...string) string {
	sum := md5.Sum([]byte(strings.Join(parts, "")))
	h := hex.EncodeToString(sum[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// DatasetName is the dataset's name: figshare-<article>-v<version>.
func DatasetName(article, version int) string {
	return fmt.Sprintf("figshare-%d-v%d", article, version)
}

var doiRe = regexp.MustCompile(`^10\.\d+/[^\s]*\.(\d+)\.v(\d+)$`)

// ParseDOI returns the article id and version of a figshare DOI
// (10.6084/m9.figshare.<article>.v<version>).
func ParseDOI(doi string) (article, version int, err error) {
	m := doiRe.FindStringSubmatch(strings.TrimSpace(doi))
	if m == nil {
		return 0, 0, fmt.Errorf("%q is not a figshare DOI of the form 10.6084/m9.figshare.<article>.v<version>", doi)
	}
	fmt.Sscan(m[1], &article)
	fmt.Sscan(m[2], &version)
	if article <= 0 || version <= 0 {
		return 0, 0, fmt.Errorf("%q: article and version must be positive numbers", doi)
	}
	return article, version, nil
}

// ResourcePath is the path of resource id's file in CKAN's storage:
// <storage>/resources/<id[0:3]>/<id[3:6]>/<id[6:]>.
func ResourcePath(storage, id string) string {
	return strings.TrimRight(storage, "/") + "/resources/" + id[0:3] + "/" + id[3:6] + "/" + id[6:]
}

// DepotDir is the article's directory in the figshare depot:
// <depots>/figshare/<name>.
func DepotDir(depots, name string) string {
	return strings.TrimRight(depots, "/") + "/figshare/" + name
}
