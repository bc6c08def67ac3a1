package reset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/DCOR-dev/dcor/change"
	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/solrtest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

var (
	cluster   *pgtest.Cluster
	databases atomic.Int32
)

// TestWithPostgres runs the tests that need a CKAN database on one
// PostgreSQL cluster (each test has its own database).
func TestWithPostgres(t *testing.T) {
	cluster = pgtest.Start(t)
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"PlanSaysWhatWouldHappenAndChangesNothing", testPlanSaysWhatWouldHappenAndChangesNothing},
		{"ZombiesWithoutDatasetPurgeAndOnCKAN29", testZombiesWithoutDatasetPurgeAndOnCKAN29},
		{"DatasetsZombiesSearchIndexApplied", testDatasetsZombiesSearchIndexApplied},
		{"FailedBackupResetsNothing", testFailedBackupResetsNothing},
		{"SolrDownRefusesBeforeAnything", testSolrDownRefusesBeforeAnything},
		{"DatabaseReset", testDatabaseReset},
		{"CacheRemovalStaysInTheTree", testCacheRemovalStaysInTheTree},
		{"ControlRemovesLegacyState", testControlRemovesLegacyState},
		{"Purge1000Datasets", testPurge1000Datasets},
	} {
		t.Run(tc.name, tc.f)
	}
}

// site is a CKAN database, a Solr core and a host tree for one test.
type site struct {
	env  Env
	url  string
	solr *solrtest.Server
	root string
	// backups counts the backups made; order records the steps run.
	backups int
}

var now = time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)

// newSite creates a database with CKAN's tables and a few rows of every
// kind, a Solr core with documents of this site and of another one, and a
// webassets tree.
func newSite(t *testing.T, lastActive bool) *site {
	t.Helper()
	name := fmt.Sprintf("ckan_reset_%d_%d", os.Getpid(), databases.Add(1))
	url := cluster.CreateDatabase(t, name, "ckan_default", "pw")
	cluster.Exec(t, url, pgtest.CKANSchemaFor(t))
	if !lastActive { // CKAN 2.9: no user.last_active, and resource.package_id has no foreign key
		cluster.Exec(t, url, `ALTER TABLE "user" DROP COLUMN last_active`)
		cluster.Exec(t, url, `ALTER TABLE resource DROP CONSTRAINT resource_package_id_fkey`)
	}
	old, recent := now.Add(-13*7*24*time.Hour), now.Add(-2*7*24*time.Hour)
	type u struct {
		name     string
		sysadmin bool
		state    string
		last     *time.Time
	}
	users := []u{
		{"default", true, "active", nil}, // the site user
		{"admin", true, "active", &old},
		{"zed", false, "active", &old},      // zombie
		{"never", false, "active", nil},     // never active: zombie
		{"pend", false, "pending", &old},    // pending: zombie too
		{"alice", false, "active", &recent}, // active recently
		{"bob", false, "active", &old},      // has an active dataset: zombie only after --datasets
		{"carol", false, "active", &old},    // only a deleted dataset: zombie
		{"kept", false, "active", &old},     // zombie, but --keep-user
		{"gone", false, "deleted", &old},    // deleted already
	}
	for _, x := range users {
		id := "u-" + x.name
		if lastActive {
			cluster.Exec(t, url, `INSERT INTO "user" (id, name, state, sysadmin, last_active) VALUES ($1, $2, $3, $4, $5)`,
				id, x.name, x.state, x.sysadmin, x.last)
		} else {
			cluster.Exec(t, url, `INSERT INTO "user" (id, name, state, sysadmin) VALUES ($1, $2, $3, $4)`, id, x.name, x.state, x.sysadmin)
			if x.last != nil {
				cluster.Exec(t, url, `INSERT INTO activity (id, "timestamp", user_id, activity_type) VALUES ($1, $2, $3, 'changed user')`,
					"a-"+x.name, *x.last, id)
			}
		}
	}
	cluster.Exec(t, url, `INSERT INTO "group" (id, name, title, type, state, is_organization, approval_status, created)
		VALUES ('g1', 'org', 'Org', 'organization', 'active', true, 'approved', now())`)
	cluster.Exec(t, url, `INSERT INTO member (id, table_id, group_id, state, table_name, capacity) VALUES
		('m-zed', 'u-zed', 'g1', 'active', 'user', 'member'), ('m-alice', 'u-alice', 'g1', 'active', 'user', 'editor')`)
	cluster.Exec(t, url, `INSERT INTO tag (id, name) VALUES ('t1', 'cells')`)
	pkgs := []struct{ id, state, creator string }{
		{"p-active", "active", "u-bob"}, {"p-draft", "draft", "u-admin"}, {"p-deleted", "deleted", "u-carol"},
		{"p-private", "active", "u-admin"},
	}
	for _, p := range pkgs {
		cluster.Exec(t, url, `INSERT INTO package (id, name, state, creator_user_id, owner_org, private) VALUES ($1, $2, $3, $4, 'g1', $5)`,
			p.id, p.id, p.state, p.creator, p.id == "p-private")
		cluster.Exec(t, url, `INSERT INTO resource (id, package_id, url, state, url_type) VALUES ($1, $2, 'x.rtdc', 'active', 'upload')`, "r-"+p.id, p.id)
		cluster.Exec(t, url, `INSERT INTO resource_view (id, resource_id, view_type, "order") VALUES ($1, $2, 'dc_view', 0)`, "v-"+p.id, "r-"+p.id)
		cluster.Exec(t, url, `INSERT INTO package_tag (id, package_id, tag_id, state) VALUES ($1, $2, 't1', 'active')`, "pt-"+p.id, p.id)
		cluster.Exec(t, url, `INSERT INTO package_extra (id, package_id, key, value) VALUES ($1, $2, 'k', 'v')`, "pe-"+p.id, p.id)
		cluster.Exec(t, url, `INSERT INTO member (id, table_id, group_id, state, table_name, capacity) VALUES ($1, $2, 'g1', 'active', 'package', 'organization')`,
			"m-"+p.id, p.id)
	}
	cluster.Exec(t, url, `INSERT INTO package_member (package_id, user_id, capacity, modified) VALUES ('p-active', 'u-zed', 'editor', now())`)
	cluster.Exec(t, url, `INSERT INTO package_relationship (id, subject_package_id, object_package_id, type) VALUES ('rel', 'p-active', 'p-draft', 'links_to')`)
	cluster.Exec(t, url, `INSERT INTO alembic_version VALUES ('4eaa5fcf5092')`)

	solr := solrtest.Start(t, "ckan")
	for _, p := range pkgs {
		solr.Add(solrtest.Doc{"id": "idx-" + p.id, "site_id": "dcor.test", "entity_type": "package", "name": p.id})
	}
	solr.Add(solrtest.Doc{"id": "idx-g1", "site_id": "dcor.test", "entity_type": "organization"},
		solrtest.Doc{"id": "other-1", "site_id": "other", "entity_type": "package"},
		solrtest.Doc{"id": "other-2", "site_id": "other", "entity_type": "package"})

	root := t.TempDir()
	wa := filepath.Join(root, "var/lib/ckan/webassets")
	for _, f := range []string{".webassets-cache/1a2b", "base/4f1e_main.css", "vendor/9c_vendor.js"} {
		p := filepath.Join(wa, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	s := &site{url: url, solr: solr, root: root}
	s.env = Env{Host: host.New(root), Now: now, DatabaseURL: url, Solr: Solr{URL: solr.URL, SiteID: "dcor.test"},
		Webassets: "/var/lib/ckan/webassets", ControlDirs: []string{LegacyControlDir},
		Backup: &Backup{Description: "back up", Run: func(ctx context.Context) (string, error) {
			s.backups++
			return "/backup/x.dump", nil
		}}}
	return s
}

func (s *site) query(t *testing.T, sql string) []string {
	t.Helper()
	conn := cluster.Connect(t, s.url)
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var v any
		err := r.Scan(&v)
		return fmt.Sprint(v), err
	})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	return out
}

func (s *site) count(t *testing.T, table string) string {
	return s.query(t, "SELECT count(*) FROM "+table)[0]
}

// fingerprint is the state of the database and Solr, to prove that
// nothing changed.
func (s *site) fingerprint(t *testing.T) string {
	var b strings.Builder
	for _, tb := range []string{"package", "resource", "resource_view", "package_tag", "package_extra", "package_member", "package_relationship"} {
		fmt.Fprintf(&b, "%s=%s ", tb, s.count(t, tb))
	}
	fmt.Fprintf(&b, "users=%v members=%v solr=%d", s.query(t, `SELECT name || ':' || state FROM "user" ORDER BY name`),
		s.query(t, `SELECT id || ':' || state FROM member ORDER BY id`), s.solr.Count())
	return b.String()
}

func descriptions(p *change.Plan) []string {
	var out []string
	for _, c := range p.Changes(false) {
		out = append(out, c.Check+": "+c.String())
	}
	return out
}

func testPlanSaysWhatWouldHappenAndChangesNothing(t *testing.T) {
	s := newSite(t, true)
	before := s.fingerprint(t)
	o := Options{Cache: true, Datasets: true, ZombieUsers: true, SearchIndex: true, Control: true, KeepUsers: []string{"kept"}}
	p, sum, _, err := Build(context.Background(), s.env, o)
	if err != nil {
		t.Fatal(err)
	}
	got := descriptions(p)
	want := []string{
		"backup: back up",
		"cache: remove the webassets under /var/lib/ckan/webassets: 3 files in 3 directories, 3 B (.webassets-cache, base, vendor)",
		`datasets: purge 4 datasets (active 2, deleted 1, draft 1; 1 private) in one transaction, then delete the 4 Solr documents of this site's datasets (site_id "dcor.test")`,
		"zombie-users: delete 5 zombie users (state deleted, as `ckan user remove`): bob, carol, never, pend, zed",
		`search-index: delete the 5 Solr documents of site_id "dcor.test" from ` + s.solr.URL + ` and commit`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !reflect.DeepEqual(sum.Notes, []string{"control: no state of dcor or dcor_control (/root/.config/dcor_control)"}) {
		t.Errorf("notes %q", sum.Notes)
	}
	if after := s.fingerprint(t); after != before || s.backups != 0 {
		t.Errorf("planning changed the site:\n%s\n%s", before, after)
	}
	if _, err := os.Stat(filepath.Join(s.root, "var/lib/ckan/webassets/base/4f1e_main.css")); err != nil {
		t.Error("planning removed a cache file")
	}
}

func testZombiesWithoutDatasetPurgeAndOnCKAN29(t *testing.T) {
	for _, lastActive := range []bool{true, false} {
		t.Run(fmt.Sprintf("last_active=%v", lastActive), func(t *testing.T) {
			s := newSite(t, lastActive)
			p, sum, _, err := Build(context.Background(), s.env, Options{ZombieUsers: true, KeepUsers: []string{"kept"}})
			if err != nil {
				t.Fatal(err)
			}
			// bob keeps his active dataset; carol's only dataset is deleted.
			want := []string{"carol", "never", "pend", "zed"}
			if !reflect.DeepEqual(sum.ZombieUsers, want) {
				t.Fatalf("zombies %v, want %v", sum.ZombieUsers, want)
			}
			res := p.Apply(context.Background(), change.ApplyOptions{StopOnError: true})
			if res.Failed() {
				t.Fatal(change.Summary(res.Changes), res.Changes[len(res.Changes)-1].Error)
			}
			got := s.query(t, `SELECT name FROM "user" WHERE state = 'deleted' ORDER BY name`)
			if !reflect.DeepEqual(got, []string{"carol", "gone", "never", "pend", "zed"}) {
				t.Errorf("deleted users %v", got)
			}
			if m := s.query(t, `SELECT id || ':' || state FROM member WHERE table_name = 'user' ORDER BY id`); !reflect.DeepEqual(m, []string{"m-alice:active", "m-zed:deleted"}) {
				t.Errorf("memberships %v", m)
			}
			if n := s.count(t, "package_member"); n != "0" {
				t.Errorf("zed's collaboration stayed: %s", n)
			}
			// A second run finds none, and that is no error.
			p2, sum2, _, err := Build(context.Background(), s.env, Options{ZombieUsers: true, KeepUsers: []string{"kept"}})
			if err != nil || len(sum2.ZombieUsers) != 0 || len(p2.Changes(false)) != 0 {
				t.Errorf("second run: %v %v %v", err, sum2.ZombieUsers, descriptions(p2))
			}
		})
	}
}

func testDatasetsZombiesSearchIndexApplied(t *testing.T) {
	for _, lastActive := range []bool{true, false} {
		t.Run(fmt.Sprintf("last_active=%v", lastActive), func(t *testing.T) { datasetsZombiesSearchIndexApplied(t, lastActive) })
	}
}

// datasetsZombiesSearchIndexApplied: on CKAN 2.10+ (lastActive) and on
// CKAN 2.9's schema, whose resource rows have no foreign key to their
// dataset (found on the real CKAN 2.9.8: the purge left them).
func datasetsZombiesSearchIndexApplied(t *testing.T, lastActive bool) {
	s := newSite(t, lastActive)
	o := Options{Cache: true, Datasets: true, ZombieUsers: true, SearchIndex: true, KeepUsers: []string{"kept"}}
	p, _, res, err := Build(context.Background(), s.env, o)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Apply(context.Background(), change.ApplyOptions{StopOnError: true})
	for _, c := range r.Changes {
		if !c.Applied {
			t.Fatalf("%s: %s", c, c.Error)
		}
	}
	for _, tb := range []string{"package", "resource", "resource_view", "package_tag", "package_extra", "package_member", "package_relationship"} {
		if n := s.count(t, tb); n != "0" {
			t.Errorf("%s: %s rows left", tb, n)
		}
	}
	if n := s.query(t, `SELECT count(*) FROM member WHERE table_name = 'package'`)[0]; n != "0" {
		t.Errorf("dataset memberships left: %s", n)
	}
	if got := s.query(t, `SELECT name FROM "user" WHERE state <> 'deleted' ORDER BY name`); !reflect.DeepEqual(got, []string{"admin", "alice", "default", "kept"}) {
		t.Errorf("users left %v", got)
	}
	if n := s.solr.Count("site_id", "dcor.test"); n != 0 {
		t.Errorf("%d Solr documents of this site left", n)
	}
	if n := s.solr.Count("site_id", "other"); n != 2 {
		t.Errorf("the other site's documents: %d, want 2", n)
	}
	if s.backups != 1 || res.Backup != "/backup/x.dump" || *res.DatasetsPurged != 4 || *res.SolrDeleted != 1 {
		t.Errorf("result %+v backups %d", res, s.backups)
	}
	if !reflect.DeepEqual(res.UsersDeleted, []string{"bob", "carol", "never", "pend", "zed"}) {
		t.Errorf("deleted %v", res.UsersDeleted)
	}
	ents, _ := os.ReadDir(filepath.Join(s.root, "var/lib/ckan/webassets"))
	if len(ents) != 0 {
		t.Errorf("webassets left: %v", ents)
	}
	if services := change.Services(r.Changes); !reflect.DeepEqual(services, []change.Service{change.Supervisor}) {
		t.Errorf("reload %v", services)
	}
}

func testFailedBackupResetsNothing(t *testing.T) {
	s := newSite(t, true)
	s.env.Backup.Run = func(ctx context.Context) (string, error) { return "", errors.New("pg_dump failed") }
	before := s.fingerprint(t)
	p, _, _, err := Build(context.Background(), s.env, Options{Cache: true, Datasets: true, ZombieUsers: true, SearchIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Apply(context.Background(), change.ApplyOptions{StopOnError: true})
	if !r.Failed() || r.Changes[0].Error != "pg_dump failed" {
		t.Fatalf("%+v", r.Changes[0])
	}
	for _, c := range r.Changes[1:] {
		if c.Applied || !strings.HasPrefix(c.Error, "not done") {
			t.Errorf("%s ran after the failed backup: %q", c, c.Error)
		}
	}
	if after := s.fingerprint(t); after != before {
		t.Errorf("changed:\n%s\n%s", before, after)
	}
	if _, err := os.Stat(filepath.Join(s.root, "var/lib/ckan/webassets/base/4f1e_main.css")); err != nil {
		t.Error("the cache was removed after the failed backup")
	}
}

func testSolrDownRefusesBeforeAnything(t *testing.T) {
	s := newSite(t, true)
	s.solr.Close()
	_, _, _, err := Build(context.Background(), s.env, Options{Datasets: true})
	if err == nil || !strings.Contains(err.Error(), "is Solr running?") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err %v", err)
	}
}

func TestSolrQueriesAreStrict(t *testing.T) {
	s := solrtest.Start(t, "ckan")
	s.Add(solrtest.Doc{"id": "1", "site_id": `we"ird\id`, "entity_type": "package"})
	q := Solr{URL: s.URL, SiteID: `we"ird\id`}
	if n, err := q.Count(context.Background(), q.SiteQuery()); err != nil || n != 1 {
		t.Fatalf("count %d %v", n, err)
	}
	if _, err := q.Count(context.Background(), `+site_id:"open`); err == nil || !strings.Contains(err.Error(), "SyntaxError") {
		t.Errorf("an unbalanced quote was not refused: %v", err)
	}
	if n, err := clearIndex(context.Background(), q, q.SiteQuery()); err != nil || n != 1 || s.Count() != 0 {
		t.Errorf("clear %d %v", n, err)
	}
	// Basic auth from solr_user/solr_password.
	s.User, s.Password = "solr", "pw"
	if _, err := q.Count(context.Background(), q.SiteQuery()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("no auth: %v", err)
	}
	q.User, q.Password = "solr", "pw"
	if _, err := q.Count(context.Background(), q.SiteQuery()); err != nil {
		t.Error(err)
	}
}

func TestDatabaseAndDatasetsExclusive(t *testing.T) {
	if _, _, _, err := Build(context.Background(), Env{}, Options{Database: true, Datasets: true}); !errors.Is(err, ErrDatabaseAndDatasets) {
		t.Fatal(err)
	}
}

func TestInitCommand(t *testing.T) {
	for v, want := range map[string]string{"2.9.11": "init", "2.10.9": "init", "2.11.4": "upgrade", "2.12.0": "upgrade", "3.0": "upgrade", "": "init", "x": "init"} {
		if got := initCommand(v); got != want {
			t.Errorf("%q: %s, want %s", v, got, want)
		}
	}
}

// standInCKAN writes a ckan program that does what `ckan db clean` and
// `ckan db init/upgrade` do to the database, with psql; mode "clean-fails"
// and "init-fails" print CKAN's error and exit 0, as CKAN does.
func standInCKAN(t *testing.T, url, mode string) string {
	psql := testtool.Need(t, "psql", pgtest.BinDir())
	dir := t.TempDir()
	schema := filepath.Join(dir, "schema.sql")
	os.WriteFile(schema, []byte(pgtest.CKANSchemaFor(t)+"\nINSERT INTO alembic_version VALUES ('4eaa5fcf5092');\n"), 0o644)
	log := filepath.Join(dir, "log")
	script := fmt.Sprintf(`#!/bin/sh
echo "$@" >> %[1]s
[ "$1" = -c ] || { echo "no -c"; exit 2; }
case "$3 $4 $5 %[5]s" in
"db clean --yes clean-fails") echo "Error: could not drop: permission denied" >&2; exit 0 ;;
"db clean --yes "*) %[2]s -q -v ON_ERROR_STOP=1 "%[3]s" -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null || exit 1; echo "Cleaning DB: SUCCESS" ;;
"db init  init-fails"|"db upgrade  init-fails") echo "Error: Can't locate revision" >&2; exit 0 ;;
"db init  "*|"db upgrade  "*) %[2]s -q -v ON_ERROR_STOP=1 "%[3]s" -f %[4]s >/dev/null || exit 1; echo "Initialising DB: SUCCESS" ;;
*) echo "unexpected: $*"; exit 2 ;;
esac
`, log, psql, url, schema, mode)
	p := filepath.Join(dir, "ckan")
	os.WriteFile(p, []byte(script), 0o755)
	return p
}

func testDatabaseReset(t *testing.T) {
	for _, tc := range []struct{ mode, version, wantErr, wantCmd string }{
		{"ok", "2.10.9", "", "db init"},
		{"ok", "2.11.4", "", "db upgrade"},
		// %s: the site's tables (14 of the hand-written schema, 37 of CKAN 2.11's)
		{"clean-fails", "2.10.9", "`ckan db clean --yes` exited 0 but %s: the database was not reset; ckan said: Error: could not drop: permission denied", ""},
		{"init-fails", "2.11.4", "`ckan db upgrade` exited 0 but CKAN's tables alembic_version, group, member, package, resource, user are missing: the database is empty now", ""},
	} {
		t.Run(tc.mode+"-"+tc.version, func(t *testing.T) {
			s := newSite(t, true)
			s.env.CKAN = standInCKAN(t, s.url, tc.mode)
			s.env.CKANIni = "/etc/ckan/default/ckan.ini"
			s.env.CKANVersion = tc.version
			tables := s.query(t, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
			tablesLeft := fmt.Sprintf("%d tables are left (%s, …)", len(tables), strings.Join(tables[:5], ", "))
			p, sum, res, err := Build(context.Background(), s.env, Options{Database: true, ZombieUsers: true})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"backup: back up", "database: drop every table of the CKAN database " +
				strings.Replace(s.url, ":pw@", ":****@", 1) + " (4 datasets (active 2, deleted 1, draft 1; 1 private), 9 users) with `ckan db clean --yes`, then `ckan " + map[string]string{"2.10.9": "db init", "2.11.4": "db upgrade"}[tc.version] + "`, " +
				"then delete the 4 Solr documents of this site's datasets (site_id \"dcor.test\")"}
			if got := descriptions(p); !reflect.DeepEqual(got, want) {
				t.Fatalf("plan\n%q\nwant\n%q", got, want)
			}
			if len(sum.Notes) != 1 || !strings.Contains(sum.Notes[0], "none left after the database is reset") {
				t.Errorf("notes %q", sum.Notes)
			}
			r := p.Apply(context.Background(), change.ApplyOptions{StopOnError: true})
			last := r.Changes[len(r.Changes)-1]
			if tc.wantErr != "" {
				wantErr := tc.wantErr
				if strings.Contains(wantErr, "%s") {
					wantErr = fmt.Sprintf(wantErr, tablesLeft)
				}
				if !strings.Contains(last.Error, wantErr) {
					t.Fatalf("error %q, want %q", last.Error, wantErr)
				}
				return
			}
			if last.Error != "" {
				t.Fatal(last.Error)
			}
			if n := s.count(t, "package"); n != "0" || res.DatabaseRevision != "4eaa5fcf5092" {
				t.Errorf("packages %s, revision %q", n, res.DatabaseRevision)
			}
			// the datasets' documents go with the database (package_search
			// listed datasets that no longer existed); other sites keep theirs
			if n, o := s.solr.Count("site_id", "dcor.test", "entity_type", "package"), s.solr.Count("site_id", "other"); n != 0 || o != 2 ||
				res.SolrDeleted == nil || *res.SolrDeleted != 4 {
				t.Errorf("Solr after --database: %d documents of the site's datasets, %d of the other site, %v deleted; want 0, 2, 4", n, o, res.SolrDeleted)
			}
			logData, _ := os.ReadFile(filepath.Join(filepath.Dir(s.env.CKAN), "log"))
			if !strings.Contains(string(logData), "-c /etc/ckan/default/ckan.ini "+tc.wantCmd) {
				t.Errorf("ckan ran as: %s", logData)
			}
		})
	}
}

func testCacheRemovalStaysInTheTree(t *testing.T) {
	s := newSite(t, true)
	outside := filepath.Join(s.root, "srv/important")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "keep"), []byte("k"), 0o644)
	wa := filepath.Join(s.root, "var/lib/ckan/webassets")
	os.Symlink("../../../../srv/important", filepath.Join(wa, "base/link"))
	os.Symlink(outside, filepath.Join(wa, "abs-link"))
	p, _, res, err := Build(context.Background(), s.env, Options{Cache: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Apply(context.Background(), change.ApplyOptions{StopOnError: true}); r.Failed() {
		t.Fatal(r.Changes[0].Error)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Error("a file outside the tree was removed through a link")
	}
	if ents, _ := os.ReadDir(wa); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
	if st, err := os.Stat(wa); err != nil || !st.IsDir() {
		t.Error("the webassets directory itself was removed")
	}
	if res.CacheRemoved.Files != 5 {
		t.Errorf("removed %+v", res.CacheRemoved)
	}
}

func testControlRemovesLegacyState(t *testing.T) {
	s := newSite(t, true)
	dir := filepath.Join(s.root, "root/.config/dcor_control")
	os.MkdirAll(dir, 0o700)
	for _, f := range []string{"email", "pgsqlpass", "setup-identifier"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o600)
	}
	p, _, res, err := Build(context.Background(), s.env, Options{Control: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := descriptions(p); !reflect.DeepEqual(got, []string{"control: remove /root/.config/dcor_control (3 files, 6 B)"}) {
		t.Fatalf("%q", got)
	}
	if r := p.Apply(context.Background(), change.ApplyOptions{StopOnError: true}); r.Failed() {
		t.Fatal(r.Changes[0].Error)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.root, "root/.config")); err != nil {
		t.Error("the parent went too")
	}
	if !reflect.DeepEqual(res.ControlRemoved, []string{"/root/.config/dcor_control"}) {
		t.Error(res.ControlRemoved)
	}
}

// TestPurge1000Datasets measures --datasets on 1000 datasets (each with
// two resources, a view, a tag and an extra): the figure in the README.
func testPurge1000Datasets(t *testing.T) {
	s := newSite(t, true)
	cluster.Exec(t, s.url, `
		INSERT INTO package (id, name, state, creator_user_id, owner_org, private)
		SELECT 'bulk-' || i, 'bulk-' || i, (ARRAY['active','draft','deleted'])[1 + i % 3], 'u-admin', 'g1', i % 5 = 0
		FROM generate_series(1, 996) AS i;
		INSERT INTO resource (id, package_id, url, state, url_type)
		SELECT 'r' || j || '-' || i, 'bulk-' || i, 'x.rtdc', 'active', 'upload' FROM generate_series(1, 996) i, generate_series(1, 2) j;
		INSERT INTO resource_view (id, resource_id, view_type, "order") SELECT 'v-' || id, id, 'dc_view', 0 FROM resource WHERE id LIKE 'r1-%';
		INSERT INTO package_tag (id, package_id, tag_id, state) SELECT 'pt-b' || i, 'bulk-' || i, 't1', 'active' FROM generate_series(1, 996) i;
		INSERT INTO package_extra (id, package_id, key, value) SELECT 'pe-b' || i, 'bulk-' || i, 'k', 'v' FROM generate_series(1, 996) i;
		INSERT INTO member (id, table_id, group_id, state, table_name, capacity)
		SELECT 'mb-' || i, 'bulk-' || i, 'g1', 'active', 'package', 'organization' FROM generate_series(1, 996) i;`)
	docs := make([]solrtest.Doc, 996)
	for i := range docs {
		docs[i] = solrtest.Doc{"id": fmt.Sprint("b", i), "site_id": "dcor.test", "entity_type": "package"}
	}
	s.solr.Add(docs...)
	start := time.Now()
	p, sum, res, err := Build(context.Background(), s.env, Options{Datasets: true})
	if err != nil {
		t.Fatal(err)
	}
	planned := time.Since(start)
	r := p.Apply(context.Background(), change.ApplyOptions{StopOnError: true})
	total := time.Since(start)
	if r.Failed() {
		t.Fatal(r.Changes[len(r.Changes)-1].Error)
	}
	if sum.Datasets.Total != 1000 || *res.DatasetsPurged != 1000 || s.count(t, "package") != "0" || s.count(t, "resource") != "0" {
		t.Fatalf("planned %d, purged %d", sum.Datasets.Total, *res.DatasetsPurged)
	}
	t.Logf("reset --datasets of 1000 datasets (2 resources each): plan %v, total %v", planned.Round(time.Millisecond), total.Round(time.Millisecond))
	if total > 60*time.Second {
		t.Errorf("took %v, the goal is under 60 s", total)
	}
}
