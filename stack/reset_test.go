package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/ckanini"
	"github.com/DCOR-dev/dcor/internal/runner"
)

// sideCKAN is a second CKAN inside the stack's namespace: the stack's
// virtualenv, Solr, Redis and ckan.ini, but its own database, ckan.site_id,
// storage and webassets trees and port. dcor reset wipes it while the
// stack's own CKAN, database, Solr documents and files stay as they are.
type sideCKAN struct {
	t     *testing.T
	stack *Env
	// env is the stack's Env with URL pointing at this CKAN.
	env Env
	// db is its database, siteID its ckan.site_id.
	db, siteID string
	// dir holds ckan.ini, storage, webassets, backups and the
	// supervisorctl stand-in; /tmp is the same path inside the namespace.
	dir, ini string
	port     int
	// admin is the sysadmin made with ckan's CLI, token its API token.
	admin, token string
	proc         *runner.Process
	cancel       context.CancelFunc
	log          *lockedBuffer
}

// lockedBuffer collects a program's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newSideCKAN makes the database (createdb as postgres, owned by the
// stack's database user), a copy of the stack's ckan.ini pointing at it
// (with the extra options), `ckan db init` (2.11: db upgrade, core and
// plugin migrations), a sysadmin with an API token, and starts `ckan run`
// on a free port. Cleanup stops CKAN, clears its job queues and Solr
// documents, drops the database and removes the files.
func newSideCKAN(t *testing.T, e *Env, tag string, extra map[string]string) *sideCKAN {
	t.Helper()
	n := time.Now().UnixNano() % 1_000_000
	s := &sideCKAN{t: t, stack: e, db: fmt.Sprintf("ckan_%s_%d", tag, n), siteID: fmt.Sprintf("dcor-%s-%d", tag, n),
		admin: fmt.Sprintf("%s%d-admin", tag, n), log: &lockedBuffer{}}
	dir, err := os.MkdirTemp("", "dcor-stack-"+tag+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	s.dir, s.ini = dir, filepath.Join(dir, "ckan.ini")
	for _, d := range []string{"storage", "webassets", "backups", "encrypted", "bin"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	// supervisorctl as dcor sees it: the stack's supervisord runs the
	// stack's CKAN, not this one, and reloading it would disturb the other
	// tests. The stand-in answers `pid` as a running supervisord does and
	// records what dcor asked.
	stub := "#!/bin/sh\necho \"$@\" >> " + filepath.Join(dir, "supervisorctl.calls") + "\n[ \"$1\" = pid ] && echo 4242\nexit 0\n"
	if err := os.WriteFile(filepath.Join(dir, "bin", "supervisorctl"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}

	f, err := ckanini.Load(e.CKANIni)
	if err != nil {
		t.Fatal(err)
	}
	dbURL, _ := f.Get("sqlalchemy.url")
	u, err := url.Parse(dbURL)
	if err != nil || u.User == nil {
		t.Fatalf("the stack's sqlalchemy.url is not a URL with a user: %v", err)
	}
	owner := u.User.Username()
	u.Path = "/" + s.db
	s.port = freePort(t, e)
	opts := map[string]string{"sqlalchemy.url": u.String(), "ckan.site_id": s.siteID,
		"ckan.site_url": fmt.Sprintf("http://127.0.0.1:%d", s.port), "ckan.storage_path": filepath.Join(dir, "storage"),
		"ckan.webassets.path": filepath.Join(dir, "webassets")}
	// CKAN 2.9's who.ini sits beside the stack's ckan.ini (%(here)s)
	if who, ok := f.Get("who.config_file"); ok {
		opts["who.config_file"] = strings.ReplaceAll(who, "%(here)s", "/etc/ckan/default")
	}
	for k, v := range extra {
		opts[k] = v
	}
	for k, v := range opts {
		f.Set("app:main", k, v)
	}
	if err := os.WriteFile(s.ini, f.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = *e
	s.env.URL = fmt.Sprintf("http://127.0.0.1:%d", s.port)

	mustRun(t, e, time.Minute, "runuser", "-u", "postgres", "--", "createdb", "-h", "/run/postgresql", "-O", owner, s.db)
	t.Cleanup(func() {
		s.stop()
		run(t, e, 2*time.Minute, e.Venv+"/bin/ckan", "-c", s.ini, "jobs", "clear")
		s.solrDelete(`site_id:"` + s.siteID + `"`)
		run(t, e, time.Minute, "runuser", "-u", "postgres", "--", "dropdb", "-h", "/run/postgresql", "--if-exists", "--force", s.db)
	})
	s.ckan("db", "init")
	s.ckan("user", "add", s.admin, "email="+s.admin+"@example.org", "password=side admin password")
	s.ckan("sysadmin", "add", s.admin)
	out := s.ckan("user", "token", "add", s.admin, "reset-test")
	s.token = strings.TrimSpace(lastLine(out))
	if strings.Count(s.token, ".") != 2 {
		t.Fatalf("ckan user token add: no token in\n%s", out)
	}
	s.start()
	return s
}

// freePort asks the kernel of the stack's network namespace for a free
// TCP port.
func freePort(t *testing.T, e *Env) int {
	t.Helper()
	out := mustRun(t, e, time.Minute, "python3", "-c",
		"import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
	p, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("free port: %q", out)
	}
	return p
}

// ckan runs the virtualenv's ckan with the side ckan.ini.
func (s *sideCKAN) ckan(args ...string) string {
	s.t.Helper()
	return mustRun(s.t, s.stack, 5*time.Minute, s.stack.Venv+"/bin/ckan", append([]string{"-c", s.ini}, args...)...)
}

// start runs `ckan run` and waits until status_show answers.
func (s *sideCKAN) start() {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	argv := s.stack.Command(s.stack.Venv+"/bin/ckan", "-c", s.ini, "run", "-H", "127.0.0.1", "-p", strconv.Itoa(s.port), "-r")
	p, err := runner.Start(ctx, runner.Cmd{Path: argv[0], Args: argv[1:], Stdout: s.log, Stderr: s.log, Grace: 5 * time.Second})
	if err != nil {
		cancel()
		s.t.Fatal(err)
	}
	s.proc, s.cancel = p, cancel
	for end := time.Now().Add(2 * time.Minute); ; {
		if out, code := run(s.t, s.stack, 10*time.Second, "curl", "-sS", "--fail", s.env.URL+"/api/3/action/status_show"); code == 0 && strings.Contains(out, `"success": true`) {
			return
		}
		if time.Now().After(end) {
			s.t.Fatalf("the side CKAN on %s did not answer:\n%s", s.env.URL, runner.Tail(s.log.String()))
		}
		time.Sleep(time.Second)
	}
}

// stop ends `ckan run`.
func (s *sideCKAN) stop() {
	if s.proc != nil {
		s.cancel()
		s.proc.Wait()
		s.proc = nil
	}
}

// api calls an action of the side CKAN.
func (s *sideCKAN) api(token, action string, body any) (int, map[string]any) {
	s.t.Helper()
	return api(s.t, &s.env, token, action, body)
}

// mustAPI is api that fails the test unless CKAN answers 200.
func (s *sideCKAN) mustAPI(token, action string, body any) map[string]any {
	s.t.Helper()
	code, doc := s.api(token, action, body)
	if code != 200 {
		s.t.Fatalf("%s %v: HTTP %d %v", action, body, code, doc)
	}
	return result(doc)
}

// sql runs a query in the side database as postgres and returns its rows
// (fields separated by |).
func (s *sideCKAN) sql(query string) []string {
	s.t.Helper()
	return sqlIn(s.t, s.stack, s.db, query)
}

func sqlIn(t *testing.T, e *Env, db, query string) []string {
	t.Helper()
	out := mustRun(t, e, time.Minute, "runuser", "-u", "postgres", "--", "psql", "-h", "/run/postgresql", "-d", db,
		"-AtX", "-v", "ON_ERROR_STOP=1", "-c", query)
	out = strings.TrimSpace(out)
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// solrCount counts the stack's Solr documents that match the filter query.
func solrCount(t *testing.T, e *Env, fq string) int {
	t.Helper()
	q := url.Values{"q": {"*:*"}, "fq": {fq}, "rows": {"0"}, "wt": {"json"}}
	out := mustRun(t, e, time.Minute, "curl", "-sS", "--fail", e.Solr+"/select?"+q.Encode())
	var doc struct {
		Response struct {
			NumFound int `json:"numFound"`
		} `json:"response"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("Solr select %s: %v\n%s", fq, err, out)
	}
	return doc.Response.NumFound
}

// solrDelete deletes the stack's Solr documents that match query (cleanup).
func (s *sideCKAN) solrDelete(query string) {
	var b strings.Builder
	b.WriteString("<delete><query>")
	xmlEscape(&b, query)
	b.WriteString("</query></delete>")
	run(s.t, s.stack, time.Minute, "curl", "-sS", "-H", "Content-Type: text/xml", "--data-binary", b.String(),
		s.stack.Solr+"/update?commit=true")
}

func xmlEscape(b *strings.Builder, s string) {
	b.WriteString(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s))
}

// reset runs `dcor reset` inside the namespace with CKAN_INI at the side
// ckan.ini, the supervisorctl stand-in first in PATH, the plain dump in
// dir/backups and the encrypted one in dir/encrypted; site is the site
// file (--config). It returns the output, the exit code and the time.
func (s *sideCKAN) reset(bin, site string, args ...string) (string, int, time.Duration) {
	s.t.Helper()
	argv := []string{"PATH=" + filepath.Join(s.dir, "bin") + ":" + os.Getenv("PATH") + ":/usr/sbin:/sbin", "CKAN_INI=" + s.ini,
		bin, "--config", site, "reset", "--backup-dir", filepath.Join(s.dir, "backups"), "--out-dir", filepath.Join(s.dir, "encrypted")}
	start := time.Now()
	out, code := run(s.t, s.stack, 20*time.Minute, "env", append(argv, args...)...)
	return out, code, time.Since(start)
}

// supervisorCalls returns what dcor asked the supervisorctl stand-in, and
// forgets it.
func (s *sideCKAN) supervisorCalls() string {
	p := filepath.Join(s.dir, "supervisorctl.calls")
	data, _ := os.ReadFile(p)
	os.Remove(p)
	return strings.Join(strings.Fields(string(data)), " ")
}

// dumps lists the backup files under dir (YYYY-MM/…), sorted.
func dumps(dir, pattern string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "*", pattern))
	sort.Strings(files)
	return files
}

// resetState is what the test compares after each step: the database,
// Solr and the API of the side CKAN, and the stack's own Solr document.
type resetState struct {
	// Datasets counts the package rows by state ("active/private").
	Datasets map[string]int
	// Resources, PackageMembers count resource rows and the member rows
	// of datasets (circles and collections).
	Resources, PackageMembers int
	// Users are the states of the fixture's users.
	Users map[string]string
	// Memberships are the states of the member rows (circles and
	// collections) of the fixture's users.
	Memberships map[string]string
	// Solr counts the documents of this site_id; Other the stack's own
	// document (another site_id).
	Solr, Other int
	// Search is package_search's count (sysadmin, drafts and private
	// included); Listed the active users of user_list.
	Search int
	Listed []string
}

// resetFixture is the side CKAN with its datasets and users.
type resetFixture struct {
	*sideCKAN
	bin string
	// prefix starts every name; users maps a role to a user name.
	prefix string
	// license is a license_id the site accepts (CC0 as DCOR's).
	license string
	// creatorToken is the API token of the user "creator".
	creatorToken string
	users        map[string]string
	// otherFQ finds the stack's own document of the dataset made for it.
	otherFQ string
	// plainSite and keySite are site files: no backup key (a plain dump)
	// and one public key (an encrypted dump); secKey its secret key.
	plainSite, keySite, secKey string
}

func (f *resetFixture) state() resetState {
	t := f.t
	t.Helper()
	st := resetState{Datasets: map[string]int{}, Users: map[string]string{}, Memberships: map[string]string{}}
	for _, row := range f.sql(`SELECT state || CASE WHEN private THEN '/private' ELSE '' END, count(*) FROM package GROUP BY 1`) {
		k, v, _ := strings.Cut(row, "|")
		st.Datasets[k], _ = strconv.Atoi(v)
	}
	st.Resources, _ = strconv.Atoi(f.sql(`SELECT count(*) FROM resource`)[0])
	st.PackageMembers, _ = strconv.Atoi(f.sql(`SELECT count(*) FROM member WHERE table_name = 'package'`)[0])
	for _, row := range f.sql(`SELECT name, state FROM "user" WHERE name LIKE '` + f.prefix + `%'`) {
		k, v, _ := strings.Cut(row, "|")
		st.Users[k] = v
	}
	for _, row := range f.sql(`SELECT u.name, string_agg(m.state, ',' ORDER BY m.state) FROM member m JOIN "user" u ON u.id = m.table_id
		WHERE m.table_name = 'user' AND u.name LIKE '` + f.prefix + `%' GROUP BY u.name`) {
		k, v, _ := strings.Cut(row, "|")
		st.Memberships[k] = v
	}
	st.Solr = solrCount(t, f.stack, `+site_id:"`+f.siteID+`"`)
	st.Other = solrCount(t, f.stack, f.otherFQ)
	search := f.mustAPI(f.token, "package_search", map[string]any{"include_private": true, "include_drafts": true, "rows": 0})
	st.Search = int(search["count"].(float64))
	code, doc := f.api(f.token, "user_list", map[string]any{})
	if code != 200 {
		t.Fatalf("user_list: HTTP %d %v", code, doc)
	}
	for _, u := range doc["result"].([]any) {
		if name := fmt.Sprint(u.(map[string]any)["name"]); strings.HasPrefix(name, f.prefix) {
			st.Listed = append(st.Listed, name)
		}
	}
	sort.Strings(st.Listed)
	return st
}

// dataset makes a dataset of the side CKAN through the API as token's
// user: state "" (CKAN's default, active), "draft", "private" or
// "deleted" (made as a draft, then package_delete); draft and deleted
// ones get a resource (a link: uploads need S3, which the stack lacks).
func (f *resetFixture) dataset(token, name, state string, extra map[string]any) {
	f.t.Helper()
	body := map[string]any{"name": name, "title": "Reset " + name, "owner_org": f.prefix + "-circle",
		"authors": "A. Person", "license_id": f.license, "tags": []map[string]string{{"name": "cells"}}}
	switch state {
	case "draft", "deleted":
		body["state"] = "draft"
	case "private":
		body["private"] = true
	}
	for k, v := range extra {
		body[k] = v
	}
	f.mustAPI(token, "package_create", body)
	if state == "draft" || state == "deleted" {
		f.mustAPI(f.token, "resource_create", map[string]any{"package_id": name, "url": "https://example.org/" + name + ".rtdc",
			"name": name + ".rtdc"})
	}
	if state == "deleted" {
		f.mustAPI(f.token, "package_delete", map[string]any{"id": name})
	}
}

// newResetFixture builds the side CKAN's state through its API (SQL only
// for last_active, which the API cannot backdate): a circle and a
// collection; users sysadmin, zombie (a circle member), kept (a zombie
// protected by --keep-user), active (recently active, made the active
// dataset), creator (inactive, made the private dataset: a zombie only
// once its datasets are purged) and gone (deleted already); datasets
// active, private, draft (with a resource, in the collection) and deleted
// (with a resource); the webassets of a page; and one dataset of the stack itself, whose Solr
// document has another site_id.
func newResetFixture(t *testing.T) *resetFixture {
	e := stackEnv(t)
	if e.Lane != "2.11" && e.Lane != "2.9" {
		t.Skipf("the reset test runs on the 2.11 and the seed (2.9) lane (this stack is %s)", e.Lane)
	}
	bin := dcor(t)
	s := newSideCKAN(t, e, "reset", nil)
	f := &resetFixture{sideCKAN: s, bin: bin, prefix: strings.TrimSuffix(s.admin, "-admin"), users: map[string]string{}}
	p := f.prefix
	f.license = siteLicense(t, &s.env)
	f.mustAPI(f.token, "organization_create", map[string]any{"name": p + "-circle"})
	f.mustAPI(f.token, "group_create", map[string]any{"name": p + "-collection"})
	tokens := map[string]string{}
	for _, role := range []string{"zombie", "kept", "active", "creator", "gone"} {
		name := p + "-" + role
		f.users[role] = name
		f.mustAPI(f.token, "user_create", map[string]any{"name": name, "email": name + "@example.org", "password": "reset test password"})
		if role == "active" || role == "creator" || role == "zombie" {
			capacity := map[string]string{"zombie": "member"}[role]
			if capacity == "" {
				capacity = "editor"
			}
			f.mustAPI(f.token, "organization_member_create", map[string]any{"id": p + "-circle", "username": name, "role": capacity})
		}
		if role == "active" || role == "creator" {
			tokens[role] = fmt.Sprint(f.mustAPI(f.token, "api_token_create", map[string]any{"user": name, "name": "reset"})["token"])
		}
	}
	f.users["sysadmin"] = s.admin
	// a page: CKAN builds its webassets
	mustRun(t, e, time.Minute, "curl", "-sS", "--fail", "-o", "/dev/null", s.env.URL+"/dataset/")
	f.mustAPI(f.token, "user_delete", map[string]any{"id": f.users["gone"]})
	f.dataset(tokens["active"], p+"-active", "", nil)
	f.dataset(tokens["creator"], p+"-private", "private", nil)
	f.creatorToken = tokens["creator"]
	f.dataset(f.token, p+"-draft", "draft", map[string]any{"groups": []map[string]string{{"name": p + "-collection"}}})
	f.dataset(f.token, p+"-deleted", "deleted", nil)
	f.backdate()

	// a dataset of the stack itself: its Solr document has the stack's
	// site_id and must survive every step
	token := adminToken(t, e)
	other := p + "-stack"
	if code, doc := api(t, e, token, "organization_create", map[string]any{"name": other}); code != 200 {
		t.Fatalf("organization_create on the stack: HTTP %d %v", code, doc)
	}
	if code, doc := api(t, e, token, "package_create", map[string]any{"name": other, "title": "Reset test, the stack's own",
		"owner_org": other, "authors": "A. Person", "license_id": siteLicense(t, e), "state": "draft"}); code != 200 {
		t.Fatalf("package_create on the stack: HTTP %d %v", code, doc)
	}
	t.Cleanup(func() {
		api(t, e, token, "dataset_purge", map[string]any{"id": other})
		api(t, e, token, "organization_purge", map[string]any{"id": other})
	})
	stackIni, err := ckanini.Load(e.CKANIni)
	if err != nil {
		t.Fatal(err)
	}
	stackSite, _ := stackIni.Get("ckan.site_id")
	f.otherFQ = fmt.Sprintf(`+site_id:"%s" +name:"%s"`, stackSite, other)

	// site files: no key (plain dump), one key (encrypted dump)
	f.plainSite = filepath.Join(s.dir, "site-plain.yaml")
	os.WriteFile(f.plainSite, []byte("hostname: resettest\nbackup:\n  key_dir: "+filepath.Join(s.dir, "no-keys")+"\n"), 0o644)
	f.keySite = filepath.Join(s.dir, "site-key.yaml")
	os.WriteFile(f.keySite, []byte("hostname: resettest\nbackup:\n  key_dir: "+filepath.Join(s.dir, "keys")+"\n"), 0o644)
	return f
}

// backdate makes everyone but the active user inactive for 13 weeks
// and the active user active a day ago (the sysadmin's age does not
// matter). CKAN 2.10+ records user.last_active; CKAN 2.9's user table
// has no such column and dcor takes the newest activity (a user's
// activities are in CKAN's time, UTC without a time zone): every
// activity of the fixture's users moves back 13 weeks, the active
// user's newest (its dataset) to a day ago. Users without any activity
// count as inactive on both.
func (f *resetFixture) backdate() {
	p := f.prefix
	if f.stack.Lane != "2.9" {
		f.sql(`UPDATE "user" SET last_active = now() - interval '13 weeks' WHERE name LIKE '` + p + `-%'`)
		f.sql(`UPDATE "user" SET last_active = now() - interval '1 day' WHERE name = '` + f.users["active"] + `'`)
		return
	}
	f.sql(`UPDATE activity SET "timestamp" = "timestamp" - interval '13 weeks' WHERE user_id IN
		(SELECT id FROM "user" WHERE name LIKE '` + p + `-%')`)
	f.sql(`UPDATE activity SET "timestamp" = (now() AT TIME ZONE 'UTC') - interval '1 day' WHERE id = (SELECT a.id FROM activity a
		JOIN "user" u ON u.id = a.user_id WHERE u.name = '` + f.users["active"] + `' ORDER BY a."timestamp" DESC LIMIT 1)`)
	if n := f.sql(`SELECT count(*) FROM activity a JOIN "user" u ON u.id = a.user_id WHERE u.name = '` + f.users["active"] + `'
		AND a."timestamp" > (now() AT TIME ZONE 'UTC') - interval '12 weeks'`); n[0] != "1" {
		f.t.Fatalf("the active user has %s recent activities, want 1 (its dataset)", n[0])
	}
	// the creator is a zombie by its old activity, not for having none
	if n := f.sql(`SELECT count(*) FROM activity a JOIN "user" u ON u.id = a.user_id WHERE u.name = '` + f.users["creator"] + `'`); n[0] == "0" {
		f.t.Fatal("the creator has no activity: the test would not try the 12 weeks of CKAN 2.9's newest activity")
	}
}

// makeKey makes an OpenPGP key with gpg: its public key in dir/keys, its
// secret key in f.secKey.
func (f *resetFixture) makeKey() {
	pub, sec := backupKey(f.t, f.dir, "DCOR reset test <reset@dcor.test>")
	os.Mkdir(filepath.Join(f.dir, "keys"), 0o755)
	os.WriteFile(filepath.Join(f.dir, "keys", "reset.asc"), pub, 0o644)
	f.secKey = filepath.Join(f.dir, "sec.asc")
	os.WriteFile(f.secKey, sec, 0o600)
}

// restorePlain restores a plain custom dump into a new database (as
// postgres, reading the root-only file through root's redirection) and
// returns the database's name; cleanup drops it.
func (f *resetFixture) restorePlain(file string) string {
	f.t.Helper()
	db := fmt.Sprintf("%s_restored_%d", f.db, time.Now().UnixNano()%1_000_000)
	mustRun(f.t, f.stack, time.Minute, "runuser", "-u", "postgres", "--", "createdb", "-h", "/run/postgresql", db)
	f.t.Cleanup(func() {
		run(f.t, f.stack, time.Minute, "runuser", "-u", "postgres", "--", "dropdb", "-h", "/run/postgresql", "--if-exists", "--force", db)
	})
	mustRun(f.t, f.stack, 5*time.Minute, "sh", "-c", `runuser -u postgres -- pg_restore -h /run/postgresql --no-owner --exit-on-error -d "$1" < "$2"`,
		"sh", db, file)
	return db
}

// wantState fails the test when the state differs from want.
func wantState(t *testing.T, step string, got, want resetState) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after %s:\n got  %+v\n want %+v", step, got, want)
	}
}

// TestResetOnTheStack runs every flag of dcor reset on a side CKAN of the
// stack — CKAN 2.11.5, or 2.9.8 on the seed lane — (own database and
// site_id, the stack's Solr core) and checks after each one, through the
// API, SQL and Solr, that exactly the expected state is left; the
// backups exist and restore; a failing backup changes nothing;
// --database leaves a CKAN that starts and serves.
func TestResetOnTheStack(t *testing.T) {
	f := newResetFixture(t)
	u := f.users
	before := f.state()
	want := resetState{
		Datasets:  map[string]int{"active": 1, "active/private": 1, "draft": 1, "deleted": 1},
		Resources: 2, PackageMembers: 5, // the circle of each dataset, the collection of the draft
		Users: map[string]string{u["sysadmin"]: "active", u["zombie"]: "active", u["kept"]: "active", u["active"]: "active",
			u["creator"]: "active", u["gone"]: "deleted"},
		// the sysadmin made the circle and the collection
		Memberships: map[string]string{u["sysadmin"]: "active,active", u["zombie"]: "active", u["active"]: "active", u["creator"]: "active"},
		Solr:        3, Other: 1, Search: 3, // the deleted dataset is not in the index
		Listed: sortedOf(u["sysadmin"], u["zombie"], u["kept"], u["active"], u["creator"]),
	}
	wantState(t, "the fixture", before, want)

	// --check: the plan, nothing changed
	out, code, _ := f.reset(f.bin, f.plainSite, "--check", "--datasets", "--zombie-users", "--keep-user", u["kept"], "--search-index", "--cache")
	if code != 1 {
		t.Fatalf("reset --check: exit %d, want 1 (something to reset)\n%s", code, out)
	}
	for _, w := range []string{
		"purge 4 datasets (active 2, deleted 1, draft 1; 1 private) in one transaction",
		"delete 2 zombie users (state deleted, as `ckan user remove`): " + u["creator"] + ", " + u["zombie"],
		fmt.Sprintf("delete the 3 Solr documents of site_id %q", f.siteID),
		"remove the webassets under " + filepath.Join(f.dir, "webassets"),
		"a plain custom dump " + filepath.Join(f.dir, "backups") + "/YYYY-MM/ckan_db_resettest_<date>.dump",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("reset --check does not say %q:\n%s", w, out)
		}
	}
	// without --datasets, the creator's private dataset keeps it
	out, code, _ = f.reset(f.bin, f.plainSite, "--check", "--json", "--zombie-users", "--keep-user", u["kept"], "--search-index")
	var plan struct {
		Plan struct {
			ZombieUsers   []string `json:"zombie_users"`
			KeptUsers     []string `json:"kept_users"`
			SolrDocuments *int     `json:"solr_documents"`
			SiteID        string   `json:"site_id"`
		} `json:"plan"`
	}
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&plan); err != nil || code != 1 {
		t.Fatalf("reset --check --json: exit %d, %v\n%s", code, err, out)
	}
	if !reflect.DeepEqual(plan.Plan.ZombieUsers, []string{u["zombie"]}) || plan.Plan.SolrDocuments == nil ||
		*plan.Plan.SolrDocuments != 3 || plan.Plan.SiteID != f.siteID {
		t.Errorf("reset --check --json plan: %+v", plan.Plan)
	}
	wantState(t, "--check", f.state(), want)
	if d := dumps(filepath.Join(f.dir, "backups"), "*"); len(d) > 0 || f.supervisorCalls() != "" {
		t.Fatalf("--check made a backup %v or asked supervisor", d)
	}

	// a backup that cannot be made: nothing is reset (not even the cache,
	// which comes after the backup)
	fi, _ := os.ReadDir(filepath.Join(f.dir, "webassets"))
	assets := len(fi)
	if assets == 0 {
		t.Fatal("CKAN built no webassets")
	}
	notDir := filepath.Join(f.dir, "not-a-dir")
	os.WriteFile(notDir, nil, 0o644)
	out, code, _ = f.reset(f.bin, f.plainSite, "--datasets", "--zombie-users", "--search-index", "--cache", "-y",
		"--backup-dir", filepath.Join(notDir, "backups"))
	if code != 1 || !strings.Contains(out, "not done: back the CKAN database up") || !strings.Contains(out, "not a directory") {
		t.Errorf("reset with an impossible backup directory: exit %d, want 1 and the reason\n%s", code, out)
	}
	os.Mkdir(filepath.Join(f.dir, "bad-keys"), 0o755)
	os.WriteFile(filepath.Join(f.dir, "bad-keys", "x.asc"), []byte("not a key\n"), 0o644)
	badSite := filepath.Join(f.dir, "site-bad.yaml")
	os.WriteFile(badSite, []byte("hostname: resettest\nbackup:\n  key_dir: "+filepath.Join(f.dir, "bad-keys")+"\n"), 0o644)
	out, code, _ = f.reset(f.bin, badSite, "--datasets", "--zombie-users", "-y")
	if code != 1 || !strings.Contains(out, "dcor: backup keys in "+filepath.Join(f.dir, "bad-keys")) || !strings.Contains(out, "nothing was changed") {
		t.Errorf("reset with a backup key that is no key: exit %d, want 1 and one line\n%s", code, out)
	}
	wantState(t, "the failed backups", f.state(), want)
	if fi, _ := os.ReadDir(filepath.Join(f.dir, "webassets")); len(fi) != assets {
		t.Errorf("the failed reset --cache left %d of %d webassets entries", len(fi), assets)
	}
	if c := f.supervisorCalls(); c != "" {
		t.Errorf("a failed reset asked supervisor: %s", c)
	}

	// --datasets: a plain dump first, then every dataset purged
	out, code, took := f.reset(f.bin, f.plainSite, "--datasets", "-y")
	if code != 0 {
		t.Fatalf("reset --datasets: exit %d\n%s", code, out)
	}
	t.Logf("reset --datasets of 4 datasets: %v", took.Round(time.Millisecond))
	plain := dumps(filepath.Join(f.dir, "backups"), "ckan_db_resettest_*.dump")
	if len(plain) != 1 || !strings.Contains(out, "backup: "+plain[0]) {
		t.Fatalf("plain dumps %v; output\n%s", plain, out)
	}
	for path, mode := range map[string]os.FileMode{plain[0]: 0o400, filepath.Dir(plain[0]): 0o500 | os.ModeDir} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != mode {
			t.Errorf("%s: %v %v, want mode %v", path, fi.Mode(), err, mode)
		}
	}
	restored := f.restorePlain(plain[0])
	if n := sqlIn(t, f.stack, restored, `SELECT count(*) FROM package`); n[0] != "4" {
		t.Errorf("the dump restored %s datasets, want 4", n[0])
	}
	if c := f.supervisorCalls(); c != "pid reload" {
		t.Errorf("supervisorctl was asked %q, want pid, then reload", c)
	}
	want.Datasets, want.Resources, want.PackageMembers, want.Solr, want.Search = map[string]int{}, 0, 0, 0, 0
	wantState(t, "--datasets", f.state(), want)
	if code, _ := f.api(f.token, "package_show", map[string]any{"id": f.prefix + "-active"}); code != 404 {
		t.Errorf("package_show of a purged dataset: HTTP %d, want 404", code)
	}

	// --zombie-users --keep-user: an encrypted dump first, then the
	// zombie and the creator (its datasets are gone now) deleted
	f.makeKey()
	out, code, _ = f.reset(f.bin, f.keySite, "--zombie-users", "--keep-user", u["kept"], "-y")
	if code != 0 {
		t.Fatalf("reset --zombie-users: exit %d\n%s", code, out)
	}
	enc := dumps(filepath.Join(f.dir, "encrypted"), "*.gpg")
	if len(enc) != 1 || !strings.Contains(out, "backup: "+enc[0]) {
		t.Fatalf("encrypted dumps %v; output\n%s", enc, out)
	}
	target := fmt.Sprintf("%s_enc_%d", f.db, time.Now().UnixNano()%1_000_000)
	mustRun(t, f.stack, 5*time.Minute, "env", "CKAN_INI="+f.ini, f.bin, "restore-database-backup", enc[0], "--secret-key", f.secKey,
		"--target-db", target, "--as-postgres")
	t.Cleanup(func() {
		run(t, f.stack, time.Minute, "runuser", "-u", "postgres", "--", "dropdb", "-h", "/run/postgresql", "--if-exists", "--force", target)
	})
	if n := sqlIn(t, f.stack, target, `SELECT count(*) FROM "user" WHERE state = 'active' AND name LIKE '`+f.prefix+`%'`); n[0] != "5" {
		t.Errorf("the encrypted dump restored %s active users of the fixture, want 5", n[0])
	}
	want.Users[u["zombie"]], want.Users[u["creator"]] = "deleted", "deleted"
	want.Memberships[u["zombie"]], want.Memberships[u["creator"]] = "deleted", "deleted"
	want.Listed = sortedOf(u["sysadmin"], u["kept"], u["active"])
	wantState(t, "--zombie-users", f.state(), want)
	// deleted as ckan user remove deletes: CKAN refuses the user's token
	if code, doc := f.api(f.creatorToken, "user_show", map[string]any{"id": u["creator"]}); code != 403 {
		t.Errorf("user_show with the token of a deleted zombie: HTTP %d %v, want 403", code, doc)
	}
	// no zombie left: not an error, and no backup
	out, code, _ = f.reset(f.bin, f.keySite, "--zombie-users", "--keep-user", u["kept"], "-y")
	if code != 0 || !strings.Contains(out, "nothing to do: zombie users: none") || len(dumps(filepath.Join(f.dir, "encrypted"), "*.gpg")) != 1 {
		t.Errorf("reset --zombie-users without zombies: exit %d\n%s", code, out)
	}
	f.supervisorCalls()

	// --search-index: the documents of this site go, the datasets stay
	f.dataset(f.token, f.prefix+"-new1", "", nil)
	f.dataset(f.token, f.prefix+"-new2", "draft", nil)
	want.Datasets, want.Resources, want.PackageMembers = map[string]int{"active": 1, "draft": 1}, 1, 2
	want.Solr, want.Search = 2, 2
	wantState(t, "two new datasets", f.state(), want)
	out, code, _ = f.reset(f.bin, f.plainSite, "--search-index", "-y")
	if code != 0 || strings.Contains(out, "backup:") {
		t.Fatalf("reset --search-index: exit %d (and no backup)\n%s", code, out)
	}
	want.Solr, want.Search = 0, 0
	wantState(t, "--search-index", f.state(), want)
	if code, _ := f.api(f.token, "package_show", map[string]any{"id": f.prefix + "-new1"}); code != 200 {
		t.Errorf("package_show after --search-index: HTTP %d, want 200 (the database keeps it)", code)
	}

	// --cache: the webassets go, CKAN builds them again
	page := mustRun(t, f.stack, time.Minute, "curl", "-sS", "--fail", f.env.URL+"/dataset/")
	css := regexp.MustCompile(`href="(/webassets/[^"]*\.css)"`).FindStringSubmatch(page)
	if css == nil {
		t.Fatal("the side CKAN's page links no CSS")
	}
	if fi, _ := os.ReadDir(filepath.Join(f.dir, "webassets")); len(fi) == 0 {
		t.Fatal("CKAN built no webassets")
	}
	out, code, _ = f.reset(f.bin, f.plainSite, "--cache", "-y")
	if fi, _ := os.ReadDir(filepath.Join(f.dir, "webassets")); code != 0 || len(fi) != 0 {
		t.Fatalf("reset --cache: exit %d, %d entries left\n%s", code, len(fi), out)
	}
	mustRun(t, f.stack, time.Minute, "curl", "-sS", "--fail", "-o", "/dev/null", f.env.URL+"/dataset/")
	if body := mustRun(t, f.stack, time.Minute, "curl", "-sS", "--fail", f.env.URL+css[1]); len(body) < 100 {
		t.Errorf("%s after --cache: %d bytes", css[1], len(body))
	}
	wantState(t, "--cache", f.state(), want)

	// --database: CKAN's tables dropped and made again; a dataset in the
	// index first, whose document must not outlive its database
	f.dataset(f.token, f.prefix+"-late", "", nil)
	out, code, _ = f.reset(f.bin, f.plainSite, "--database", "-y")
	if code != 0 {
		t.Fatalf("reset --database: exit %d\n%s", code, out)
	}
	plain = dumps(filepath.Join(f.dir, "backups"), "ckan_db_resettest_*.dump")
	if len(plain) != 2 || !strings.Contains(out, "backup: "+plain[1]) {
		t.Fatalf("plain dumps %v; output\n%s", plain, out)
	}
	restored = f.restorePlain(plain[1])
	if n := sqlIn(t, f.stack, restored, `SELECT count(*) FROM package`); n[0] != "3" {
		t.Errorf("the dump before --database restored %s datasets, want 3", n[0])
	}
	if n := f.sql(`SELECT count(*) FROM package`); n[0] != "0" {
		t.Errorf("%s datasets after --database", n[0])
	}
	if n := f.sql(`SELECT count(*) FROM "user" WHERE name LIKE '` + f.prefix + `%'`); n[0] != "0" {
		t.Errorf("%s of the fixture's users after --database", n[0])
	}
	// CKAN's and the activity plugin's migrations at the revisions of
	// the fixture's ckan db init
	queries := []string{`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`, `SELECT version_num FROM alembic_version`}
	if f.stack.Lane != "2.9" { // 2.9's activities are CKAN's own tables
		queries = append(queries, `SELECT version_num FROM activity_alembic_version`)
	}
	for _, q := range queries {
		if got, was := f.sql(q), sqlIn(t, f.stack, restored, q); !reflect.DeepEqual(got, was) {
			t.Errorf("%s: %v after --database, %v before", q, got, was)
		}
	}
	f.stop()
	f.start()
	status := f.mustAPI("", "status_show", nil)
	if status["ckan_version"] != f.stack.CKANVersion {
		t.Errorf("status_show after --database: %v", status)
	}
	search := f.mustAPI("", "package_search", map[string]any{"include_private": true, "include_drafts": true})
	if search["count"].(float64) != 0 {
		t.Errorf("package_search after --database and a restart: %v datasets, want 0", search["count"])
	}
	if n := solrCount(t, f.stack, `+site_id:"`+f.siteID+`"`); n != 0 {
		t.Errorf("%d Solr documents of the site after --database, want 0", n)
	}
	if n := solrCount(t, f.stack, f.otherFQ); n != 1 {
		t.Errorf("the stack's own document: %d after --database, want 1", n)
	}
	// dcor makes no sysadmin: at most CKAN's own site user is there
	if users := f.sql(`SELECT name FROM "user"`); len(users) > 1 || len(users) == 1 && users[0] != f.siteID {
		t.Errorf("users after --database and a restart: %v, want none or the site user %s", users, f.siteID)
	}
}

// siteLicense is a license_id the CKAN at e accepts: DCOR's CC0-1.0 when
// ckan.ini's licenses_group_url gives DCOR's list, else CKAN's cc-zero.
func siteLicense(t *testing.T, e *Env) string {
	t.Helper()
	code, doc := api(t, e, "", "license_list", nil)
	if code != 200 {
		t.Fatalf("license_list: HTTP %d %v", code, doc)
	}
	var ids []string
	for _, l := range doc["result"].([]any) {
		ids = append(ids, fmt.Sprint(l.(map[string]any)["id"]))
	}
	for _, want := range []string{"CC0-1.0", "cc-zero"} {
		for _, id := range ids {
			if id == want {
				return id
			}
		}
	}
	if len(ids) == 0 {
		t.Fatal("license_list is empty")
	}
	return ids[0]
}

func sortedOf(s ...string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}
