package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// gpgKey is an OpenPGP key made by the real gpg in its own GNUPGHOME.
type gpgKey struct {
	home       string // GNUPGHOME holding the secret key
	fpr        string // primary fingerprint
	keyID      string // primary long key id
	subKeyID   string // encryption subkey's long id ("" when none)
	publicFile string // armored public key
	secretFile string // armored secret key
}

// gpgRun runs the real gpg with GNUPGHOME=home.
func gpgRun(t testing.TB, home string, args ...string) ([]byte, error) {
	t.Helper()
	gpg := testtool.Need(t, "gpg")
	cmd := exec.Command(gpg, append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback"}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func gpgMust(t testing.TB, home string, args ...string) []byte {
	t.Helper()
	out, err := gpgRun(t, home, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gpgHome makes an empty GNUPGHOME whose agent is stopped at the end.
func gpgHome(t testing.TB) string {
	t.Helper()
	testtool.Need(t, "gpg")
	home, err := os.MkdirTemp("", "dcor-gpg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	// Cheap passphrase protection keeps the tests fast.
	os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte("s2k-count 65536\n"), 0o600)
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Run()
		os.RemoveAll(home)
	})
	return home
}

// newGPGKey makes a key with the real gpg. kind is one of:
// rsa (RSA 2048 primary + RSA encryption subkey), cv25519 (ed25519 +
// cv25519 encryption subkey), signonly (ed25519 without encryption
// subkey), expired (made in 2020, expired after a day), expiredsub
// (valid primary, expired encryption subkey), revoked, passphrase
// (cv25519 protected by the passphrase "correct horse").
func newGPGKey(t testing.TB, kind string) *gpgKey {
	t.Helper()
	home := gpgHome(t)
	uid := fmt.Sprintf("DCOR %s test <%s@backup.test>", kind, kind)
	pass := ""
	if kind == "passphrase" {
		pass = "correct horse"
	}
	p := []string{"--passphrase", pass}
	past := []string{"--faked-system-time", "20200101T000000"}
	switch kind {
	case "rsa":
		gpgMust(t, home, append(p, "--quick-gen-key", uid, "rsa2048", "sign,cert", "never")...)
	case "cv25519", "signonly", "revoked", "passphrase":
		gpgMust(t, home, append(p, "--quick-gen-key", uid, "ed25519", "sign,cert", "never")...)
	case "expiredsub":
		gpgMust(t, home, append(append(past, p...), "--quick-gen-key", uid, "ed25519", "sign,cert", "never")...)
	case "expired":
		gpgMust(t, home, append(append(past, p...), "--quick-gen-key", uid, "ed25519", "sign,cert", "1d")...)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	k := &gpgKey{home: home}
	k.fpr, k.keyID = colonsKey(t, home, "pub")
	switch kind {
	case "rsa":
		gpgMust(t, home, append(p, "--quick-add-key", k.fpr, "rsa2048", "encr", "never")...)
	case "cv25519", "revoked", "passphrase":
		gpgMust(t, home, append(p, "--quick-add-key", k.fpr, "cv25519", "encr", "never")...)
	case "expired", "expiredsub":
		gpgMust(t, home, append(append(past, p...), "--quick-add-key", k.fpr, "cv25519", "encr", "1d")...)
	}
	if kind == "revoked" {
		rev, err := os.ReadFile(filepath.Join(home, "openpgp-revocs.d", k.fpr+".rev"))
		if err != nil {
			t.Fatal(err)
		}
		rev = bytes.Replace(rev, []byte(":-----BEGIN PGP PUBLIC KEY BLOCK-----"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"), 1)
		revFile := filepath.Join(home, "rev.asc")
		os.WriteFile(revFile, rev, 0o600)
		gpgMust(t, home, "--import", revFile)
	}
	if kind != "signonly" {
		_, k.subKeyID = colonsKey(t, home, "sub")
	}
	k.publicFile = filepath.Join(home, "public.asc")
	if err := os.WriteFile(k.publicFile, gpgMust(t, home, "--armor", "--export", k.fpr), 0o644); err != nil {
		t.Fatal(err)
	}
	k.secretFile = filepath.Join(home, "secret.asc")
	if err := os.WriteFile(k.secretFile, gpgMust(t, home, append(p, "--armor", "--export-secret-keys", k.fpr)...), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// colonsKey returns the fingerprint and long key id of the first key of
// type kind ("pub" or "sub") in gpg's --with-colons listing.
func colonsKey(t testing.TB, home, kind string) (fpr, keyID string) {
	t.Helper()
	out := gpgMust(t, home, "--with-colons", "--with-subkey-fingerprints", "--list-keys")
	in := false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		if f[0] == "pub" || f[0] == "sub" {
			in = f[0] == kind
			if in {
				keyID = f[4]
			}
			continue
		}
		if in && f[0] == "fpr" {
			return f[9], keyID
		}
	}
	t.Fatalf("no %s key in gpg listing:\n%s", kind, out)
	return "", ""
}

// gpgDecrypt decrypts file with the real gpg and the key's home.
func gpgDecrypt(t testing.TB, k *gpgKey, file string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "plain.dump")
	gpgMust(t, k.home, "--output", out, "--decrypt", file)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// recipients loads the keys' public files as recipients.
func recipients(t testing.TB, keys ...*gpgKey) []*Recipient {
	t.Helper()
	var files []string
	for _, k := range keys {
		files = append(files, k.publicFile)
	}
	rs, err := LoadRecipients(context.Background(), KeySources{Files: files, GPG: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func secretKey(t testing.TB, k *gpgKey) *SecretKey {
	t.Helper()
	sk, err := LoadSecretKey(k.secretFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// ckanFixture fills a database with CKAN's tables and rows of every
// kind: text with quotes, newlines and non-ASCII, NULLs, jsonb,
// timestamps, booleans, and enough activity rows (md5 text, which
// compresses poorly) for a dump of about a megabyte.
const ckanFixture = `
INSERT INTO "user" (id, name, email, state, sysadmin, created, about, plugin_extras, last_active) VALUES
 ('u1', 'alice', 'alice@example.org', 'active', true, '2021-03-01 10:00:00', E'line1\nline2 \'quoted\' ünïcödé', '{"k": [1, 2]}', '2024-01-02 03:04:05'),
 ('u2', 'bob', NULL, 'pending', false, NULL, NULL, NULL, NULL),
 ('u3', 'carol', 'carol@example.org', 'deleted', false, '2020-01-01', 'tab	separated', '{}', NULL);
INSERT INTO "group" (id, name, title, type, is_organization, state) VALUES
 ('g1', 'circle-a', 'Circle A', 'organization', true, 'active'),
 ('g2', 'collection-b', 'Collection "B"', 'group', false, 'active');
INSERT INTO package (id, name, title, state, private, owner_org, type, creator_user_id, metadata_modified)
 SELECT 'p' || g, 'dataset-' || g, 'Dataset ' || g, CASE WHEN g % 3 = 0 THEN 'draft' ELSE 'active' END,
        g % 2 = 0, 'g1', 'dataset', 'u1', timestamp '2024-01-01' + g * interval '1 hour'
 FROM generate_series(1, 200) g;
INSERT INTO resource (id, package_id, url, url_type, name, format, size, position, state, extras)
 SELECT 'r' || g, 'p' || (g % 200 + 1), 'file' || g || '.rtdc', 'upload', 'file ' || g, 'RT-DC', g * 1000, g % 5,
        CASE WHEN g % 7 = 0 THEN 'deleted' ELSE 'active' END, '{"sha256": "' || md5(g::text) || md5((g + 1)::text) || '"}'
 FROM generate_series(1, 1000) g;
INSERT INTO member (id, table_id, group_id, state, table_name, capacity)
 SELECT 'm' || g, 'p' || g, 'g2', 'active', 'package', 'public' FROM generate_series(1, 50) g;
INSERT INTO api_token (id, name, user_id, created_at, plugin_extras) VALUES
 ('tok1', 'cli', 'u1', '2024-02-03 04:05:06', '{"expire_at": 1700000000}');
INSERT INTO activity (id, "timestamp", user_id, object_id, activity_type, data)
 SELECT 'a' || g, timestamp '2023-01-01' + g * interval '1 minute', 'u1', 'p' || (g % 200 + 1), 'changed package',
        md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5((g * 17)::text)
 FROM generate_series(1, 15000) g;
`

// newCKANDatabase creates database name (owner ckan_default) with the
// fixture and returns its URL.
func newCKANDatabase(t testing.TB, c *pgtest.Cluster, name, password string) string {
	t.Helper()
	url := c.CreateDatabase(t, name, "ckan_default", password)
	c.Exec(t, url, pgtest.CKANSchema)
	c.Exec(t, url, ckanFixture)
	return url
}

// tableRows returns every row of every table in the public schema, as
// text, sorted.
func tableRows(t testing.TB, c *pgtest.Cluster, url string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	conn := c.Connect(t, url)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string][]string{}
	for _, tbl := range tables {
		rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT t::text FROM %q t`, tbl))
		if err != nil {
			t.Fatal(err)
		}
		var all []string
		for rows.Next() {
			var s string
			rows.Scan(&s)
			all = append(all, s)
		}
		rows.Close()
		sort.Strings(all)
		out[tbl] = all
	}
	return out
}

// sameRows fails unless both databases hold the same rows in the same
// tables.
func sameRows(t testing.TB, want, got map[string][]string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("no tables to compare")
	}
	for tbl, rows := range want {
		g, ok := got[tbl]
		if !ok {
			t.Errorf("table %s is missing after the restore", tbl)
			continue
		}
		if len(g) != len(rows) {
			t.Errorf("table %s: %d rows after the restore, want %d", tbl, len(g), len(rows))
			continue
		}
		for i := range rows {
			if rows[i] != g[i] {
				t.Errorf("table %s row %d differs:\n got %s\nwant %s", tbl, i, g[i], rows[i])
				break
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d tables after the restore, want %d", len(got), len(want))
	}
}

// standIn writes an executable shell script that takes pg_dump's place.
func standIn(t testing.TB, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pg_dump")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// noFinalFiles fails when dir holds a dump under a final name, or a
// partial file.
func noFinalFiles(t testing.TB, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			name := info.Name()
			if name == lockName {
				return nil
			}
			t.Errorf("a failed backup left %s", p)
			return nil
		})
	}
}

// realPgDump is the pg_dump that PostgreSQL's tests use.
func realPgDump(t testing.TB, c *pgtest.Cluster) string {
	t.Helper()
	p, err := findPgProgram("pg_dump", "")
	if err != nil {
		return filepath.Join(c.BinDir, "pg_dump")
	}
	return p
}

// testNow is the time tests name their dumps with.
var testNow = time.Date(2024, 3, 5, 1, 2, 3, 0, time.Local)
