// Package inspect compares a DCOR host with what it should be and fixes
// the differences. Each check is a named unit that yields findings; a
// finding says what is wrong, the exact change, and whether dcor can make
// it.
package inspect

import "fmt"

// Severity says how much a finding matters for the exit status.
type Severity string

const (
	// Drift is a difference from the expected state; it makes
	// `inspect --check` exit 1.
	Drift Severity = "drift"
	// Warning is worth reading but leaves the host usable (a chown that
	// a container does not allow, a certificate near expiry).
	Warning Severity = "warning"
	// Unmanaged is a value dcor cannot know: the site file lacks it, so
	// the current value is left alone.
	Unmanaged Severity = "unmanaged"
	// Failure means a check could not look: a missing or unparsable
	// file; it makes inspect exit 1.
	Failure Severity = "failure"
)

// Finding is one difference between the host and what it should be.
// Current and Expected are masked when they hold secrets.
type Finding struct {
	Check    string `json:"check"`
	Path     string `json:"path,omitempty"`
	Key      string `json:"key,omitempty"`
	Current  string `json:"current,omitempty"`
	Expected string `json:"expected,omitempty"`
	Message  string `json:"message"`
	// Details lists the parts of a finding that is fixed as one change
	// (the differences of one nginx site).
	Details []string `json:"details,omitempty"`
	// Totals count the files of a finding that removes files, by kind.
	Totals   []Total  `json:"totals,omitempty"`
	Severity Severity `json:"severity"`
	Fixable  bool     `json:"fixable"`
	Fixed    bool     `json:"fixed"`
	Error    string   `json:"error,omitempty"`

	// fix plans the change on the Tx: file contents and actions; nothing
	// is written or run before the plan is applied.
	fix func(tx *Tx) error

	// paths are the files the fix planned to write; actions counts the
	// actions it planned; applyErr is the error of one of them.
	paths    []string
	actions  int
	ran      int
	applyErr error
}

// String is the finding as one line for people.
func (f *Finding) String() string {
	if f.Message != "" {
		return f.Message
	}
	return fmt.Sprintf("%s = %q, expected %q", f.Key, f.Current, f.Expected)
}

// Fails reports whether the finding makes inspect exit non-zero when it
// is left as it is.
func (f *Finding) Fails() bool {
	return (f.Severity == Drift || f.Severity == Failure) && !f.Fixed
}
