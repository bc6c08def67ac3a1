package update

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"
)

// compatibleVersions is dcor_control's compatible_versions.txt (tag 1.17.3,
// 73a23e0): a header (ckan, then the pip names of the DCOR packages) and
// one row per tested combination, whitespace-separated.
//
//go:embed compatible_versions.txt
var compatibleVersions string

// Row is one tested combination: a CKAN version and the versions of the
// DCOR packages that ran on it.
type Row struct {
	// CKAN is the row's CKAN version.
	CKAN string `json:"ckan"`
	// Versions maps a package's pip name to its version.
	Versions map[string]string `json:"versions"`
	// Line is the row's line in the table (1 is the header).
	Line int `json:"line"`
}

// Table is the compatible-versions table.
type Table struct {
	// Columns are the package names of the header after "ckan".
	Columns []string
	// Rows in file order.
	Rows []*Row
}

// EmbeddedTable is the table dcor carries.
func EmbeddedTable() (*Table, error) {
	t, err := ParseTable(compatibleVersions)
	if err != nil {
		return nil, fmt.Errorf("dcor's compatible-versions table: %w", err)
	}
	return t, nil
}

// ParseTable reads a table in dcor_control's format.
func ParseTable(text string) (*Table, error) {
	t := &Table{}
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if t.Columns == nil {
			if f[0] != "ckan" {
				return nil, fmt.Errorf("line %d: the header must start with \"ckan\"", i+1)
			}
			t.Columns = f[1:]
			continue
		}
		if len(f) != len(t.Columns)+1 {
			return nil, fmt.Errorf("line %d: %d columns, the header has %d", i+1, len(f), len(t.Columns)+1)
		}
		r := &Row{CKAN: f[0], Versions: map[string]string{}, Line: i + 1}
		for j, name := range t.Columns {
			r.Versions[name] = f[j+1]
		}
		t.Rows = append(t.Rows, r)
	}
	if len(t.Rows) == 0 {
		return nil, fmt.Errorf("no rows")
	}
	return t, nil
}

// Choice is the row that applies to an installed CKAN.
type Choice struct {
	// CKAN is the installed CKAN version.
	CKAN string `json:"ckan"`
	// Row is the row whose versions are the ceiling; nil when none applies
	// (Latest).
	Row *Row `json:"row,omitempty"`
	// Latest is true when the newest releases are installed, unpinned.
	Latest bool `json:"latest"`
	// Reason says, for people, why this row (or none) applies.
	Reason string `json:"reason"`
}

// Pin is the version the choice pins name to ("" for none).
func (c *Choice) Pin(name string) string {
	if c.Row == nil {
		return ""
	}
	for k, v := range c.Row.Versions {
		if Canonical(k) == Canonical(name) {
			return v
		}
	}
	return ""
}

// Select chooses the row for the installed CKAN version ckan: the newest
// row of the same major.minor whose CKAN version is not newer than the
// installed one (an unknown patch version takes the row below it). A
// CKAN newer than every row gets the newest releases; one older than
// every row of its series, or of a series the table does not know, is an
// error (no row says what runs there).
func (t *Table) Select(ckan string) (*Choice, error) {
	if ckan == "" {
		return nil, fmt.Errorf("CKAN is not installed in this virtualenv: the compatible-versions table needs its version")
	}
	mm := majorMinor(ckan)
	var cands []*Row
	newest := t.Rows[0]
	var series []string
	for _, r := range t.Rows {
		if CompareVersions(r.CKAN, newest.CKAN) > 0 {
			newest = r
		}
		if majorMinor(r.CKAN) == mm {
			series = appendOnce(series, r.CKAN)
			if CompareVersions(r.CKAN, ckan) <= 0 {
				cands = append(cands, r)
			}
		}
	}
	if len(cands) > 0 {
		best := cands[0]
		for _, r := range cands[1:] {
			if rowNewer(r, best) {
				best = r
			}
		}
		why := fmt.Sprintf("the newest row for CKAN %s (line %d, CKAN %s)", mm, best.Line, best.CKAN)
		if best.CKAN != ckan {
			why += fmt.Sprintf("; the table has no row for %s itself", ckan)
		}
		return &Choice{CKAN: ckan, Row: best, Reason: why}, nil
	}
	if CompareVersions(ckan, newest.CKAN) > 0 && majorMinor(newest.CKAN) != mm {
		return &Choice{CKAN: ckan, Latest: true,
			Reason: fmt.Sprintf("CKAN %s is newer than every row (the newest is for CKAN %s): the newest releases, unpinned", ckan, newest.CKAN)}, nil
	}
	sort.Slice(series, func(i, j int) bool { return CompareVersions(series[i], series[j]) < 0 })
	known := "none for " + mm
	if len(series) > 0 {
		known = strings.Join(series, ", ")
	}
	return nil, fmt.Errorf("no row of the compatible-versions table fits CKAN %s (rows for CKAN %s: %s); use --latest to install the newest releases anyway", ckan, mm, known)
}

// rowNewer reports whether a is a newer row than b: a newer CKAN, else
// more packages at a newer version than at an older one.
func rowNewer(a, b *Row) bool {
	if c := CompareVersions(a.CKAN, b.CKAN); c != 0 {
		return c > 0
	}
	score := 0
	for k, v := range a.Versions {
		score += CompareVersions(v, b.Versions[k])
	}
	return score > 0
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
