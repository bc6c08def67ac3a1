package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/DCOR-dev/dcor/host"
)

// DefaultPlainDir is where the 2021 tool kept its plain dumps, and where
// `dcor reset` keeps one when no backup key is configured.
const DefaultPlainDir = "/backup"

// Plain makes one plain (unencrypted) custom-format dump the 2021 way:
// OutDir/YYYY-MM/ckan_db_<host>_<time>.dump, the month directory 0500,
// the file 0400. It is what `dcor reset` takes before it changes the
// database when no backup key is configured. Recipients, KeepPlainDir,
// Keep, KeepDays and VerifyWith are ignored. As with Run, a failed or
// interrupted dump leaves no file under a final name.
func Plain(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	db, err := parseDatabaseURL(o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if o.OutDir == "" {
		return nil, errors.New("no directory for the plain dump")
	}
	if o.Hostname == "" {
		o.Hostname = host.Hostname()
	}
	if strings.ContainsAny(o.Hostname, "/\x00") || strings.HasPrefix(o.Hostname, ".") {
		return nil, fmt.Errorf("host name %q cannot be part of a file name", o.Hostname)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	pgDump, err := findPgProgram("pg_dump", o.PgDump)
	if err != nil {
		return nil, err
	}
	var pgUser *asPostgres
	if o.AsPostgres {
		if pgUser, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	if err := makeDir(o.OutDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the dump directory %s: %w", o.OutDir, err)
	}
	unlock, err := lock(o.OutDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	stale := removeStale(o.OutDir, o.Hostname)
	month := filepath.Join(o.OutDir, now.Format("2006-01"))
	if err := makeDir(month, 0o700); err != nil {
		return nil, fmt.Errorf("create the dump directory %s: %w", month, err)
	}
	os.Chmod(month, 0o700) // 0500 from an earlier dump: open it while writing
	defer os.Chmod(month, 0o500)
	out, err := createPartial(filepath.Join(month, dumpName(o.Hostname, now)))
	if err != nil {
		return nil, err
	}
	defer out.abort()
	hash := sha256.New()
	sink := io.MultiWriter(&errWriter{w: out.f, name: out.partial}, hash)
	dumped, err := dump(ctx, o, db, pgDump, pgUser, sink, out.partial)
	if err != nil {
		return nil, err
	}
	if err := out.finish(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("backup of %s interrupted (%v): removed the unfinished %s", describe(o, db), context.Cause(ctx), out.partial)
	}
	if err := commit(out); err != nil {
		return nil, err
	}
	return &Result{File: out.final, Size: dumped, DumpSize: dumped, SHA256: hex.EncodeToString(hash.Sum(nil)),
		Duration: time.Since(start), Stale: stale}, nil
}
