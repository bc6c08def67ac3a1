package accesstoken

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// ZipCrypto is the traditional PKWARE encryption of ZIP files
// (APPNOTE.TXT §6.1), the only encryption Python's zipfile module, and
// therefore DCOR-Aid, can open. It is weak by today's standards: the
// password must be long and random (see NewPassword), and the archive is
// a way to carry the token, not to store it.

// ErrWrongPassword is returned when an archive member does not decrypt
// with the given password.
var ErrWrongPassword = errors.New("wrong password")

// maxMember bounds the decompressed size of an archive member read back:
// an API token and a certificate chain are a few kilobytes.
const maxMember = 1 << 20

// zipKeys is the state of the ZipCrypto cipher.
type zipKeys [3]uint32

var crcTable = crc32.MakeTable(crc32.IEEE)

func crcUpdate(crc uint32, b byte) uint32 {
	return crcTable[byte(crc)^b] ^ (crc >> 8)
}

func newZipKeys(password []byte) *zipKeys {
	k := &zipKeys{0x12345678, 0x23456789, 0x34567890}
	for _, b := range password {
		k.update(b)
	}
	return k
}

func (k *zipKeys) update(b byte) {
	k[0] = crcUpdate(k[0], b)
	k[1] = (k[1]+k[0]&0xff)*134775813 + 1
	k[2] = crcUpdate(k[2], byte(k[1]>>24))
}

func (k *zipKeys) stream() byte {
	t := k[2] | 2
	return byte((t * (t ^ 1)) >> 8)
}

func (k *zipKeys) encrypt(dst, src []byte) {
	for i, p := range src {
		dst[i] = p ^ k.stream()
		k.update(p)
	}
}

func (k *zipKeys) decrypt(dst, src []byte) {
	for i, c := range src {
		p := c ^ k.stream()
		k.update(p)
		dst[i] = p
	}
}

// member is a file inside an encrypted archive.
type member struct {
	name string
	data []byte
}

// writeEncryptedZip writes a ZIP archive of members, each deflated and
// encrypted with ZipCrypto under password, with file mode 0600 and
// modification time mod. It writes no data descriptors, so the check byte
// of each encryption header is the high byte of the member's CRC-32.
func writeEncryptedZip(w io.Writer, members []member, password []byte, mod time.Time) error {
	zw := zip.NewWriter(w)
	for _, m := range members {
		var comp bytes.Buffer
		fw, err := flate.NewWriter(&comp, flate.BestCompression)
		if err != nil {
			return err
		}
		if _, err := fw.Write(m.data); err != nil {
			return err
		}
		if err := fw.Close(); err != nil {
			return err
		}
		crc := crc32.ChecksumIEEE(m.data)

		header := make([]byte, 12)
		if _, err := rand.Read(header[:11]); err != nil {
			return fmt.Errorf("random encryption header: %w", err)
		}
		header[11] = byte(crc >> 24)
		enc := make([]byte, 12+comp.Len())
		k := newZipKeys(password)
		k.encrypt(enc[:12], header)
		k.encrypt(enc[12:], comp.Bytes())

		fh := &zip.FileHeader{
			Name:               m.name,
			Method:             zip.Deflate,
			Flags:              0x1, // encrypted; no data descriptor
			Modified:           mod,
			CRC32:              crc,
			CompressedSize64:   uint64(len(enc)),
			UncompressedSize64: uint64(len(m.data)),
		}
		fh.SetMode(0o600)
		raw, err := zw.CreateRaw(fh)
		if err != nil {
			return err
		}
		if _, err := raw.Write(enc); err != nil {
			return err
		}
	}
	return zw.Close()
}

// readEncryptedZip decrypts and returns the members of a ZipCrypto
// archive whose names are in want (nil: all), keyed by name. It checks
// each member's check byte, size and CRC-32; a member that fails the
// check byte gives ErrWrongPassword. Unencrypted members are refused:
// a .dcor-access file is always encrypted.
func readEncryptedZip(data []byte, password []byte, want map[string]bool) (map[string][]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("not a ZIP archive: %w", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		if want != nil && !want[f.Name] {
			continue
		}
		if _, dup := out[f.Name]; dup {
			return nil, fmt.Errorf("archive holds %s twice", f.Name)
		}
		b, err := readMember(f, password, int64(len(data)))
		if err == ErrWrongPassword {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		out[f.Name] = b
	}
	return out, nil
}

func readMember(f *zip.File, password []byte, archiveSize int64) ([]byte, error) {
	if f.Flags&0x1 == 0 {
		return nil, errors.New("member is not encrypted")
	}
	if f.Flags&0x40 != 0 || f.Method == 99 {
		return nil, errors.New("member uses strong (AES) encryption; only traditional ZIP encryption is supported")
	}
	if f.Method != zip.Store && f.Method != zip.Deflate {
		return nil, fmt.Errorf("unsupported compression method %d", f.Method)
	}
	if f.CompressedSize64 < 12 || f.CompressedSize64 > maxMember+12 || f.CompressedSize64 > uint64(archiveSize) || f.UncompressedSize64 > maxMember {
		return nil, fmt.Errorf("implausible size (%d bytes compressed, %d bytes)", f.CompressedSize64, f.UncompressedSize64)
	}
	rr, err := f.OpenRaw()
	if err != nil {
		return nil, err
	}
	enc := make([]byte, f.CompressedSize64)
	if _, err := io.ReadFull(rr, enc); err != nil {
		return nil, fmt.Errorf("truncated member: %w", err)
	}
	k := newZipKeys(password)
	plain := make([]byte, len(enc))
	k.decrypt(plain, enc)
	check := byte(f.CRC32 >> 24)
	if f.Flags&0x8 != 0 {
		// With a data descriptor the writer did not know the CRC yet and
		// used the high byte of the DOS modification time instead.
		check = byte(f.ModifiedTime >> 8)
	}
	if plain[11] != check {
		return nil, ErrWrongPassword
	}
	body := plain[12:]
	var r io.Reader = bytes.NewReader(body)
	if f.Method == zip.Deflate {
		fr := flate.NewReader(r)
		defer fr.Close()
		r = fr
	}
	b, err := io.ReadAll(io.LimitReader(r, maxMember+1))
	if err != nil {
		// With a wrong password that passed the one-byte check (1 in 256)
		// the stream is garbage.
		return nil, fmt.Errorf("%w (or a damaged archive): %v", ErrWrongPassword, err)
	}
	if len(b) > maxMember || uint64(len(b)) != f.UncompressedSize64 || crc32.ChecksumIEEE(b) != f.CRC32 {
		return nil, fmt.Errorf("%w (or a damaged archive): size or CRC-32 mismatch", ErrWrongPassword)
	}
	return b, nil
}
