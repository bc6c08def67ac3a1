// Package ckanini reads and edits a CKAN configuration file (ckan.ini) the
// way CKAN does.
//
// # Reading
//
// CKAN reads ckan.ini with Python's configparser.ConfigParser (through its
// CKANConfigLoader, also used by the WSGI entry point). This package
// reproduces that reader line by line: comment lines start with '#' or ';'
// (after optional whitespace), inline comments are part of the value,
// "key = value" and "key: value" both work, indented lines continue the
// previous value (joined with "\n"; blank lines inside such a value are kept,
// trailing ones dropped), an indented "[x]" after an option is a continuation
// line and not a section header, and keys are compared case-insensitively.
// Values are interpolated as by BasicInterpolation: "%(here)s" is the
// directory of the file, "%(__file__)s" its absolute path, "%(name)s" another
// option of [app:main] or [DEFAULT], "%%" a literal '%', with at most 10
// nested references.
//
// Deliberate differences from ConfigParser: a UTF-8 byte order mark at the
// start is accepted (and kept when editing); invalid UTF-8 is an error;
// duplicate sections and duplicate options are accepted, the last value
// winning as with strict=False (CKAN's parser is strict and refuses to start
// on them: Duplicates reports them); an expansion of references that would
// grow beyond a few hundred kilobytes is an error (Python would hang); keys
// are compared case-insensitively also for CKAN 2.10+, which keeps their case;
// Python's final-sigma rule of str.lower is not applied to keys. The CKAN_*
// environment variables that CKAN 2.10+ adds to [DEFAULT] are not seen.
// Validate reports what would stop CKAN from starting.
//
// The reader of this package is authoritative. gopkg.in/ini.v1 cannot be
// configured to match ConfigParser on all points: even with
// IgnoreInlineComment, IgnoreContinuation, PreserveSurroundedQuote and
// InsensitiveKeys it takes values starting with a backtick or `"""` and keys
// starting with '"' or a backtick for quoted strings, splits lines at "\n"
// only, puts options before the first header into [DEFAULT] instead of
// failing, keeps unresolvable references and knows no "%%"; its
// AllowPythonMultilineValues keeps the indentation of continuation lines,
// ends them at blank lines and ignores the indentation of the option line.
// So ini.v1 serves only in the tests, as an independent second reader: a fuzz
// test checks that both read the same from files in the subset of the format
// where they should agree (see iniv1_test.go). Another test, run with
// -python, compares this reader with Python's configparser itself.
//
// # Chained files
//
// "use = config:other.ini" in [app:main] makes Load read other.ini too (the
// path is relative to the directory of the file that names it). Get then
// behaves like CKANConfigLoader: an [app:main] option of a file overrides the
// same option of the files it uses, and a value is interpolated with the
// options of that file and the files that use it (its own first). [DEFAULT]
// options are an exception inherited from CKAN: those of a used file override
// those of the file using it.
//
// # Editing
//
// Set follows `ckan config-tool PATH key=value`: an active option is changed
// in place, an option that exists only commented out is uncommented and set,
// later active repeats are commented out, and an absent option is inserted
// right after the section header. Every other byte of the file stays as it
// is. CheckOption tells beforehand whether a key and value can be written.
package ckanini

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// mainSection is the section CKAN reads its options from.
const mainSection = "app:main"

// defaultSection is the section whose options are visible in every section.
const defaultSection = "DEFAULT"

// File is one ckan.ini, held as its lines so that edits keep every other byte.
// The lines are spans of the file as read, which is held once: a File
// takes little more memory than the file's size.
//
// A File is not safe for concurrent use when one of the goroutines calls Set.
type File struct {
	path string
	abs  string // absolute path, for %(here)s and %(__file__)s
	bom  bool   // the data started with a UTF-8 byte order mark

	data      []byte          // the file as read (never written)
	src       string          // data without the BOM, sharing its memory
	extra     strings.Builder // text of the lines Set wrote
	extraText string          // extra's content

	lines []line

	sections map[string]*section
	order    []string // section names in order of first appearance

	// The index of the options and the duplicates, built when first
	// needed after a parse (see ensureIndex).
	mu      sync.Mutex
	indexed atomic.Bool
	dups    []Duplicate

	used *File // the file named by `use = config:...` (Load only)
}

// ParseError reports a line that ConfigParser would refuse, or a problem
// following `use = config:`.
type ParseError struct {
	Path string // the file, as given to Parse or Load
	Line int    // 1-based line number
	Msg  string
}

// Error returns "PATH:LINE: MSG".
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// Duplicate reports an option that is active more than once in one section
// (CKAN's parser refuses such a file; this package, like ConfigParser with
// strict=False, uses the last value). A Duplicate with an empty Key reports a
// section header that occurs more than once; Lines then lists the headers.
type Duplicate struct {
	Section string
	Key     string // spelling of the first occurrence
	Lines   []int  // 1-based line numbers, ascending
}

// Path returns the path the file was parsed or loaded from.
func (f *File) Path() string { return f.path }

// HasSection reports whether this file (not the files it uses) has a header
// for the named section. Section names are case-sensitive.
func (f *File) HasSection(name string) bool {
	s, ok := f.sections[name]
	return ok && len(s.headers) > 0
}

// Duplicates returns the options that are active more than once in one
// section of this file, and repeated section headers, in file order.
func (f *File) Duplicates() []Duplicate {
	f.ensureIndex()
	out := make([]Duplicate, len(f.dups))
	for i, d := range f.dups {
		d.Lines = append([]int(nil), d.Lines...)
		out[i] = d
	}
	return out
}

// absPath returns the absolute form of path, as Python's os.path.abspath.
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return filepath.Clean(path)
}
