package site

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const commented = `# DCOR site file of clinic 1: keep these notes.
# Second line of the header.

kind: medical   # the kind decides the ckan.ini options
# The host name, as in /etc/hostname.
hostname: clinic1
fqdn: clinic1.example.org
owner: IT department   # not a key dcor knows
tls:
    # from the hospital's CA
    cert: /etc/ssl/certs/clinic1.pem
    key: /etc/ssl/private/clinic1.key
    renewed: 2024-05-01
database:
    password: 'old pass'  # rotated yearly
ckan:
    ckan.site_title: DCOR-med Clinic 1
    # schema dir of the clinic
    ckanext.dcor_schemas.json_resource_schema_dir: /etc/dcor/schema
# trailing note
`

func TestEncodeKeepsCommentsOrderAndUnknownKeys(t *testing.T) {
	s, err := decode([]byte(commented))
	if err != nil {
		t.Fatal(err)
	}
	// Unchanged: byte for byte the same.
	out, err := Encode([]byte(commented), s)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != commented {
		t.Errorf("an unchanged site file was rewritten:\n%s", out)
	}

	s.Database.Password = "new pass 123"
	s.Email = "it@clinic1.example.org"
	s.Database.Port = "5433"
	s.Hostname = ""
	s.CKAN["ckan.site_title"] = "DCOR-med Clinic One"
	s.CKAN["ckan.max_resource_size"] = "100"
	out, err = Encode([]byte(commented), s)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		"# DCOR site file of clinic 1: keep these notes.\n# Second line of the header.\n\nkind: medical # the kind decides the ckan.ini options\n",
		"# The host name, as in /etc/hostname.\n",
		"owner: IT department # not a key dcor knows\n",
		"    # from the hospital's CA\n    cert: /etc/ssl/certs/clinic1.pem\n",
		"    renewed: 2024-05-01\n",
		"    password: 'new pass 123' # rotated yearly\n",
		"    port: \"5433\"\n",
		"    ckan.site_title: DCOR-med Clinic One\n",
		"    # schema dir of the clinic\n",
		"# trailing note\n",
		"email: it@clinic1.example.org\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hostname:") {
		t.Errorf("the emptied hostname is still there:\n%s", got)
	}
	order := []string{"kind:", "fqdn:", "email:", "owner:", "tls:", "database:", "ckan:"}
	last := -1
	for _, k := range order {
		i := strings.Index(got, "\n"+k)
		if i < last {
			t.Errorf("%s moved before an earlier key:\n%s", k, got)
		}
		last = i
	}
	back, err := decode(out)
	if err != nil || !sameSite(back, s) {
		t.Errorf("reads back as %+v (%v), want %+v", back, err, s)
	}
}

func TestEncodeEmptyAndCommentOnly(t *testing.T) {
	s := &Site{Kind: "testing", IP: "10.0.0.1"}
	for _, old := range []string{"", "\n", "# only a note\n", "# note\n\n# another\n"} {
		out, err := Encode([]byte(old), s)
		if err != nil {
			t.Fatalf("%q: %v", old, err)
		}
		if back, err := decode(out); err != nil || !sameSite(back, s) {
			t.Errorf("%q: reads back as %+v, %v", old, back, err)
		}
		if c := strings.TrimSpace(old); c != "" && !strings.HasPrefix(string(out), c) {
			t.Errorf("%q: comments lost:\n%s", old, out)
		}
	}
	for _, old := range []string{"- a\n- b\n", "just text\n", "kind: [\n"} {
		if _, err := Encode([]byte(old), s); err == nil {
			t.Errorf("%q accepted", old)
		}
	}
}

// Save (used by init and by inspect's prompt) keeps the comments.
func TestSaveKeepsComments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dcor.yaml")
	if err := os.WriteFile(path, []byte(commented), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Database.Password = "asked at the prompt"
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# DCOR site file of clinic 1: keep these notes.\n") ||
		!strings.Contains(string(data), "password: 'asked at the prompt' # rotated yearly\n") ||
		!strings.Contains(string(data), "owner: IT department") {
		t.Errorf("saved:\n%s", data)
	}
}

// FuzzEncode: Encode never panics; what it returns parses, reads back
// as the site, and encoding it again changes nothing.
func FuzzEncode(f *testing.F) {
	f.Add([]byte(commented), "production", "h", "pw", "5432", "ckan.site_title", "x")
	f.Add([]byte(""), "testing", "", "", "", "", "")
	f.Add([]byte("kind: medical\nfqdn: &a x.example\nalias: *a\n"), "medical", "", "p:w", "", "k", "yes")
	f.Add([]byte("{kind: production, tls: {cert: /c}}\n"), "production", "n", "'\"", "1", "a.b", "")
	f.Add([]byte("# c\nkind: production\n<<: {fqdn: m.example}\n"), "production", "x\ny", "", "", "", "")
	f.Fuzz(func(t *testing.T, old []byte, kind, host, pw, port, ckey, cval string) {
		s := &Site{Kind: kind, Hostname: host, FQDN: "dcor.example.org", Database: Database{Password: pw, Port: port}}
		if ckey != "" {
			s.CKAN = map[string]string{strings.ToLower(ckey): cval}
		}
		out, err := Encode(old, s)
		if err != nil {
			return
		}
		var n yaml.Node
		if err := yaml.Unmarshal(out, &n); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		back, err := decode(out)
		if err != nil || !sameSite(back, s) {
			t.Fatalf("output reads back as %+v (%v), want %+v:\n%s", back, err, s, out)
		}
		again, err := Encode(out, s)
		if err != nil {
			t.Fatalf("re-encoding fails: %v\n%s", err, out)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("re-encoding changes the output:\n%s\n---\n%s", out, again)
		}
	})
}
