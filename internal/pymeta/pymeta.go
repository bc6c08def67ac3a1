// Package pymeta reads the versions of Python packages installed in a
// virtualenv from their package metadata (the METADATA file of a
// .dist-info directory, the PKG-INFO file of an .egg-info directory or
// of the source directory an .egg-link points to), without running
// Python or pip: one directory listing and one small read per package
// asked for.
package pymeta

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Normalize is a package name as PEP 503 compares them: lower case,
// runs of "-", "_" and "." as one "-".
func Normalize(name string) string {
	return strings.ToLower(separators.ReplaceAllString(name, "-"))
}

var separators = regexp.MustCompile(`[-_.]+`)

// SitePackages lists the site-packages directories of the virtualenv at
// local path venv (lib/python3*/site-packages).
func SitePackages(venv string) []string {
	dirs, _ := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages"))
	return dirs
}

// Version is the installed version of package name in the virtualenv at
// local path venv, "" when it is not installed.
func Version(venv, name string) string {
	return Versions(venv, []string{name})[Normalize(name)]
}

// Versions reads the installed versions of the packages names in the
// virtualenv at local path venv. The map's keys are the normalized names
// (Normalize); packages that are not installed are missing from it.
func Versions(venv string, names []string) map[string]string {
	want := map[string]bool{}
	for _, n := range names {
		want[Normalize(n)] = true
	}
	out := map[string]string{}
	for _, sp := range SitePackages(venv) {
		entries, err := os.ReadDir(sp)
		if err != nil {
			continue
		}
		for _, e := range entries {
			n := e.Name()
			var meta string
			switch {
			case strings.HasSuffix(n, ".dist-info"):
				meta = filepath.Join(sp, n, "METADATA")
			case strings.HasSuffix(n, ".egg-info"):
				meta = filepath.Join(sp, n)
				if e.IsDir() || e.Type()&os.ModeSymlink != 0 {
					meta = filepath.Join(meta, "PKG-INFO")
				}
			case strings.HasSuffix(n, ".egg-link"):
				meta = eggLinkInfo(filepath.Join(sp, n))
			default:
				continue
			}
			// The directory's name starts with the package's name
			// (escaped: "-" as "_"), up to the first "-"; an .egg-link's
			// name is the package's name.
			stem := strings.TrimSuffix(n, ".egg-link")
			if stem == n {
				stem, _, _ = strings.Cut(strings.TrimSuffix(strings.TrimSuffix(n, ".dist-info"), ".egg-info"), "-")
			}
			key := Normalize(stem)
			if !want[key] || out[key] != "" || meta == "" {
				continue
			}
			if v := readVersion(meta); v != "" {
				out[key] = v
			}
		}
	}
	return out
}

// eggLinkInfo is the PKG-INFO of the source directory that a setuptools
// develop install's .egg-link names, "" when there is none.
func eggLinkInfo(link string) string {
	data, err := os.ReadFile(link)
	if err != nil {
		return ""
	}
	dir, _, _ := strings.Cut(string(data), "\n")
	dir = strings.TrimSpace(dir)
	if dir == "" {
		return ""
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(link), dir)
	}
	infos, _ := filepath.Glob(filepath.Join(dir, "*.egg-info", "PKG-INFO"))
	if len(infos) == 0 {
		return ""
	}
	return infos[0]
}

// versionLine is the Version header of a metadata file.
var versionLine = regexp.MustCompile(`^Version:\s*(\S+)`)

// readVersion reads the Version header of the metadata file at p (the
// headers end at the first empty line).
func readVersion(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v := versionLine.FindStringSubmatch(line); v != nil {
			return v[1]
		}
		if strings.TrimSpace(line) == "" {
			break
		}
	}
	return ""
}
