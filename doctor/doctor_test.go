package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
)

// The log lines below are as the programs print them: Python's site.py
// (addpackage), CKAN's plugins/core.py, h5py, nginx's ngx_log_error,
// uWSGI's core/reader.c and plugins/python (formats read in their
// sources and in DCOR's troubleshooting section).

const nspkgLog = `*** Starting uWSGI 2.0.20 (64bit) on [Tue Sep  7 09:00:00 2021] ***
Error processing line 1 of /usr/lib/ckan/default/lib/python3.8/site-packages/ckanext-dcor-theme-nspkg.pth:

  Traceback (most recent call last):
    File "/usr/lib/python3.8/site.py", line 175, in addpackage
      exec(line)
    File "<string>", line 1, in <module>
    File "<frozen importlib._bootstrap>", line 553, in module_from_spec
  AttributeError: 'NoneType' object has no attribute 'loader'

Remainder of file ignored
`

const nspkgPth = "import sys, types, os;has_mfs = sys.version_info > (3, 5);p = os.path.join(sys._getframe(1).f_locals['sitedir'], *('ckanext',));m = m or sys.modules.setdefault('ckanext', types.ModuleType('ckanext'))\n"

const pluginLog = `Traceback (most recent call last):
  File "/etc/ckan/default/wsgi.py", line 12, in <module>
    application = make_app(config)
  File "/usr/lib/ckan/default/src/ckan/ckan/plugins/core.py", line 257, in _get_service
    raise PluginNotFoundException(plugin_name)
ckan.plugins.core.PluginNotFoundException: dcor_schemas
`

const hdf5Log = `18:02:11 default: ckanext.dcor_schemas.jobs.set_dc_config_job('/data/ckan-production/resources/a/bc/def') (3f2c)
  File "h5py/h5f.pyx", line 96, in h5py.h5f.open
OSError: Unable to open file (unable to lock file, errno = 37, error message = 'No locks available')
`

const nginxUploadLog = `2021/09/07 09:20:40 [notice] 980#980: signal process started
2021/09/07 09:20:43 [crit] 983#983: *623 pwrite() "/var/lib/nginx/body/0000000001" failed (28: No space left on device), client: 192.0.2.7, server: dcor.example.org, request: "POST /api/3/action/resource_create HTTP/1.1", host: "dcor.example.org"
`

const nginxDownloadLog = `2021/09/07 10:01:02 [crit] 983#983: *701 pwrite() "/var/lib/nginx/proxy/7/02/0000000027" failed (28: No space left on device) while reading upstream, client: 192.0.2.7, server: dcor.example.org, request: "GET /dataset/x/resource/y/download/z.rtdc HTTP/1.1", upstream: "http://127.0.0.1:8080/dataset/x/resource/y/download/z.rtdc", host: "dcor.example.org"
`

const errno28Log = `  File "/usr/lib/python3.8/tempfile.py", line 474, in func_wrapper
    return func(*args, **kwargs)
OSError: [Errno 28] No space left on device
`

const timeoutLog = `OSError: timeout during read(57344) on wsgi.input
2021-09-07 09:20:43 uWSGI 127.0.0.1 (HTTP/1.0 500) POST /api/3/action/resource_create => 0 bytes in 8644 msecs to DCOR-Aid/0.6.4
`

const bodyReadLog = `2021-09-08 18:46:16 - [uwsgi-body-read] Error reading 6563 bytes. Content-Length: 15428164609 consumed: 2150065757 left: 13278098852 message: Client closed connection
OSError: error during read(8192) on wsgi.input
`

const nginxSiteText = `proxy_cache_path /tmp/nginx_cache levels=1:2 keys_zone=cache:30m max_size=250m;

server {
    client_max_body_size 100G;
    # client_body_temp_path /data/tmp/nginx/client_body 1 2;
    listen      443 ssl http2;
    server_name dcor.example.org;

    location ~ \.(rtdc)$ {
        proxy_pass http://127.0.0.1:8080$request_uri;
        # proxy_temp_path /data/tmp/nginx/proxy 1 2;
    }
}

server {
    listen 80;
    server_name dcor.example.org;
    return 301 https://$host$request_uri;
}
`

const uwsgiIni = `[uwsgi]
http11-socket      = 127.0.0.1:8080
uid                = www-data
socket-timeout     = 500
`

const supervisorUWSGI = `[program:ckan-uwsgi]

command=/usr/lib/ckan/default/bin/uwsgi -i /etc/ckan/default/ckan-uwsgi.ini
stderr_logfile=/var/log/ckan/ckan-uwsgi.stderr.log
`

const supervisorWorker = `[program:ckan-worker]
environment=LANG=C.UTF-8
command=/usr/lib/ckan/default/bin/ckan -c /etc/ckan/default/ckan.ini jobs worker
`

const ckanIni = `[app:main]
use = egg:ckan
email_to = errors@example.org

[loggers]
keys = root, ckan, ckanext

[logger_root]
level = WARNING
handlers = console

[logger_ckan]
level = INFO
handlers = console

[logger_ckanext]
level = DEBUG
handlers = console
`

const venvPth = "/usr/lib/ckan/default/lib/python3.8/site-packages/ckanext-dcor-theme-nspkg.pth"

// write puts files (host path → content) under root.
func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		local := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(local, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// baseTree is a host with DCOR's configuration whose fixes are not in.
func baseTree() map[string]string {
	return map[string]string{
		host.NginxSite:                             nginxSiteText,
		host.UWSGIIni:                              uwsgiIni,
		host.SupervisorDir + "/ckan-uwsgi.conf":    supervisorUWSGI,
		JournaldConf:                               "[Journal]\n#Storage=auto\n#SystemMaxUse=\n#SystemKeepFree=\n",
		host.DefaultVenv + "/bin/activate":         "# This file must be used with \"source bin/activate\"\nexport VIRTUAL_ENV\n",
		host.CKANLogDir + "/ckan-uwsgi.stdout.log": "*** Starting uWSGI ***\n",
	}
}

func diagnose(t *testing.T, root string) []*Finding {
	t.Helper()
	fs, err := Diagnose(context.Background(), &Env{Host: host.New(root), JournalWarn: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestProblems(t *testing.T) {
	pad := strings.Repeat("2021-09-07 09:00:00,000 INFO  [ckan.lib.base] request\n", 3)
	cases := []struct {
		problem  string
		files    map[string]string
		evidence []string // "path:line" of the evidence, in order
		fix      string   // in Fix
		diff     []string // lines of the planned diffs ("" : explained only)
		setup    func(t *testing.T, root string)
	}{
		{problem: "error-mails", files: map[string]string{host.DefaultCKANIni: ckanIni},
			evidence: []string{host.DefaultCKANIni + ":3", host.DefaultCKANIni + ":13", host.DefaultCKANIni + ":17"},
			fix:      "set level = WARNING in logger_ckan, logger_ckanext",
			diff:     []string{"-level = INFO", "-level = DEBUG", "+level = WARNING"}},
		{problem: "nspkg-pth", files: map[string]string{host.CKANLogDir + "/ckan-uwsgi.stderr.log": pad + nspkgLog, venvPth: nspkgPth},
			evidence: []string{host.CKANLogDir + "/ckan-uwsgi.stderr.log:5", host.CKANLogDir + "/ckan-uwsgi.stderr.log:12"},
			fix:      "split the first line after",
			diff:     []string{"-import sys, types, os;has_mfs", "+import sys, types, os;", "+has_mfs = sys.version_info"}},
		{problem: "plugin-not-found", files: map[string]string{host.CKANLogDir + "/ckan-uwsgi.stderr.log": pluginLog,
			host.DefaultVenv + "/lib/python3.8/site-packages/ckanext/dcor_schemas/plugin.py": "x = 1\n"},
			evidence: []string{host.CKANLogDir + "/ckan-uwsgi.stderr.log:6"},
			fix:      "chmod a+rX: /usr/lib/ckan/default/lib/python3.8/site-packages/ckanext/dcor_schemas",
			diff:     []string{"chmod a+rX 2 files and directories"},
			setup: func(t *testing.T, root string) {
				d := filepath.Join(root, host.DefaultVenv, "lib/python3.8/site-packages/ckanext/dcor_schemas")
				if err := os.Chmod(filepath.Join(d, "plugin.py"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}},
		{problem: "hdf5-locking", files: map[string]string{host.CKANLogDir + "/ckan-worker.stderr.log": hdf5Log,
			host.SupervisorDir + "/ckan-worker.conf": supervisorWorker},
			evidence: []string{host.CKANLogDir + "/ckan-worker.stderr.log:3"},
			fix:      "HDF5_USE_FILE_LOCKING=FALSE",
			diff: []string{"+environment = HDF5_USE_FILE_LOCKING=FALSE", "-environment=LANG=C.UTF-8",
				"+environment=LANG=C.UTF-8,HDF5_USE_FILE_LOCKING=FALSE", "+export HDF5_USE_FILE_LOCKING='FALSE'"}},
		{problem: "nginx-upload-space", files: map[string]string{NginxErrorLog: nginxUploadLog},
			evidence: []string{NginxErrorLog + ":2"},
			fix:      "client_body_temp_path /data/tmp/nginx/client_body 1 2;",
			diff: []string{"-    # client_body_temp_path /data/tmp/nginx/client_body 1 2;",
				"+    client_body_temp_path /data/tmp/nginx/client_body 1 2;", "create /data/tmp/nginx"}},
		{problem: "journal-size", files: map[string]string{JournalDir + "/0123/system.journal": strings.Repeat("j", 2000)},
			evidence: []string{JournalDir, JournaldConf + ":3"},
			fix:      "SystemMaxUse=200M",
			diff:     []string{"-#SystemMaxUse=", "+SystemMaxUse=200M"}},
		{problem: "uwsgi-tmp", files: map[string]string{host.CKANLogDir + "/ckan-uwsgi.stderr.log": errno28Log},
			evidence: []string{host.CKANLogDir + "/ckan-uwsgi.stderr.log:3"},
			fix:      "env = TMPDIR=/data/tmp/uwsgi",
			diff:     []string{"+env = TMPDIR=/data/tmp/uwsgi", "create /data/tmp/uwsgi"}},
		{problem: "nginx-download-space", files: map[string]string{NginxErrorLog: nginxDownloadLog},
			evidence: []string{NginxErrorLog + ":1"},
			fix:      "proxy_temp_path /data/tmp/nginx/proxy 1 2;",
			diff:     []string{"-        # proxy_temp_path /data/tmp/nginx/proxy 1 2;", "+        proxy_temp_path /data/tmp/nginx/proxy 1 2;"}},
		{problem: "uwsgi-socket-timeout", files: map[string]string{host.CKANLogDir + "/ckan-uwsgi.stderr.log": timeoutLog,
			host.UWSGIIni: "[uwsgi]\nhttp11-socket = 127.0.0.1:8080\n"},
			evidence: []string{host.CKANLogDir + "/ckan-uwsgi.stderr.log:1", host.UWSGIIni},
			fix:      "socket-timeout = 500",
			diff:     []string{"+socket-timeout = 500"}},
		{problem: "uwsgi-socket-timeout", files: map[string]string{host.CKANLogDir + "/ckan-uwsgi.stderr.log": timeoutLog},
			evidence: []string{host.CKANLogDir + "/ckan-uwsgi.stderr.log:1", host.UWSGIIni + ":4"},
			fix:      "socket-timeout = 7200",
			setup: func(t *testing.T, root string) {
				// The timeouts came after the configuration.
				old := time.Now().Add(-time.Hour)
				if err := os.Chtimes(filepath.Join(root, host.UWSGIIni), old, old); err != nil {
					t.Fatal(err)
				}
			}},
		{problem: "nginx-send-timeout", files: map[string]string{host.CKANLogDir + "/ckan-uwsgi.stderr.log": bodyReadLog},
			evidence: []string{host.CKANLogDir + "/ckan-uwsgi.stderr.log:1", host.NginxSite},
			fix:      "send_timeout 7200;",
			diff:     []string{"+    send_timeout 7200;"}},
	}
	for _, c := range cases {
		t.Run(c.problem, func(t *testing.T) {
			root := t.TempDir()
			files := baseTree()
			for p, v := range c.files {
				files[p] = v
			}
			write(t, root, files)
			if c.setup != nil {
				c.setup(t, root)
			}
			fs := diagnose(t, root)
			if len(fs) != 1 || fs[0].Problem != c.problem {
				var names []string
				for _, f := range fs {
					names = append(names, f.Problem)
				}
				t.Fatalf("findings %v, want only %s", names, c.problem)
			}
			f := fs[0]
			var got []string
			for _, e := range f.Evidence {
				if e.Line == 0 {
					got = append(got, e.Path)
				} else {
					got = append(got, e.Path+":"+strconv.Itoa(e.Line))
				}
			}
			if strings.Join(got, " ") != strings.Join(c.evidence, " ") {
				t.Errorf("evidence %q, want %q\n%v", got, c.evidence, f.Evidence)
			}
			if !strings.Contains(f.Fix, c.fix) || f.Explanation == "" || f.Title == "" {
				t.Errorf("fix %q, want it to contain %q (explanation %q)", f.Fix, c.fix, f.Explanation)
			}
			if f.Fixable != (len(c.diff) > 0) {
				t.Fatalf("fixable %v, want %v", f.Fixable, len(c.diff) > 0)
			}
			if !f.Fixable {
				return
			}
			h := host.New(root)
			plan := change.New(h, time.Now())
			if err := f.Plan(plan); err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			for _, ch := range plan.Changes(true) {
				all.WriteString(ch.String() + "\n" + ch.Diff)
			}
			for _, want := range c.diff {
				if !strings.Contains(all.String(), want+"\n") && !strings.Contains(all.String(), want) {
					t.Errorf("planned changes lack %q:\n%s", want, all.String())
				}
			}
			// Applied, the problem is not reported again: its fix is in
			// the configuration, the log lines are older.
			res := plan.Apply(context.Background(), change.ApplyOptions{})
			if res.Failed() {
				t.Fatalf("apply: %+v", res.Changes)
			}
			if again := diagnose(t, root); len(again) != 0 {
				t.Errorf("after the fix: %s still found: %v", again[0].Problem, again[0].Evidence)
			}
		})
	}
}

// TestCleanHost: a host with every fix in place and ordinary logs has no
// known problem; nor has an empty one.
func TestCleanHost(t *testing.T) {
	if fs := diagnose(t, t.TempDir()); len(fs) != 0 {
		t.Fatalf("empty host: %v", fs[0].Problem)
	}
	root := t.TempDir()
	write(t, root, map[string]string{
		host.DefaultCKANIni: strings.NewReplacer("level = INFO", "level = WARNING", "level = DEBUG", "level = WARNING").Replace(ckanIni),
		host.NginxSite: strings.NewReplacer("# client_body_temp_path", "client_body_temp_path", "# proxy_temp_path", "proxy_temp_path",
			"client_max_body_size 100G;", "client_max_body_size 100G;\n    send_timeout 2h;").Replace(nginxSiteText),
		host.UWSGIIni:                           uwsgiIni + "env = TMPDIR=/data/tmp/uwsgi\n",
		host.SupervisorDir + "/ckan-uwsgi.conf": strings.Replace(supervisorUWSGI, "command=", "environment=HDF5_USE_FILE_LOCKING=FALSE\ncommand=", 1),
		JournaldConf:                            "[Journal]\nSystemMaxUse=200M\n",
		JournalDir + "/0123/system.journal":     strings.Repeat("j", 2000),
		host.DefaultVenv + "/bin/activate":      "export HDF5_USE_FILE_LOCKING='FALSE'\n",
		venvPth:                                 strings.Replace(nspkgPth, "os;has_mfs", "os;\nhas_mfs", 1),
		host.CKANLogDir + "/ckan-uwsgi.stderr.log": "2021-09-07 09:00:00,000 INFO  [ckan.config.middleware.flask_app] 200 /dataset render time 0.1 seconds\n" +
			"2021-09-07 09:20:43 uWSGI 127.0.0.1 (HTTP/1.0 404) GET /wp-login.php => 0 bytes in 1 msecs to bot\n",
		NginxErrorLog: "2021/09/07 09:20:40 [notice] 980#980: signal process started\n",
	})
	if fs := diagnose(t, root); len(fs) != 0 {
		t.Fatalf("clean host: %s: %v", fs[0].Problem, fs[0].Evidence)
	}
}

// TestTail: only the last lines count, with their numbers in the file.
func TestTail(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.log")
	var b strings.Builder
	for i := 1; i <= 10; i++ {
		b.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	b.WriteString("no newline at the end")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tl, err := tailFile(p, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.lines) != 3 || tl.lines[0].n != 9 || tl.lines[0].text != "line 9" || tl.lines[2].n != 11 || tl.lines[2].text != "no newline at the end" {
		t.Fatalf("tail: %+v", tl.lines)
	}
	// An old problem beyond the tail is not reported.
	root := t.TempDir()
	write(t, root, map[string]string{host.CKANLogDir + "/ckan-uwsgi.stderr.log": timeoutLog + strings.Repeat("ok\n", 20), host.UWSGIIni: "[uwsgi]\n"})
	fs, err := Diagnose(context.Background(), &Env{Host: host.New(root), Lines: 10})
	if err != nil || len(fs) != 0 {
		t.Fatalf("beyond the tail: %v %v", fs, err)
	}
}

// TestJournal: the journal's lines are a log like the files.
func TestJournal(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{host.UWSGIIni: uwsgiIni})
	env := &Env{Host: host.New(root), Journal: func(ctx context.Context, n int) ([]string, error) {
		return []string{"2021-09-07T09:20:42+0200 dcor uwsgi[1301]: started", "2021-09-07T09:20:43+0200 dcor uwsgi[1301]: OSError: timeout during read(57344) on wsgi.input"}, nil
	}}
	fs, err := Diagnose(context.Background(), env)
	if err != nil || len(fs) != 1 || fs[0].Evidence[0].Path != "journal" || fs[0].Evidence[0].Line != 2 {
		t.Fatalf("journal: %+v %v", fs, err)
	}
}
