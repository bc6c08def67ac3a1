package storage

// IDSet is a set of CKAN resource ids, built for fast lookups from the
// pieces of a resource path without allocating. Ids are UUIDs in CKAN;
// an id of another shape is kept too, as text.
type IDSet struct {
	uuids map[[16]byte]struct{}
	other map[string]struct{}
}

// NewIDSet returns an empty set sized for n ids.
func NewIDSet(n int) *IDSet {
	return &IDSet{uuids: make(map[[16]byte]struct{}, n), other: map[string]struct{}{}}
}

// Add puts id into the set.
func (s *IDSet) Add(id string) {
	if u, ok := parseUUID(id, "", ""); ok {
		s.uuids[u] = struct{}{}
		return
	}
	s.other[id] = struct{}{}
}

// Len is the number of ids in the set.
func (s *IDSet) Len() int { return len(s.uuids) + len(s.other) }

// Has reports whether id is in the set.
func (s *IDSet) Has(id string) bool { return s.hasParts(id, "", "") }

// hasParts reports whether the id a+b+c is in the set (a resource path
// splits an id into id[0:3], id[3:6] and id[6:]).
func (s *IDSet) hasParts(a, b, c string) bool {
	if u, ok := parseUUID(a, b, c); ok {
		_, found := s.uuids[u]
		return found
	}
	if len(s.other) == 0 {
		return false
	}
	_, found := s.other[a+b+c]
	return found
}

// parseUUID decodes the UUID text a+b+c (8-4-4-4-12 hex digits, either
// case) into its 16 bytes.
func parseUUID(a, b, c string) ([16]byte, bool) {
	var u [16]byte
	if len(a)+len(b)+len(c) != 36 {
		return u, false
	}
	at := func(i int) byte {
		if i < len(a) {
			return a[i]
		}
		i -= len(a)
		if i < len(b) {
			return b[i]
		}
		return c[i-len(b)]
	}
	n := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if at(i) != '-' {
				return u, false
			}
			i++
			continue
		}
		hi, ok1 := hexValue(at(i))
		lo, ok2 := hexValue(at(i + 1))
		if !ok1 || !ok2 {
			return u, false
		}
		u[n] = hi<<4 | lo
		n++
		i += 2
	}
	return u, true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isUUID reports whether s has the shape of a UUID.
func isUUID(s string) bool {
	_, ok := parseUUID(s, "", "")
	return ok
}
