package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestRunFunctionsCallable calls commands through their runX functions,
// without Cobra, as the architecture promises tests can.
func TestRunFunctionsCallable(t *testing.T) {
	ctx := context.Background()
	newApp := func(jsonOut bool) (*app, *bytes.Buffer) {
		var out bytes.Buffer
		return &app{root: t.TempDir(), config: "/etc/dcor/dcor.yaml", json: jsonOut,
			stdin: strings.NewReader(""), stdout: &out, stderr: &bytes.Buffer{}, ctx: ctx}, &out
	}

	a, out := newApp(true)
	if err := a.runVersion(ctx, versionOptions{}); err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v["version"] == "" || !a.emitted {
		t.Errorf("version --json: %q, %v, emitted %v", out, err, a.emitted)
	}

	a, out = newApp(true)
	if err := a.runTemplatesShow(ctx, templatesShowOptions{name: "ckan-options"}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]string
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc["name"] != "ckan-options" || !a.emitted {
		t.Errorf("templates show --json: %q, %v", out, err)
	}

	// Usage errors come back as exit status 2 before anything runs.
	for name, run := range map[string]func(a *app) error{
		"backup without recipients": func(a *app) error { return a.runBackup(ctx, backupOptions{}) },
		"restore without a mode":    func(a *app) error { return a.runRestore(ctx, restoreOptions{file: "x.gpg"}) },
		"revoke of neither file nor id": func(a *app) error {
			return a.runAccessTokenRevoke(ctx, accessTokenRevokeOptions{target: "no such thing"})
		},
		"schedule without a job": func(a *app) error { return a.runSchedule(ctx, scheduleOptions{}) },
		"man without --dir":      func(a *app) error { return a.runMan(ctx, manOptions{}) },
	} {
		a, out := newApp(false)
		var ee *exitError
		if err := run(a); !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%s: %v, want a usage error (exit 2)", name, err)
		}
		if out.Len() > 0 {
			t.Errorf("%s printed %q", name, out)
		}
	}
}
