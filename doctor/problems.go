package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/nginxconf"
)

var problems = []Problem{
	{"error-mails", "error mails for every file access", detectErrorMails},
	{"nspkg-pth", "a namespace package .pth file stops CKAN's imports", detectNspkg},
	{"plugin-not-found", "CKAN cannot find a plugin", detectPluginNotFound},
	{"hdf5-locking", "HDF5 cannot lock files on the data storage", detectHDF5},
	{"nginx-upload-space", "uploads fail: nginx's body buffer is on the full root partition", detectUploadSpace},
	{"journal-size", "the systemd journal fills the root partition", detectJournal},
	{"uwsgi-tmp", "uploads fail: temporary files fill /tmp", detectUWSGITmp},
	{"nginx-download-space", "large downloads are aborted: nginx's proxy buffer is on the full root partition", detectDownloadSpace},
	{"uwsgi-socket-timeout", "uploads time out reading wsgi.input", detectSocketTimeout},
	{"nginx-send-timeout", "uploads fail: nginx closed the connection to uWSGI", detectSendTimeout},
}

// ckanLog keeps the CKAN logs (and the journal, where supervisord's
// programs may log too).
func ckanLog(p string) bool { return strings.HasPrefix(p, host.CKANLogDir+"/") || p == "journal" }

// nginxLog keeps nginx's error log (and the journal).
func nginxLog(p string) bool { return p == NginxErrorLog || p == "journal" }

// ---- error mails ----------------------------------------------------------

var quietLevels = map[string]bool{"WARNING": true, "WARN": true, "ERROR": true, "CRITICAL": true, "FATAL": true}

func detectErrorMails(ctx context.Context, d *diag) (*Finding, error) {
	p := d.env.CKANIni
	data, err := d.readHost(p)
	if err != nil || data == nil {
		return nil, err
	}
	opts := iniOptions(data)
	to, ok := lookup(opts, "app:main", "email_to")
	if !ok || to.value == "" {
		return nil, nil
	}
	var ev []Evidence
	var sections []string
	for _, o := range opts {
		if strings.HasPrefix(o.section, "logger_") && o.key == "level" && !quietLevels[strings.ToUpper(o.value)] {
			ev = append(ev, Evidence{Path: p, Line: o.line, Text: fmt.Sprintf("[%s] level = %s", o.section, o.value)})
			sections = append(sections, o.section)
		}
	}
	if len(ev) == 0 {
		return nil, nil
	}
	ev = append([]Evidence{{Path: p, Line: to.line, Text: "email_to = " + to.value}}, ev...)
	return &Finding{Evidence: ev,
		Explanation: "CKAN mails errors to email_to; with loggers below WARNING, a mail goes out for every file accessed on the server.",
		Fix:         "set level = WARNING in " + strings.Join(sections, ", ") + " of " + p + " (supervisor reloaded)",
		Fixable:     true,
		plan: func(pl *change.Plan) error {
			cur := data
			if staged, ok := pl.Staged(p); ok {
				cur = staged
			}
			f, err := ckanini.Parse(d.env.Host.Path(p), cur)
			if err != nil {
				return err
			}
			for _, s := range sections {
				f.SetLiteral(s, "level", "WARNING")
			}
			pl.Write("error-mails", change.File{Path: p, Old: data, New: f.Bytes(), Mode: 0o640, Reload: []change.Service{change.Supervisor}})
			return nil
		}}, nil
}

// ---- nspkg .pth -------------------------------------------------------------

var (
	pthError   = regexp.MustCompile(`^Error processing line (\d+) of (/\S+\.pth):?\s*$`)
	loaderErr  = regexp.MustCompile(`AttributeError: 'NoneType' object has no attribute 'loader'`)
	nspkgBreak = "os;has_mfs"
)

func detectNspkg(ctx context.Context, d *diag) (*Finding, error) {
	var ev []Evidence
	files := map[string]bool{}
	var order []string
	for _, m := range d.find(pthError, ckanLog) {
		// site.py prints the traceback of the line under "Error processing".
		for j := m.idx + 1; j < len(m.log.lines) && j <= m.idx+20; j++ {
			if pthError.MatchString(m.log.lines[j].text) {
				break
			}
			if loaderErr.MatchString(m.log.lines[j].text) {
				if !files[m.subs[2]] {
					files[m.subs[2]] = true
					order = append(order, m.subs[2])
					if len(ev) < 6 {
						ev = append(ev, m.evidence(), match{log: m.log, idx: j}.evidence())
					}
				}
				break
			}
		}
	}
	if len(order) == 0 {
		return nil, nil
	}
	type patch struct {
		path     string
		old, new []byte
	}
	var patches []patch
	var missing []string
	for _, p := range order {
		data, err := d.readHost(p)
		if err != nil {
			return nil, err
		}
		if data == nil {
			missing = append(missing, p)
			continue
		}
		if !strings.Contains(string(data), nspkgBreak) {
			continue // patched already
		}
		patches = append(patches, patch{p, data, []byte(strings.ReplaceAll(string(data), nspkgBreak, "os;\nhas_mfs"))})
	}
	if len(patches) == 0 && len(missing) == 0 {
		return nil, nil // every file named is patched: the log lines are older
	}
	f := &Finding{Evidence: ev,
		Explanation: "Python's site.py fails on the one-line namespace-package hook of these .pth files (module_from_spec gets no spec) " +
			"and ignores the rest of the file.",
	}
	if len(patches) == 0 {
		f.Fix = "the .pth files named are gone (" + strings.Join(missing, ", ") + "): reinstall the package that owned them"
		return f, nil
	}
	var names []string
	for _, p := range patches {
		names = append(names, p.path)
	}
	f.Fixable = true
	f.Fix = "split the first line after \"import sys, types, os;\" (DCOR's documented patch) in " + strings.Join(names, ", ") + " (supervisor reloaded)"
	f.plan = func(pl *change.Plan) error {
		for _, p := range patches {
			pl.Write("nspkg-pth", change.File{Path: p.path, Old: p.old, New: p.new, Reload: []change.Service{change.Supervisor}})
		}
		return nil
	}
	return f, nil
}

// ---- PluginNotFoundException ------------------------------------------------

var pluginNotFound = regexp.MustCompile(`PluginNotFoundException: (\S+)`)

func detectPluginNotFound(ctx context.Context, d *diag) (*Finding, error) {
	ms := d.find(pluginNotFound, ckanLog)
	if len(ms) == 0 {
		return nil, nil
	}
	plugins := map[string]bool{}
	var names []string
	for _, m := range ms {
		if !plugins[m.subs[1]] {
			plugins[m.subs[1]] = true
			names = append(names, m.subs[1])
		}
	}
	unreadable, roots, err := d.unreadableExtensions(ctx)
	if err != nil {
		return nil, err
	}
	f := &Finding{Evidence: evidences(ms),
		Explanation: "CKAN (uWSGI runs as www-data) could not import the plugin " + strings.Join(names, ", ") +
			": the extension's directories must be readable (and the directories searchable) by every user.",
	}
	if len(unreadable) == 0 {
		if installed(d.env.Host, roots, names) {
			return nil, nil // readable and there: the log lines are older
		}
		f.Fix = "the extension directories (" + strings.Join(roots, ", ") + ") are readable, but no package ckanext/" + strings.Join(names, ", ckanext/") +
			" is in them: install the extension into " + d.env.Venv + " (pip install) or correct ckan.plugins"
		return f, nil
	}
	shown := unreadable
	if len(shown) > 5 {
		shown = append(shown[:5:5], fmt.Sprintf("… %d in all", len(unreadable)))
	}
	f.Fixable = true
	f.Fix = "give every user read permission (execute for directories), as chmod a+rX: " + strings.Join(shown, ", ") + " (supervisor reloaded)"
	h := d.env.Host
	f.plan = func(pl *change.Plan) error {
		pl.Do("plugin-not-found", change.Action{
			Description: fmt.Sprintf("chmod a+rX %d files and directories of the CKAN extensions (%s)", len(unreadable), strings.Join(shown, ", ")),
			Reload:      []change.Service{change.Supervisor},
			Run: func(ctx context.Context) error {
				for _, p := range unreadable {
					if err := ctx.Err(); err != nil {
						return err
					}
					local := h.PathNoFollow(p)
					info, err := os.Lstat(local)
					if err != nil {
						return err
					}
					mode := info.Mode().Perm() | 0o004
					if info.IsDir() || info.Mode().Perm()&0o111 != 0 {
						mode |= 0o001
					}
					if err := os.Chmod(local, mode|info.Mode()&(fs.ModeSticky|fs.ModeSetuid|fs.ModeSetgid)); err != nil {
						return err
					}
				}
				return nil
			}})
		return nil
	}
	return f, nil
}

// installed reports whether every plugin name has a package directory
// ckanext/NAME in one of the extension roots (a heuristic: a plugin's
// name is its package's in DCOR's extensions).
func installed(h host.Host, roots, names []string) bool {
	for _, n := range names {
		found := false
		for _, r := range roots {
			for _, c := range []string{filepath.Join(r, n), filepath.Join(r, "ckanext", n)} {
				if info, err := os.Stat(h.Path(c)); err == nil && info.IsDir() && (filepath.Base(r) == "ckanext" || strings.Contains(c, "/ckanext/")) {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// unreadableExtensions lists the host paths of the CKAN extensions (the
// venv's ckanext packages and the sources of editable installs) that
// others cannot read, and the directories looked at.
func (d *diag) unreadableExtensions(ctx context.Context) ([]string, []string, error) {
	h := d.env.Host
	sites, _ := filepath.Glob(filepath.Join(h.Path(d.env.Venv), "lib", "python3*", "site-packages"))
	var roots []string
	seen := map[string]bool{}
	add := func(hp string) {
		if !seen[hp] {
			seen[hp] = true
			roots = append(roots, hp)
		}
	}
	for _, s := range sites {
		hs := h.HostPath(s)
		if _, err := os.Stat(filepath.Join(s, "ckanext")); err == nil {
			add(filepath.Join(hs, "ckanext"))
		}
		// Editable installs: a path per line in .egg-link and .pth files.
		links, _ := filepath.Glob(filepath.Join(s, "*.egg-link"))
		pths, _ := filepath.Glob(filepath.Join(s, "*.pth"))
		for _, l := range append(links, pths...) {
			data, err := os.ReadFile(l)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(data), "\n") {
				line = strings.TrimSpace(line)
				if !strings.HasPrefix(line, "/") {
					continue
				}
				if info, err := os.Stat(h.Path(line)); err == nil && info.IsDir() && !strings.Contains(line, "site-packages") {
					add(filepath.Clean(line))
				}
			}
		}
	}
	var bad []string
	for _, r := range roots {
		// The directories above the root must be searchable.
		for dir := filepath.Dir(r); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
			if info, err := os.Stat(h.Path(dir)); err == nil && info.Mode().Perm()&0o001 == 0 && !seen[dir] {
				seen[dir] = true
				bad = append(bad, dir)
			}
		}
		err := filepath.WalkDir(h.Path(r), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if e.Type()&fs.ModeSymlink != 0 {
				return nil
			}
			info, err := e.Info()
			if err != nil {
				return nil
			}
			need := fs.FileMode(0o004)
			if e.IsDir() {
				need = 0o005
				if e.Name() == "__pycache__" || e.Name() == ".git" {
					if info.Mode().Perm()&need != need {
						bad = append(bad, h.HostPath(p))
					}
					return fs.SkipDir
				}
			}
			if info.Mode().Perm()&need != need {
				bad = append(bad, h.HostPath(p))
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return bad, roots, nil
}

// ---- HDF5 file locking ------------------------------------------------------

var (
	hdf5Lock  = regexp.MustCompile(`unable to lock file, errno = 37`)
	hdf5False = regexp.MustCompile(`HDF5_USE_FILE_LOCKING=["']?FALSE["']?`)
)

func detectHDF5(ctx context.Context, d *diag) (*Finding, error) {
	ms := d.find(hdf5Lock, nil)
	if len(ms) == 0 {
		return nil, nil
	}
	type edit struct {
		path     string
		old, new []byte
		reload   []change.Service
	}
	var edits []edit
	var what []string
	for _, p := range d.supervisorFiles() {
		data, err := d.readHost(p)
		if err != nil {
			return nil, err
		}
		f, err := ckanini.Parse(d.env.Host.Path(p), data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		changed := false
		for _, o := range iniOptions(data) {
			if !strings.HasPrefix(o.section, "program:") || o.key != "command" ||
				!(strings.Contains(o.value, "ckan") || strings.Contains(o.value, "uwsgi")) {
				continue
			}
			env, _ := lookup(iniOptions(data), o.section, "environment")
			if hdf5False.MatchString(env.value) {
				continue
			}
			v := "HDF5_USE_FILE_LOCKING=FALSE"
			if old := strings.TrimSpace(env.value); old != "" {
				old = regexp.MustCompile(`,?\s*HDF5_USE_FILE_LOCKING=("[^"]*"|'[^']*'|[^,]*)`).ReplaceAllString(old, "")
				if old = strings.Trim(old, ", "); old != "" {
					v = old + "," + v
				}
			}
			f.SetLiteral(o.section, "environment", v)
			changed = true
			what = append(what, fmt.Sprintf("environment of [%s] in %s", o.section, p))
		}
		if changed {
			edits = append(edits, edit{p, data, f.Bytes(), []change.Service{change.Supervisor}})
		}
	}
	activate := filepath.Join(d.env.Venv, "bin", "activate")
	data, err := d.readHost(activate)
	if err != nil {
		return nil, err
	}
	if data != nil && !strings.Contains(string(data), "HDF5_USE_FILE_LOCKING") {
		nd := string(data)
		if nd != "" && !strings.HasSuffix(nd, "\n") {
			nd += "\n"
		}
		nd += "\n# Disable HDF5 file locking (dcor doctor: DCOR's troubleshooting section)\nexport HDF5_USE_FILE_LOCKING='FALSE'\n"
		edits = append(edits, edit{activate, data, []byte(nd), nil})
		what = append(what, activate)
	}
	if len(edits) == 0 {
		return nil, nil // configured already: the log lines are older
	}
	return &Finding{Evidence: evidences(ms),
		Explanation: "HDF5 locks the files it opens; the file system of the data storage (a network file system) offers no locks (errno 37, ENOLCK).",
		Fix:         "set HDF5_USE_FILE_LOCKING=FALSE in " + strings.Join(what, "; ") + " (supervisor reloaded)",
		Fixable:     true,
		plan: func(pl *change.Plan) error {
			for _, e := range edits {
				pl.Write("hdf5-locking", change.File{Path: e.path, Old: e.old, New: e.new, Reload: e.reload})
			}
			return nil
		}}, nil
}

// ---- nginx temp files on a full root partition ------------------------------

var pwriteFull = regexp.MustCompile(`pwrite\(\) "([^"]+)" failed \(28: No space left on device\)`)

// nginxSpace is the detector of uploads (client_body_temp_path) or
// downloads (proxy_temp_path) failing on a full partition.
func nginxSpace(d *diag, upload bool) (*Finding, error) {
	var ms []match
	for _, m := range d.find(pwriteFull, nginxLog) {
		proxy := strings.Contains(m.subs[1], "/proxy") || strings.Contains(m.log.lines[m.idx].text, "while reading upstream")
		if proxy != upload {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return nil, nil
	}
	directive, dir, check := "client_body_temp_path", DataTmp+"/nginx/client_body", "nginx-upload-space"
	what := "uploads"
	if !upload {
		directive, dir, check = "proxy_temp_path", DataTmp+"/nginx/proxy", "nginx-download-space"
		what = "downloads"
	}
	f := &Finding{Evidence: evidences(ms),
		Explanation: "nginx buffers " + what + " in temporary files under /var/lib/nginx, on the root partition, which is full.",
	}
	site, err := d.readNginx()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", host.NginxSite, err)
	}
	if site == nil {
		f.Fix = "set `" + directive + " " + dir + " 1 2;` in the nginx site (server section); " + host.NginxSite + " is missing"
		return f, nil
	}
	if st := site.directive(directive); st != nil && len(st.Args) > 0 && strings.HasPrefix(st.Args[0], "/data/") {
		return nil, nil // on /data already: the log lines are older
	}
	updated, ok := site.setDirective(directive, dir+" 1 2")
	if !ok {
		f.Fix = "set `" + directive + " " + dir + " 1 2;` in the server section of " + host.NginxSite
		return f, nil
	}
	f.Fixable = true
	f.Fix = "set `" + directive + " " + dir + " 1 2;` in " + host.NginxSite + " (on the block storage /data) and create " +
		filepath.Dir(dir) + " (nginx reloaded)"
	h := d.env.Host
	f.plan = func(pl *change.Plan) error {
		cur := site.data
		if staged, ok := pl.Staged(site.path); ok {
			s2 := &nginxSite{path: site.path, data: staged}
			if s2.cfg, err = nginxconf.Parse(staged); err != nil {
				return err
			}
			if cur, ok = s2.setDirective(directive, dir+" 1 2"); !ok {
				return fmt.Errorf("%s: no server section on port 443", site.path)
			}
		} else {
			cur = updated
		}
		if _, err := os.Stat(h.Path(filepath.Dir(dir))); errors.Is(err, os.ErrNotExist) {
			pl.Do(check, change.Action{Description: "create " + filepath.Dir(dir) + " (nginx creates " + filepath.Base(dir) + " in it)",
				Run: func(ctx context.Context) error { return mkdirHost(h, filepath.Dir(dir), 0o755) }})
		}
		pl.Write(check, change.File{Path: site.path, Old: site.data, New: cur, Reload: []change.Service{change.Nginx},
			Validate: func(ctx context.Context, _ string, data []byte) error { _, err := nginxconf.Parse(data); return err }})
		return nil
	}
	return f, nil
}

// mkdirHost creates the host directory p (and its parents) with mode.
func mkdirHost(h host.Host, p string, mode os.FileMode) error {
	local := h.Path(p)
	if err := os.MkdirAll(local, mode); err != nil {
		return err
	}
	return os.Chmod(local, mode)
}

func detectUploadSpace(ctx context.Context, d *diag) (*Finding, error) { return nginxSpace(d, true) }

func detectDownloadSpace(ctx context.Context, d *diag) (*Finding, error) { return nginxSpace(d, false) }

// ---- the journal --------------------------------------------------------------

var systemMaxUse = regexp.MustCompile(`^\s*SystemMaxUse\s*=\s*(\S+)`)

func detectJournal(ctx context.Context, d *diag) (*Finding, error) {
	h := d.env.Host
	var size int64
	files := 0
	err := filepath.WalkDir(h.Path(JournalDir), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				size += info.Size()
				files++
			}
		}
		return nil
	})
	if err != nil || size < d.env.JournalWarn {
		return nil, nil
	}
	data, err := d.readHost(JournaldConf)
	if err != nil {
		return nil, err
	}
	ev := []Evidence{{Path: JournalDir, Text: fmt.Sprintf("%s in %d journal files", humanBytes(size), files)}}
	lines := strings.SplitAfter(string(data), "\n")
	commentLine := -1
	journalSection := -1
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if systemMaxUse.MatchString(l) {
			return nil, nil // limited: it shrinks to the limit at the next rotation
		}
		if strings.HasPrefix(t, "#") && strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(t, "#")), "SystemMaxUse=") {
			commentLine = i
		}
		if t == "[Journal]" {
			journalSection = i
		}
	}
	var nd string
	switch {
	case commentLine >= 0:
		ev = append(ev, Evidence{Path: JournaldConf, Line: commentLine + 1, Text: strings.TrimSpace(lines[commentLine])})
		lines[commentLine] = "SystemMaxUse=200M" + eol(lines[commentLine])
		nd = strings.Join(lines, "")
	case journalSection >= 0:
		ev = append(ev, Evidence{Path: JournaldConf, Line: journalSection + 1, Text: "[Journal] without SystemMaxUse"})
		l := lines[journalSection]
		if eol(l) == "" {
			lines[journalSection] = l + "\n"
		}
		lines = append(lines[:journalSection+1], append([]string{"SystemMaxUse=200M\n"}, lines[journalSection+1:]...)...)
		nd = strings.Join(lines, "")
	default:
		ev = append(ev, Evidence{Path: JournaldConf, Text: "no [Journal] section with SystemMaxUse"})
		nd = string(data)
		if nd != "" && !strings.HasSuffix(nd, "\n") {
			nd += "\n"
		}
		nd += "[Journal]\nSystemMaxUse=200M\n"
	}
	f := &Finding{Evidence: ev,
		Explanation: "systemd keeps its journal in " + JournalDir + " on the root partition and, without a limit, lets it grow to 10 % of the file system (at most 4 GiB) per journal.",
		Fix:         "set SystemMaxUse=200M in " + JournaldConf + "; free the space now with `journalctl --vacuum-files=2`",
		Fixable:     true,
	}
	var old []byte
	if data != nil {
		old = data
	}
	restart := d.env.RestartJournald
	if restart != nil {
		f.Fix = "set SystemMaxUse=200M in " + JournaldConf + " and restart systemd-journald (it shrinks the journal to the limit)"
	}
	f.plan = func(pl *change.Plan) error {
		pl.Write("journal-size", change.File{Path: JournaldConf, Old: old, New: []byte(nd), Mode: 0o644})
		if restart != nil {
			pl.Do("journal-size", change.Action{Description: "restart systemd-journald", Run: restart})
		}
		return nil
	}
	return f, nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// ---- uWSGI temporary files in /tmp ------------------------------------------

var errno28 = regexp.MustCompile(`OSError: \[Errno 28\] No space left on device`)

func detectUWSGITmp(ctx context.Context, d *diag) (*Finding, error) {
	ms := d.find(errno28, ckanLog)
	if len(ms) == 0 {
		return nil, nil
	}
	// TMPDIR in the supervisor program or in uWSGI's own environment.
	for _, p := range d.supervisorFiles() {
		data, err := d.readHost(p)
		if err != nil {
			return nil, err
		}
		for _, o := range iniOptions(data) {
			if o.section == "program:ckan-uwsgi" && o.key == "environment" && strings.Contains(o.value, "TMPDIR=/data") {
				return nil, nil
			}
		}
	}
	data, err := d.readHost(host.UWSGIIni)
	if err != nil {
		return nil, err
	}
	opts := iniOptions(data)
	for _, o := range opts {
		if o.section == "uwsgi" && o.key == "env" && strings.HasPrefix(o.value, "TMPDIR=/data") {
			return nil, nil
		}
	}
	dir := DataTmp + "/uwsgi"
	f := &Finding{Evidence: evidences(ms),
		Explanation: "uWSGI's Python keeps uploads in temporary files under /tmp (on the root partition, `lsof / | grep /tmp` shows them as deleted files); " +
			"large uploads fill it. (If df shows /data full instead, the resource storage itself is full.)",
	}
	if data == nil {
		f.Fix = "set TMPDIR=" + dir + " in the environment of [program:ckan-uwsgi] (" + host.SupervisorDir + "/ckan-uwsgi.conf)"
		return f, nil
	}
	if env, ok := lookup(opts, "uwsgi", "env"); ok {
		f.Fix = "add a second line `env = TMPDIR=" + dir + "` to " + host.UWSGIIni + " (it has `env = " + env.value + "`)"
		return f, nil
	}
	ini, err := ckanini.Parse(d.env.Host.Path(host.UWSGIIni), data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", host.UWSGIIni, err)
	}
	ini.SetLiteral("uwsgi", "env", "TMPDIR="+dir)
	nd := ini.Bytes()
	f.Fixable = true
	// uWSGI's `env` rather than the supervisor program's environment:
	// `dcor inspect` keeps that one to the template's value.
	f.Fix = "set `env = TMPDIR=" + dir + "` in " + host.UWSGIIni + " (the uWSGI processes' environment) and create " + dir + " (mode 1777, like /tmp); supervisor reloaded"
	h := d.env.Host
	f.plan = func(pl *change.Plan) error {
		if _, err := os.Stat(h.Path(dir)); errors.Is(err, os.ErrNotExist) {
			pl.Do("uwsgi-tmp", change.Action{Description: "create " + dir + " (mode 1777)",
				Run: func(ctx context.Context) error { return mkdirHost(h, dir, 0o777|fs.ModeSticky) }})
		}
		pl.Write("uwsgi-tmp", change.File{Path: host.UWSGIIni, Old: data, New: nd, Reload: []change.Service{change.Supervisor}})
		return nil
	}
	return f, nil
}

// ---- uWSGI socket-timeout ------------------------------------------------------

var wsgiTimeout = regexp.MustCompile(`timeout during read\(\d+\) on wsgi\.input|\[uwsgi-body-read\] Timeout reading \d+ bytes`)

// templateSocketTimeout is the socket-timeout of DCOR's uWSGI template.
const templateSocketTimeout = 500

func detectSocketTimeout(ctx context.Context, d *diag) (*Finding, error) {
	ms := d.find(wsgiTimeout, ckanLog)
	if len(ms) == 0 {
		return nil, nil
	}
	f := &Finding{Evidence: evidences(ms),
		Explanation: "uWSGI gave up waiting for the upload's next bytes after socket-timeout seconds (uWSGI's default is 4 s); " +
			"slow storage for the resources (NFS) makes this more likely.",
	}
	data, err := d.readHost(host.UWSGIIni)
	if err != nil {
		return nil, err
	}
	cur, ok := lookup(iniOptions(data), "uwsgi", "socket-timeout")
	n, convErr := strconv.Atoi(cur.value)
	if data != nil && (!ok || convErr != nil || n < templateSocketTimeout) {
		ini, err := ckanini.Parse(d.env.Host.Path(host.UWSGIIni), data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", host.UWSGIIni, err)
		}
		ini.SetLiteral("uwsgi", "socket-timeout", strconv.Itoa(templateSocketTimeout))
		nd := ini.Bytes()
		if ok {
			f.Evidence = append(f.Evidence, Evidence{Path: host.UWSGIIni, Line: cur.line, Text: "socket-timeout = " + cur.value})
		} else {
			f.Evidence = append(f.Evidence, Evidence{Path: host.UWSGIIni, Text: "no socket-timeout (uWSGI's default: 4 s)"})
		}
		f.Fixable = true
		f.Fix = fmt.Sprintf("set socket-timeout = %d (DCOR's template) in %s (supervisor reloaded)", templateSocketTimeout, host.UWSGIIni)
		f.plan = func(pl *change.Plan) error {
			pl.Write("uwsgi-socket-timeout", change.File{Path: host.UWSGIIni, Old: data, New: nd, Reload: []change.Service{change.Supervisor}})
			return nil
		}
		return f, nil
	}
	if d.olderThan(ms, host.UWSGIIni) {
		return nil, nil // the timeouts predate the uWSGI configuration
	}
	if ok {
		f.Evidence = append(f.Evidence, Evidence{Path: host.UWSGIIni, Line: cur.line, Text: "socket-timeout = " + cur.value})
	}
	f.Fix = "the storage is slower than socket-timeout allows: DCOR's documentation suggests socket-timeout = 7200 in " + host.UWSGIIni +
		" (dcor inspect resets it to the template's " + strconv.Itoa(templateSocketTimeout) + "), or faster storage for /data"
	return f, nil
}

// ---- nginx send_timeout ----------------------------------------------------------

var bodyReadClosed = regexp.MustCompile(`\[uwsgi-body-read\] Error reading \d+ bytes\. Content-Length: \d+ consumed: \d+ left: \d+ message: Client closed connection`)

// sendTimeout is the send_timeout doctor sets (seconds).
const sendTimeout = 7200

func detectSendTimeout(ctx context.Context, d *diag) (*Finding, error) {
	ms := d.find(bodyReadClosed, ckanLog)
	if len(ms) == 0 {
		return nil, nil
	}
	f := &Finding{Evidence: evidences(ms),
		Explanation: "nginx closed the connection while uWSGI was still reading the upload: with slow storage, nginx's send_timeout (default 60 s) runs out.",
	}
	site, err := d.readNginx()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", host.NginxSite, err)
	}
	if site == nil {
		f.Fix = fmt.Sprintf("set `send_timeout %d;` in the nginx site's server section", sendTimeout)
		return f, nil
	}
	if st := site.directive("send_timeout"); st != nil && len(st.Args) == 1 {
		if n, ok := nginxSeconds(st.Args[0]); ok && n >= sendTimeout {
			return nil, nil // long enough already: the log lines are older
		}
		f.Evidence = append(f.Evidence, Evidence{Path: site.path, Line: st.Line, Text: lineOf(site.data, st.Line)})
	} else {
		f.Evidence = append(f.Evidence, Evidence{Path: site.path, Text: "no send_timeout (nginx's default: 60 s)"})
	}
	updated, ok := site.setDirective("send_timeout", strconv.Itoa(sendTimeout))
	if !ok {
		f.Fix = fmt.Sprintf("set `send_timeout %d;` in the server section of %s", sendTimeout, site.path)
		return f, nil
	}
	f.Fixable = true
	f.Fix = fmt.Sprintf("set `send_timeout %d;` in %s (nginx reloaded)", sendTimeout, site.path)
	f.plan = func(pl *change.Plan) error {
		cur := updated
		if staged, ok := pl.Staged(site.path); ok {
			cfg, err := nginxconf.Parse(staged)
			if err != nil {
				return err
			}
			if cur, ok = (&nginxSite{path: site.path, data: staged, cfg: cfg}).setDirective("send_timeout", strconv.Itoa(sendTimeout)); !ok {
				return fmt.Errorf("%s: no server section on port 443", site.path)
			}
		}
		pl.Write("nginx-send-timeout", change.File{Path: site.path, Old: site.data, New: cur, Reload: []change.Service{change.Nginx},
			Validate: func(ctx context.Context, _ string, data []byte) error { _, err := nginxconf.Parse(data); return err }})
		return nil
	}
	return f, nil
}
