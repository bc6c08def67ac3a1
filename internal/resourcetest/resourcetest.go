// Package resourcetest builds a DCOR host with resource files and the
// CKAN database rows that go with them, for the tests of the orphans and
// resources checks. Every case the issue lists is one named resource.
package resourcetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"

	"github.com/DCOR-dev/dcor/internal/rtdctest"
)

// Host paths of the built host.
const (
	Storage    = "/data/ckan-test"
	Resources  = Storage + "/resources"
	Depots     = "/data/depots"
	UsersDepot = Depots + "/users-test"
	Figshare   = Depots + "/figshare/figshare-7771184-v2"
	CKANIni    = "/etc/ckan/default/ckan.ini"
)

// BeadsSHA256 is the checksum of calibration_beads_47.rtdc (facts §10).
const BeadsSHA256 = "490efdf5d9bb4cd4b2a6bcf2fe54d4dc201c38530140bcb168980bf8bf846c73"

// Datasets.
const (
	PkgActive  = "a0000000-0000-4000-8000-00000000000a"
	PkgDraft   = "a0000000-0000-4000-8000-00000000000d"
	PkgDeleted = "a0000000-0000-4000-8000-0000000000de"
)

// Resources, by case. The names say what the file is and whether the
// database knows it.
const (
	Live          = "10000000-0000-4000-8000-000000000001" // active, valid .rtdc, both ancillaries
	LiveLinked    = "10000000-0000-4000-8000-000000000002" // active, linked into the users depot, names with "_"
	LiveDraft     = "10000000-0000-4000-8000-000000000003" // active resource of a draft dataset
	LiveDeletedDS = "10000000-0000-4000-8000-000000000004" // active resource of a deleted dataset
	LiveBroken    = "10000000-0000-4000-8000-000000000005" // active, its link is broken
	Truncated     = "10000000-0000-4000-8000-000000000006" // active, truncated .rtdc
	NoEventCount  = "10000000-0000-4000-8000-000000000007" // active, .rtdc without experiment:event count
	NoAncillary   = "10000000-0000-4000-8000-000000000008" // active, valid .rtdc, no ancillary files
	BadChecksum   = "10000000-0000-4000-8000-000000000009" // active, sha256 in the database is wrong
	Beads         = "10000000-0000-4000-8000-00000000000b" // active, the real calibration_beads_47.rtdc
	LinkResource  = "10000000-0000-4000-8000-00000000000c" // active, a link (url_type NULL): no file

	Deleted      = "30000000-0000-4000-8000-000000000001" // deleted resource of an active dataset: orphan
	Orphan       = "20000000-0000-4000-8000-000000000002" // unknown, plain file and ancillaries
	OrphanLinked = "20000000-0000-4000-8000-000000000003" // unknown, linked into the users depot
	OrphanFig    = "20000000-0000-4000-8000-000000000004" // unknown, linked into the figshare depot
	OrphanDots   = "20000000-0000-4000-8000-000000000005" // unknown, link escaping with ".."
	OrphanAbs    = "20000000-0000-4000-8000-000000000006" // unknown, absolute link outside /data
	OrphanLoop   = "20000000-0000-4000-8000-000000000007" // unknown, link loop
	OrphanBroken = "20000000-0000-4000-8000-000000000008" // unknown, broken link
	OrphanNew    = "20000000-0000-4000-8000-000000000009" // unknown, changed after the scan began
	DepotOrphan  = "20000000-0000-4000-8000-00000000000a" // unknown, only in the users depot
)

// Path is the host path of resource id's file.
func Path(id string) string {
	return Resources + "/" + id[0:3] + "/" + id[3:6] + "/" + id[6:]
}

// DepotPath is where the users depot keeps the file of resource id of
// the active dataset, with underscores in package and resource names.
func DepotPath(id string) string {
	return UsersDepot + "/alice-circle/" + PkgActive[0:2] + "/" + PkgActive[2:4] + "/my_cell_data_" + id + "_day_1_cells.rtdc"
}

// Outside are host paths outside the users depot that orphan links
// point at; they must survive every clean-up.
var Outside = []string{Figshare + "/beads.rtdc", "/etc/hostname", "/data/outside.rtdc"}

// Build writes ckan.ini (naming dbURL), the resource tree and the users
// depot under root, and fills dbURL's database, which must have CKAN's
// schema (pgtest.CKANSchema). Files are dated an hour back, except
// OrphanNew's, which is dated an hour ahead. beads is the path of
// calibration_beads_47.rtdc ("" leaves Beads without a file).
func Build(root, dbURL, beads string) error {
	b := &builder{root: root}
	ini := "[app:main]\nsqlalchemy.url = " + strings.ReplaceAll(dbURL, "%", "%%") +
		"\nckan.storage_path = " + Storage +
		"\nckanext.dcor_depot.depots_path = " + Depots +
		"\nckanext.dcor_depot.users_depot_name = users-test\n"
	b.write(CKANIni, []byte(ini))
	b.mkdir(Figshare)
	b.mkdir(UsersDepot)

	sums := map[string]string{}
	rtdcFile := func(id, p string, events int) {
		b.mkdir(filepath.Dir(p))
		b.do(func() error { return rtdctest.Write(b.local(p), events) })
		sums[id] = b.sum(p)
	}
	ancillaries := func(id string) {
		b.write(Path(id)+"_condensed.rtdc", []byte("condensed"))
		b.write(Path(id)+"_preview.jpg", []byte("jpeg"))
	}
	for _, id := range []string{Live, LiveDraft, LiveDeletedDS, NoAncillary, BadChecksum} {
		rtdcFile(id, Path(id), 100)
		if id != NoAncillary {
			ancillaries(id)
		}
	}
	b.write(Path(Live)+".rtdc~", []byte("an editor's copy")) // garbage
	rtdcFile(LiveLinked, DepotPath(LiveLinked), 10)
	b.link(Path(LiveLinked), DepotPath(LiveLinked))
	ancillaries(LiveLinked)
	b.link(Path(LiveBroken), UsersDepot+"/alice-circle/gone/x_"+LiveBroken+"_y.rtdc")
	ancillaries(LiveBroken)
	rtdcFile(Truncated, Path(Truncated), 1000)
	b.do(func() error { return rtdctest.Truncate(b.local(Path(Truncated))) })
	sums[Truncated] = b.sum(Path(Truncated))
	ancillaries(Truncated)
	b.mkdir(filepath.Dir(Path(NoEventCount)))
	b.do(func() error { return rtdctest.WriteWithoutEventCount(b.local(Path(NoEventCount)), 5) })
	sums[NoEventCount] = b.sum(Path(NoEventCount))
	ancillaries(NoEventCount)
	sums[BadChecksum] = strings.Repeat("0", 64)
	if beads != "" {
		data, err := os.ReadFile(beads)
		if err != nil {
			return err
		}
		b.write(Path(Beads), data)
		if got := b.sum(Path(Beads)); got != BeadsSHA256 {
			return fmt.Errorf("%s: sha256 %s, want %s", beads, got, BeadsSHA256)
		}
		sums[Beads] = BeadsSHA256
		ancillaries(Beads)
	}

	// Files of no live resource.
	for _, id := range []string{Deleted, Orphan} {
		rtdcFile(id, Path(id), 3)
		ancillaries(id)
	}
	rtdcFile(OrphanLinked, DepotPath(OrphanLinked), 3)
	b.link(Path(OrphanLinked), DepotPath(OrphanLinked))
	ancillaries(OrphanLinked)
	b.write(Outside[0], []byte("figshare file"))
	b.link(Path(OrphanFig), Outside[0])
	b.write(Outside[1], []byte("host\n"))
	b.link(Path(OrphanDots), "../../../../../../../../../etc/hostname")
	b.write(Outside[2], []byte("outside"))
	b.link(Path(OrphanAbs), Outside[2])
	b.link(Path(OrphanLoop), Path(OrphanLoop)+"_condensed.rtdc")
	b.link(Path(OrphanLoop)+"_condensed.rtdc", Path(OrphanLoop))
	b.link(Path(OrphanBroken), UsersDepot+"/nobody/aa/bb/x_"+OrphanBroken+"_y.rtdc")
	b.write(Path(OrphanNew), []byte("being uploaded"))
	b.write(DepotPath(DepotOrphan), []byte("left in the depot"))
	if b.err != nil {
		return b.err
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(b.local(Path(OrphanNew)), future, future); err != nil {
		return err
	}
	return fill(dbURL, sums)
}

// fill inserts the datasets and resources.
func fill(dbURL string, sums map[string]string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO package (id, name, state) VALUES ($1, 'active-set', 'active'),
		($2, 'draft-set', 'draft'), ($3, 'deleted-set', 'deleted')`, PkgActive, PkgDraft, PkgDeleted); err != nil {
		return err
	}
	type row struct{ id, pkg, state, urlType string }
	rows := []row{
		{Live, PkgActive, "active", "upload"}, {LiveLinked, PkgActive, "active", "upload"},
		{LiveDraft, PkgDraft, "active", "upload"}, {LiveDeletedDS, PkgDeleted, "active", "upload"},
		{LiveBroken, PkgActive, "active", "upload"}, {Truncated, PkgActive, "active", "upload"},
		{NoEventCount, PkgActive, "active", "upload"}, {NoAncillary, PkgActive, "active", "upload"},
		{BadChecksum, PkgActive, "active", "upload"}, {Beads, PkgActive, "active", "upload"},
		{LinkResource, PkgActive, "active", ""}, {Deleted, PkgActive, "deleted", "upload"},
	}
	for _, r := range rows {
		extras := ""
		if s, ok := sums[r.id]; ok {
			extras = fmt.Sprintf(`{"sha256": %q}`, s)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO resource (id, package_id, url, name, format, state, url_type, extras)
			VALUES ($1, $2, 'measurement.rtdc', 'measurement.rtdc', 'RT-DC', $3, NULLIF($4, ''), NULLIF($5, ''))`,
			r.id, r.pkg, r.state, r.urlType, extras); err != nil {
			return err
		}
	}
	return nil
}

type builder struct {
	root string
	err  error
}

func (b *builder) local(p string) string { return filepath.Join(b.root, p) }

func (b *builder) do(fn func() error) {
	if b.err == nil {
		b.err = fn()
	}
}

func (b *builder) mkdir(p string) {
	b.do(func() error { return os.MkdirAll(b.local(p), 0o755) })
}

// write writes host path p and dates it an hour back.
func (b *builder) write(p string, data []byte) {
	b.mkdir(filepath.Dir(p))
	b.do(func() error { return os.WriteFile(b.local(p), data, 0o644) })
	b.backdate(p)
}

func (b *builder) backdate(p string) {
	old := time.Now().Add(-time.Hour)
	b.do(func() error { return os.Chtimes(b.local(p), old, old) })
}

// link makes host path p a symbolic link to target, dated an hour back.
func (b *builder) link(p, target string) {
	b.mkdir(filepath.Dir(p))
	b.do(func() error { return os.Symlink(target, b.local(p)) })
	old := unix.NsecToTimeval(time.Now().Add(-time.Hour).UnixNano())
	b.do(func() error { return unix.Lutimes(b.local(p), []unix.Timeval{old, old}) })
}

func (b *builder) sum(p string) string {
	b.backdate(p)
	data, err := os.ReadFile(b.local(p))
	if err != nil {
		b.do(func() error { return err })
		return ""
	}
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}
