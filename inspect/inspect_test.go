package inspect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/samplehost"
	"github.com/DCOR-dev/dcor/site"
)

func sampleEnv(t *testing.T) (*Env, string) {
	t.Helper()
	dir := t.TempDir()
	if err := samplehost.Build(dir); err != nil {
		t.Fatal(err)
	}
	h := host.New(dir)
	s, err := site.Load(h.Path(host.DefaultSiteFile))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Host: h, Site: s, SitePath: host.DefaultSiteFile, CKANIni: host.DefaultCKANIni,
		Venv: host.DefaultVenv, Now: time.Now()}, dir
}

func TestCheckOnlyChangesNothingAndFixAllConverges(t *testing.T) {
	env, dir := sampleEnv(t)
	before, _ := os.ReadFile(filepath.Join(dir, "etc/ckan/default/ckan.ini"))
	rep, err := Run(context.Background(), env, Options{Mode: CheckOnly, Skip: configOnly, Diffs: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Failed() || len(rep.Findings) == 0 {
		t.Fatal("the drifted sample host passed --check")
	}
	for _, f := range rep.Findings {
		if f.Fixed {
			t.Errorf("check mode fixed %s", f)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "etc/ckan/default/ckan.ini"))
	if string(before) != string(after) {
		t.Fatal("check mode changed ckan.ini")
	}
	var diffs int
	for _, c := range rep.Changes {
		if c.Diff != "" {
			diffs++
		}
	}
	if diffs == 0 {
		t.Error("check mode computed no diffs")
	}

	env, _ = sampleEnvAt(t, dir)
	rep, err = Run(context.Background(), env, Options{Mode: FixAll, Skip: configOnly})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		if f.Fails() && f.Severity != Warning {
			t.Errorf("left unfixed: %s (%s)", f, f.Error)
		}
	}
	env, _ = sampleEnvAt(t, dir)
	rep, err = Run(context.Background(), env, Options{Mode: CheckOnly, Skip: configOnly})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 {
		t.Errorf("after FixAll, check finds %d findings, first: %s", len(rep.Findings), rep.Findings[0])
	}
}

func sampleEnvAt(t *testing.T, dir string) (*Env, string) {
	h := host.New(dir)
	s, err := site.Load(h.Path(host.DefaultSiteFile))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Host: h, Site: s, SitePath: host.DefaultSiteFile, CKANIni: host.DefaultCKANIni,
		Venv: host.DefaultVenv, Now: time.Now()}, dir
}

func TestSelectChecksRejectsUnknown(t *testing.T) {
	if _, err := SelectChecks([]string{"nginx", "bogus"}, nil); err == nil {
		t.Fatal("unknown check accepted")
	}
	cs, err := SelectChecks(nil, []string{"theme", "nginx"})
	if err != nil || len(cs) != len(Checks())-3 { // resources is opt-in
		t.Fatalf("skip: %d checks, %v", len(cs), err)
	}
	cs, err = SelectChecks([]string{"resources"}, nil)
	if err != nil || len(cs) != 1 || cs[0].Name != "resources" {
		t.Fatalf("only resources: %v, %v", cs, err)
	}
}

// configOnly skips the check that needs the CKAN database (orphans_test.go
// runs it against a real one).
var configOnly = []string{"orphans"}

func TestPanickingCheckBecomesFailure(t *testing.T) {
	out := safeRun(Check{Name: "boom", run: func(*Env) []*Finding { panic("kaboom") }}, &Env{})
	if len(out) != 1 || out[0].Severity != Failure || !strings.Contains(out[0].Message, "kaboom") {
		t.Fatalf("got %+v", out)
	}
}
