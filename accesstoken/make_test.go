package accesstoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/ckandb"
	"github.com/DCOR-dev/dcor/internal/pgtest"
	"github.com/DCOR-dev/dcor/internal/testtool"
)

// host is a test DCOR host: a CKAN database, a server certificate and a
// directory for ckan.ini and output.
type testHost struct {
	cluster *pgtest.Cluster
	dbURL   string
	dir     string
	cert    string
}

// TestMake runs the Make tests against one CKAN database.
func TestMake(t *testing.T) {
	h := newTestHost(t)
	t.Run("OpensInPythonAndVerifies", func(t *testing.T) { testMakeOpensInPythonAndVerifies(t, h) })
	t.Run("RefusesBadInputs", func(t *testing.T) { testMakeRefusesBadInputs(t, h) })
	t.Run("DefaultOutputInCurrentDirectory", func(t *testing.T) { testMakeDefaultOutputInCurrentDirectory(t, h) })
	t.Run("CreatesUserWithCKAN", func(t *testing.T) { testMakeCreatesUserWithCKAN(t, h) })
	t.Run("CreateUserFailure", func(t *testing.T) { testMakeCreateUserFailure(t, h) })
	t.Run("NonHS256UsesCKAN", func(t *testing.T) { testMakeNonHS256UsesCKAN(t, h) })
	t.Run("RollsBackTokenWhenWriteFails", func(t *testing.T) { testMakeRollsBackTokenWhenWriteFails(t, h) })
	t.Run("CertificateMustNameTheSite", func(t *testing.T) { testMakeCertificateMustNameTheSite(t, h) })
}

// testMakeCertificateMustNameTheSite: a certificate whose CN and
// subjectAltNames name neither the site file's FQDN nor ckan.site_url's
// host is refused, showing both, before the database changes; --force
// (OtherHost) makes it a warning.
func testMakeCertificateMustNameTheSite(t *testing.T, h *testHost) {
	ctx := context.Background()
	site := h.site(t, ckanStyles[2], "") // ckan.site_url = https://dcor-med.example.org
	dir := t.TempDir()
	cert := func(name, cn string, sans ...string) string {
		leaf, _ := newCert(t, certOptions{cn: cn, dnsNames: sans})
		return writeFile(t, filepath.Join(dir, name), string(pemOf(leaf)))
	}
	other := cert("other.pem", "other.example.org", "other.example.org", "www.other.example.org")
	n := h.tokenCount(t)
	_, err := Make(ctx, site, Request{User: "alice", CertFile: other, Out: filepath.Join(dir, "a.dcor-access")})
	if err == nil {
		t.Fatal("a certificate of another host was accepted")
	}
	for _, want := range []string{other, "CN other.example.org", "other.example.org, www.other.example.org", "dcor-med.example.org (ckan.site_url)", "--force"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a.dcor-access")); err == nil || h.tokenCount(t) != n {
		t.Error("refused, but the file or a token was made")
	}
	// the site file's FQDN is the other name it may carry
	_, err = Make(ctx, site, Request{User: "alice", CertFile: other, Out: filepath.Join(dir, "b.dcor-access"), SiteFQDN: "dcor.clinic.example"})
	if err == nil || !strings.Contains(err.Error(), "dcor.clinic.example (the site file's fqdn) and dcor-med.example.org (ckan.site_url)") {
		t.Errorf("with a site FQDN: %v", err)
	}
	res, err := Make(ctx, site, Request{User: "alice", CertFile: other, Out: filepath.Join(dir, "c.dcor-access"), SiteFQDN: "www.other.example.org"})
	if err != nil || len(res.Warnings) != 0 {
		t.Errorf("a SAN naming the site's FQDN: %v %v", res, err)
	}
	// --force: made, with the mismatch as a warning
	res, err = Make(ctx, site, Request{User: "alice", CertFile: other, Out: filepath.Join(dir, "d.dcor-access"), OtherHost: true})
	if err != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "CN other.example.org") {
		t.Errorf("--force: %+v %v", res, err)
	}
	// the CN alone names the site (no SAN): made, with the SAN warning only
	cnOnly := cert("cnonly.pem", "DCOR-MED.example.org")
	if res, err := Make(ctx, site, Request{User: "alice", CertFile: cnOnly, Out: filepath.Join(dir, "e.dcor-access")}); err != nil || len(res.Warnings) != 1 {
		t.Errorf("CN only: %+v %v", res, err)
	}
}

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	c := pgtest.Start(t)
	h := &testHost{cluster: c, dir: t.TempDir()}
	h.dbURL = c.CreateDatabase(t, "ckan_default", "ckan_default", "ckan-db-pass")
	c.Exec(t, h.dbURL, pgtest.CKANSchemaFor(t))
	c.Exec(t, h.dbURL, `INSERT INTO "user" (id, name, email, state) VALUES
		('id-alice', 'alice', 'alice@example.org', 'active'),
		('id-bob', 'bob', 'bob@example.org', 'deleted'),
		('id-carol', 'carol', 'carol@example.org', 'pending')`)
	leaf, _ := newCert(t, certOptions{cn: "dcor-med.example.org", dnsNames: []string{"dcor-med.example.org"}})
	h.cert = writeFile(t, filepath.Join(h.dir, "server.pem"), string(pemOf(leaf)))
	return h
}

// site writes ckan.ini in style s with the test database and returns
// the site.
func (h *testHost) site(t *testing.T, s ckanStyle, extra string) Site {
	t.Helper()
	path := writeStyle(t, s, "sqlalchemy.url = "+h.dbURL+"\nckan.site_url = https://dcor-med.example.org\n"+extra)
	return Site{Config: Config{Lookup: readTestINI(t, path).Get, CKANVersion: s.version}, CKANIni: path}
}

func (h *testHost) tokenCount(t *testing.T) int {
	t.Helper()
	var n int
	conn := h.cluster.Connect(t, h.dbURL)
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM api_token`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func testMakeOpensInPythonAndVerifies(t *testing.T, h *testHost) {
	ctx := context.Background()
	for _, s := range ckanStyles {
		if !strings.Contains(s.name, "fallback") && !strings.Contains(s.name, "interpolated") &&
			!strings.Contains(s.name, "SECRET_KEY") && !strings.Contains(s.name, "2.10 file") {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			site := h.site(t, s, "")
			out := filepath.Join(t.TempDir(), "alice.dcor-access")
			before := time.Now()
			res, err := Make(ctx, site, Request{User: "alice", CertFile: h.cert, Out: out})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Warnings) != 0 || res.MintedBy != "dcor" || !res.PasswordGenerated || res.Host != "dcor-med.example.org" {
				t.Errorf("result = %+v", res)
			}
			if res.TokenName != "dcor-access-"+time.Now().Format("2006-01-02") {
				t.Errorf("token name %q", res.TokenName)
			}
			st, err := os.Stat(out)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("access file: %v, %v", st, err)
			}
			// DCOR-Aid's way of opening it
			pyOut, err := python(t, pyOpen, out, res.Password)
			if err != nil {
				t.Fatal(err)
			}
			var arc pyArchive
			json.Unmarshal([]byte(pyOut), &arc)
			token := strings.TrimSpace(arc.Token)
			// CKAN's way of checking the token
			pyOut, err = python(t, pyCKAN, site.CKANIni, s.version, token)
			if err != nil {
				t.Fatalf("PyJWT: %v", err)
			}
			var v struct {
				Claims struct {
					JTI string `json:"jti"`
					IAT int64  `json:"iat"`
				} `json:"claims"`
			}
			json.Unmarshal([]byte(pyOut), &v)
			if v.Claims.JTI != res.TokenID || v.Claims.IAT != res.IssuedAt.Unix() {
				t.Errorf("claims %+v, result %+v", v.Claims, res)
			}
			if v.Claims.IAT > time.Now().Unix() || v.Claims.IAT < before.Unix() {
				t.Errorf("iat %d outside [%d, now]", v.Claims.IAT, before.Unix())
			}
			// the row: owned by alice, created_at floors to iat
			db, err := ckandb.Open(ctx, h.dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close(ctx)
			row, err := db.APIToken(ctx, v.Claims.JTI)
			if err != nil {
				t.Fatal(err)
			}
			if row.UserName != "alice" || row.UserID != "id-alice" || row.Name != res.TokenName || row.CreatedAt.Unix() != v.Claims.IAT {
				t.Errorf("row = %+v", row)
			}
			// the words and digits of the password
			if len(res.Password) != 35 || strings.ContainsAny(res.Password, "01lio") {
				t.Errorf("password %q", res.Password)
			}
		})
	}
}

func testMakeRefusesBadInputs(t *testing.T, h *testHost) {
	ctx := context.Background()
	site := h.site(t, ckanStyles[2], "")
	dir := t.TempDir()
	noCN, _ := newCert(t, certOptions{dnsNames: []string{"x"}})
	leaf, key := newCert(t, certOptions{cn: "h", dnsNames: []string{"h"}})
	certs := map[string]string{
		"nocn":  writeFile(t, filepath.Join(dir, "nocn.pem"), string(pemOf(noCN))),
		"key":   writeFile(t, filepath.Join(dir, "key.pem"), string(pemOf(leaf))+string(keyPEM(t, key))),
		"der":   writeFile(t, filepath.Join(dir, "cert.der"), string(leaf.Raw)),
		"empty": writeFile(t, filepath.Join(dir, "empty.pem"), ""),
	}
	existing := writeFile(t, filepath.Join(dir, "existing.dcor-access"), "keep me")
	unreachable := site
	unreachable.Config.Lookup = func(k string) (string, bool) {
		if k == "sqlalchemy.url" {
			return "postgresql://ckan_default:ckan-db-pass@127.0.0.1:1/ckan_default", true
		}
		return site.Config.Lookup(k)
	}
	for _, tc := range []struct {
		name string
		site Site
		req  Request
		want string
	}{
		{"unknown user", site, Request{User: "dave"}, `CKAN user "dave" does not exist`},
		{"deleted user", site, Request{User: "bob"}, `CKAN user "bob" is deleted`},
		{"pending user", site, Request{User: "carol"}, `"carol" is pending, not active`},
		{"certificate without CN", site, Request{User: "alice", CertFile: certs["nocn"]}, "no common name"},
		{"private key", site, Request{User: "alice", CertFile: certs["key"]}, "contains a private key"},
		{"DER certificate", site, Request{User: "alice", CertFile: certs["der"]}, "DER (binary) certificate"},
		{"empty certificate", site, Request{User: "alice", CertFile: certs["empty"]}, "no PEM certificate"},
		{"missing certificate", site, Request{User: "alice", CertFile: filepath.Join(dir, "nope.pem")}, "no such file"},
		{"unreachable database", unreachable, Request{User: "alice"}, "is PostgreSQL running?"},
		{"existing output", site, Request{User: "alice", Out: existing}, "exists: pass --force"},
		{"output directory missing", site, Request{User: "alice", Out: filepath.Join(dir, "no", "x.dcor-access")}, "directory " + filepath.Join(dir, "no") + " does not exist"},
		{"output is a directory", site, Request{User: "alice", Out: dir, Force: true}, "is a directory"},
		{"create without email", site, Request{User: "dave", CreateUser: true}, "--create-user needs --email"},
		{"create without ckan", site, Request{User: "dave", CreateUser: true, Email: "d@example.org"}, "ckan command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.CertFile == "" {
				tc.req.CertFile = h.cert
			}
			if tc.req.Out == "" {
				tc.req.Out = filepath.Join(dir, tc.req.User+".dcor-access")
			}
			n := h.tokenCount(t)
			res, err := Make(ctx, tc.site, tc.req)
			if err == nil {
				t.Fatalf("made %+v", res)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "ckan-db-pass") {
				t.Errorf("database password in error: %v", err)
			}
			t.Log(err)
			if tc.req.Out != existing {
				if st, err := os.Stat(tc.req.Out); err == nil && !st.IsDir() {
					t.Errorf("%s written", tc.req.Out)
				}
			} else if b, _ := os.ReadFile(existing); string(b) != "keep me" {
				t.Errorf("existing file changed")
			}
			if m := h.tokenCount(t); m != n {
				t.Errorf("api_token rows %d -> %d", n, m)
			}
		})
	}
	// leftovers: no temporary files
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "dcor-tmp") {
			t.Errorf("left %s", e.Name())
		}
	}

	// --force replaces, with a given password
	res, err := Make(ctx, site, Request{User: "alice", CertFile: h.cert, Out: existing, Force: true, Password: "given pw"})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(existing)
	if c, err := Unpack(data, "given pw"); err != nil || c.Claims.ID != res.TokenID || res.PasswordGenerated {
		t.Fatalf("forced: %+v, %v", c, err)
	}
	if st, _ := os.Stat(existing); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
}

func testMakeDefaultOutputInCurrentDirectory(t *testing.T, h *testHost) {
	site := h.site(t, ckanStyles[0], "")
	dir := t.TempDir()
	t.Chdir(dir)
	res, err := Make(context.Background(), site, Request{User: "alice", CertFile: h.cert, TokenName: "for-clinic"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "alice.dcor-access" || res.TokenName != "for-clinic" {
		t.Errorf("result %+v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "alice.dcor-access")); err != nil {
		t.Fatal(err)
	}
	if _, err := Make(context.Background(), site, Request{User: "alice", CertFile: h.cert}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second run: %v", err)
	}
}

// standInCKAN writes a script that plays the ckan command: it logs its
// arguments and CKAN_INI, and does what `ckan user add` and
// `ckan user token add` do to the database (through psql).
func (h *testHost) standInCKAN(t *testing.T, behaviour string) (path, log string) {
	t.Helper()
	psql := testtool.Need(t, "psql", h.cluster.BinDir)
	dir := t.TempDir()
	log = filepath.Join(dir, "calls.log")
	script := fmt.Sprintf(`#!/bin/sh
LOG=%q
PSQL=%q
DB=%q
printf '%%s\n' "$*" >> "$LOG"
echo "CKAN_INI=$CKAN_INI" >> "$LOG"
%s
`, log, psql, h.dbURL, behaviour)
	path = writeFile(t, filepath.Join(dir, "ckan"), script)
	os.Chmod(path, 0o755)
	return path, log
}

func testMakeCreatesUserWithCKAN(t *testing.T, h *testHost) {
	ctx := context.Background()
	// As `ckan user add` without password=: getpass asks twice, on the
	// terminal when there is one, else on stdin.
	ckan, log := h.standInCKAN(t, `
[ "$1 $3 $4" = "-c user add" ] || exit 3
if (exec 3</dev/tty) 2>/dev/null; then echo "ckan has a terminal to prompt on" >&2; exit 5; fi
printf 'Password: ' >&2; read -r p1; printf 'Repeat for confirmation: ' >&2; read -r p2
[ "$p1" = "$p2" ] || { echo "Error: The two entered values do not match." >&2; exit 6; }
echo "stdin-password=$p1" >> "$LOG"
"$PSQL" -q "$DB" -c "INSERT INTO \"user\" (id, name, email, state) VALUES ('id-$5', '$5', 'x', 'active')" || exit 4
echo "Successfully created user: $5"`)
	site := h.site(t, ckanStyles[3], "")
	site.CKAN = ckan
	out := filepath.Join(t.TempDir(), "dave.dcor-access")
	res, err := Make(ctx, site, Request{User: "dave", CertFile: h.cert, Out: out, CreateUser: true, Email: "dave@example.org", Fullname: "Dave D"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.UserCreated {
		t.Error("UserCreated not set")
	}
	calls, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	if len(lines) != 3 || lines[0] != "-c "+site.CKANIni+" user add dave email=dave@example.org fullname=Dave D" ||
		lines[1] != "CKAN_INI="+site.CKANIni || !strings.HasPrefix(lines[2], "stdin-password=") {
		t.Fatalf("ckan called as (want no password in its arguments, one on stdin):\n%s", calls)
	}
	_, pw, _ := strings.Cut(lines[2], "=")
	if len(pw) < 22 || pw == res.Password {
		t.Errorf("web password %q (must be random and not the archive password)", pw)
	}
	data, _ := os.ReadFile(out)
	c, err := Unpack(data, res.Password)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyToken(c.Token, site.Config); err != nil {
		t.Fatal(err)
	}

	// an existing user is not created again
	os.Remove(log)
	if _, err := Make(ctx, site, Request{User: "alice", CertFile: h.cert, Out: out + "2", CreateUser: true, Email: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(log); err == nil {
		t.Error("ckan was run for an existing user")
	}
}

func testMakeCreateUserFailure(t *testing.T, h *testHost) {
	ckan, _ := h.standInCKAN(t, `read -r p; echo "Error: could not create user; args: $*; password $p" >&2; exit 1`)
	site := h.site(t, ckanStyles[3], "")
	site.CKAN = ckan
	out := filepath.Join(t.TempDir(), "erin.dcor-access")
	_, err := Make(context.Background(), site, Request{User: "erin", CertFile: h.cert, Out: out, CreateUser: true, Email: "e@example.org"})
	if err == nil || !strings.Contains(err.Error(), `create CKAN user "erin"`) || !strings.Contains(err.Error(), "could not create user") {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(err.Error(), "password ****") || !strings.Contains(err.Error(), "`"+ckan+" -c ") {
		t.Errorf("want the command and its output, password masked: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("file written")
	}
}

// TestMakeNonHS256UsesCKAN: with another algorithm, the token comes from
// `ckan -c INI user token add USER NAME`.
func testMakeNonHS256UsesCKAN(t *testing.T, h *testHost) {
	jti := "rs256-token-id"
	iat := time.Now().Unix() - 5
	token := b64.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." +
		b64.EncodeToString(fmt.Appendf(nil, `{"jti":%q,"iat":%d}`, jti, iat)) + ".c2lnbmF0dXJl"
	ckan, log := h.standInCKAN(t, fmt.Sprintf(`
[ "$3 $4 $5" = "user token add" ] || exit 3
"$PSQL" -q "$DB" -c "INSERT INTO api_token (id, name, user_id, created_at) SELECT '%s', '$7', id, now() FROM \"user\" WHERE name = '$6'" || exit 4
printf '\033[32mAPI Token created:\033[0m\n\t%%s\n' %q`, jti, token))
	site := h.site(t, ckanStyles[2], "api_token.jwt.algorithm = RS256\n")
	site.CKAN = ckan
	out := filepath.Join(t.TempDir(), "alice.dcor-access")
	res, err := Make(context.Background(), site, Request{User: "alice", CertFile: h.cert, Out: out, TokenName: "rs"})
	if err != nil {
		t.Fatal(err)
	}
	if res.MintedBy != "ckan" || res.TokenID != jti || res.IssuedAt.Unix() != iat || len(res.Warnings) != 0 {
		t.Errorf("result %+v", res)
	}
	calls, _ := os.ReadFile(log)
	if !strings.HasPrefix(string(calls), "-c "+site.CKANIni+" user token add alice rs\n") {
		t.Errorf("calls:\n%s", calls)
	}
	data, _ := os.ReadFile(out)
	if c, err := Unpack(data, res.Password); err != nil || c.Token != token {
		t.Fatalf("archive token %q, %v", c.Token, err)
	}

	// without the ckan command: a clear error before anything changes
	site.CKAN = filepath.Join(t.TempDir(), "missing", "ckan")
	_, err = Make(context.Background(), site, Request{User: "alice", CertFile: h.cert, Out: out + "2"})
	if err == nil || !strings.Contains(err.Error(), "RS256") || !strings.Contains(err.Error(), "not executable") {
		t.Fatalf("missing ckan: %v", err)
	}
}

func testMakeRollsBackTokenWhenWriteFails(t *testing.T, h *testHost) {
	site := h.site(t, ckanStyles[2], "")
	out := filepath.Join(t.TempDir(), "alice.dcor-access")
	writeAccess = func(string, []byte, bool) error { return errors.New("disk full") }
	defer func() { writeAccess = writeAccessFile }()
	n := h.tokenCount(t)
	_, err := Make(context.Background(), site, Request{User: "alice", CertFile: h.cert, Out: out})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v", err)
	}
	if m := h.tokenCount(t); m != n {
		t.Errorf("token rows %d -> %d: not rolled back", n, m)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("file written")
	}
}
