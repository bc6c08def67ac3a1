package accesstoken

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/testtool"
)

// pyOpen opens an access file as DCOR-Aid does: Python's zipfile with
// ZipFile.read(name, pwd=password.encode("utf-8")).
const pyOpen = `
import json, sys, zipfile
path, password = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(path) as z:
    names = z.namelist()
    token = z.read("api_key.txt", pwd=password.encode("utf-8")).decode()
    cert = z.read("server.cert", pwd=password.encode("utf-8")).decode()
print(json.dumps({"names": names, "token": token, "cert": cert}))
`

type pyArchive struct {
	Names []string `json:"names"`
	Token string   `json:"token"`
	Cert  string   `json:"cert"`
}

func testCert(t *testing.T) Certificate {
	t.Helper()
	leaf, _ := newCert(t, certOptions{cn: "dcor-med.example.org", dnsNames: []string{"dcor-med.example.org"}})
	c, err := ParseCertificate("test", pemOf(leaf))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestArchiveOpensInPythonAndUnzip(t *testing.T) {
	unzip := testtool.Need(t, "unzip")
	cert := testCert(t)
	dir := t.TempDir()
	for i, password := range []string{"k7m2p-x9tqa-ab3de-fgh45-jkmnp-qrstu", "pässwörd €", "x"} {
		token := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJqdGkiOiJhIiwiaWF0IjoxfQ.sig" + strings.Repeat("x", i)
		data, err := Pack(token, cert, password)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "alice"+Extension)
		writeFile(t, path, string(data))

		out, err := python(t, pyOpen, path, password)
		if err != nil {
			t.Fatalf("python zipfile: %v", err)
		}
		var got pyArchive
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got.Names, ",") != "api_key.txt,server.cert" {
			t.Errorf("members = %v, want exactly api_key.txt, server.cert", got.Names)
		}
		if got.Token != token+"\n" {
			t.Errorf("api_key.txt = %q", got.Token)
		}
		block, _ := pem.Decode([]byte(got.Cert))
		if block == nil {
			t.Fatalf("server.cert is not PEM: %q", got.Cert)
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil || leaf.Subject.CommonName != "dcor-med.example.org" {
			t.Fatalf("server.cert CN = %v, %v", leaf.Subject.CommonName, err)
		}

		if _, err := python(t, pyOpen, path, password+"?"); err == nil {
			t.Errorf("python opened the archive with a wrong password")
		} else if !strings.Contains(err.Error(), "Bad password") && !strings.Contains(err.Error(), "Error") {
			t.Errorf("python wrong password: %v", err)
		}

		cmd := exec.Command(unzip, "-P", password, "-p", path, "api_key.txt")
		b, err := cmd.Output()
		if err != nil || string(b) != token+"\n" {
			t.Errorf("unzip -P: %q, %v", b, err)
		}
		b, err = exec.Command(unzip, "-P", password, "-p", path, "server.cert").Output()
		if err != nil || !bytes.Equal(b, cert.PEM) {
			t.Errorf("unzip -P server.cert: %v", err)
		}
		if b, err := exec.Command(unzip, "-P", password+"?", "-p", path, "api_key.txt").Output(); err == nil || strings.Contains(string(b), token) {
			t.Errorf("unzip accepted a wrong password: %q", b)
		}
		// unzip -Z shows the members as encrypted (capital B/T flag letter
		// in "-rw------- ... BX defN").
		info, err := exec.Command(unzip, "-Z", path).Output()
		if err != nil || !strings.Contains(string(info), "-rw-------") {
			t.Errorf("unzip -Z: %s, %v", info, err)
		}
		for _, line := range strings.Split(string(info), "\n") {
			if strings.Contains(line, "defN") {
				f := strings.Fields(line)
				if len(f) < 5 || (f[4][0] != 'B' && f[4][0] != 'T') {
					t.Errorf("member not marked encrypted: %s", line)
				}
			}
		}

		// our reader
		c, err := Unpack(data, password)
		if err != nil || c.Token != token || !bytes.Equal(c.Certificate.PEM, cert.PEM) {
			t.Fatalf("Unpack: %+v, %v", c, err)
		}
		if _, err := Unpack(data, password+"?"); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("Unpack with a wrong password: %v", err)
		}
	}
}

// TestReadsInfoZip reads archives made by Info-ZIP's `zip -e`, which
// writes data descriptors (check byte from the modification time).
func TestReadsInfoZip(t *testing.T) {
	zipCmd := testtool.Need(t, "zip")
	dir := t.TempDir()
	cert := testCert(t)
	writeFile(t, filepath.Join(dir, "api_key.txt"), "the-token\n")
	writeFile(t, filepath.Join(dir, "server.cert"), string(cert.PEM))
	for _, level := range []string{"-0", "-9"} {
		path := filepath.Join(dir, "x"+level+".zip")
		cmd := exec.Command(zipCmd, level, "-q", "-P", "zip pass", path, "api_key.txt", "server.cert")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("zip: %v\n%s", err, out)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Unpack(data, "zip pass")
		if err != nil || c.Token != "the-token" || c.Certificate.Host() != "dcor-med.example.org" {
			t.Fatalf("%s: Unpack = %+v, %v", level, c, err)
		}
		if _, err := Unpack(data, "zip pasS"); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("%s: wrong password: %v", level, err)
		}
	}
}

func TestReaderRefusesPlainAndForeignArchives(t *testing.T) {
	cert := testCert(t)
	// an unencrypted archive
	var buf bytes.Buffer
	if err := writeEncryptedZip(&buf, nil, []byte("pw"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := Unpack(buf.Bytes(), "pw"); err == nil || !strings.Contains(err.Error(), "no api_key.txt") {
		t.Fatalf("empty archive: %v", err)
	}
	if _, err := Unpack([]byte("not a zip"), "pw"); err == nil || !strings.Contains(err.Error(), "not a ZIP") {
		t.Fatalf("garbage: %v", err)
	}
	// only one member
	buf.Reset()
	writeEncryptedZip(&buf, []member{{TokenMember, []byte("t\n")}}, []byte("pw"), time.Now())
	if _, err := Unpack(buf.Bytes(), "pw"); err == nil || !strings.Contains(err.Error(), "no server.cert") {
		t.Fatalf("no certificate: %v", err)
	}
	buf.Reset()
	writeEncryptedZip(&buf, []member{{TokenMember, []byte("t\n")}, {CertMember, cert.PEM}, {TokenMember, []byte("u\n")}}, []byte("pw"), time.Now())
	if _, err := Unpack(buf.Bytes(), "pw"); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate member: %v", err)
	}
}

// TestRoundTrip is a property: whatever members and password,
// readEncryptedZip gives back what writeEncryptedZip wrote, and another
// password never yields the contents.
func TestRoundTrip(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range 100 {
		n := rng.IntN(4) + 1
		var members []member
		for j := range n {
			size := rng.IntN(5000)
			if i%10 == 0 {
				size = 0
			}
			data := make([]byte, size)
			compressible := rng.IntN(2) == 0
			for k := range data {
				if compressible {
					data[k] = byte('a' + rng.IntN(3))
				} else {
					data[k] = byte(rng.Uint32())
				}
			}
			members = append(members, member{name: "m" + string(rune('a'+j)) + ".txt", data: data})
		}
		pw := make([]byte, rng.IntN(40)+1)
		for k := range pw {
			pw[k] = byte(rng.Uint32())
		}
		var buf bytes.Buffer
		if err := writeEncryptedZip(&buf, members, pw, time.Now()); err != nil {
			t.Fatal(err)
		}
		got, err := readEncryptedZip(buf.Bytes(), pw, nil)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		for _, m := range members {
			if !bytes.Equal(got[m.name], m.data) {
				t.Fatalf("case %d: %s differs", i, m.name)
			}
		}
		wrong := append(append([]byte(nil), pw...), 'x')
		if _, err := readEncryptedZip(buf.Bytes(), wrong, nil); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("case %d: wrong password gave %v", i, err)
		}
	}
}

// FuzzReadEncryptedZip: the reader never panics and never returns
// contents that fail their CRC, whatever the bytes and password.
func FuzzReadEncryptedZip(f *testing.F) {
	var buf bytes.Buffer
	writeEncryptedZip(&buf, []member{{TokenMember, []byte("token\n")}, {CertMember, []byte("cert")}}, []byte("pw"), time.Unix(1e9, 0))
	f.Add(buf.Bytes(), "pw")
	f.Add(buf.Bytes(), "wrong")
	f.Add([]byte("PK\x03\x04"), "")
	f.Add([]byte{}, "pw")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		got, err := readEncryptedZip(data, []byte(password), nil)
		if err != nil {
			return
		}
		for name := range got {
			if len(got[name]) > maxMember {
				t.Fatalf("%s: %d bytes", name, len(got[name]))
			}
		}
		Unpack(data, password)
	})
}
