package change

import (
	"context"
	"errors"
)

// Answer is what a person said to "apply this change?".
type Answer int

// The answers of the prompt's keys.
const (
	// No (n): skip this change.
	No Answer = iota
	// Yes (y): make this change.
	Yes
	// All (a): make this change and all the rest without asking.
	All
	// Quit (q): make no more changes; those already accepted stay accepted.
	Quit
)

// Prompt asks one question; preview returns the diff (or description) of
// the change, for the d key, which shows it and asks again. A Prompt
// returns ctx's error when the person pressed Ctrl-C at it.
type Prompt func(ctx context.Context, question string, preview func() string) (Answer, error)

// Decider remembers the answers a and q across questions.
type Decider struct {
	prompt Prompt
	all    bool
	quit   bool
}

// NewDecider returns a Decider that asks through prompt.
func NewDecider(prompt Prompt) *Decider { return &Decider{prompt: prompt} }

// ErrQuit is returned by Decide after the person answered q.
var ErrQuit = errors.New("stopped at the prompt: nothing more is changed")

// Decide asks whether to make a change. After a it says yes without
// asking; after q it says no (ErrQuit) without asking.
func (d *Decider) Decide(ctx context.Context, question string, preview func() string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	switch {
	case d.quit:
		return false, ErrQuit
	case d.all:
		return true, nil
	}
	ans, err := d.prompt(ctx, question, preview)
	if err != nil {
		return false, err
	}
	switch ans {
	case Yes:
		return true, nil
	case All:
		d.all = true
		return true, nil
	case Quit:
		d.quit = true
		return false, ErrQuit
	}
	return false, nil
}

// Quitted reports whether the person answered q.
func (d *Decider) Quitted() bool { return d.quit }
