package backup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/DCOR-dev/dcor/internal/testtool"
)

func TestParseKeyID(t *testing.T) {
	good := map[string]string{
		"8FD98B2183B2C228":   "8FD98B2183B2C228",
		"0x8fd98b2183b2c228": "8FD98B2183B2C228",
		"0X8FD98B2183B2C228": "8FD98B2183B2C228",
		"3F98 9792 302B BD31 6E25  900B 1785 FA9C 279D 46D5": "3F989792302BBD316E25900B1785FA9C279D46D5",
	}
	for in, want := range good {
		if got, err := ParseKeyID(in); err != nil || got != want {
			t.Errorf("ParseKeyID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"83B2C228":         "short key id",
		"8FD98B2183B2C22":  "15 hex digits",
		"8FD98B2183B2C22Z": "not hexadecimal",
		"; rm -rf /":       "not hexadecimal",
		"":                 "0 hex digits",
	}
	for in, want := range bad {
		if _, err := ParseKeyID(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKeyID(%q): %v, want an error containing %q", in, err, want)
		}
	}
}

func TestLoadRecipients(t *testing.T) {
	ctx := context.Background()
	rsa := newGPGKey(t, "rsa")
	cv := newGPGKey(t, "cv25519")
	dir := t.TempDir()
	copyFile(t, rsa.publicFile, filepath.Join(dir, "rsa.asc"))
	copyFile(t, cv.publicFile, filepath.Join(dir, "admin.asc"))
	os.WriteFile(filepath.Join(dir, "notes.asc"), []byte("not a key\n"), 0o644)
	noGPG := "/nonexistent/gpg"

	t.Run("ids of every form find the key in the directory", func(t *testing.T) {
		for _, id := range []string{rsa.keyID, "0x" + strings.ToLower(rsa.keyID), rsa.fpr, rsa.subKeyID} {
			rs, err := LoadRecipients(ctx, KeySources{IDs: []string{id}, Dir: dir, GPG: noGPG})
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if len(rs) != 1 || rs[0].KeyID != rsa.keyID || rs[0].Fingerprint != rsa.fpr || rs[0].Source != filepath.Join(dir, "rsa.asc") {
				t.Errorf("%s: %+v", id, rs)
			}
			if !strings.Contains(rs[0].UserID, "rsa@backup.test") {
				t.Errorf("user id %q", rs[0].UserID)
			}
		}
	})

	t.Run("several recipients, duplicates once", func(t *testing.T) {
		rs, err := LoadRecipients(ctx, KeySources{IDs: []string{cv.fpr, rsa.keyID, cv.subKeyID}, Files: []string{rsa.publicFile}, Dir: dir, GPG: noGPG})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 2 || rs[0].KeyID != rsa.keyID || rs[1].KeyID != cv.keyID {
			t.Errorf("recipients %v", rs)
		}
		if name := encryptedFileName("h", testNow, rs); name != "ckan_db_h_2024-03-05_01-02-03.dump_"+rsa.keyID+"+"+cv.keyID+".gpg" {
			t.Errorf("file name %s", name)
		}
	})

	t.Run("GnuPG keyring when not in the directory", func(t *testing.T) {
		gpg := testtool.Need(t, "gpg")
		t.Setenv("GNUPGHOME", cv.home)
		rs, err := LoadRecipients(ctx, KeySources{IDs: []string{cv.keyID}, Dir: t.TempDir(), GPG: gpg})
		if err != nil {
			t.Fatal(err)
		}
		if rs[0].Fingerprint != cv.fpr || !strings.Contains(rs[0].Source, "GnuPG keyring") {
			t.Errorf("%+v", rs[0])
		}
		// "" finds gpg in PATH.
		if _, err := LoadRecipients(ctx, KeySources{IDs: []string{cv.fpr}, Dir: filepath.Join(dir, "missing")}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown key id", func(t *testing.T) {
		t.Setenv("GNUPGHOME", gpgHome(t))
		_, err := LoadRecipients(ctx, KeySources{IDs: []string{"8FD98B2183B2C228"}, Dir: dir})
		wantErr(t, err, "no public key for key id 8FD98B2183B2C228", dir+"/*.asc", "GnuPG keyring", "--key-file", "notes.asc")
	})

	refused := map[string][]string{
		"expired":    {"expired on 2020-01-02", "--quick-set-expire"},
		"expiredsub": {"no usable encryption subkey", "expired or revoked"},
		"signonly":   {"has no encryption subkey (it can only sign)", "--quick-add-key"},
		"revoked":    {"is revoked"},
	}
	for kind, want := range refused {
		t.Run("refuses "+kind+" keys", func(t *testing.T) {
			k := newGPGKey(t, kind)
			_, err := LoadRecipients(ctx, KeySources{Files: []string{k.publicFile}})
			wantErr(t, err, append(append([]string{}, want...), k.keyID, k.publicFile)...)
			kd := t.TempDir()
			copyFile(t, k.publicFile, filepath.Join(kd, "k.asc"))
			_, err = LoadRecipients(ctx, KeySources{IDs: []string{k.fpr}, Dir: kd, GPG: noGPG})
			wantErr(t, err, want...)
		})
	}

	t.Run("key files", func(t *testing.T) {
		both := filepath.Join(t.TempDir(), "both.asc")
		// one armored block with two keys: gpg --export --armor A B
		gpgMust(t, rsa.home, "--import", cv.publicFile)
		os.WriteFile(both, gpgMust(t, rsa.home, "--armor", "--export", rsa.fpr, cv.fpr), 0o644)
		_, err := LoadRecipients(ctx, KeySources{Files: []string{both}})
		wantErr(t, err, "holds 2 keys")
		_, err = LoadRecipients(ctx, KeySources{Files: []string{filepath.Join(dir, "notes.asc")}})
		wantErr(t, err, "not an OpenPGP key")
		_, err = LoadRecipients(ctx, KeySources{Files: []string{filepath.Join(dir, "missing.asc")}})
		wantErr(t, err, "missing.asc", "no such file")
		_, err = LoadRecipients(ctx, KeySources{})
		wantErr(t, err, "no recipient key")
		// A binary key file works too.
		bin := filepath.Join(t.TempDir(), "key.gpg")
		os.WriteFile(bin, gpgMust(t, cv.home, "--export", cv.fpr), 0o644)
		if rs, err := LoadRecipients(ctx, KeySources{Files: []string{bin}}); err != nil || len(rs) != 1 {
			t.Errorf("binary key file: %v %v", rs, err)
		}
		// A secret key is refused, armored or binary, naming the file.
		binSecret := filepath.Join(t.TempDir(), "secret.gpg")
		os.WriteFile(binSecret, gpgMust(t, cv.home, "--export-secret-keys", cv.fpr), 0o600)
		for _, f := range []string{cv.secretFile, binSecret} {
			_, err = LoadRecipients(ctx, KeySources{Files: []string{bin, f}})
			wantErr(t, err, "--key-file "+f+" holds a secret key")
		}
	})

	// The backup key directory: a secret key there is refused, naming it,
	// whether the recipients come from it or not; unreadable and garbage
	// .asc files are warnings naming them.
	t.Run("key directory", func(t *testing.T) {
		kd := t.TempDir()
		copyFile(t, rsa.publicFile, filepath.Join(kd, "rsa.asc"))
		os.WriteFile(filepath.Join(kd, "garbage.asc"), []byte("not a key\n"), 0o644)
		os.WriteFile(filepath.Join(kd, "unreadable.asc"), []byte("x"), 0o000)
		var warnings []string
		warn := func(m string) { warnings = append(warnings, m) }
		rs, err := LoadRecipients(ctx, KeySources{IDs: []string{rsa.keyID}, Dir: kd, GPG: noGPG, Warn: warn})
		if err != nil || len(rs) != 1 {
			t.Fatalf("%v %v", rs, err)
		}
		all := strings.Join(warnings, "\n")
		if !strings.Contains(all, filepath.Join(kd, "garbage.asc")+" (not an OpenPGP key") {
			t.Errorf("no warning naming the garbage file:\n%s", all)
		}
		if os.Geteuid() != 0 && !strings.Contains(all, filepath.Join(kd, "unreadable.asc")+" (permission denied)") {
			t.Errorf("no warning naming the unreadable file:\n%s", all)
		}
		secret := filepath.Join(kd, "zz-secret.asc")
		copyFile(t, cv.secretFile, secret)
		for _, src := range []KeySources{
			{IDs: []string{rsa.keyID}, Dir: kd, GPG: noGPG},
			{Files: []string{cv.publicFile}, Dir: kd, GPG: noGPG},
		} {
			_, err = LoadRecipients(ctx, src)
			wantErr(t, err, secret+" holds a secret key", "public keys only")
		}
	})
}

func TestLoadSecretKey(t *testing.T) {
	k := newGPGKey(t, "passphrase")
	_, err := LoadSecretKey(k.secretFile, nil)
	wantErr(t, err, "protected by a passphrase", "--passphrase-file")
	_, err = LoadSecretKey(k.secretFile, []byte("wrong"))
	wantErr(t, err, "passphrase does not unlock it")
	sk, err := LoadSecretKey(k.secretFile, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !sk.readsFor(recipients(t, k)) {
		t.Error("the secret key does not read for its own public key")
	}
	_, err = LoadSecretKey(k.publicFile, nil)
	wantErr(t, err, "holds no secret key")
}
