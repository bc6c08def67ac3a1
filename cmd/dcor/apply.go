package main

import (
	"context"
	"fmt"

	"github.com/DCOR-dev/dcor/change"
)

// planOptions say how a writing command carries out its plan.
type planOptions struct {
	// check shows what would change and changes nothing.
	check bool
	// diff prints the diffs of the file changes.
	diff bool
	// stopOnError stops at the first failed step.
	stopOnError bool
	// onStep, when set, is called before each step (progress).
	onStep func(c *change.Change)
}

// planReport is what carryOut did, for the commands' JSON documents.
type planReport struct {
	// Changes are the planned (--check) or applied steps.
	Changes []*change.Change `json:"changes"`
	// Check is true for a dry run.
	Check bool `json:"check,omitempty"`
	// Reloaded lists the services reloaded.
	Reloaded []change.Service `json:"reloaded,omitempty"`
	// ReloadNote says why a service was not reloaded.
	ReloadNote string `json:"reload_note,omitempty"`
}

// carryOut is how every writing command but inspect (which asks per
// finding) ends: with --check it lists (and with --diff shows) what would
// change and exits 1 when anything would; otherwise it applies the plan,
// lists what changed and where the old versions went, and reloads the
// services the changes name. Interrupted: exit 130/143, listing what was
// applied.
func (a *app) carryOut(ctx context.Context, p *change.Plan, o planOptions) (*planReport, error) {
	rep := &planReport{Check: o.check}
	if o.check {
		rep.Changes = p.Changes(o.diff || a.json)
		if !a.json {
			for _, c := range rep.Changes {
				fmt.Fprintf(a.stdout, "would %s\n", c)
				if o.diff {
					fmt.Fprint(a.stdout, a.colorDiff(c.Diff))
				}
			}
		}
		if len(rep.Changes) > 0 {
			return rep, silentExit(1)
		}
		return rep, nil
	}
	res := p.Apply(ctx, change.ApplyOptions{StopOnError: o.stopOnError, Diffs: o.diff || a.json, OnStep: o.onStep})
	rep.Changes = res.Changes
	if !a.json {
		if o.diff {
			for _, c := range rep.Changes {
				fmt.Fprint(a.stdout, a.colorDiff(c.Diff))
			}
		}
		if !res.Interrupted {
			a.printChanges(rep.Changes)
		}
	}
	if res.Interrupted {
		return rep, a.stopped(res.Applied())
	}
	r := change.Reload(ctx, p.Host, change.Services(res.Changes))
	rep.Reloaded, rep.ReloadNote = r.Reloaded, r.Note()
	if !a.json && len(r.Reloaded) > 0 {
		fmt.Fprintf(a.stdout, "reloaded %s\n", joinServices(r.Reloaded))
	}
	if res.Failed() || r.Failed {
		return rep, silentExit(1)
	}
	return rep, nil
}
