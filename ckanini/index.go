package ckanini

import (
	"hash/maphash"
	"sort"
)

// section is a section of the file: its headers and an index of its
// options.
type section struct {
	headers []int32 // indices of header lines
	options int     // option lines (repeats included), counted by parse

	// slots is an open-addressing hash table of the section's options by
	// folded key: line index + 1 of the option's last occurrence, 0 for
	// an empty slot. The keys are read from the lines, so that the index
	// costs 8 bytes an option or less, whatever the keys' length.
	slots []int32
	n     int // distinct options
}

var seed = maphash.MakeSeed()

// find returns the line of the last occurrence of the folded key fk.
func (s *section) find(f *File, fk string) (int, bool) {
	if len(s.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(s.slots) - 1)
	for i := maphash.String(seed, fk) & mask; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			return 0, false
		}
		if line := int(v) - 1; foldEqual(f.optionKey(line), fk) {
			return line, true
		}
	}
}

// insert records option line i with folded key fk and returns the line
// of the key's earlier occurrence, or -1.
func (s *section) insert(f *File, fk string, i int) int {
	mask := uint64(len(s.slots) - 1)
	for j := maphash.String(seed, fk) & mask; ; j = (j + 1) & mask {
		v := s.slots[j]
		if v == 0 {
			s.slots[j] = int32(i + 1)
			s.n++
			return -1
		}
		if line := int(v) - 1; foldEqual(f.optionKey(line), fk) {
			s.slots[j] = int32(i + 1)
			return line
		}
	}
}

// ensureIndex builds the index of the options and the list of duplicates
// once after each parse. It may be called by concurrent readers.
func (f *File) ensureIndex() {
	if f.indexed.Load() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.indexed.Load() {
		return
	}
	f.buildIndex()
	f.indexed.Store(true)
}

func (f *File) buildIndex() {
	for _, s := range f.sections {
		size := 8
		for size < 2*s.options {
			size *= 2
		}
		if cap(s.slots) >= size && cap(s.slots) <= 4*size {
			s.slots = s.slots[:size]
			clear(s.slots)
		} else {
			s.slots = make([]int32, size)
		}
		s.n = 0
	}
	f.dups = nil
	var dupIndex map[[2]string]int
	var cur *section
	curName := ""
	for i, l := range f.lines {
		switch l.kind {
		case lineSection:
			curName, _ = sectionName(pyStrip(f.text(i)))
			cur = f.sections[curName]
		case lineOption:
			key := f.optionKey(i)
			fk := fold(key)
			first := cur.insert(f, fk, i)
			if first < 0 {
				continue
			}
			// An option set again: a duplicate.
			if dupIndex == nil {
				dupIndex = map[[2]string]int{}
			}
			dk := [2]string{curName, fk}
			if d, ok := dupIndex[dk]; ok {
				f.dups[d].Lines = append(f.dups[d].Lines, i+1)
			} else {
				dupIndex[dk] = len(f.dups)
				f.dups = append(f.dups, Duplicate{Section: curName, Key: f.optionKey(first),
					Lines: []int{first + 1, i + 1}})
			}
		}
	}
	for name, s := range f.sections {
		if len(s.headers) > 1 && name != defaultSection {
			f.dups = append(f.dups, Duplicate{Section: name, Lines: lineNumbers(s.headers)})
		}
	}
	sort.SliceStable(f.dups, func(a, b int) bool { return f.dups[a].Lines[0] < f.dups[b].Lines[0] })
}
