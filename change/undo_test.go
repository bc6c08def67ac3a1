package change

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestUndoAndRollback: an applied action's Undo runs after every step,
// also after a failure or an interruption; its Rollback only when the run
// failed; both in reverse order, with a context the interruption did not
// cancel.
func TestUndoAndRollback(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fail      bool
		interrupt bool
		want      string
	}{
		{"success", false, false, "on snap step undo-on"},
		{"failure", true, false, "on snap step rollback-snap undo-on"},
		{"interrupted", false, true, "on snap step rollback-snap undo-on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := testHost(t)
			p := New(h, now)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var log []string
			rec := func(s string) func(context.Context) error {
				return func(c context.Context) error {
					if c.Err() != nil {
						t.Errorf("%s: context already cancelled", s)
					}
					log = append(log, s)
					return nil
				}
			}
			p.Do("t", Action{Description: "maintenance on", Run: rec("on"), Undo: rec("undo-on")})
			p.Do("t", Action{Description: "record", Run: rec("snap"), Rollback: rec("rollback-snap")})
			p.Do("t", Action{Description: "step", Run: func(context.Context) error {
				log = append(log, "step")
				if tc.interrupt {
					cancel()
				}
				if tc.fail {
					return errors.New("boom")
				}
				return nil
			}})
			p.Do("t", Action{Description: "never after failure", Run: rec("after"), Undo: rec("undo-after")})
			res := p.Apply(ctx, ApplyOptions{StopOnError: true})
			got := strings.Join(log, " ")
			if !tc.fail && !tc.interrupt {
				tc.want = "on snap step after undo-after undo-on"
			}
			if got != tc.want {
				t.Fatalf("steps: %q, want %q", got, tc.want)
			}
			if res.Changes[0].Undone != "undone" {
				t.Errorf("maintenance change: Undone %q", res.Changes[0].Undone)
			}
			if tc.fail || tc.interrupt {
				if res.Changes[1].Undone != "rolled back" {
					t.Errorf("record change: Undone %q", res.Changes[1].Undone)
				}
				if !strings.Contains(Summary(res.Applied()), "record (rolled back)") {
					t.Errorf("summary does not say it rolled back:\n%s", Summary(res.Applied()))
				}
			} else if res.Changes[1].Undone != "" {
				t.Errorf("rollback ran on success: %q", res.Changes[1].Undone)
			}
		})
	}
}

// TestUndoFailureFailsTheRun: a failed undo makes the result failed.
func TestUndoFailureFailsTheRun(t *testing.T) {
	h, _ := testHost(t)
	p := New(h, now)
	p.Do("t", Action{Description: "on", Run: func(context.Context) error { return nil },
		Undo: func(context.Context) error { return errors.New("cannot") }})
	res := p.Apply(context.Background(), ApplyOptions{StopOnError: true})
	if !res.Failed() || !strings.Contains(res.Changes[0].Undone, "undo failed: cannot") {
		t.Fatalf("failed=%v undone=%q", res.Failed(), res.Changes[0].Undone)
	}
}
