package inspect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/DCOR-dev/dcor/internal/bytesize"
	"github.com/DCOR-dev/dcor/storage"
)

// listed is how many paths a summary names.
const listed = 20

// Total counts the files of one kind in a finding.
type Total struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
	Bytes int64  `json:"bytes"`
}

// kindNames name the kinds of removed files in summaries (singular, plural).
var kindNames = map[storage.Kind][2]string{
	storage.Orphan:      {"orphaned file", "orphaned files"},
	storage.DepotOrphan: {"users-depot file", "users-depot files"},
	storage.Garbage:     {"garbage file", "garbage files"},
}

// checkOrphans finds the files in the resource tree and the users depot
// that belong to no live resource (facts §8) and removes them, or moves
// them to the quarantine, as one change.
func checkOrphans(env *Env) []*Finding {
	ctx := context.Background()
	l, err := env.layout()
	if err != nil {
		return []*Finding{{Severity: Failure, Message: err.Error()}}
	}
	known, read, err := env.liveIDs(ctx)
	if err != nil {
		return []*Finding{{Severity: Failure,
			Message: "cannot read the live resources: " + err.Error() + "; no file was removed"}}
	}
	// Files changed after the database was read (or written shortly
	// before) may belong to resources created since: they are left alone.
	res, err := storage.Scan(ctx, l, known, read, storage.Options{Settle: settle,
		Progress: func(n int64) { env.progress(fmt.Sprintf("orphans: %d files scanned", n)) }})
	env.progress("")
	if errors.Is(err, storage.ErrNoTree) {
		return []*Finding{{Path: l.Resources, Severity: Warning,
			Message: l.Resources + " does not exist: no resource files to check (the permissions check creates it)"}}
	}
	if err != nil {
		return []*Finding{{Path: l.Resources, Severity: Failure, Message: err.Error()}}
	}
	env.logf("orphans: %d files and links scanned, %d live resources", res.Files, known.Len())
	var out []*Finding
	if ref := res.Guard(known.Len(), env.uploads, env.MaxDelete); ref != nil {
		totals := tally(res.Remove)
		out = append(out, &Finding{Path: l.Resources, Severity: Failure, Totals: totals,
			Message: refusal(ref), Details: listItems(res.Remove)})
	} else if len(res.Remove) > 0 {
		out = append(out, orphanFinding(env, l, res))
	}
	return append(out, problemFindings(res.Problems)...)
}

// refusal says why the orphan guard refused the clean-up, with the
// numbers and what --max-delete can and cannot change.
func refusal(r *storage.Refusal) string {
	head := fmt.Sprintf("refused to remove %d of %d files scanned: ", r.Remove, r.Files)
	const always = "; nothing was removed, and --max-delete N does not lift this guard"
	switch r.Rule {
	case storage.NoLiveResources:
		return head + "the database has no live resource (is ckan.ini's sqlalchemy.url this site's database?)" + always
	case storage.ForeignTree:
		return head + fmt.Sprintf("only %d of the %d live uploaded resources have their file in the tree (fewer than half: "+
			"the database and the tree seem to belong to different sites; check sqlalchemy.url and ckan.storage_path in ckan.ini)",
			r.LiveFiles, r.Uploads) + always
	}
	if r.MaxDelete > 0 {
		return head + fmt.Sprintf("more than --max-delete %d allows; nothing was removed. "+
			"If they are all orphans, run again with --max-delete %d", r.MaxDelete, r.Remove)
	}
	return head + fmt.Sprintf("that is %.1f %%, more than %d %% and more than %d files; nothing was removed. "+
		"If they are all orphans, allow it with --max-delete %d",
		100*float64(r.Remove)/float64(max(r.Files, 1)), storage.GuardShare, storage.GuardMin, r.Remove)
}

// orphanFinding is the one change that removes everything the scan found.
func orphanFinding(env *Env, l storage.Layout, res *storage.Result) *Finding {
	totals := tally(res.Remove)
	f := &Finding{Path: l.Resources, Severity: Drift, Fixable: true, Totals: totals,
		Message: describe(totals) + " to remove"}
	if env.Quarantine != "" {
		f.Message = describe(totals) + " to move to " + env.Quarantine
	}
	f.Details = listItems(res.Remove)
	f.fix = func(tx *Tx) error {
		return tx.Act(func() error {
			done, err := res.Clean(l, env.Quarantine)
			if err != nil {
				return err
			}
			verb := "removed "
			if env.Quarantine != "" {
				verb = "moved to " + env.Quarantine + ": "
			}
			f.Message = verb + describe(tally(done.Removed))
			if done.Dirs > 0 {
				f.Message += fmt.Sprintf(" and %d empty directories", done.Dirs)
			}
			f.Details = nil
			if env.Quarantine != "" && len(done.Removed) > 0 {
				f.Details = append(f.Details, "undo: "+undoCommand(env, env.Quarantine))
			}
			for _, p := range done.Skipped {
				f.Details = append(f.Details, "left alone: "+p.String())
			}
			if len(done.Errors) > 0 {
				f.Details = append(f.Details, done.Errors...)
				return fmt.Errorf("%d of %d files could not be removed: %s", len(done.Errors), len(res.Remove), done.Errors[0])
			}
			return nil
		})
	}
	return f
}

// undoCommand is the cp command that puts quarantined files back.
func undoCommand(env *Env, q string) string {
	entries, _ := os.ReadDir(q)
	var srcs []string
	for _, e := range entries {
		srcs = append(srcs, filepath.Join(q, e.Name()))
	}
	dest := "/"
	if !env.Host.Live() {
		dest = env.Host.Root + "/"
	}
	return "cp -a " + strings.Join(srcs, " ") + " " + dest
}

func tally(items []storage.Item) []Total {
	var out []Total
	for _, k := range storage.Kinds {
		t := Total{Kind: string(k)}
		for _, it := range items {
			if it.Kind == k {
				t.Count++
				t.Bytes += it.Size
			}
		}
		if t.Count > 0 {
			out = append(out, t)
		}
	}
	return out
}

// describe says "3 orphaned files (1.2 MiB), 1 garbage file (12 B)".
func describe(totals []Total) string {
	if len(totals) == 0 {
		return "nothing"
	}
	var parts []string
	for _, t := range totals {
		name := kindNames[storage.Kind(t.Kind)]
		n := name[1]
		if t.Count == 1 {
			n = name[0]
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s)", t.Count, n, bytesize.Format(t.Bytes)))
	}
	return strings.Join(parts, ", ")
}

func listItems(items []storage.Item) []string {
	var out []string
	for i, it := range items {
		if i == listed {
			out = append(out, fmt.Sprintf("… and %d more", len(items)-listed))
			break
		}
		line := string(it.Kind) + ": " + it.Path
		if it.Link != "" {
			line += " -> " + it.Link
		}
		if it.Note != "" {
			line += " (" + it.Note + ")"
		}
		out = append(out, line)
	}
	return out
}

// problemFindings groups what the scan leaves alone into one finding per
// kind.
func problemFindings(problems []storage.Problem) []*Finding {
	type group struct {
		severity Severity
		message  string
	}
	groups := map[storage.ProblemKind]group{
		storage.BrokenLink: {Warning, "broken links of live resources (the resources check reports them): %d"},
		storage.LinkLoop:   {Warning, "link loops of live resources (the resources check reports them): %d"},
		storage.Unexpected: {Warning, "entries that do not fit the layout, left alone: %d"},
		storage.Changed:    {Warning, "files changed since the database was read, left alone: %d"},
		storage.Kept:       {Warning, "users-depot files kept because a live resource links to them: %d"},
		storage.Unreadable: {Failure, "entries that could not be read; files there were not checked: %d"},
	}
	byKind := map[storage.ProblemKind][]string{}
	for _, p := range problems {
		byKind[p.Kind] = append(byKind[p.Kind], p.String())
	}
	var out []*Finding
	for _, kind := range []storage.ProblemKind{storage.Unreadable, storage.BrokenLink, storage.LinkLoop,
		storage.Unexpected, storage.Changed, storage.Kept} {
		lines := byKind[kind]
		if len(lines) == 0 {
			continue
		}
		g := groups[kind]
		out = append(out, &Finding{Severity: g.severity, Message: fmt.Sprintf(g.message, len(lines)),
			Details: firstLines(lines)})
	}
	return out
}

// firstLines are the first 20 lines and a count of the rest.
func firstLines(lines []string) []string {
	if len(lines) <= listed {
		return lines
	}
	return append(lines[:listed:listed], fmt.Sprintf("… and %d more", len(lines)-listed))
}
