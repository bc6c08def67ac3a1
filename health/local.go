package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/DCOR-dev/dcor/accesstoken"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/inspect"
	"github.com/DCOR-dev/dcor/internal/bytesize"
	"github.com/DCOR-dev/dcor/internal/pymeta"
	"github.com/DCOR-dev/dcor/site"
)

// Thresholds of the file probes.
const (
	// DiskWarnFree: less free space than this fraction is a warning.
	DiskWarnFree = 0.10
	// BackupWarnAge and BackupFailAge: a newest encrypted backup older
	// than these is a warning, a failure.
	BackupWarnAge = 26 * time.Hour
	BackupFailAge = 72 * time.Hour
)

func probeSiteFile(_ context.Context, c *config) []Result {
	const name = "site-file"
	switch {
	case errors.Is(c.SiteErr, site.ErrNoSiteFile):
		return result(name, Warn, "no site file %s: run `dcor init`", c.SitePath)
	case c.SiteErr != nil:
		return result(name, Fail, "%s", hostText(c.Host, c.SiteErr.Error()))
	}
	return result(name, OK, "%s: %s site %s", c.SitePath, c.site.Kind, c.site.FQDNOrDefault())
}

func probeCKANIni(_ context.Context, c *config) []Result {
	if c.iniErr != nil {
		return result("ckan-ini", Fail, "%v", c.iniErr)
	}
	return result("ckan-ini", OK, "%s", c.CKANIni)
}

func probeVenv(_ context.Context, c *config) []Result {
	const name = "venv"
	ckan := c.versions["ckan"]
	if ckan == "" {
		return result(name, Fail, "no CKAN in the virtualenv %s (no ckan package metadata in its site-packages): point --venv at it", c.Venv)
	}
	var missing []string
	for _, p := range packageNames()[1:] {
		if c.versions[pymeta.Normalize(p)] == "" && p != "dcor_control" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return result(name, Warn, "CKAN %s in %s; DCOR packages not installed: %s", ckan, c.Venv, strings.Join(missing, ", "))
	}
	return result(name, OK, "CKAN %s and the DCOR packages in %s", ckan, c.Venv)
}

func probeNginx(ctx context.Context, c *config) []Result {
	err := inspect.CheckNginxConfig(ctx, c.Host, host.NginxSite)
	switch {
	case errors.Is(err, inspect.ErrNoNginx):
		return result("nginx", Fail, "nginx is not installed")
	case err != nil:
		return result("nginx", Fail, "%v", err)
	}
	return result("nginx", OK, "configuration test passed (nginx -t with %s)", host.NginxSite)
}

// statfs reads a file system's sizes (tests replace it).
var statfs = syscall.Statfs

// probeDisk checks the free space of the file system holding host path p.
func probeDisk(p string) func(context.Context, *config) []Result {
	name := "disk:" + p
	return func(_ context.Context, c *config) []Result {
		var st syscall.Statfs_t
		if err := statfs(c.Host.Path(p), &st); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				return result(name, Fail, "%s does not exist (DCOR keeps its data there)", p)
			}
			return result(name, Fail, "cannot read the free space of %s: %v", p, err)
		}
		total := int64(st.Blocks) * int64(st.Bsize)
		avail := int64(st.Bavail) * int64(st.Bsize)
		if total <= 0 {
			return result(name, Warn, "%s: the file system reports no size", p)
		}
		frac := float64(avail) / float64(total)
		msg := fmt.Sprintf("%s: %.0f %% free (%s of %s)", p, math.Floor(frac*100), bytesize.Format(avail), bytesize.Format(total))
		if frac < DiskWarnFree {
			return result(name, Warn, "%s, under %.0f %%", msg, DiskWarnFree*100)
		}
		return result(name, OK, "%s", msg)
	}
}

func probeBackup(_ context.Context, c *config) []Result {
	const name = "backup"
	dir := host.EncryptedDumpsDir
	var newest string
	var newestTime time.Time
	// dir/YYYY-MM/ckan_db_<host>_<time>.dump_<KEYIDS>.gpg
	months, err := os.ReadDir(c.Host.Path(dir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return result(name, Fail, "cannot read %s: %v", dir, err)
	}
	for _, m := range months {
		if !m.IsDir() {
			continue
		}
		entries, _ := os.ReadDir(filepath.Join(c.Host.Path(dir), m.Name()))
		for _, e := range entries {
			if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".gpg") || !strings.HasPrefix(e.Name(), "ckan_db_") {
				continue
			}
			info, err := e.Info()
			if err != nil || info.Size() == 0 {
				continue
			}
			if info.ModTime().After(newestTime) {
				newestTime, newest = info.ModTime(), filepath.Join(dir, m.Name(), e.Name())
			}
		}
	}
	if newest == "" {
		return result(name, Fail, "no encrypted backup in %s: run `dcor encrypted-database-backup`, and `dcor schedule backup` for every night", dir)
	}
	age := c.Now.Sub(newestTime)
	msg := fmt.Sprintf("newest %s, %s old", newest, roundAge(age))
	switch {
	case age > BackupFailAge:
		return result(name, Fail, "%s (more than %s): is the nightly backup running?", msg, roundAge(BackupFailAge))
	case age > BackupWarnAge:
		return result(name, Warn, "%s (more than %s): the last nightly backup was missed", msg, roundAge(BackupWarnAge))
	}
	return result(name, OK, "%s", msg)
}

// roundAge is d for people: "3 h 20 min", "2 days 4 h", "45 s".
func roundAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 72*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; m != 0 && h < 10 {
			return fmt.Sprintf("%d h %d min", h, m)
		}
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d days %d h", int(d.Hours())/24, int(d.Hours())%24)
}

func probeCertificate(_ context.Context, c *config) []Result {
	const name = "certificate"
	certs, err := inspect.Certificates(c.Host, host.NginxSite, c.Now)
	if err != nil {
		return result(name, Fail, "%v", err)
	}
	if len(certs) == 0 {
		return result(name, Fail, "%s names no TLS certificate (ssl_certificate): the site is not served over HTTPS", host.NginxSite)
	}
	state := OK
	var reasons []string
	for _, ct := range certs {
		if ct.Finding == nil {
			days := int(ct.NotAfter.Sub(c.Now).Hours() / 24)
			reasons = append(reasons, fmt.Sprintf("%s valid until %s (%d days)", ct.Path, ct.NotAfter.UTC().Format("2006-01-02"), days))
			continue
		}
		s := Fail
		if ct.Finding.Severity == inspect.Warning {
			s = Warn
		}
		if s.rank() > state.rank() {
			state = s
		}
		reasons = append(reasons, ct.Finding.Message)
	}
	return result(name, state, "%s", strings.Join(reasons, "; "))
}

func probeAPISecret(_ context.Context, c *config) []Result {
	const name = "api-token-secret"
	cfg := accesstoken.Config{Lookup: c.get, CKANVersion: c.versions["ckan"],
		ReadFile: func(p string) ([]byte, error) { return os.ReadFile(c.Host.Path(p)) }}
	if alg := cfg.Algorithm(); alg != "HS256" {
		return result(name, Warn, "api_token.jwt.algorithm is %s: only HS256 is checked", alg)
	}
	enc, err := cfg.EncodeSecret()
	if err != nil {
		return result(name, Fail, "%s", hostText(c.Host, err.Error()))
	}
	dec, err := cfg.DecodeSecret()
	if err != nil {
		return result(name, Fail, "%s", hostText(c.Host, err.Error()))
	}
	if !bytes.Equal(enc, dec) {
		return result(name, Fail, "api_token.jwt.encode.secret and api_token.jwt.decode.secret resolve to different secrets: CKAN rejects the API tokens it issues")
	}
	from := "api_token.jwt.encode.secret"
	if v, _ := c.get(from); v == "" {
		from = "not set: CKAN falls back to beaker.session.secret or SECRET_KEY"
		return result(name, OK, "api_token.jwt.encode.secret %s, which is set", from)
	}
	return result(name, OK, "set (%s)", from)
}
