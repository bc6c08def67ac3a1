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
	"time"
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
	if o.OutDir == "" {
		return nil, errors.New("no directory for the plain dump")
	}
	src, err := prepareDump(&o, o.Now)
	if err != nil {
		return nil, err
	}
	db, now, pgDump, pgUser := src.db, src.now, src.pgDump, src.pgUser
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
