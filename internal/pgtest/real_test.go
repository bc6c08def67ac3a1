package pgtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
)

func TestLoadableDropsMetaCommandsAndSearchPath(t *testing.T) {
	dump := "\\restrict abc\nSET lock_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n" +
		"CREATE TABLE public.package (\n    id text NOT NULL\n);\n\\unrestrict abc\n"
	got := loadable(dump)
	want := "SET lock_timeout = 0;\nCREATE TABLE public.package (\n    id text NOT NULL\n);\n"
	if got != want {
		t.Errorf("loadable =\n%s\nwant\n%s", got, want)
	}
}

// columns lists table.column type of the public schema of dbURL.
func columns(t *testing.T, c *Cluster, dbURL string) map[string]string {
	t.Helper()
	conn := c.Connect(t, dbURL)
	rows, err := conn.Query(context.Background(), `SELECT table_name, column_name, data_type, is_nullable
		FROM information_schema.columns WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var table, col, typ, null string
		if err := rows.Scan(&table, &col, &typ, &null); err != nil {
			t.Fatal(err)
		}
		out[table+"."+col] = typ
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRealCKANSchemaLoadsAndCoversTheHandWrittenOne loads the schema of
// the stack's `ckan db init` into a private cluster on one connection that
// then still finds the tables without schema names, and checks that every
// column of the hand-written CKANSchema exists there with the same type:
// the hand-written subset must not let a query pass that CKAN's database
// would refuse.
func TestRealCKANSchemaLoadsAndCoversTheHandWrittenOne(t *testing.T) {
	real := NeedRealCKANSchema(t)
	c := Start(t)
	realURL := c.CreateDatabase(t, "ckan_real", "ckan_default", "pw")
	handURL := c.CreateDatabase(t, "ckan_hand", "ckan_default", "pw")
	conn := c.Connect(t, realURL)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, real); err != nil {
		t.Fatalf("loading the real schema: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM package`).Scan(&n); err != nil {
		t.Fatalf("after the real schema, the same connection cannot read package: %v", err)
	}
	c.Exec(t, handURL, CKANSchema)
	realCols, handCols := columns(t, c, realURL), columns(t, c, handURL)
	var missing []string
	for col, typ := range handCols {
		rt, ok := realCols[col]
		switch {
		case !ok:
			missing = append(missing, col+" (not in CKAN's table)")
		case rt != typ:
			missing = append(missing, fmt.Sprintf("%s is %s, CKAN's is %s", col, typ, rt))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("pgtest.CKANSchema differs from CKAN's schema:\n%s", strings.Join(missing, "\n"))
	}
}
