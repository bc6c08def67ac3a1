package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/resourcetest"
	"github.com/DCOR-dev/dcor/internal/samplehost"
	"github.com/DCOR-dev/dcor/internal/testtool"
	"github.com/jackc/pgx/v5"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run this test binary as the real `dcor`.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"dcor": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI tests in testdata/script/*.txtar: each runs
// the real dcor binary on a host tree in its work directory.
func TestScripts(t *testing.T) {
	// One PostgreSQL cluster for the scripts that need a CKAN database
	// (resourcehost); each gets its own database.
	var cluster *pgtest.Cluster
	if pgtest.BinDir() != "" || os.Getenv("CI") == "true" {
		cluster = pgtest.Start(t)
	}
	var databases atomic.Int32
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		Condition: func(cond string) (bool, error) {
			if cond == "postgres" { // [postgres]: resourcehost works
				return cluster != nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "")
			env.Setenv("CKAN_INI", "")
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// samplehost DIR: write the drifted sample host into DIR.
			"samplehost": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: samplehost DIR")
				}
				ts.Check(samplehost.Build(ts.MkAbs(args[0])))
			},
			// resourcehost DIR: write a host with resource files (every case
			// of internal/resourcetest) into DIR, with a CKAN database of its own.
			"resourcehost": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: resourcehost DIR")
				}
				if cluster == nil {
					ts.Fatalf("PostgreSQL is not installed (make test installs it)")
				}
				name := fmt.Sprintf("ckan_script_%d", databases.Add(1))
				ctx := context.Background()
				conn, err := pgx.Connect(ctx, cluster.SuperURL("postgres"))
				ts.Check(err)
				_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
				conn.Close(ctx)
				ts.Check(err)
				url := cluster.SuperURL(name)
				conn, err = pgx.Connect(ctx, url)
				ts.Check(err)
				schema, source, err := pgtest.CKANSchemaOrFallback()
				ts.Check(err)
				ts.Logf("CKAN schema: %s", source)
				_, err = conn.Exec(ctx, schema)
				conn.Close(ctx)
				ts.Check(err)
				beads := testtool.SharedTestdataPath("calibration_beads_47.rtdc")
				if _, err := os.Stat(beads); err != nil {
					ts.Fatalf("shared test data missing: %s (check the repository out beside ../shared, or set DCOR_SHARED_TESTDATA)", beads)
				}
				ts.Check(resourcetest.Build(ts.MkAbs(args[0]), url, beads))
			},
			// resethost DIR / resetstate DIR: a host for dcor reset (reset_test.go).
			"resethost": func(ts *testscript.TestScript, neg bool, args []string) {
				resetHost(ts, cluster, &databases, args)
			},
			"resetstate": func(ts *testscript.TestScript, neg bool, args []string) { resetState(ts, args) },
			// snapshot DIR FILE: write every entry's path, mode, size and mtime.
			"snapshot": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: snapshot DIR FILE")
				}
				var b strings.Builder
				root := ts.MkAbs(args[0])
				err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
					if err != nil {
						return err
					}
					rel, _ := filepath.Rel(root, p)
					fmt.Fprintf(&b, "%s %v %d %d\n", rel, info.Mode(), info.Size(), info.ModTime().UnixNano())
					return nil
				})
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(b.String()), 0o644))
			},
			// sleep SECONDS
			"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
				d, err := time.ParseDuration(args[0] + "s")
				ts.Check(err)
				time.Sleep(d)
			},
			// jsonvalid stdout|stderr|FILE: the content is one valid JSON document.
			"jsonvalid": func(ts *testscript.TestScript, neg bool, args []string) {
				data := ts.ReadFile(args[0])
				var v any
				if err := json.Unmarshal([]byte(data), &v); err != nil {
					ts.Fatalf("%s is not valid JSON: %v", args[0], err)
				}
			},
		},
	})
}
