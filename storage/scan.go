// Package storage knows where a DCOR host keeps resource files: CKAN's
// storage tree <storage>/resources/<id[0:3]>/<id[3:6]>/<id[6:]> with the
// ancillary files beside each resource, and the users depot that
// resource paths link into (facts §1, §8). It finds the files that
// belong to no live resource and removes them without ever touching
// anything outside those two trees.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/DCOR-dev/dcor/host"
	"github.com/DCOR-dev/dcor/internal/progress"
)

// Suffixes of the ancillary files that DCOR keeps beside a resource file.
const (
	CondensedSuffix = "_condensed.rtdc"
	PreviewSuffix   = "_preview.jpg"
)

// Layout is where a host keeps resource files, as host paths.
type Layout struct {
	// Host maps host paths under --root.
	Host host.Host
	// Resources is <ckan.storage_path>/resources.
	Resources string
	// UsersDepot is <depots_path>/<users_depot_name>.
	UsersDepot string
}

// ResourcePath is the host path of the file of resource id, as CKAN
// computes it: Resources/id[0:3]/id[3:6]/id[6:].
func (l Layout) ResourcePath(id string) string {
	if len(id) < 7 {
		return host.JoinHost(l.Resources, id)
	}
	return l.Resources + "/" + id[0:3] + "/" + id[3:6] + "/" + id[6:]
}

// Kind says why a file is to be removed.
type Kind string

const (
	// Orphan is a file or link in the resource tree whose id belongs to
	// no live resource (ancillary files included).
	Orphan Kind = "orphan"
	// DepotOrphan is a users-depot file of no live resource: its name
	// holds no live resource id, or an orphan link points at it.
	DepotOrphan Kind = "users-depot"
	// Garbage is a file of a live resource whose suffix is not one of
	// the ancillary ones (an editor's "~" copy, a partial upload).
	Garbage Kind = "garbage"
)

// Kinds lists the kinds in the order summaries show them.
var Kinds = []Kind{Orphan, DepotOrphan, Garbage}

// Item is a file or link that a scan would remove.
type Item struct {
	// Path is the resolved host path.
	Path string `json:"path"`
	Kind Kind   `json:"kind"`
	// Size is the size in bytes (of the link itself, for links).
	Size int64 `json:"size"`
	// Link is the target of a symbolic link, as written.
	Link string `json:"link,omitempty"`
	// Note says what happens to a link's target, or that it is broken.
	Note string `json:"note,omitempty"`

	stamp stamp
}

// stamp identifies the exact file a scan saw, so that removal can refuse
// a file that was replaced or changed since.
type stamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since 1970
}

// ProblemKind classifies what a scan reports but never removes.
type ProblemKind string

const (
	// BrokenLink is a live resource's link whose target does not exist.
	BrokenLink ProblemKind = "broken-link"
	// LinkLoop is a live resource's link that never ends in a file.
	LinkLoop ProblemKind = "link-loop"
	// Unexpected is an entry that does not fit the layout (a directory
	// among resource files, a depot file name without a resource id).
	Unexpected ProblemKind = "unexpected"
	// Changed is a candidate changed after the scan began; it is left
	// alone.
	Changed ProblemKind = "changed"
	// Kept is a users-depot file that would go but that a live
	// resource's link points at.
	Kept ProblemKind = "kept"
	// Unreadable is a directory or file the scan could not read.
	Unreadable ProblemKind = "unreadable"
)

// Problem is something a scan reports and leaves alone.
type Problem struct {
	Kind ProblemKind `json:"kind"`
	Path string      `json:"path"`
	Note string      `json:"note"`
}

// String is the problem as one line.
func (p Problem) String() string { return p.Path + ": " + p.Note }

// Result is what a scan found.
type Result struct {
	// Remove lists what is to be removed, sorted by path.
	Remove []Item
	// Problems lists what is reported only, sorted by kind and path.
	Problems []Problem
	// Files counts the files and links seen in both trees.
	Files int64
	// LiveFiles counts the live resources whose file (or link) is in
	// the resource tree; Guard compares it with the live resources.
	LiveFiles int64

	resources, usersDepot string // resolved roots ("" when missing)
}

// ErrNoTree says that the resource tree does not exist (yet).
var ErrNoTree = errors.New("no resource tree")

// Options tune a scan.
type Options struct {
	// Workers is how many directories are read at once (default: 4 per
	// CPU, at least 8).
	Workers int
	// Progress, when set, is called a few times a second with the number
	// of files and links seen so far.
	Progress func(files int64)
	// Settle also leaves alone files whose content changed less than
	// Settle before start (CKAN writes an upload's file just before it
	// commits the resource's row).
	Settle time.Duration
}

// Scan walks the resource tree and the users depot of l, looking up
// every file's id in known (the live resources). It reads directories in
// parallel and removes nothing. Files changed at or after start (and,
// with Options.Settle, written shortly before it) are left alone. A
// missing resource tree is ErrNoTree; a missing users depot is not an
// error (the host has none yet).
func Scan(ctx context.Context, l Layout, known *IDSet, start time.Time, opts Options) (*Result, error) {
	res := &Result{}
	r := newResolver(l.Host)
	var err error
	res.resources, err = r.resolve(l.Resources)
	if errors.Is(err, ErrBroken) {
		return nil, fmt.Errorf("%w: %s", ErrNoTree, l.Resources)
	}
	if err != nil {
		return nil, fmt.Errorf("resource tree %s: %w", l.Resources, err)
	}
	if info, err := os.Stat(l.Host.Join(res.resources)); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("resource tree %s is not a directory", l.Resources)
	}
	if depot, err := r.resolve(l.UsersDepot); err == nil {
		if within(res.resources, depot) || within(depot, res.resources) {
			return nil, fmt.Errorf("the users depot %s and the resource tree %s overlap; fix ckan.ini", l.UsersDepot, l.Resources)
		}
		res.usersDepot = depot
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = max(8, 4*runtime.GOMAXPROCS(0))
	}
	s := &scan{layout: l, known: known, start: start, settled: start.Add(-opts.Settle), res: res, tasks: make(chan task, 256)}

	stopProgress := func() {}
	if opts.Progress != nil {
		stopProgress = progress.Every(200*time.Millisecond, func() { opts.Progress(s.files.Load()) })
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{scan: s, res: newResolver(l.Host)}
			for t := range s.tasks {
				if ctx.Err() == nil {
					w.run(t)
				}
			}
			w.flush()
		}()
	}
	s.feed(ctx, res.resources, resourceLevel1)
	if res.usersDepot != "" {
		s.feed(ctx, res.usersDepot, depotLevel1)
	}
	close(s.tasks)
	wg.Wait()
	stopProgress()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.Files = s.files.Load()
	res.LiveFiles = s.liveFiles.Load()
	s.finish()
	return res, nil
}

type taskKind int

const (
	resourceLevel1 taskKind = iota // <resources>/<id[0:3]>
	depotLevel1                    // <users depot>/<user>-<org>
)

type task struct {
	kind taskKind
	dir  string // resolved host path
}

// scan is the shared state of one Scan.
type scan struct {
	layout Layout
	known  *IDSet
	start  time.Time
	// settled: content written at or after it is too fresh to remove.
	settled time.Time
	res     *Result
	tasks   chan task
	files   atomic.Int64 // files and links seen
	// liveFiles counts the resource files of live resources.
	liveFiles atomic.Int64

	mu        sync.Mutex
	items     []Item
	problems  []Problem
	targets   []Item          // users-depot files that orphan links point at
	protected map[string]bool // resolved targets of live resources' links
}

// feed lists a tree root and hands its subdirectories to the workers.
func (s *scan) feed(ctx context.Context, root string, kind taskKind) {
	entries, err := readDir(s.layout.Host.Join(root))
	if err != nil {
		s.report([]Problem{{Unreadable, root, err.Error()}})
	}
	var probs []Problem
	for _, e := range entries {
		p := host.JoinHost(root, e.Name())
		switch {
		case e.IsDir() && (kind != resourceLevel1 || idDir(e.Name())):
			select {
			case s.tasks <- task{kind, p}:
			case <-ctx.Done():
				return
			}
		case kind == resourceLevel1 && e.IsDir():
			probs = append(probs, Problem{Unexpected, p, "directory name is not 3 characters of a resource id; left alone"})
		default:
			probs = append(probs, Problem{Unexpected, p, "not a directory where the layout has one; left alone"})
		}
	}
	s.report(probs)
}

func (s *scan) report(p []Problem) {
	if len(p) == 0 {
		return
	}
	s.mu.Lock()
	s.problems = append(s.problems, p...)
	s.mu.Unlock()
}

// idDir reports whether a directory name can be a 3-character piece of
// a resource id (hex digits and "-").
func idDir(name string) bool {
	if len(name) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if _, ok := hexValue(name[i]); !ok && name[i] != '-' {
			return false
		}
	}
	return true
}

// finish merges the users-depot candidates (dropping protected ones and
// duplicates) and sorts everything.
func (s *scan) finish() {
	seen := map[string]bool{}
	for _, it := range s.items {
		seen[it.Path] = true
	}
	for _, it := range s.targets {
		if seen[it.Path] {
			continue
		}
		seen[it.Path] = true
		s.items = append(s.items, it)
	}
	items := s.items[:0]
	for _, it := range s.items {
		if s.protected[it.Path] {
			s.problems = append(s.problems, Problem{Kept, it.Path, "a live resource's link points here; kept"})
			continue
		}
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Path < items[j].Path })
	sort.Slice(s.problems, func(i, j int) bool {
		a, b := s.problems[i], s.problems[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Path < b.Path
	})
	s.res.Remove = items
	s.res.Problems = s.problems
}

// worker reads directories; it collects results locally and merges them
// into the scan once, at the end.
type worker struct {
	*scan
	res       *resolver
	items     []Item
	targets   []Item
	problems  []Problem
	protected []string
	liveFiles int64
}

func (w *worker) flush() {
	w.scan.liveFiles.Add(w.liveFiles)
	w.scan.mu.Lock()
	defer w.scan.mu.Unlock()
	w.scan.items = append(w.scan.items, w.items...)
	w.scan.targets = append(w.scan.targets, w.targets...)
	w.scan.problems = append(w.scan.problems, w.problems...)
	if w.scan.protected == nil {
		w.scan.protected = map[string]bool{}
	}
	for _, p := range w.protected {
		w.scan.protected[p] = true
	}
}

func (w *worker) run(t task) {
	switch t.kind {
	case resourceLevel1:
		w.resourceDir1(t.dir)
	case depotLevel1:
		w.depotDir(t.dir, 1)
	}
}

func (w *worker) list(dir string) []fs.DirEntry {
	entries, err := readDir(w.layout.Host.Join(dir))
	if err != nil {
		w.problems = append(w.problems, Problem{Unreadable, dir, err.Error()})
	}
	return entries
}

// resourceDir1 handles <resources>/<id[0:3]> and the directories below.
func (w *worker) resourceDir1(dir1 string) {
	name1 := dir1[strings.LastIndexByte(dir1, '/')+1:]
	for _, e2 := range w.list(dir1) {
		p2 := host.JoinHost(dir1, e2.Name())
		if !e2.IsDir() || !idDir(e2.Name()) {
			w.problems = append(w.problems, Problem{Unexpected, p2, "not a 3-character directory of a resource id; left alone"})
			continue
		}
		entries := w.list(p2)
		w.files.Add(int64(len(entries)))
		for _, e := range entries {
			w.resourceFile(name1, e2.Name(), p2, e)
		}
	}
}

// resourceFile classifies <resources>/<a>/<b>/<name>. It runs for every
// file of the tree: the common case, a live resource's regular file,
// makes no system call and no allocation.
func (w *worker) resourceFile(a, b, dir string, e fs.DirEntry) {
	name := e.Name()
	typ := e.Type()
	isLink := typ&fs.ModeSymlink != 0
	if !isLink && !typ.IsRegular() {
		w.problems = append(w.problems, Problem{Unexpected, dir + "/" + name, "not a file or link where resource files belong; left alone"})
		return
	}
	idPart, suffix := name, ""
	if len(name) > 30 {
		idPart, suffix = name[:30], name[30:]
	}
	if !w.known.hasParts(a, b, idPart) {
		w.candidate(dir+"/"+name, Orphan, isLink)
		return
	}
	if suffix == "" {
		w.liveFiles++
	}
	switch {
	case suffix != "" && suffix != CondensedSuffix && suffix != PreviewSuffix:
		w.candidate(dir+"/"+name, Garbage, isLink)
	case isLink:
		p := dir + "/" + name
		target, err := w.res.resolve(p)
		switch {
		case errors.Is(err, ErrLoop):
			w.problems = append(w.problems, Problem{LinkLoop, p, "a live resource's link ends in a symbolic link loop"})
		case errors.Is(err, ErrBroken):
			w.problems = append(w.problems, Problem{BrokenLink, p, "a live resource's link is broken: " + brokenNote(err)})
		case err != nil:
			w.problems = append(w.problems, Problem{Unreadable, p, err.Error()})
		default:
			w.protected = append(w.protected, target)
		}
	}
}

func brokenNote(err error) string {
	return strings.TrimPrefix(err.Error(), ErrBroken.Error()+": ")
}

// candidate records p for removal unless it changed after the scan
// began; for an orphan link it also decides the fate of the target.
func (w *worker) candidate(p string, kind Kind, isLink bool) {
	lp := w.layout.Host.Join(p)
	info, err := os.Lstat(lp)
	if errors.Is(err, fs.ErrNotExist) {
		return // removed while we looked
	}
	if err != nil {
		w.problems = append(w.problems, Problem{Unreadable, p, err.Error()})
		return
	}
	st := stampOf(info)
	if w.changed(st) {
		w.problems = append(w.problems, Problem{Changed, p, "changed recently; left alone"})
		return
	}
	it := Item{Path: p, Kind: kind, Size: info.Size(), stamp: st}
	if isLink {
		it.Link, _ = os.Readlink(lp)
		if kind != Garbage {
			w.linkTarget(&it)
		} else {
			it.Note = "link only; its target is kept"
		}
	}
	w.items = append(w.items, it)
}

// linkTarget decides what happens to the target of orphan link it: a
// file in the users depot goes with it; anything else stays.
func (w *worker) linkTarget(it *Item) {
	target, err := w.res.resolve(it.Path)
	switch {
	case errors.Is(err, ErrLoop):
		it.Note = "symbolic link loop; only the link is removed"
		return
	case errors.Is(err, ErrBroken):
		it.Note = "broken link (" + brokenNote(err) + "); only the link is removed"
		return
	case err != nil:
		it.Note = "target not checked (" + err.Error() + "); only the link is removed"
		return
	}
	if w.scan.res.usersDepot == "" || !within(target, w.scan.res.usersDepot) || target == w.scan.res.usersDepot {
		it.Note = "target " + target + " is kept: outside the users depot"
		return
	}
	name := target[strings.LastIndexByte(target, '/')+1:]
	for _, id := range idFields(name) {
		if w.known.Has(id) {
			it.Note = "target " + target + " is kept: it is named after live resource " + id
			return
		}
	}
	info, err := os.Lstat(w.layout.Host.Join(target))
	if err != nil || !info.Mode().IsRegular() {
		it.Note = "target " + target + " is kept: not a regular file"
		return
	}
	st := stampOf(info)
	if w.changed(st) {
		it.Note = "target " + target + " is kept: changed recently"
		w.problems = append(w.problems, Problem{Changed, target, "changed recently; left alone"})
		return
	}
	it.Note = "its target " + target + " in the users depot is removed too"
	w.targets = append(w.targets, Item{Path: target, Kind: DepotOrphan, Size: info.Size(),
		Note: "target of orphan link " + it.Path, stamp: st})
}

// depotDir handles a directory of the users depot at depth level
// (1: <user>-<org>, 2: <pkgid[0:2]>, 3: <pkgid[2:4]>, whose entries are
// the files).
func (w *worker) depotDir(dir string, level int) {
	entries := w.list(dir)
	if level == 3 {
		w.files.Add(int64(len(entries)))
	}
	for _, e := range entries {
		p := dir + "/" + e.Name()
		switch {
		case level < 3 && e.IsDir():
			w.depotDir(p, level+1)
		case level < 3:
			w.problems = append(w.problems, Problem{Unexpected, p, "not a directory where the users depot has one; left alone"})
		default:
			w.depotFile(p, e)
		}
	}
}

// depotFile classifies <users depot>/<user>-<org>/<aa>/<bb>/<pkgname>_<resid>_<resname>.
// Package and resource names may contain "_": every UUID-shaped field
// is a candidate id, and one live id keeps the file.
func (w *worker) depotFile(p string, e fs.DirEntry) {
	typ := e.Type()
	if !typ.IsRegular() && typ&fs.ModeSymlink == 0 {
		w.problems = append(w.problems, Problem{Unexpected, p, "not a file where the users depot has files; left alone"})
		return
	}
	ids := idFields(e.Name())
	if len(ids) == 0 {
		w.problems = append(w.problems, Problem{Unexpected, p, "name holds no resource id; left alone"})
		return
	}
	for _, id := range ids {
		if w.known.Has(id) {
			return
		}
	}
	w.candidate(p, DepotOrphan, false)
}

// idFields returns the "_"-separated fields of name that are UUIDs.
func idFields(name string) []string {
	var out []string
	for f := range strings.SplitSeq(name, "_") {
		if isUUID(f) {
			out = append(out, f)
		}
	}
	return out
}

func (s *scan) changed(st stamp) bool {
	return st.mtime >= s.settled.UnixNano() || st.ctime >= s.start.UnixNano()
}

func stampOf(info fs.FileInfo) stamp {
	st := stamp{size: info.Size(), mtime: info.ModTime().UnixNano()}
	if sys, ok := info.Sys().(*syscall.Stat_t); ok {
		st.dev, st.ino = uint64(sys.Dev), sys.Ino
		st.ctime = sys.Ctim.Nano()
	}
	return st
}

// readDir lists a directory without sorting it (the kernel's order).
func readDir(dir string) ([]fs.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}
