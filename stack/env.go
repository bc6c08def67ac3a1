// Package stack reads the environment of the real DCOR test stack that
// stack/stack.sh starts (`make stack`): CKAN 2.11.5 with the DCOR
// extensions (or, in the seed lane `make stack LANE=2.9`, CKAN 2.9.8 with
// the 2022 ones), Solr, Redis, PostgreSQL, uWSGI under supervisord and nginx
// with TLS, in a private mount and network namespace. Its tests run dcor
// against that stack.
package stack

import "github.com/DCOR-dev/dcor/internal/stackenv"

// Env is the content of .stack/env (internal/stackenv, which
// internal/pgtest reads as well).
type Env = stackenv.Env

// DefaultEnvFile is .stack/env of the module that holds the current
// directory, "" when no go.mod is found above it.
func DefaultEnvFile() string { return stackenv.DefaultEnvFile() }

// Load reads the stack's env file (KEY=VALUE lines, values optionally in
// double quotes, # comments).
func Load(path string) (*Env, error) { return stackenv.Load(path) }
