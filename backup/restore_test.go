package backup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/DCOR-dev/dcor/internal/pgtest"
)

func TestRestore(t *testing.T) {
	c := pgtest.Start(t)
	url := newCKANDatabase(t, c, "ckan_default", password)
	want := tableRows(t, c, url)
	key := newGPGKey(t, "passphrase")
	other := newGPGKey(t, "cv25519")
	sk, err := LoadSecretKey(key.secretFile, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dumps")
	res, err := Run(context.Background(), Options{DatabaseURL: url, Recipients: recipients(t, key), OutDir: out, Hostname: "h", Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("exactly one mode", func(t *testing.T) {
		_, err := Restore(ctx, RestoreOptions{File: res.File, Key: sk})
		wantErr(t, err, "exactly one of --verify, --to-file PATH and --target-db NAME")
		_, err = Restore(ctx, RestoreOptions{File: res.File, Key: sk, Verify: true, ToFile: "x"})
		wantErr(t, err, "exactly one of")
		_, err = Restore(ctx, RestoreOptions{File: res.File + ".missing", Key: sk, Verify: true})
		wantErr(t, err, "no such file")
	})

	t.Run("wrong secret key", func(t *testing.T) {
		_, err := Restore(ctx, RestoreOptions{File: res.File, Key: secretKey(t, other), Verify: true})
		wantErr(t, err, "cannot be decrypted with "+other.keyID, "encrypted to key ids "+key.subKeyID)
	})

	t.Run("not encrypted", func(t *testing.T) {
		plain := filepath.Join(t.TempDir(), "plain.gpg")
		os.WriteFile(plain, []byte("PGDMP plain text"), 0o600)
		_, err := Restore(ctx, RestoreOptions{File: plain, Key: sk, Verify: true})
		wantErr(t, err, "plain.gpg is not a readable OpenPGP encrypted file")
	})

	damaged := func(t *testing.T, change func([]byte) []byte) string {
		data, _ := os.ReadFile(res.File)
		p := filepath.Join(t.TempDir(), filepath.Base(res.File))
		os.WriteFile(p, change(append([]byte(nil), data...)), 0o600)
		return p
	}
	t.Run("flipped byte", func(t *testing.T) {
		p := damaged(t, func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b })
		_, err := Restore(ctx, RestoreOptions{File: p, Key: sk, Verify: true})
		wantErr(t, err, "is damaged or incomplete", "MDC")
		toFile := filepath.Join(t.TempDir(), "x.dump")
		_, err = Restore(ctx, RestoreOptions{File: p, Key: sk, ToFile: toFile})
		wantErr(t, err, "is damaged or incomplete")
		noFinalFiles(t, filepath.Dir(toFile))
	})
	t.Run("truncated file", func(t *testing.T) {
		p := damaged(t, func(b []byte) []byte { return b[:len(b)-1000] })
		_, err := Restore(ctx, RestoreOptions{File: p, Key: sk, Verify: true})
		wantErr(t, err, "is damaged or incomplete")
	})
	t.Run("broken MDC only", func(t *testing.T) {
		// The last byte is the MDC's: everything decrypts, the check fails.
		p := damaged(t, func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
		_, err := Restore(ctx, RestoreOptions{File: p, Key: sk, Verify: true})
		wantErr(t, err, "is damaged or incomplete")
	})

	t.Run("live database needs --force and takes a backup first", func(t *testing.T) {
		_, err := Restore(ctx, RestoreOptions{File: res.File, Key: sk, TargetDB: "ckan_default", DatabaseURL: url})
		wantErr(t, err, "is the live CKAN database", "--force")
		_, err = Restore(ctx, RestoreOptions{File: res.File, Key: sk, TargetDB: "ckan_default", DatabaseURL: url, Force: true})
		wantErr(t, err, "needs a fresh backup first")

		// Change the live database after the backup; the restore undoes it.
		c.Exec(t, url, `DELETE FROM member; UPDATE "user" SET email = 'changed@example.org' WHERE id = 'u1'; INSERT INTO "group" (id, name) VALUES ('g9', 'new')`)
		fresh := filepath.Join(t.TempDir(), "fresh")
		backup := &Options{DatabaseURL: url, Recipients: recipients(t, key, other), OutDir: fresh, Hostname: "h", Now: time.Now()}
		r, err := Restore(ctx, RestoreOptions{File: res.File, Key: sk, TargetDB: "ckan_default", DatabaseURL: url, Force: true, Backup: backup})
		if err != nil {
			t.Fatal(err)
		}
		if r.Backup == nil || r.Backup.File == "" {
			t.Fatal("no fresh backup before restoring into the live database")
		}
		sameRows(t, want, tableRows(t, c, url))
		// The fresh backup holds the changed state.
		toFile := filepath.Join(t.TempDir(), "fresh.dump")
		if _, err := Restore(ctx, RestoreOptions{File: r.Backup.File, Key: secretKey(t, other), ToFile: toFile}); err != nil {
			t.Fatal(err)
		}

		// A damaged dump is refused before the backup and before any change.
		p := damaged(t, func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
		c.Exec(t, url, `DELETE FROM api_token`)
		changed := tableRows(t, c, url)
		_, err = Restore(ctx, RestoreOptions{File: p, Key: sk, TargetDB: "ckan_default", DatabaseURL: url, Force: true, Backup: backup})
		wantErr(t, err, "nothing was restored", "damaged")
		sameRows(t, changed, tableRows(t, c, url))
	})

	t.Run("failed restore drops the new database", func(t *testing.T) {
		c.Exec(t, c.SuperURL("postgres"), "ALTER ROLE ckan_default CREATEDB")
		defer c.Exec(t, c.SuperURL("postgres"), "ALTER ROLE ckan_default NOCREATEDB")
		p := damaged(t, func(b []byte) []byte { return b[:len(b)*2/3] })
		_, err := Restore(ctx, RestoreOptions{File: p, Key: sk, TargetDB: "half_restored", DatabaseURL: url})
		wantErr(t, err, `restore into the new database "half_restored" failed, dropped it again`)
		if conn, err := c.Connect2(c.SuperURL("half_restored")); err == nil {
			conn.Close(ctx)
			t.Error("the half-restored database still exists")
		}
	})
}
