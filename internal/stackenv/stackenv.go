// Package stackenv reads .stack/env, the environment of the real DCOR test
// stack that stack/stack.sh starts (`make stack`). Package stack (the
// stack's own tests) and internal/pgtest (CKAN's real schema for the
// database tests) both read it through this package.
package stackenv

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Env is the content of .stack/env.
type Env struct {
	// Root is the --root to give dcor ("/": the stack has the real paths
	// inside its namespace).
	Root string
	// CKANIni is ckan.ini's path on this machine; inside the namespace it
	// is /etc/ckan/default/ckan.ini.
	CKANIni string
	// Venv and ClientVenv are the CKAN and the client (dclab, dcoraid)
	// virtualenvs, as paths inside the namespace.
	Venv, ClientVenv string
	// URL is CKAN through nginx (https://Host), Host its host name.
	URL, Host string
	// Cert is the TLS certificate's path on this machine.
	Cert string
	// PG is a libpq URL of the CKAN database with a superuser (reachable
	// inside the namespace).
	PG string
	// Solr is the Solr core's URL (inside the namespace).
	Solr string
	// Run is the prefix that runs a command inside the namespace.
	Run []string
	// State is the stack's directory on this machine (.stack).
	State string
	// Admin and AdminPassword are the CKAN sysadmin the stack made.
	Admin, AdminPassword string
	// CKANVersion is the stack's CKAN ("2.11.5", "2.9.8"), Lane its lane
	// ("2.11", "2.9"); env files from before the seed lane lack both and
	// are read as the 2.11 lane.
	CKANVersion, Lane string
}

// DefaultEnvFile is .stack/env of the module that holds the current
// directory, "" when no go.mod is found above it.
func DefaultEnvFile() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".stack", "env")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// File is the env file the tests use: $DCOR_STACK_ENV when set, else
// DefaultEnvFile.
func File() string {
	if p := os.Getenv("DCOR_STACK_ENV"); p != "" {
		return p
	}
	return DefaultEnvFile()
}

// Load reads the stack's env file (KEY=VALUE lines, values optionally in
// double quotes, # comments).
func Load(path string) (*Env, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: line %q is not KEY=VALUE", path, line)
		}
		v[k] = strings.Trim(val, `"`)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	e := &Env{Root: v["DCOR_STACK_ROOT"], CKANIni: v["DCOR_STACK_CKAN_INI"], Venv: v["DCOR_STACK_VENV"],
		ClientVenv: v["DCOR_STACK_CLIENT_VENV"], URL: v["DCOR_STACK_URL"], Host: v["DCOR_STACK_HOST"],
		Cert: v["DCOR_STACK_CERT"], PG: v["DCOR_STACK_PG"], Solr: v["DCOR_STACK_SOLR"],
		Run: strings.Fields(v["DCOR_STACK_RUN"]), State: v["DCOR_STACK_STATE"],
		Admin: v["DCOR_STACK_ADMIN"], AdminPassword: v["DCOR_STACK_ADMIN_PASSWORD"],
		CKANVersion: v["DCOR_STACK_CKAN_VERSION"], Lane: v["DCOR_STACK_LANE"]}
	if e.CKANVersion == "" {
		e.CKANVersion = "2.11.5"
	}
	if e.Lane == "" {
		e.Lane = "2.11"
	}
	for name, val := range map[string]string{"DCOR_STACK_CKAN_INI": e.CKANIni, "DCOR_STACK_VENV": e.Venv,
		"DCOR_STACK_URL": e.URL, "DCOR_STACK_HOST": e.Host, "DCOR_STACK_CERT": e.Cert, "DCOR_STACK_STATE": e.State} {
		if val == "" {
			return nil, fmt.Errorf("%s lacks %s: run make stack again", path, name)
		}
	}
	return e, nil
}

// Command is the argument list that runs name with args inside the
// stack's namespace.
func (e *Env) Command(name string, args ...string) []string {
	out := append([]string{}, e.Run...)
	out = append(out, name)
	return append(out, args...)
}

// Alive says whether the stack's namespace still exists: false when Run
// is "nsenter --target PID …" and PID is gone (a stale env file).
func (e *Env) Alive() bool {
	if len(e.Run) == 0 || !strings.HasPrefix(filepath.Base(e.Run[0]), "nsenter") {
		return true
	}
	for i, a := range e.Run {
		if a == "--target" && i+1 < len(e.Run) {
			_, err := os.Stat(filepath.Join("/proc", e.Run[i+1], "ns"))
			return err == nil
		}
	}
	return true
}
