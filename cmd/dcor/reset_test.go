package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/solrtest"
)

// resetHosts are the Solr stand-ins and database URLs of the scripts'
// reset hosts, by host directory.
var resetHosts sync.Map

type resetHostState struct {
	url  string
	solr *solrtest.Server
}

// resetHost is the testscript command `resethost DIR`: a host in DIR
// whose ckan.ini names a CKAN database of its own (datasets in every
// state, users of every kind) and a stand-in Solr core holding the
// documents of this site ("dcor.test") and of another one, with a
// webassets tree.
func resetHost(ts *testscript.TestScript, cluster *pgtest.Cluster, databases *atomic.Int32, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: resethost DIR")
	}
	if cluster == nil {
		ts.Fatalf("PostgreSQL is not installed (make test installs it)")
	}
	dir := ts.MkAbs(args[0])
	name := fmt.Sprintf("ckan_reset_script_%d", databases.Add(1))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, cluster.SuperURL("postgres"))
	ts.Check(err)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
	conn.Close(ctx)
	ts.Check(err)
	url := cluster.SuperURL(name)
	conn, err = pgx.Connect(ctx, url)
	ts.Check(err)
	defer conn.Close(ctx)
	schema, source, err := pgtest.CKANSchemaOrFallback()
	ts.Check(err)
	ts.Logf("CKAN schema: %s", source)
	_, err = conn.Exec(ctx, schema+`
		INSERT INTO "user" (id, name, state, sysadmin, last_active) VALUES
		  ('u0', 'default', 'active', true, NULL), ('u1', 'admin', 'active', true, now() - interval '1 year'),
		  ('u2', 'zed', 'active', false, now() - interval '20 weeks'), ('u3', 'alice', 'active', false, now() - interval '1 day'),
		  ('u4', 'bob', 'active', false, now() - interval '20 weeks'), ('u5', 'dcoraid', 'active', false, NULL),
		  ('u6', 'gone', 'deleted', false, NULL);
		INSERT INTO package (id, name, state, creator_user_id, private) VALUES
		  ('p1', 'p1', 'active', 'u4', false), ('p2', 'p2', 'draft', 'u1', false), ('p3', 'p3', 'deleted', 'u1', false),
		  ('p4', 'p4', 'active', 'u1', true);
		INSERT INTO resource (id, package_id, url, state, url_type) VALUES ('r1', 'p1', 'a.rtdc', 'active', 'upload');
		INSERT INTO alembic_version VALUES ('4eaa5fcf5092');`)
	ts.Check(err)
	solr := solrtest.New("ckan")
	ts.Defer(solr.Close)
	for _, p := range []string{"p1", "p2", "p4"} {
		solr.Add(solrtest.Doc{"id": p, "site_id": "dcor.test", "entity_type": "package"})
	}
	solr.Add(solrtest.Doc{"id": "o1", "site_id": "other", "entity_type": "package"})
	resetHosts.Store(dir, &resetHostState{url: url, solr: solr})
	ini := fmt.Sprintf("[app:main]\nsqlalchemy.url = %s\nsolr_url = %s\nckan.site_id = dcor.test\nckan.site_url = https://dcor.test\nckan.webassets.path = /var/lib/ckan/webassets\n", url, solr.URL)
	files := map[string]string{
		"etc/ckan/default/ckan.ini":                    ini,
		"var/lib/ckan/webassets/.webassets-cache/1a2b": "c",
		"var/lib/ckan/webassets/base/4f1e_main.css":    "css",
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		ts.Check(os.MkdirAll(filepath.Dir(full), 0o755))
		ts.Check(os.WriteFile(full, []byte(c), 0o644))
	}
}

// resetState is the testscript command `resetstate DIR`: it prints the
// database's datasets and users, the Solr counts of the host in DIR and
// how many updates Solr was sent.
func resetState(ts *testscript.TestScript, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: resetstate DIR")
	}
	v, ok := resetHosts.Load(ts.MkAbs(args[0]))
	if !ok {
		ts.Fatalf("no resethost %s", args[0])
	}
	st := v.(*resetHostState)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, st.url)
	ts.Check(err)
	defer conn.Close(ctx)
	var pkgs, users string
	ts.Check(conn.QueryRow(ctx, `SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM package`).Scan(&pkgs))
	ts.Check(conn.QueryRow(ctx, `SELECT string_agg(name || ':' || state, ',' ORDER BY name) FROM "user"`).Scan(&users))
	fmt.Fprintf(ts.Stdout(), "datasets=[%s]\nusers=[%s]\nsolr this=%d other=%d\n", pkgs, users,
		st.solr.Count("site_id", "dcor.test"), st.solr.Count("site_id", "other"))
	updates := 0
	for _, r := range st.solr.Requests() {
		if strings.HasPrefix(r, "POST update") {
			updates++
		}
	}
	fmt.Fprintf(ts.Stdout(), "solr updates=%d\n", updates)
}
