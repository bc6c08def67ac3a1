package inspect

import (
	"context"
	"errors"
	"fmt"
	"github.com/DCOR-dev/dcor/change"
	"io"
	"os"
	"time"

	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/pymeta"
	"github.com/DCOR-dev/dcor/site"
	"github.com/DCOR-dev/dcor/storage"
	"github.com/DCOR-dev/dcor/templates"
)

// Env is what the checks look at: the host, its site file and ckan.ini.
type Env struct {
	// Host maps host paths under --root.
	Host host.Host
	// Site is the site file's content (empty when there is none).
	Site *site.Site
	// SiteErr is why the site file could not be read (site.ErrNoSiteFile…).
	SiteErr error
	// SitePath is the site file's host path.
	SitePath string
	// CKANIni is ckan.ini's host path.
	CKANIni string
	// Venv is the CKAN virtualenv's host path.
	Venv string
	// Now is when the inspection began.
	Now time.Time
	// AskValue asks for a value the site file lacks; nil when there is
	// no terminal to ask at.
	AskValue func(prompt string, secret bool) (string, error)
	// Log receives verbose messages (may be io.Discard).
	Log io.Writer
	// Progress, when set, shows msg on one status line ("" clears it).
	Progress func(msg string)
	// Quarantine, when set, is the directory of this machine that the
	// orphans check moves files to instead of deleting them.
	Quarantine string
	// MaxDelete is the most files the orphans clean-up may remove
	// (--max-delete N); 0 means not given. It replaces the orphan
	// guard's limit (5 % of the scanned files, when that is more than
	// 100); the guard's other two rules (a database without live
	// resources, a tree holding the files of fewer than half of the
	// live resources) hold whatever it is.
	MaxDelete int
	// VerifyChecksums makes the resources check compare every file's
	// sha256 with the database.
	VerifyChecksums bool

	// ctx is the run's context (checks that run programs or query the
	// database stop with it).
	ctx context.Context

	// siteSave is the site file's new content, when values asked at the
	// prompt are to be saved; Run plans it.
	siteSave *change.File

	ini      *ckanini.File
	iniErr   error
	loaded   bool
	iniBytes []byte
	// iniDirty is set when a fix edited ini and the edit is not planned
	// yet; iniCheck is the check that edited it.
	iniDirty bool
	iniCheck string

	resources    []ckandb.Resource
	ids          *storage.IDSet
	uploads      int // live resources with an uploaded file
	idsTime      time.Time
	resourcesErr error
}

// ckanIni loads ckan.ini once; every check shares the same File so that
// their edits are staged on one copy.
func (e *Env) ckanIni() (*ckanini.File, error) {
	if !e.loaded {
		e.loaded = true
		local := e.Host.Path(e.CKANIni)
		info, err := os.Stat(local)
		switch {
		case errors.Is(err, os.ErrNotExist):
			e.iniErr = fmt.Errorf("ckan.ini not found at %s: is CKAN installed? Point --ckan-ini or CKAN_INI at it", e.CKANIni)
		case err != nil:
			e.iniErr = fmt.Errorf("cannot read %s: %v", e.CKANIni, err)
		case info.IsDir():
			e.iniErr = fmt.Errorf("%s is a directory, expected the ckan.ini file", e.CKANIni)
		default:
			e.ini, e.iniErr = ckanini.Load(local)
			if e.iniErr == nil {
				e.iniBytes = e.ini.Original() // the same memory: a large file is held once
			}
			if e.iniErr != nil {
				e.iniErr = fmt.Errorf("%s: %v", e.CKANIni, hostError(e.Host, local, e.iniErr))
			}
		}
	}
	return e.ini, e.iniErr
}

// iniValue is the value CKAN sees for key, "" when unset or unreadable.
func (e *Env) iniValue(key string) string {
	f, err := e.ckanIni()
	if err != nil {
		return ""
	}
	v, _ := f.Get(key)
	return v
}

// params are the template parameters of this site.
func (e *Env) params() templates.Params {
	s := e.Site
	p := templates.Params{
		Kind:           s.Kind,
		Hostname:       s.HostnameOrDefault(),
		FQDN:           s.FQDN,
		IP:             s.IP,
		Email:          s.Email,
		CertPath:       s.CertPath(),
		KeyPath:        s.KeyPath(),
		CKANIni:        e.CKANIni,
		Venv:           e.Venv,
		DBPassword:     s.Database.Password,
		SMTPServer:     s.SMTP.Server,
		SMTPUser:       s.SMTP.User,
		SMTPPassword:   s.SMTP.Password,
		MailDomain:     s.SMTP.Domain,
		DefaultServers: s.DefaultServers,
		CKANVersion:    installedCKANVersion(e.Host.Path(e.Venv)),
	}
	return p
}

// installedCKANVersion reads the CKAN version from the package metadata
// in the virtualenv at local path venv, "" when there is none: the
// expected ckan.ini options depend on it (templates.Params.CKANVersion).
func installedCKANVersion(venv string) string { return pymeta.Version(venv, "ckan") }

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, format+"\n", args...)
	}
}

// hostError shortens a parse error of the file at local path to "line N:
// MSG" (the caller names the file by its host path); an error in another
// file (one that ckan.ini uses) keeps that file's host path.
func hostError(h host.Host, local string, err error) error {
	var pe *ckanini.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Path != "" && pe.Path != local {
		return fmt.Errorf("%s line %d: %s", h.HostPath(pe.Path), pe.Line, pe.Msg)
	}
	return fmt.Errorf("line %d: %s", pe.Line, pe.Msg)
}

// iniOriginal is ckan.ini's content as it was read, before any staged
// edit (Tx keeps the first "old" content it is given).
func (e *Env) iniOriginal() []byte {
	if e.iniBytes == nil {
		if data, err := os.ReadFile(e.Host.Path(e.CKANIni)); err == nil {
			e.iniBytes = data
		}
	}
	return e.iniBytes
}

// planSiteSave makes the site file's new content (comments and key order
// kept) for Run to plan.
func (e *Env) planSiteSave() error {
	local := e.Host.Path(e.SitePath)
	old, err := os.ReadFile(local)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	data, err := site.Encode(old, e.Site)
	if err != nil {
		return err
	}
	e.siteSave = &change.File{Path: e.SitePath, Old: old, New: data, Mode: 0o600}
	return nil
}
