package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"
)

// maxLine is the longest log line kept whole; longer lines are cut.
const maxLine = 64 << 10

// logLine is one line of a log tail.
type logLine struct {
	n    int
	text string
}

// logTail is the last lines of one log.
type logTail struct {
	// path is the host path ("journal" for the journal).
	path  string
	lines []logLine
	// mtime is when the log was last written (now for the journal).
	mtime time.Time
}

// readLogs reads the tails of the CKAN logs, nginx's error log and the
// journal.
func (d *diag) readLogs(ctx context.Context) ([]*logTail, error) {
	var out []*logTail
	for _, p := range Logs(d.env) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := tailFile(d.env.Host.Path(p), d.env.Lines)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the log %s: %v", p, err)
		}
		t.path = p
		if info, err := os.Stat(d.env.Host.Path(p)); err == nil {
			t.mtime = info.ModTime()
		}
		out = append(out, t)
	}
	if d.env.Journal != nil {
		lines, err := d.env.Journal(ctx, d.env.Lines)
		if err != nil {
			return nil, fmt.Errorf("read the journal: %v", err)
		}
		t := &logTail{path: "journal", mtime: d.now}
		for i, l := range lines {
			t.lines = append(t.lines, logLine{i + 1, l})
		}
		out = append(out, t)
	}
	return out, nil
}

// tailFile returns the last n lines of the file at local, with their line
// numbers (the whole file is read once, in a ring of n lines).
func tailFile(local string, n int) (*logTail, error) {
	f, err := os.Open(local)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return nil, errors.New("is a directory")
	}
	ring := make([]logLine, 0, min(n, 1<<16))
	next := 0
	r := bufio.NewReaderSize(f, 64<<10)
	num := 0
	for {
		line, err := readLine(r)
		if len(line) > 0 || err == nil {
			num++
			l := logLine{num, line}
			if len(ring) < n {
				ring = append(ring, l)
			} else {
				ring[next] = l
				next = (next + 1) % n
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	t := &logTail{lines: append(ring[next:len(ring):len(ring)], ring[:next]...)}
	return t, nil
}

// readLine reads one line without its ending, cut at maxLine.
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		part, isPrefix, err := r.ReadLine()
		if len(buf) < maxLine {
			buf = append(buf, part[:min(len(part), maxLine-len(buf))]...)
		}
		if err != nil {
			return string(buf), err
		}
		if !isPrefix {
			return string(buf), nil
		}
	}
}

// match is one line that matched, with the submatches.
type match struct {
	log  *logTail
	idx  int // index in log.lines
	subs []string
}

func (m match) evidence() Evidence {
	l := m.log.lines[m.idx]
	return Evidence{Path: m.log.path, Line: l.n, Text: short(l.text)}
}

// find returns the lines of the logs whose names pass keep (nil: all)
// that match re.
func (d *diag) find(re *regexp.Regexp, keep func(path string) bool) []match {
	var out []match
	for _, t := range d.logs {
		if keep != nil && !keep(t.path) {
			continue
		}
		for i, l := range t.lines {
			if subs := re.FindStringSubmatch(l.text); subs != nil {
				out = append(out, match{log: t, idx: i, subs: subs})
			}
		}
	}
	return out
}

// evidences turns matches into evidence, the first and the last few
// when there are many.
func evidences(ms []match) []Evidence {
	const most = 3
	var out []Evidence
	for i, m := range ms {
		if len(ms) > most && i >= most-1 && i != len(ms)-1 {
			continue
		}
		out = append(out, m.evidence())
	}
	if len(ms) > most {
		out[len(out)-1].Text += fmt.Sprintf(" (%d such lines in all)", len(ms))
	}
	return out
}

// olderThan reports whether every log of ms was last written before the
// file at host path p was: the evidence predates the configuration.
func (d *diag) olderThan(ms []match, p string) bool {
	info, err := os.Stat(d.env.Host.Path(p))
	if err != nil {
		return false
	}
	for _, m := range ms {
		if !m.log.mtime.Before(info.ModTime()) {
			return false
		}
	}
	return true
}
