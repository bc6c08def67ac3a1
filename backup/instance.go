package backup

import (
	"archive/tar"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/DCOR-dev/dcor/internal/bytesize"
)

// InstanceOptions configure one instance backup: the database dump and
// the storage tree in one tar (PAX) archive, encrypted with OpenPGP,
// streamed to a local file and/or an S3 bucket.
type InstanceOptions struct {
	// Database configures the dump (DatabaseURL, AsPostgres, PgDump,
	// Hostname, Progress). Its OutDir, Keep… are not used.
	Database Options
	// Recipients are the keys the archive is encrypted to.
	Recipients []*Recipient
	// Trees are the directories archived besides the dump (machine
	// paths); Root, when set, is the host root: member names are the
	// host paths without the leading "/" (DCOR's: data/…).
	Trees []string
	Root  string
	// Exclude are patterns (filepath.Match) matched against each
	// member's host path and its base name; a matching directory is
	// skipped entirely.
	Exclude []string
	// OutDir is the directory of encrypted instance backups (host path
	// /backups/instance-encrypted); files go to OutDir/YYYY-MM/.
	OutDir string
	// NoLocal writes no local file (Remote only).
	NoLocal bool
	// Remote, when set, also receives the archive (S3).
	Remote Store
	// Retention prunes instance backups locally and in Remote.
	Retention Retention
	// Now names the backup; zero means now.
	Now time.Time
}

// InstanceResult describes a finished instance backup.
type InstanceResult struct {
	// File is the local encrypted archive ("" with NoLocal).
	File string
	// Remote is the S3 URL, else "".
	Remote string
	// Size is the size of the encrypted archive, SHA256 its checksum.
	Size   int64
	SHA256 string
	// DumpSize is the database dump's size; Files, Bytes count the
	// archived tree entries and their content.
	DumpSize   int64
	Files      int
	Bytes      int64
	Duration   time.Duration
	Recipients []*Recipient
	Pruned     []string
	Stale      []string
	// Warnings are files that changed while they were archived.
	Warnings []string
}

// Summary is the one line an instance backup prints.
func (r *InstanceResult) Summary() string {
	where := destinations(r.File, r.Remote)
	s := fmt.Sprintf("encrypted instance backup %s: %s (database %s, %d files %s) in %s, sha256 %s", where,
		bytesize.Format(r.Size), bytesize.Format(r.DumpSize), r.Files, bytesize.Format(r.Bytes), r.Duration.Round(100*time.Millisecond), r.SHA256)
	if len(r.Pruned) > 0 {
		s += fmt.Sprintf(", removed %d old", len(r.Pruned))
	}
	return s
}

// RunInstance makes one instance backup. The plain dump is spooled, for
// its size (a tar header comes before the data), to an unlinked
// temporary file encrypted with a random key that lives only in memory:
// nothing readable is ever on disk. A failure or interruption leaves
// nothing under a final name (multipart upload aborted).
func RunInstance(ctx context.Context, o InstanceOptions) (*InstanceResult, error) {
	start := time.Now()
	if len(o.Recipients) == 0 {
		return nil, errors.New("no recipient key: pass --key-id or --key-file")
	}
	if o.NoLocal && o.Remote == nil {
		return nil, errors.New("no local file and no S3 bucket: nowhere to write the backup")
	}
	d := o.Database
	src, err := prepareDump(&d, o.Now)
	if err != nil {
		return nil, err
	}
	db, now, pgDump, pgUser := src.db, src.now, src.pgDump, src.pgUser
	for _, t := range o.Trees {
		if st, err := os.Stat(t); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("storage tree %s is not a directory: check ckan.storage_path or --include", hostPath(o.Root, t))
		}
	}
	if err := makeDir(o.OutDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the backup directory %s: %w", o.OutDir, err)
	}
	unlock, err := lock(o.OutDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	local := &LocalStore{Dir: o.OutDir}
	stale := local.CleanStale(ctx, d.Hostname, start)
	if o.Remote != nil {
		stale = append(stale, o.Remote.CleanStale(ctx, d.Hostname, start)...)
	}
	name := instanceFileName(d.Hostname, now, o.Recipients)

	// 1. The dump, spooled encrypted with an ephemeral key.
	spool, err := newSpool(o.OutDir)
	if err != nil {
		return nil, err
	}
	defer spool.Close()
	dumped, err := dump(ctx, d, db, pgDump, pgUser, spool, "backup")
	if err != nil {
		return nil, err
	}
	if err := spool.flush(); err != nil {
		return nil, err
	}

	// 2. The targets.
	var uploads []Upload
	var localKey, remoteKey string
	if !o.NoLocal {
		localKey = local.Key(now, name)
		up, err := local.Create(ctx, localKey)
		if err != nil {
			return nil, err
		}
		defer up.Abort()
		uploads = append(uploads, up)
	}
	if o.Remote != nil {
		remoteKey = o.Remote.Key(now, name)
		up, err := o.Remote.Create(ctx, remoteKey)
		if err != nil {
			return nil, err
		}
		defer up.Abort()
		uploads = append(uploads, up)
	}
	tarName := strings.TrimSuffix(name, ".gpg")
	enc, sum, err := encryptTo(uploads, o.Recipients, &openpgp.FileHints{IsBinary: true, FileName: tarName, ModTime: now})
	if err != nil {
		return nil, fmt.Errorf("start encrypting to %s: %w", recipientList(o.Recipients), err)
	}
	res := &InstanceResult{DumpSize: dumped, Recipients: o.Recipients, Stale: stale}

	// 3. tar: the dump (DCOR's member name), then the trees.
	tw := tar.NewWriter(enc)
	dumpMember := "backups/database/ckan_db_" + d.Hostname + "_" + now.Format(timeLayout) + ".pgc"
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: dumpMember, Size: dumped, Mode: 0o400, ModTime: now, Format: tar.FormatPAX}
	err = tw.WriteHeader(hdr)
	if err == nil {
		var r io.Reader
		if r, err = spool.reader(); err == nil {
			_, err = copyProgress(tw, r, nil)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("instance backup failed writing the dump into the archive: %w", err)
	}
	spool.Close()
	for _, tree := range o.Trees {
		if err := archiveTree(ctx, tw, tree, o.Root, o.Exclude, res); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("instance backup interrupted (%v): removed the unfinished backup", context.Cause(ctx))
			}
			return nil, fmt.Errorf("instance backup failed: %w; removed the unfinished backup", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("instance backup failed: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("instance backup failed: %w", err)
	}
	for _, u := range uploads {
		if err := u.Finish(ctx); err != nil {
			return nil, fmt.Errorf("instance backup failed: %w; removed the unfinished backup", err)
		}
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("instance backup interrupted (%v): removed the unfinished backup", context.Cause(ctx))
	}
	res.Size, res.SHA256 = sum.n, sum.hex()
	for _, u := range uploads {
		if err := u.Commit(ctx, res.SHA256); err != nil {
			if res.File != "" {
				res.Duration = time.Since(start)
				return res, fmt.Errorf("instance backup %s written, but the upload failed: %w", res.File, err)
			}
			return nil, fmt.Errorf("instance backup failed: %w", err)
		}
		if _, ok := u.(*localUpload); ok {
			res.File = local.URL(localKey)
		} else {
			res.Remote = o.Remote.URL(remoteKey)
		}
	}
	res.Duration = time.Since(start)
	var errs []string
	if res.File != "" {
		p, err := PruneStore(ctx, local, d.Hostname, KindInstance, o.Retention, now, localKey)
		res.Pruned = append(res.Pruned, p...)
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if res.Remote != "" {
		p, err := PruneStore(ctx, o.Remote, d.Hostname, KindInstance, o.Retention, now, remoteKey)
		res.Pruned = append(res.Pruned, p...)
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("instance backup written, but %s", strings.Join(errs, "; "))
	}
	return res, nil
}

// hostPath is p as the host sees it (p without the root).
func hostPath(root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	if rel, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(rel, "..") {
		return "/" + rel
	}
	return p
}

// archiveTree writes tree into tw: directories, regular files, symlinks
// (as links), FIFOs and devices with modes, owners and times (PAX);
// sockets are skipped. A file that shrinks while read is padded with
// zeros, one that grows is cut, and both give a warning.
func archiveTree(ctx context.Context, tw *tar.Writer, tree, root string, exclude []string, res *InstanceResult) error {
	buf := make([]byte, copyBufferSize)
	return filepath.WalkDir(tree, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", hostPath(root, p), unwrapPath(err))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		hp := hostPath(root, p)
		for _, pat := range exclude {
			if m1, _ := filepath.Match(pat, hp); m1 || matchBase(pat, de.Name()) {
				if de.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if de.Type()&fs.ModeSocket != 0 {
			return nil
		}
		info, err := de.Info()
		if err != nil {
			return fmt.Errorf("read %s: %w", hp, unwrapPath(err))
		}
		link := ""
		if de.Type()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return fmt.Errorf("read link %s: %w", hp, unwrapPath(err))
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", hp, err)
		}
		hdr.Name = strings.TrimPrefix(hp, "/")
		if de.IsDir() {
			hdr.Name += "/"
		}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		res.Files++
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", hp, unwrapPath(err))
		}
		defer f.Close()
		n, err := io.CopyBuffer(tw, io.LimitReader(&ctxReader{ctx: ctx, r: f}, hdr.Size), buf)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) || ctx.Err() != nil {
				return fmt.Errorf("read %s: %w", hp, err)
			}
			return err
		}
		if n < hdr.Size {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s shrank while it was archived (padded with zeros)", hp))
			if _, err := io.CopyN(tw, zeroReader{}, hdr.Size-n); err != nil {
				return err
			}
		} else if st, err := f.Stat(); err == nil && st.Size() != hdr.Size {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s changed size while it was archived", hp))
		}
		res.Bytes += hdr.Size
		return nil
	})
}

func matchBase(pat, name string) bool {
	if strings.Contains(pat, "/") {
		return false
	}
	m, _ := filepath.Match(pat, name)
	return m
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// spool is an unlinked temporary file holding the dump encrypted with
// AES-256-GCM under a random key kept in memory only, in sealed chunks.
type spool struct {
	f    *os.File
	aead cipher.AEAD
	buf  []byte
	seq  uint64
	n    int64
}

const spoolChunk = 1 << 20

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, ".dcor-spool-*")
	if err != nil {
		return nil, fmt.Errorf("create the spool file in %s: %w", dir, unwrapPath(err))
	}
	os.Remove(f.Name()) // unlinked: gone with the process, whatever happens
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		f.Close()
		return nil, err
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	return &spool{f: f, aead: aead, buf: make([]byte, 0, spoolChunk)}, nil
}

func (s *spool) nonce(seq uint64) []byte {
	n := make([]byte, s.aead.NonceSize())
	binary.BigEndian.PutUint64(n[len(n)-8:], seq)
	return n
}

func (s *spool) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(len(p), spoolChunk-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == spoolChunk {
			if err := s.flush(); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

func (s *spool) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	sealed := s.aead.Seal(nil, s.nonce(s.seq), s.buf, nil)
	s.seq++
	s.n += int64(len(s.buf))
	s.buf = s.buf[:0]
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(sealed)))
	if _, err := s.f.Write(l[:]); err != nil {
		return fmt.Errorf("write the spool file: %w", unwrapPath(err))
	}
	if _, err := s.f.Write(sealed); err != nil {
		return fmt.Errorf("write the spool file: %w", unwrapPath(err))
	}
	return nil
}

// reader reads the spooled plain data back.
func (s *spool) reader() (io.Reader, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return &spoolReader{s: s}, nil
}

type spoolReader struct {
	s    *spool
	seq  uint64
	left []byte
}

func (r *spoolReader) Read(p []byte) (int, error) {
	for len(r.left) == 0 {
		var l [4]byte
		if _, err := io.ReadFull(r.s.f, l[:]); err != nil {
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("read the spool file: %w", err)
		}
		sealed := make([]byte, binary.BigEndian.Uint32(l[:]))
		if _, err := io.ReadFull(r.s.f, sealed); err != nil {
			return 0, fmt.Errorf("read the spool file: %w", err)
		}
		plain, err := r.s.aead.Open(sealed[:0], r.s.nonce(r.seq), sealed, nil)
		if err != nil {
			return 0, errors.New("the spool file was changed while the backup ran")
		}
		r.seq++
		r.left = plain
	}
	n := copy(p, r.left)
	r.left = r.left[n:]
	return n, nil
}

func (s *spool) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
