package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/DCOR-dev/dcor/internal/runner"
)

// Recipient is an OpenPGP public key that encrypted dumps are encrypted
// to. Any one recipient's secret key decrypts the dump.
type Recipient struct {
	// KeyID is the primary key's long id, 16 upper-case hex digits; it
	// names the dump file (…dump_KEYID.gpg).
	KeyID string
	// Fingerprint is the primary key's fingerprint, 40 hex digits.
	Fingerprint string
	// UserID is the key's primary user id ("Name <email>").
	UserID string
	// Source is where the key was found: a file, or "GnuPG keyring".
	Source string

	entity *openpgp.Entity
}

// String is "KEYID (user id)".
func (r *Recipient) String() string {
	if r.UserID == "" {
		return r.KeyID
	}
	return r.KeyID + " (" + r.UserID + ")"
}

// KeySources says where LoadRecipients finds recipient keys.
type KeySources struct {
	// IDs are key ids: 16-hex long ids or 40-hex fingerprints, with or
	// without 0x, any case; primary keys or subkeys.
	IDs []string
	// Files are public key files (armored or binary), one key each.
	Files []string
	// Dir holds armored public keys (*.asc) that IDs are looked up in
	// first (on a host: /etc/dcor/backup-keys).
	Dir string
	// GPG is the gpg program whose keyring (root's, or $GNUPGHOME) IDs not
	// found in Dir are exported from; "" looks gpg up in PATH, and a
	// missing gpg just skips this step.
	GPG string
	// Now is the time keys must be valid at; zero means now.
	Now time.Time
	// Warn, when set, is told of the files in Dir that are skipped:
	// unreadable, or no OpenPGP key.
	Warn func(msg string)
}

// LoadRecipients finds, parses and checks the recipient keys. Keys that
// are expired or revoked, that have no encryption subkey, or that GnuPG
// 2.2 could not decrypt for (OpenPGP v5/v6 keys, RFC 9580 algorithms) are
// refused with a message saying why and what to do. A secret key, given
// as a key file or lying in the key directory, is refused naming the
// file: the host that makes backups must not be able to read them. The
// key directory is read whenever it is set, so that a secret key there
// is found even when the recipients are key files.
func LoadRecipients(ctx context.Context, src KeySources) ([]*Recipient, error) {
	now := src.Now
	if now.IsZero() {
		now = time.Now()
	}
	if len(src.IDs) == 0 && len(src.Files) == 0 {
		return nil, errors.New("no recipient key: pass --key-id ID (looked up in the backup key directory and the GnuPG keyring) or --key-file FILE")
	}
	var out []*Recipient
	seen := map[string]bool{}
	add := func(r *Recipient) error {
		if err := checkRecipient(r, now); err != nil {
			return err
		}
		if !seen[r.Fingerprint] {
			seen[r.Fingerprint] = true
			out = append(out, r)
		}
		return nil
	}
	var dir *keyDir
	if src.Dir != "" {
		if dir = readKeyDir(src.Dir); dir.secret != "" {
			return nil, fmt.Errorf("%s holds a secret key: the backup key directory must hold public keys only; move the file off this host, keep the secret key offline, and put its public key there (gpg --export --armor KEYID)", dir.secret)
		}
		if src.Warn != nil {
			for _, s := range dir.skipped {
				src.Warn("backup key directory: skipped " + s)
			}
		}
	}
	for _, f := range src.Files {
		el, err := readKeyFile(f)
		if err != nil {
			return nil, fmt.Errorf("--key-file %s: %w", f, err)
		}
		if hasSecret(el) {
			return nil, fmt.Errorf("--key-file %s holds a secret key: give the public key (gpg --export --armor KEYID > FILE) and keep the secret key off the host that makes backups", f)
		}
		if len(el) != 1 {
			return nil, fmt.Errorf("--key-file %s holds %d keys: give one key per --key-file (gpg --export --armor KEYID > FILE)", f, len(el))
		}
		if err := add(newRecipient(el[0], f)); err != nil {
			return nil, err
		}
	}
	for _, raw := range src.IDs {
		id, err := ParseKeyID(raw)
		if err != nil {
			return nil, err
		}
		if dir == nil {
			dir = readKeyDir(src.Dir)
		}
		r, err := findKey(ctx, id, dir, src.GPG)
		if err != nil {
			return nil, err
		}
		if err := add(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ParseKeyID normalizes an OpenPGP key id given by a user: a 16-hex long
// id or a 40-hex fingerprint, optionally with 0x and spaces, any case. It
// returns upper-case hex.
func ParseKeyID(s string) (string, error) {
	id := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	id = strings.TrimPrefix(id, "0X")
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return "", fmt.Errorf("key id %q is not hexadecimal: give the 16-digit long key id or the 40-digit fingerprint (gpg --list-keys --keyid-format long)", s)
		}
	}
	switch len(id) {
	case 16, 40:
		return id, nil
	case 8:
		return "", fmt.Errorf("key id %q is a short key id, which many keys share: give the 16-digit long key id or the 40-digit fingerprint", s)
	}
	return "", fmt.Errorf("key id %q has %d hex digits: give the 16-digit long key id or the 40-digit fingerprint", s, len(id))
}

func newRecipient(e *openpgp.Entity, source string) *Recipient {
	r := &Recipient{
		KeyID:       fmt.Sprintf("%016X", e.PrimaryKey.KeyId),
		Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint),
		Source:      source,
		entity:      e,
	}
	if id := e.PrimaryIdentity(); id != nil {
		r.UserID = id.Name
	}
	return r
}

// matches reports whether id (normalized) names the primary key or a
// subkey of e.
func matches(e *openpgp.Entity, id string) bool {
	keys := []*packet.PublicKey{e.PrimaryKey}
	for _, sk := range e.Subkeys {
		keys = append(keys, sk.PublicKey)
	}
	for _, k := range keys {
		if len(id) == 16 && fmt.Sprintf("%016X", k.KeyId) == id {
			return true
		}
		if len(id) > 16 && fmt.Sprintf("%X", k.Fingerprint) == id {
			return true
		}
	}
	return false
}

// hasSecret reports whether a key list holds secret key material.
func hasSecret(el openpgp.EntityList) bool {
	for _, e := range el {
		if e.PrivateKey != nil {
			return true
		}
		for _, s := range e.Subkeys {
			if s.PrivateKey != nil {
				return true
			}
		}
	}
	return false
}

// keyDir is the parsed content of the backup key directory.
type keyDir struct {
	path    string
	keys    []*Recipient
	skipped []string // files that are unreadable or no OpenPGP keys, with the reason
	secret  string   // the first file that holds a secret key
	missing bool
}

func readKeyDir(dir string) *keyDir {
	kd := &keyDir{path: dir}
	if dir == "" {
		kd.missing = true
		return kd
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.asc"))
	if err != nil || len(files) == 0 {
		if _, err := os.Stat(dir); err != nil {
			kd.missing = true
		}
		return kd
	}
	sort.Strings(files)
	for _, f := range files {
		el, err := readKeyFile(f)
		if err != nil {
			kd.skipped = append(kd.skipped, fmt.Sprintf("%s (%v)", f, unwrapPath(err)))
			continue
		}
		if hasSecret(el) && kd.secret == "" {
			kd.secret = f
		}
		for _, e := range el {
			kd.keys = append(kd.keys, newRecipient(e, f))
		}
	}
	return kd
}

// readKeyFile parses an armored or binary OpenPGP key file.
func readKeyFile(path string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseKeys(data)
}

func parseKeys(data []byte) (openpgp.EntityList, error) {
	var r io.Reader = bytes.NewReader(data)
	if bytes.Contains(data[:min(len(data), 4096)], []byte("-----BEGIN PGP")) {
		block, err := armor.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("not an armored OpenPGP key: %v", err)
		}
		if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
			return nil, fmt.Errorf("armored %q, not a key", block.Type)
		}
		r = block.Body
	}
	el, err := openpgp.ReadKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("not an OpenPGP key: %v", err)
	}
	if len(el) == 0 {
		return nil, errors.New("holds no OpenPGP key")
	}
	return el, nil
}

// findKey looks id up in the key directory, then in gpg's keyring.
func findKey(ctx context.Context, id string, dir *keyDir, gpg string) (*Recipient, error) {
	var found []*Recipient
	for _, r := range dir.keys {
		if matches(r.entity, id) {
			found = append(found, r)
		}
	}
	if len(found) == 0 {
		found = gpgExport(ctx, id, gpg)
	}
	byFpr := map[string]*Recipient{}
	for _, r := range found {
		byFpr[r.Fingerprint] = r
	}
	switch len(byFpr) {
	case 1:
		return found[0], nil
	case 0:
		where := dir.path + "/*.asc"
		if dir.missing {
			where += " (missing)"
		}
		msg := fmt.Sprintf("no public key for key id %s: looked in %s and in the GnuPG keyring; put the key there (gpg --export --armor %s > %s/%s.asc) or pass --key-file FILE",
			id, where, id, dir.path, id)
		if len(dir.skipped) > 0 {
			msg += "; skipped unreadable files or files that are no keys: " + strings.Join(dir.skipped, ", ")
		}
		return nil, errors.New(msg)
	}
	var names []string
	for _, r := range found {
		names = append(names, r.Fingerprint+" in "+r.Source)
	}
	return nil, fmt.Errorf("key id %s matches %d different keys (%s): give the full fingerprint", id, len(byFpr), strings.Join(names, ", "))
}

// gpgExport exports the public keys matching id from gpg's keyring. A
// missing gpg, an empty keyring or a failing export find nothing.
func gpgExport(ctx context.Context, id, gpg string) []*Recipient {
	if gpg == "" {
		gpg = "gpg"
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	exported, err := runner.Output(ctx, gpg, "--batch", "--no-tty", "--export", "--", id)
	if err != nil || len(exported) == 0 {
		return nil
	}
	el, err := openpgp.ReadKeyRing(bufio.NewReader(bytes.NewReader(exported)))
	if err != nil {
		return nil
	}
	var out []*Recipient
	for _, e := range el {
		if matches(e, id) {
			out = append(out, newRecipient(e, "GnuPG keyring ("+gpg+" --export)"))
		}
	}
	return out
}

// checkRecipient refuses keys that cannot receive a backup that GnuPG
// 2.2 decrypts.
func checkRecipient(r *Recipient, now time.Time) error {
	e := r.entity
	name := fmt.Sprintf("key %s from %s", r, r.Source)
	if v := e.PrimaryKey.Version; v != 4 {
		return fmt.Errorf("%s is an OpenPGP v%d key, which the hosts' GnuPG 2.2 cannot use: give a v4 key (made by GnuPG 2.2 or with --rfc4880)", name, v)
	}
	sig, ident := e.PrimarySelfSignature()
	if sig == nil {
		return fmt.Errorf("%s has no valid self-signature (no user id): export the complete key with gpg --export --armor", name)
	}
	if e.Revoked(now) || (ident != nil && ident.Revoked(now)) {
		return fmt.Errorf("%s is revoked: it must not receive backups; use another key", name)
	}
	if e.PrimaryKey.KeyExpired(sig, now) || sig.SigExpired(now) {
		when := "is not valid yet"
		if sig.KeyLifetimeSecs != nil && *sig.KeyLifetimeSecs != 0 {
			when = "expired on " + e.PrimaryKey.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs)*time.Second).Format("2006-01-02")
		} else if sig.SigExpired(now) {
			when = "has an expired self-signature"
		}
		return fmt.Errorf("%s %s: extend it (gpg --quick-set-expire %s 2y '*'), export it again, or use another key", name, when, r.Fingerprint)
	}
	key, ok := e.EncryptionKey(now)
	if !ok {
		capable := 0
		for _, sk := range e.Subkeys {
			if sk.Sig != nil && sk.Sig.FlagsValid && sk.Sig.FlagEncryptCommunications {
				capable++
			}
		}
		if capable > 0 {
			return fmt.Errorf("%s has no usable encryption subkey (its %d encryption subkey(s) are expired or revoked): add one (gpg --quick-add-key %s cv25519 encr 2y) and export the key again", name, capable, r.Fingerprint)
		}
		return fmt.Errorf("%s has no encryption subkey (it can only sign): add one (gpg --quick-add-key %s cv25519 encr 2y) and export the key again", name, r.Fingerprint)
	}
	switch key.PublicKey.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoECDH, packet.PubKeyAlgoElGamal:
	default:
		return fmt.Errorf("%s encrypts with public key algorithm %d, which the hosts' GnuPG 2.2 cannot decrypt: use an RSA or cv25519 (ECDH) encryption subkey", name, key.PublicKey.PubKeyAlgo)
	}
	if key.PublicKey.Version != 4 {
		return fmt.Errorf("%s has an OpenPGP v%d encryption subkey, which GnuPG 2.2 cannot use: use a v4 key", name, key.PublicKey.Version)
	}
	return nil
}

// SecretKey is a decrypted OpenPGP secret key that reads encrypted dumps.
type SecretKey struct {
	// Source is the file the key was read from.
	Source string
	keys   openpgp.EntityList
}

// LoadSecretKey reads a secret key file (armored or binary, as written by
// gpg --export-secret-keys) and unlocks it with passphrase when it is
// protected.
func LoadSecretKey(path string, passphrase []byte) (*SecretKey, error) {
	el, err := readKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	sk := &SecretKey{Source: path}
	for _, e := range el {
		var privs []*packet.PrivateKey
		if e.PrivateKey != nil && !e.PrivateKey.Dummy() {
			privs = append(privs, e.PrivateKey)
		}
		for _, s := range e.Subkeys {
			if s.PrivateKey != nil && !s.PrivateKey.Dummy() {
				privs = append(privs, s.PrivateKey)
			}
		}
		if len(privs) == 0 {
			continue
		}
		for _, p := range privs {
			if !p.Encrypted {
				continue
			}
			if len(passphrase) == 0 {
				return nil, fmt.Errorf("secret key %s (%016X) is protected by a passphrase: pass --passphrase-file FILE", path, e.PrimaryKey.KeyId)
			}
			if err := p.Decrypt(passphrase); err != nil {
				return nil, fmt.Errorf("secret key %s (%016X): the passphrase does not unlock it (%v)", path, e.PrimaryKey.KeyId, err)
			}
		}
		sk.keys = append(sk.keys, e)
	}
	if len(sk.keys) == 0 {
		return nil, fmt.Errorf("%s holds no secret key, only public keys: export the secret key (gpg --export-secret-keys --armor KEYID > FILE)", path)
	}
	return sk, nil
}

// keyIDs lists the ids of all the key's primary keys and subkeys.
func (k *SecretKey) keyIDs() map[uint64]bool {
	ids := map[uint64]bool{}
	for _, e := range k.keys {
		ids[e.PrimaryKey.KeyId] = true
		for _, s := range e.Subkeys {
			ids[s.PublicKey.KeyId] = true
		}
	}
	return ids
}

// String names the key: "KEYID from FILE".
func (k *SecretKey) String() string {
	var ids []string
	for _, e := range k.keys {
		ids = append(ids, fmt.Sprintf("%016X", e.PrimaryKey.KeyId))
	}
	return strings.Join(ids, "+") + " from " + k.Source
}

// readsFor reports whether the key is one of the recipients.
func (k *SecretKey) readsFor(recipients []*Recipient) bool {
	for _, r := range recipients {
		for _, e := range k.keys {
			if e.PrimaryKey.KeyId == r.entity.PrimaryKey.KeyId {
				return true
			}
		}
	}
	return false
}
