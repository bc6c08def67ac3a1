package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/testtool"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestAccessTokenScripts runs testdata/accesstoken/*.txtar against a
// private PostgreSQL cluster: each script gets its own CKAN database
// (users alice: active, bob: deleted), its URL in $DBURL and in place of
// @DBURL@ in the files of its work directory, and a DER certificate
// cert.der. The scripts run the real python3 (zipfile, PyJWT), unzip and
// psql.
func TestAccessTokenScripts(t *testing.T) {
	testtool.Python(t)
	testtool.Need(t, "unzip")
	c := pgtest.Start(t)
	psqlDir := filepath.Dir(testtool.Need(t, "psql", c.BinDir))
	const password = "ckan-db-pass"
	tmpl := c.CreateDatabase(t, "ckan_template", "ckan_default", password)
	c.Exec(t, tmpl, pgtest.CKANSchemaFor(t))
	c.Exec(t, tmpl, `INSERT INTO "user" (id, name, email, state, sysadmin) VALUES
		('id-alice', 'alice', 'alice@clinic.example', 'active', false),
		('id-bob', 'bob', 'bob@clinic.example', 'deleted', false)`)
	der := derCertificate(t)
	var n atomic.Int32
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "accesstoken"),
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			name := fmt.Sprintf("ckan_%d", n.Add(1))
			conn, err := c.Connect2(c.SuperURL("postgres"))
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+name+" TEMPLATE ckan_template OWNER ckan_default"); err != nil {
				return err
			}
			dbURL := c.URL("ckan_default", password, name)
			env.Setenv("DBURL", dbURL)
			env.Setenv("NO_COLOR", "")
			env.Setenv("CKAN_INI", "")
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("PATH", psqlDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			if err := os.WriteFile(filepath.Join(env.WorkDir, "cert.der"), der, 0o644); err != nil {
				return err
			}
			return filepath.Walk(env.WorkDir, func(p string, info os.FileInfo, err error) error {
				if err != nil || !info.Mode().IsRegular() {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil || !strings.Contains(string(b), "@DBURL@") {
					return err
				}
				return os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "@DBURL@", dbURL)), info.Mode())
			})
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// envjson VAR FILE KEY: set $VAR to the string KEY of the JSON object in FILE.
			"envjson": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: envjson VAR FILE KEY")
				}
				var doc map[string]any
				ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &doc))
				v, ok := doc[args[2]].(string)
				if !ok {
					ts.Fatalf("%s has no string %q", args[1], args[2])
				}
				ts.Setenv(args[0], v)
			},
		},
	})
}

// derCertificate returns a DER (binary) certificate.
func derCertificate(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dcor.clinic.example"},
		DNSNames: []string{"dcor.clinic.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
