package storage

// The orphan guard: a clean-up that would remove most of a tree is far
// more likely a wrong database (ckan.ini pointing at an empty or
// another site's database) than real orphans.
const (
	// GuardShare is the share of the scanned files, in percent, that a
	// clean-up may remove without an explicit limit…
	GuardShare = 5
	// GuardMin … or this many files, whichever is more.
	GuardMin = 100
)

// GuardRule names why the guard refuses a clean-up.
type GuardRule string

const (
	// NoLiveResources: the database has no live resource (an empty or
	// wrong database), so every file would look orphaned.
	NoLiveResources GuardRule = "no-live-resources"
	// ForeignTree: fewer than half of the live resources have their
	// file in the tree: the database and the tree belong to different
	// sites.
	ForeignTree GuardRule = "foreign-tree"
	// TooMany: more files would go than GuardShare/GuardMin allow, or
	// than the explicit limit.
	TooMany GuardRule = "too-many"
)

// Refusal is the guard's verdict against a clean-up, with its numbers.
type Refusal struct {
	Rule GuardRule
	// Remove is how many files and links the clean-up would remove.
	Remove int
	// Files is how many files and links the scan saw.
	Files int64
	// Live is how many live resources the database has, Uploads how
	// many of them are uploads (files in the tree; the others link
	// elsewhere), LiveFiles how many have their file in the tree.
	Live      int
	Uploads   int
	LiveFiles int64
	// MaxDelete is the explicit limit (0: none given).
	MaxDelete int
}

// Guard decides whether the items of the scan may be removed; live is
// the number of live resources in the database, uploads how many of them
// are uploads, maxDelete an explicit limit on the files removed (0:
// none). It refuses, in this order: (a) a database without live
// resources, (b) a tree that holds the files of fewer than half of the
// live uploads, (c) removing more
// than GuardShare % of the scanned files when that is more than
// GuardMin files — or, when maxDelete > 0, more than maxDelete files
// (the explicit limit replaces (c), never (a) or (b)). Nothing to
// remove is never refused. (b) counts uploads only: a site whose
// resources are mostly links to elsewhere has few files, rightly.
func (r *Result) Guard(live, uploads, maxDelete int) *Refusal {
	n := len(r.Remove)
	if n == 0 {
		return nil
	}
	ref := &Refusal{Remove: n, Files: r.Files, Live: live, Uploads: uploads, LiveFiles: r.LiveFiles, MaxDelete: maxDelete}
	switch {
	case live == 0:
		ref.Rule = NoLiveResources
	case 2*r.LiveFiles < int64(uploads):
		ref.Rule = ForeignTree
	case maxDelete > 0 && n > maxDelete:
		ref.Rule = TooMany
	case maxDelete <= 0 && n > GuardMin && int64(n)*100 > GuardShare*r.Files:
		ref.Rule = TooMany
	default:
		return nil
	}
	return ref
}
