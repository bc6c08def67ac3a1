package figshare

import (
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
)

// Article is the part of figshare's article JSON
// (GET /v2/articles/<id>/versions/<version>) that the import reads.
type Article struct {
	ID          int         `json:"id"`
	Version     int         `json:"version"`
	Title       string      `json:"title"`
	DOI         string      `json:"doi"`
	Description string      `json:"description"`
	Authors     []Author    `json:"authors"`
	References  []string    `json:"references"`
	License     License     `json:"license"`
	Files       []FileEntry `json:"files"`
}

// Author is one of an article's authors.
type Author struct {
	FullName string `json:"full_name"`
}

// License is an article's license.
type License struct {
	Name string `json:"name"`
}

// FileEntry is one file of an article.
type FileEntry struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	IsLinkOnly  bool   `json:"is_link_only"`
	DownloadURL string `json:"download_url"`
	SuppliedMD5 string `json:"supplied_md5"`
	ComputedMD5 string `json:"computed_md5"`
}

// ErrLicense marks an article whose license is not CC0: DCOR mirrors
// only CC0 data.
var ErrLicense = errors.New("license is not CC0")

// Dataset is the CKAN dataset an article becomes (the depot's
// map_figshare_to_dcor).
type Dataset struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Title      string `json:"title"`
	Authors    string `json:"authors"`
	DOI        string `json:"doi"`
	References string `json:"references"`
	LicenseID  string `json:"license_id"`
	Notes      string `json:"notes"`
	OwnerOrg   string `json:"owner_org"`
	Private    bool   `json:"private"`
	State      string `json:"state"`
}

// Map turns an article (fetched for doi) into its dataset, as a draft. An
// article whose license is not CC0 gives an error wrapping ErrLicense.
func Map(doi string, a *Article) (Dataset, error) {
	if a.License.Name != "CC0" {
		return Dataset{}, fmt.Errorf("%w (%q): DCOR mirrors only CC0 articles", ErrLicense, a.License.Name)
	}
	if a.ID <= 0 || a.Version <= 0 {
		return Dataset{}, fmt.Errorf("%s: figshare's answer has no article id or version", doi)
	}
	name := DatasetName(a.ID, a.Version)
	var refs []string
	for _, r := range a.References {
		if strings.Contains(r, "://") {
			refs = append(refs, r)
		} else {
			refs = append(refs, "doi:"+r)
		}
	}
	var authors []string
	for _, au := range a.Authors {
		authors = append(authors, au.FullName)
	}
	return Dataset{
		ID:         MakeID(doi, name),
		Name:       name,
		Title:      a.Title,
		Authors:    strings.Join(authors, ", "),
		DOI:        a.DOI,
		References: strings.Join(refs, ", "),
		LicenseID:  "CC0-1.0",
		Notes:      HTMLToText(a.Description),
		OwnerOrg:   Organization,
		State:      "draft",
	}, nil
}

var (
	reBreak = regexp.MustCompile(`(?i)<br\s*/?>`)
	rePara  = regexp.MustCompile(`(?i)</?(p|div|h[1-6]|ul|ol)(\s[^>]*)?>`)
	reItem  = regexp.MustCompile(`(?i)<li(\s[^>]*)?>`)
	reLink  = regexp.MustCompile(`(?is)<a\s[^>]*href="([^"]*)"[^>]*>(.*?)</a>`)
	reTag   = regexp.MustCompile(`(?s)<[^>]*>`)
	reSpace = regexp.MustCompile(`[ \t\r\f\v]+`)
	reBlank = regexp.MustCompile(`\n\s*\n+`)
)

// HTMLToText turns figshare's HTML description into plain text as
// html2text did for the depot: paragraphs separated by a blank line,
// line breaks kept, links as [text](url), list items as "  * ", other
// tags dropped and entities decoded.
func HTMLToText(s string) string {
	s = reLink.ReplaceAllStringFunc(s, func(m string) string {
		p := reLink.FindStringSubmatch(m)
		text := strings.TrimSpace(reTag.ReplaceAllString(p[2], ""))
		if text == "" || text == p[1] {
			return p[1]
		}
		return "[" + text + "](" + p[1] + ")"
	})
	s = strings.ReplaceAll(s, "\n", " ")
	s = reBreak.ReplaceAllString(s, "\n")
	s = reItem.ReplaceAllString(s, "\n\x01")
	s = rePara.ReplaceAllString(s, "\n\n")
	s = reTag.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	s = strings.ReplaceAll(s, "\u00a0", " ")
	s = reSpace.ReplaceAllString(s, " ")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "\x01") {
			lines[i] = "  * " + strings.TrimSpace(t[1:])
		} else {
			lines[i] = strings.TrimSpace(l)
		}
	}
	s = strings.Join(lines, "\n")
	s = reBlank.ReplaceAllString(s, "\n\n")
	return strings.TrimSpace(s)
}
